/* order_flow.h - the two steps of a purchase at the order primary: take the
 * copy at the catalog, then record the order (docs/REPLICATION.md, "The
 * purchase flow"). The sweep (order_sweep.h) uses the second step too. */
#ifndef ORDER_FLOW_H
#define ORDER_FLOW_H

#include <stdint.h>

#include "fcgi_config.h"
#include "fcgi_http.h"
#include "repl.h"

/* A copy the catalog took for a purchase key: what the order records. */
typedef struct order_taken {
    int64_t book_id, cents;
    const char *key;
    char title[256];
} order_taken;

/* What the order program's modules share, set once at start-up. */
typedef struct order_env {
    repl_t *repl;
    const fcgi_config *cfg;
    fcgi_http *http;
} order_env;
extern order_env order_ctx;

/* Step 1: asks the catalog to decrement t->book_id under t->key (idempotent
 * by key: a repeat takes nothing and answers as the first time) and fills
 * t's title and price. Returns 200, the catalog's 404 or 409 (nothing
 * taken), or 503, with the reason in why. `rid` is passed on as
 * X-Request-Id; *catalog_ms accumulates the call's time. */
int order_take(order_taken *t, const char *rid, double *catalog_ms, char *why, size_t whylen);

/* Step 2: replicates the order for t unless one with t->key exists. Returns
 * repl_submit's status (2xx: the order is committed), reason in why. */
int order_record(const order_taken *t, char *why, size_t whylen);

#endif
