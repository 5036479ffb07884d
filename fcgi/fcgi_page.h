/* fcgi_page.h - the catalog page query (GET /bazar/books, README.md "The
 * API"): parsed and checked the same way by the front end, which passes it
 * on in its canonical form, and by the catalog, which runs it. */
#ifndef FCGI_PAGE_H
#define FCGI_PAGE_H

#include <stddef.h>

#define FCGI_PAGE_TEXT_MAX 200          /* bytes of topic and of q */
#define FCGI_PAGE_MAX 1000000000LL      /* the highest page number */
#define FCGI_PAGE_PER_MAX 100           /* books per page: 1..100 */
#define FCGI_PAGE_PER_DEFAULT 20

/* The sort orders, in the order of fcgi_page_sorts: a field ascending with
 * the id as tiebreak, and its '-' form, the exact reverse (tiebreak too). */
enum fcgi_page_sort {
    FCGI_SORT_ID, FCGI_SORT_ID_DESC, FCGI_SORT_TITLE, FCGI_SORT_TITLE_DESC,
    FCGI_SORT_PRICE, FCGI_SORT_PRICE_DESC, FCGI_SORT_QUANTITY, FCGI_SORT_QUANTITY_DESC,
    FCGI_SORT_COUNT
};
extern const char *const fcgi_page_sorts[FCGI_SORT_COUNT]; /* "id", "-id", "title", ... */

typedef struct fcgi_page_query {
    char topic[FCGI_PAGE_TEXT_MAX + 1]; /* exact topic; "" = every topic */
    char q[FCGI_PAGE_TEXT_MAX + 1];     /* substring of the title; "" = any title */
    long long page, per_page;
    enum fcgi_page_sort sort;
} fcgi_page_query;

/* Parses a query string ("topic=..&q=..&page=..&per_page=..&sort=..", every
 * parameter optional, none repeated, no other). Returns 0 with *pq filled
 * (defaults: page 1, per_page 20, sort id), or -1 with the reason in why. */
int fcgi_page_parse(const char *query, fcgi_page_query *pq, char *why, size_t whylen);

/* Writes the canonical query string of pq (every value percent-encoded)
 * into out. Returns 0, or -1 when it does not fit. */
int fcgi_page_format(const fcgi_page_query *pq, char *out, size_t outcap);

#endif
