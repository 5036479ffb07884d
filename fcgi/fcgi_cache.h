/* fcgi_cache.h - the lookup cache protocol (leased fills, bounded lifetime,
 * DEL invalidation, bypass while the store is unreachable) over a key-value
 * store behind an interface: Redis in the services (fcgi_cache_redis.c), a
 * simulated Redis in the simulator (tests/sim/). Why it is safe is at the
 * top of fcgi_cache.c. */
#ifndef FCGI_CACHE_H
#define FCGI_CACHE_H

#include <stddef.h>
#include <stdint.h>

typedef struct fcgi_cache fcgi_cache;

/* The store: every call returns -1 when the store cannot be reached or
 * did not answer in time (a command that timed out may still be done). */
typedef struct fcgi_cache_store {
    /* GET: 1 with *val (malloc'd, NUL-terminated) of *len bytes, 0 absent. */
    int (*get)(void *ctx, const char *key, char **val, size_t *len);
    /* SET key val NX PX ms: 1 set, 0 the key exists. */
    int (*add)(void *ctx, const char *key, const char *val, size_t len, int64_t px);
    /* SET key val PX ms. 1. */
    int (*put)(void *ctx, const char *key, const char *val, size_t len, int64_t px);
    /* Atomically: if the key holds `expect`, SET key val PX ms and 1, else 0. */
    int (*swap)(void *ctx, const char *key, const char *expect, const char *val, size_t len,
                int64_t px);
    /* DEL of n keys: 0. */
    int (*del)(void *ctx, const char *const *keys, int n);
    /* Wall-clock milliseconds (the same clock for every user of the cache,
     * within clock_drift_ms). */
    int64_t (*now_ms)(void *ctx);
    /* Optional: the store's own hit and miss counters (0 or -1). */
    int (*counters)(void *ctx, unsigned long long *hits, unsigned long long *misses);
    /* Optional: frees ctx. */
    void (*close)(void *ctx);
    /* Optional: a new context with the same configuration, or NULL. */
    void *(*clone)(void *ctx);
    void *ctx;
} fcgi_cache_store;

enum fcgi_cache_result {
    FCGI_CACHE_HIT,    /* *val holds the cached value */
    FCGI_CACHE_MISS,   /* not cached (or expired); t->lease[0] != 0 when this caller may fill */
    FCGI_CACHE_BYPASS  /* the store is unreachable: read through, do not fill */
};

#define FCGI_CACHE_LEASE_LEN 33 /* 32 hex digits + NUL */

/* What a miss hands to the fill: the lease and the end of the value's life
 * (stamped before the caller reads the catalog). */
typedef struct fcgi_cache_ticket {
    char lease[FCGI_CACHE_LEASE_LEN];
    int64_t until;
} fcgi_cache_ticket;

/* The protocol over `store` (copied; its close is called by
 * fcgi_cache_free). A cached value is served at most life_ms after the
 * lookup that filled it began. `guard` off stores fills without the lease
 * check (only for the test that shows the race). NULL on allocation
 * failure. */
fcgi_cache *fcgi_cache_open(const fcgi_cache_store *store, int64_t life_ms, int guard);
void fcgi_cache_free(fcgi_cache *c);

/* A second client of the same store (for another thread), or NULL when
 * the store cannot be opened twice or memory is short. */
fcgi_cache *fcgi_cache_clone(const fcgi_cache *c);

/* Over Redis at `addr` ("unix:/path" or "host:port"), sending AUTH
 * `password` first when it is not empty. Nothing connects until first use;
 * after a failure calls bypass for 500 ms before reconnecting. NULL when
 * addr is malformed or the password too long. */
fcgi_cache *fcgi_cache_new(const char *addr, int timeout_ms, const char *password,
                           int64_t life_ms, int guard);

/* Looks `key` up. On HIT *val is a malloc'd NUL-terminated copy (caller
 * frees) of *len bytes. On MISS, when nobody else is filling the key, this
 * caller takes the fill lease (t->lease non-empty). */
enum fcgi_cache_result fcgi_cache_get(fcgi_cache *c, const char *key, char **val, size_t *len,
                                      fcgi_cache_ticket *t);

/* Stores `val` under `key` until t->until if t's lease is still the key's
 * (no invalidation since the miss). Returns 1 stored, 0 refused (lease
 * gone, or the value's life already over), -1 store error. */
int fcgi_cache_fill(fcgi_cache *c, const char *key, const fcgi_cache_ticket *t, const char *val,
                    size_t len);

/* Deletes n keys (values or leases). Returns 0, or -1 when the store did
 * not confirm it. */
int fcgi_cache_invalidate(fcgi_cache *c, const char *const *keys, int n);

/* Writes the cache key of book `id` ("bazar:book:<id>") into out. */
void fcgi_cache_book_key(long long id, char *out, size_t outlen);

/* Counters since start-up of this process. */
typedef struct fcgi_cache_stats {
    unsigned long hits, misses, bypasses, fills, refused, expired;
} fcgi_cache_stats;
void fcgi_cache_get_stats(const fcgi_cache *c, fcgi_cache_stats *out);

/* The store's own counters (Redis INFO stats: keyspace_hits,
 * keyspace_misses), shared by every front-end process. 0, or -1. */
int fcgi_cache_server_stats(fcgi_cache *c, unsigned long long *hits, unsigned long long *misses);

#endif
