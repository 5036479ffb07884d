/* fcgi_service.h - start-up shared by every program: arguments, config,
 * log, and for replicas their database, HTTP client and replication. */
#ifndef FCGI_SERVICE_H
#define FCGI_SERVICE_H

#include <sqlite3.h>

#include "fcgi_cache.h"
#include "fcgi_config.h"
#include "fcgi_http.h"
#include "repl.h"

typedef struct fcgi_service {
    fcgi_config cfg;
    const char *program; /* "catalog", "order", "frontend" */
    int replica;         /* 1..n, 0 for the front end */
    sqlite3 *db;         /* NULL for the front end */
    fcgi_http *http;
    repl_t *repl;        /* NULL for the front end */
    int peer_pool;       /* started with -p peer: this process serves only peers */
    /* Work between requests (fcgi_app_opts.idle), set before running. */
    void (*idle)(void *ctx);
    void *idle_ctx;
    int idle_ms;
} fcgi_service;

/* Parses `-c CONFIG [-r N] [-p client|peer]` (-r required when
 * want_replica; -p names the pool the process serves), loads the
 * config, opens $var_dir/log/<program>[-N].log and, when want_replica, the
 * database $var_dir/data/<program>-N.db with `schema`. Returns 0, or -1 with
 * the reason in err (the caller prints it and exits 2). */
int fcgi_service_open(fcgi_service *s, int argc, char **argv, const char *program,
                      int want_replica, const char *schema, char *err, size_t errlen);

/* Starts replication for machine->service with the configured replica count
 * and primary. Returns 0 or -1 with the reason in err. */
int fcgi_service_start_repl(fcgi_service *s, const repl_machine *machine, char *err,
                            size_t errlen);

/* The Redis cache client the config asks for: NULL when the cache is off
 * (or the client cannot be made, which is logged), authenticated with the
 * cluster secret when redis_auth is on. Free with fcgi_cache_free. */
fcgi_cache *fcgi_service_cache(fcgi_service *s);

/* How long a cached lookup lives: cache_lease_ms, capped by cache_ttl_s. */
int64_t fcgi_service_cache_life_ms(const fcgi_config *cfg);

/* Runs the request loop with the config's body limit. Returns its result. */
int fcgi_service_run(fcgi_service *s, const fcgi_route *routes, size_t n, void *ctx);

/* Frees everything fcgi_service_open and _start_repl created. */
void fcgi_service_close(fcgi_service *s);

/* A start-up that failed with err: prints and logs it, closes s, waits 1 s
 * when run under spawn-fcgi (so that multiwatch never gives the child up),
 * and returns the exit status, 2. */
int fcgi_service_fail(fcgi_service *s, const char *err);

#endif
