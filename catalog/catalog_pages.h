/* catalog_pages.h - the catalog's pages and topics (GET /browse, GET
 * /topics), read inside the caller's read transaction. */
#ifndef CATALOG_PAGES_H
#define CATALOG_PAGES_H

#include <json-c/json.h>

struct fcgi_page_query; /* fcgi/fcgi_page.h */

/* One page of books: {"books": [book...], "total": N, "page": P,
 * "per_page": K}, N counting every book the filters select. NULL on a
 * database or allocation error. */
json_object *catalog_pages_json(const struct fcgi_page_query *pq);

/* [{"topic": "...", "count": n}] for every topic, sorted by topic
 * (bytewise); NULL on error. */
json_object *catalog_topics_json(void);

/* Frees the orders and the topic list the calling thread keeps (at exit). */
void catalog_pages_free(void);

#endif
