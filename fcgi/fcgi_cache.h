/* fcgi_cache.h - the Redis lookup cache: leased fills, DEL invalidation, and
 * bypass while Redis is unreachable. The key scheme and the race it closes
 * are described at the top of fcgi_cache.c. */
#ifndef FCGI_CACHE_H
#define FCGI_CACHE_H

#include <stddef.h>

typedef struct fcgi_cache fcgi_cache;

enum fcgi_cache_result {
    FCGI_CACHE_HIT,    /* *val holds the cached value */
    FCGI_CACHE_MISS,   /* not cached; lease[] is non-empty when this caller may fill */
    FCGI_CACHE_BYPASS  /* Redis unreachable: read through, do not fill */
};

#define FCGI_CACHE_LEASE_LEN 33 /* 32 hex digits + NUL */

/* Creates a cache client for `addr` ("unix:/path" or "host:port"). Nothing
 * connects until first use; a failed connection is retried at most every
 * 500 ms, and in between every call bypasses. `guard` off stores fills
 * without the lease check (only for the test that shows the race). Returns
 * NULL on allocation failure. Free with fcgi_cache_free. */
fcgi_cache *fcgi_cache_new(const char *addr, int timeout_ms, int ttl_s, int guard);
void fcgi_cache_free(fcgi_cache *c);

/* Every new connection first sends AUTH <password> (a Redis reachable over
 * the network has requirepass). Returns -1 when it is too long. */
int fcgi_cache_set_password(fcgi_cache *c, const char *password);

/* Looks `key` up. On HIT *val is a malloc'd NUL-terminated copy (caller
 * frees) of *len bytes. On MISS, when nobody else is filling the key, this
 * caller takes the fill lease and lease[] holds its token (else lease[0]==0). */
enum fcgi_cache_result fcgi_cache_get(fcgi_cache *c, const char *key, char **val, size_t *len,
                                      char lease[FCGI_CACHE_LEASE_LEN]);

/* Stores `val` under `key` for ttl seconds if `lease` is still the key's
 * lease (no invalidation happened since the miss). Returns 1 stored,
 * 0 refused (lease gone), -1 Redis error. */
int fcgi_cache_fill(fcgi_cache *c, const char *key, const char *lease, const char *val,
                    size_t len);

/* Deletes `key` (value or lease). Returns 0, or -1 when Redis is unreachable. */
int fcgi_cache_invalidate(fcgi_cache *c, const char *key);

/* Writes the cache key of book `id` ("bazar:book:<id>") into out. */
void fcgi_cache_book_key(long long id, char *out, size_t outlen);

/* Counters since start-up of this process. */
typedef struct fcgi_cache_stats {
    unsigned long hits, misses, bypasses, fills, refused;
} fcgi_cache_stats;
void fcgi_cache_get_stats(const fcgi_cache *c, fcgi_cache_stats *out);

/* Redis's own counters (INFO stats: keyspace_hits, keyspace_misses), shared
 * by every front-end process. Returns 0 with both set, or -1 when Redis is
 * unreachable or the reply lacks them. */
int fcgi_cache_server_stats(fcgi_cache *c, unsigned long long *hits, unsigned long long *misses);

#endif
