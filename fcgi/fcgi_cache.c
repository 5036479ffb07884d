/* fcgi_cache.c - the lookup cache protocol: leased fills, a bounded life
 * for every cached value, DEL invalidation, bypass while the store is
 * unreachable. The store (Redis, or the simulator's) is behind
 * fcgi_cache_store.
 *
 * Key scheme. A book's lookup lives under "bazar:book:<id>". The value is
 * either "d<until>:<json>" (the catalog's answer, served while the reader's
 * clock is before `until`) or "l<token>" (a fill lease: some front-end
 * process missed and is reading the catalog).
 *
 * The race. A front end misses, reads the catalog (old value), and is slow to
 * store it; meanwhile a write commits and the catalog DELs the key. If the
 * front end now stored its old value, every later lookup would return it.
 *
 * The guard (leases, as in Facebook's memcache). On a miss the front end
 * takes a lease: SET key "l<random token>" NX PX 3000, before it reads the
 * catalog. The catalog's DEL removes the lease with everything else. The fill
 * is a compare-and-set: store the value only if the key still holds this
 * caller's lease. So a value read before a write is stored only if no DEL
 * happened since the lease was taken, and a DEL after the store removes it.
 * A lease that expires or is evicted only makes a fill be refused: safe.
 *
 * The DEL that does not happen. Redis can be paused, slow, or unreachable
 * from the catalog but not from the front ends; a DEL then fails or times
 * out, and a value read before the write may be in the cache (or be filled
 * into it later). So every value has a life: it is served only until
 * `until` = the time its lookup began + life_ms (cache_lease_ms, capped by
 * cache_ttl_s), and Redis drops it then too. The catalog does not let
 * anyone read a write until its DEL is confirmed or life_ms + the clock
 * drift bound have passed since no replica served the old state (the
 * "release" in fcgi/repl/rc.h). Either way, once any read can see the new
 * state, no old copy can be served: no lookup, cached or not, goes back.
 *
 * Store down: every call bypasses (reads go to the catalog); the Redis store
 * retries its connection at most every 500 ms. */
#include "fcgi_cache.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#define LEASE_MS 3000

#ifndef RC_MUTANT /* the simulator's known-wrong variants (fcgi/repl/rc.h) */
#define RC_MUTANT 0
#endif

struct fcgi_cache {
    fcgi_cache_store st;
    int64_t life_ms;
    int guard;
    fcgi_cache_stats stats;
};

fcgi_cache *fcgi_cache_open(const fcgi_cache_store *store, int64_t life_ms, int guard)
{
    fcgi_cache *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->st = *store;
    c->life_ms = life_ms;
    c->guard = guard;
    return c;
}

fcgi_cache *fcgi_cache_clone(const fcgi_cache *c)
{
    if (!c->st.clone)
        return NULL;
    fcgi_cache_store st = c->st;
    st.ctx = c->st.clone(c->st.ctx);
    if (!st.ctx)
        return NULL;
    fcgi_cache *copy = fcgi_cache_open(&st, c->life_ms, c->guard);
    if (!copy && st.close)
        st.close(st.ctx);
    return copy;
}

void fcgi_cache_free(fcgi_cache *c)
{
    if (!c)
        return;
    if (c->st.close)
        c->st.close(c->st.ctx);
    free(c);
}

static void new_lease(char out[FCGI_CACHE_LEASE_LEN])
{
    unsigned char raw[16];
    if (getrandom(raw, sizeof raw, 0) != (ssize_t)sizeof raw) {
        /* Uniqueness, not secrecy, is what a lease needs. */
        static unsigned long n;
        snprintf((char *)raw, sizeof raw, "%lx%lx", (unsigned long)getpid(), ++n);
    }
    for (size_t i = 0; i < sizeof raw; i++)
        snprintf(out + 2 * i, 3, "%02x", raw[i]);
}

/* A cached value "d<until>:<json>": the json's offset, or 0 when raw is not
 * one. */
