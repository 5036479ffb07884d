/* fcgi_page.c - the catalog page query: parsed and checked from a query
 * string, written back in canonical form (see fcgi_page.h). */
#include "fcgi_page.h"

#include <stdio.h>
#include <string.h>

#include "fcgi_router.h"
#include "fcgi_text.h"

const char *const fcgi_page_sorts[FCGI_SORT_COUNT] = {
    "id", "-id", "title", "-title", "price", "-price", "quantity", "-quantity",
};

static const char *const known_params[] = {"topic", "q", "page", "per_page", "sort", NULL};

/* An optional text parameter: 0 (out "" when absent), or -1 with why. */
static int text_param(const char *query, const char *name, char *out, char *why, size_t whylen)
{
    size_t len = 0;
    int rc = fcgi_query_text(query, name, out, FCGI_PAGE_TEXT_MAX + 1, &len);
    if (rc == 0)
        out[0] = 0;
    if (rc < 0 || !fcgi_text_valid(out, len)) {
        snprintf(why, whylen,
                 "%s must be at most %d bytes of printable UTF-8, percent-encoded", name,
                 FCGI_PAGE_TEXT_MAX);
        return -1;
    }
    return 0;
}

/* An optional integer parameter in [min, max]: 0 (dflt when absent), or -1 with why. */
static int int_param(const char *query, const char *name, long long min, long long max,
                     long long dflt, long long *out, char *why, size_t whylen)
{
    int rc = fcgi_query_id(query, name, out);
    if (rc == 0)
        *out = dflt;
    if (rc < 0 || *out < min || *out > max) {
        snprintf(why, whylen, "%s must be an integer from %lld to %lld", name, min, max);
        return -1;
    }
    return 0;
}

static int sort_param(const char *query, enum fcgi_page_sort *out, char *why, size_t whylen)
{
    char name[16];
    size_t len;
    int rc = fcgi_query_text(query, "sort", name, sizeof name, &len);
    *out = FCGI_SORT_ID;
    if (rc == 0)
        return 0;
    for (int i = 0; rc > 0 && i < FCGI_SORT_COUNT; i++)
        if (strcmp(name, fcgi_page_sorts[i]) == 0) {
            *out = (enum fcgi_page_sort)i;
            return 0;
        }
    snprintf(why, whylen, "sort must be one of id, -id, title, -title, price, -price, "
                          "quantity, -quantity");
    return -1;
}

int fcgi_page_parse(const char *query, fcgi_page_query *pq, char *why, size_t whylen)
{
    char bad[65];
    if (fcgi_query_names(query, known_params, bad, sizeof bad) != 0) {
        snprintf(why, whylen,
                 "unknown or repeated parameter '%s' (known: topic, q, page, per_page, sort)",
                 bad);
        return -1;
    }
    if (text_param(query, "topic", pq->topic, why, whylen) != 0 ||
        text_param(query, "q", pq->q, why, whylen) != 0 ||
        int_param(query, "page", 1, FCGI_PAGE_MAX, 1, &pq->page, why, whylen) != 0 ||
        int_param(query, "per_page", 1, FCGI_PAGE_PER_MAX, FCGI_PAGE_PER_DEFAULT, &pq->per_page,
                  why, whylen) != 0 ||
        sort_param(query, &pq->sort, why, whylen) != 0)
        return -1;
    return 0;
}

int fcgi_page_format(const fcgi_page_query *pq, char *out, size_t outcap)
{
    char topic[FCGI_PAGE_TEXT_MAX * 3 + 1], q[FCGI_PAGE_TEXT_MAX * 3 + 1];
    if (fcgi_url_encode(pq->topic, strlen(pq->topic), topic, sizeof topic) != 0 ||
        fcgi_url_encode(pq->q, strlen(pq->q), q, sizeof q) != 0)
        return -1;
    int n = snprintf(out, outcap, "topic=%s&q=%s&page=%lld&per_page=%lld&sort=%s", topic, q,
                     pq->page, pq->per_page, fcgi_page_sorts[pq->sort]);
    return n < 0 || (size_t)n >= outcap ? -1 : 0;
}
