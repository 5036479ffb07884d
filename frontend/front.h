/* front.h - the front end's shared state and its calls to the internal listener. */
#ifndef FRONT_H
#define FRONT_H

#include <stddef.h>

#include "fcgi_app.h"
#include "fcgi_cache.h"
#include "fcgi_config.h"
#include "fcgi_http.h"

typedef struct front {
    const fcgi_config *cfg;
    fcgi_http *http;
    fcgi_cache *cache; /* NULL when the cache is off */
    char token[FCGI_CONFIG_STR];
} front;

extern front front_ctx;

/* Relays a downstream answer to the client: its status and JSON body, or
 * 503 naming `tier` when there was none or it was a gateway error. */
int front_relay(fcgi_request *req, int rc, fcgi_http_resp *resp, const char *tier);

/* Loads the admin token from config or var_dir/admin.token, creating the
 * file (0600, random) when absent. Returns 0 or -1 with the reason in err. */
int front_auth_init(front *f, char *err, size_t errlen);

/* 1 when the request carries "Authorization: Bearer <token>" (compared in
 * constant time); otherwise answers 401 and returns 0. */
int front_auth_check(fcgi_request *req);

/* Every replica's GET /peer/<service>/<n>/state, fetched in parallel:
 * calls[0..ncatalog) are the catalog's, then ncatalog.. the order's. */
#define FRONT_MAX_REPLICAS 7
typedef struct front_states {
    fcgi_http_call calls[2 * FRONT_MAX_REPLICAS];
    char urls[2 * FRONT_MAX_REPLICAS][FCGI_CONFIG_STR + 64];
    char keys[2 * FRONT_MAX_REPLICAS][32];
    int ncatalog, norder;
} front_states;

/* Fills s and runs the calls; front_states_clear frees the answers. */
void front_states_fetch(front_states *s);
void front_states_clear(front_states *s);

/* GET /status on the internal listener: every replica's state. */
int front_status(fcgi_request *req);

/* GET /metrics on the internal listener: Prometheus text (front_metrics.c). */
int front_metrics(fcgi_request *req);

#endif