static size_t parse_value(const char *raw, size_t len, int64_t *until)
{
    size_t i = 1;
    int64_t u = 0;
    if (len < 3 || raw[0] != 'd')
        return 0;
    for (; i < len && i < 20 && raw[i] >= '0' && raw[i] <= '9'; i++)
        u = u * 10 + (raw[i] - '0');
    if (i == 1 || i >= len || raw[i] != ':')
        return 0;
    *until = u;
    return i + 1;
}

enum fcgi_cache_result fcgi_cache_get(fcgi_cache *c, const char *key, char **val, size_t *len,
                                      fcgi_cache_ticket *t)
{
    t->lease[0] = 0;
    int64_t now = c->st.now_ms(c->st.ctx);
    t->until = now + c->life_ms;
    char *raw = NULL;
    size_t rawlen = 0;
    int rc = c->st.get(c->st.ctx, key, &raw, &rawlen);
    if (rc < 0) {
        c->stats.bypasses++;
        return FCGI_CACHE_BYPASS;
    }
    if (rc == 1) {
        int64_t until = 0;
        size_t off = parse_value(raw, rawlen, &until);
        if (off && (now < until || RC_MUTANT == 16)) { /* wrong: a value lives for ever */
            memmove(raw, raw + off, rawlen - off + 1);
            *val = raw;
            *len = rawlen - off;
            c->stats.hits++;
            return FCGI_CACHE_HIT;
        }
        /* Someone else's lease, or a value whose life is over (Redis drops
         * it at about the same time): read through without filling. */
        free(raw);
        if (off)
            c->stats.expired++;
        c->stats.misses++;
        return FCGI_CACHE_MISS;
    }
    c->stats.misses++;
    char token[FCGI_CACHE_LEASE_LEN], held[FCGI_CACHE_LEASE_LEN + 1];
    new_lease(token);
    snprintf(held, sizeof held, "l%s", token);
    if (c->st.add(c->st.ctx, key, held, strlen(held), LEASE_MS) == 1)
        memcpy(t->lease, token, FCGI_CACHE_LEASE_LEN);
    return FCGI_CACHE_MISS;
}

int fcgi_cache_fill(fcgi_cache *c, const char *key, const fcgi_cache_ticket *t, const char *val,
                    size_t len)
{
    int64_t px = t->until - c->st.now_ms(c->st.ctx);
    if (!t->lease[0] || px <= 0)
        return 0;
    char head[32], held[FCGI_CACHE_LEASE_LEN + 1];
    int hl = snprintf(head, sizeof head, "d%lld:", (long long)t->until);
    char *data = malloc((size_t)hl + len + 1);
    if (!data)
        return -1;
    memcpy(data, head, (size_t)hl);
    memcpy(data + hl, val, len);
    data[(size_t)hl + len] = 0;
    int rc;
    if (c->guard) {
        snprintf(held, sizeof held, "l%s", t->lease);
        rc = c->st.swap(c->st.ctx, key, held, data, (size_t)hl + len, px);
    } else {
        rc = c->st.put(c->st.ctx, key, data, (size_t)hl + len, px);
    }
    free(data);
    if (rc == 1)
        c->stats.fills++;
    else if (rc == 0)
        c->stats.refused++;
    return rc;
}

int fcgi_cache_invalidate(fcgi_cache *c, const char *const *keys, int n)
{
    if (n <= 0)
        return 0;
    return c->st.del(c->st.ctx, keys, n) == 0 ? 0 : -1;
}

void fcgi_cache_get_stats(const fcgi_cache *c, fcgi_cache_stats *out)
{
    *out = c->stats;
}

int fcgi_cache_server_stats(fcgi_cache *c, unsigned long long *hits, unsigned long long *misses)
{
    return c->st.counters ? c->st.counters(c->st.ctx, hits, misses) : -1;
}

void fcgi_cache_book_key(long long id, char *out, size_t outlen)
{
    snprintf(out, outlen, "bazar:book:%lld", id);
}
