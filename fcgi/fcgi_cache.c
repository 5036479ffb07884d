/* fcgi_cache.c - the Redis lookup cache: leased fills, DEL invalidation, and
 * bypass while Redis is unreachable.
 *
 * Key scheme. A book's lookup lives under "bazar:book:<id>". The value is
 * either "d<json>" (the catalog's answer, cached) or "l<token>" (a fill
 * lease: some front-end process missed and is reading the catalog).
 *
 * The race. A front end misses, reads the catalog (old value), and is slow to
 * store it; meanwhile a write commits at every replica and the catalog DELs
 * the key. If the front end now stored its old value, every later lookup
 * would return it: a stale read after an acknowledged write.
 *
 * The guard (leases, as in Facebook's memcache). On a miss the front end
 * takes a lease: SET key "l<random token>" NX PX 3000, before it reads the
 * catalog. The catalog's DEL after a write removes the lease with everything
 * else. The fill is a compare-and-set in one Lua script: store the value only
 * if the key still holds this caller's lease. So a value read before a write
 * can only be stored if no DEL happened since the lease was taken, and any
 * DEL that happens after the store removes the stored value. Either way no
 * value older than an acknowledged write survives in the cache. A lease that
 * expires or is evicted (allkeys-lru) only makes a fill be refused: safe.
 * Concurrent missers that find someone else's lease read through without
 * filling. Hits cost one GET.
 *
 * Redis down: every call bypasses (reads go to the catalog) and the
 * connection is retried at most every 500 ms, so lookups stay correct and
 * fast, and caching resumes by itself when Redis is back. Redis runs without
 * persistence, so a restarted Redis starts empty and cannot serve values
 * that missed a DEL while it was down. */
#include "fcgi_cache.h"
#include "fcgi_secret.h"

#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "fcgi_app.h"
#include "fcgi_log.h"

#define RETRY_MS 500.0
#define LEASE_MS "3000"

struct fcgi_cache {
    redisContext *rc;
    double retry_at; /* fcgi_now_ms() before which we do not reconnect */
    char host[256];
    int port;        /* 0: unix socket at host */
    int timeout_ms;
    int ttl_s;
    int guard;
    char password[FCGI_SECRET_MAX]; /* AUTH after connecting, or "" */
    fcgi_cache_stats stats;
};

static const char fill_script[] =
    "if redis.call('GET', KEYS[1]) == ARGV[1] then "
    "redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3]) return 1 end return 0";

fcgi_cache *fcgi_cache_new(const char *addr, int timeout_ms, int ttl_s, int guard)
{
    fcgi_cache *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->timeout_ms = timeout_ms;
    c->ttl_s = ttl_s;
    c->guard = guard;
    if (strncmp(addr, "unix:", 5) == 0) {
        snprintf(c->host, sizeof c->host, "%s", addr + 5);
    } else {
        const char *colon = strrchr(addr, ':');
        if (!colon || colon == addr || (size_t)(colon - addr) >= sizeof c->host) {
            free(c);
            return NULL;
        }
        memcpy(c->host, addr, (size_t)(colon - addr));
        c->host[colon - addr] = 0;
        c->port = atoi(colon + 1);
    }
    return c;
}

int fcgi_cache_set_password(fcgi_cache *c, const char *password)
{
    if (strlen(password) >= sizeof c->password)
        return -1;
    snprintf(c->password, sizeof c->password, "%s", password);
    return 0;
}

static void drop(fcgi_cache *c, const char *why)
{
    if (c->rc) {
        LOG_WARN("redis: %s; bypassing the cache", why);
        redisFree(c->rc);
        c->rc = NULL;
    }
    c->retry_at = fcgi_now_ms() + RETRY_MS;
}

void fcgi_cache_free(fcgi_cache *c)
{
    if (!c)
        return;
    if (c->rc)
        redisFree(c->rc);
    free(c);
}

/* Returns the live connection, connecting if the back-off allows, or NULL. */
static redisContext *conn(fcgi_cache *c)
{
    if (c->rc)
        return c->rc;
    if (fcgi_now_ms() < c->retry_at)
        return NULL;
    struct timeval tv = {c->timeout_ms / 1000, (c->timeout_ms % 1000) * 1000};
    redisContext *rc = c->port ? redisConnectWithTimeout(c->host, c->port, tv)
                               : redisConnectUnixWithTimeout(c->host, tv);
    if (!rc || rc->err) {
        if (rc)
            redisFree(rc);
        c->retry_at = fcgi_now_ms() + RETRY_MS;
        return NULL;
    }
    if (redisSetTimeout(rc, tv) != REDIS_OK) {
        redisFree(rc);
        c->retry_at = fcgi_now_ms() + RETRY_MS;
        return NULL;
    }
    if (c->password[0]) {
        redisReply *r = redisCommand(rc, "AUTH %s", c->password);
        int ok = r != NULL && r->type == REDIS_REPLY_STATUS;
        if (r)
            freeReplyObject(r);
        if (!ok) {
            LOG_WARN("redis: AUTH refused; bypassing the cache");
            redisFree(rc);
            c->retry_at = fcgi_now_ms() + RETRY_MS;
            return NULL;
        }
    }
    c->rc = rc;
    return rc;
}

/* Runs a command; on a transport error drops the connection. Returns the
 * reply (caller frees) or NULL. */
static redisReply *command(fcgi_cache *c, const char *fmt, ...)
{
    redisContext *rc = conn(c);
    if (!rc)
        return NULL;
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(rc, fmt, ap);
    va_end(ap);
    if (!r) {
        drop(c, rc->errstr[0] ? rc->errstr : "no reply");
        return NULL;
    }
    if (r->type == REDIS_REPLY_ERROR) {
        LOG_WARN("redis error: %s", r->str);
        freeReplyObject(r);
        return NULL;
    }
    return r;
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

enum fcgi_cache_result fcgi_cache_get(fcgi_cache *c, const char *key, char **val, size_t *len,
                                      char lease[FCGI_CACHE_LEASE_LEN])
{
    lease[0] = 0;
    redisReply *r = command(c, "GET %s", key);
    if (!r) {
        c->stats.bypasses++;
        return FCGI_CACHE_BYPASS;
    }
    if (r->type == REDIS_REPLY_STRING && r->len > 0 && r->str[0] == 'd') {
        *val = malloc(r->len);
        if (!*val) {
            freeReplyObject(r);
            c->stats.bypasses++;
            return FCGI_CACHE_BYPASS;
        }
        memcpy(*val, r->str + 1, r->len - 1);
        (*val)[r->len - 1] = 0;
        *len = r->len - 1;
        freeReplyObject(r);
        c->stats.hits++;
        return FCGI_CACHE_HIT;
    }
    int leased = r->type == REDIS_REPLY_STRING; /* someone else's lease */
    freeReplyObject(r);
    c->stats.misses++;
    if (leased)
        return FCGI_CACHE_MISS;
    char token[FCGI_CACHE_LEASE_LEN];
    new_lease(token);
    r = command(c, "SET %s l%s NX PX " LEASE_MS, key, token);
    if (r && r->type == REDIS_REPLY_STATUS)
        memcpy(lease, token, FCGI_CACHE_LEASE_LEN);
    if (r)
        freeReplyObject(r);
    return FCGI_CACHE_MISS;
}

int fcgi_cache_fill(fcgi_cache *c, const char *key, const char *lease, const char *val,
                    size_t len)
{
    char ttl[16], held[FCGI_CACHE_LEASE_LEN + 1];
    snprintf(ttl, sizeof ttl, "%d", c->ttl_s);
    char *data = malloc(len + 1);
    if (!data)
        return -1;
    data[0] = 'd';
    memcpy(data + 1, val, len);
    redisReply *r;
    if (c->guard) {
        snprintf(held, sizeof held, "l%s", lease);
        r = command(c, "EVAL %s 1 %s %s %b %s", fill_script, key, held, data, len + 1, ttl);
    } else {
        r = command(c, "SET %s %b EX %s", key, data, len + 1, ttl);
    }
    free(data);
    if (!r)
        return -1;
    int stored = c->guard ? (r->type == REDIS_REPLY_INTEGER && r->integer == 1)
                          : r->type == REDIS_REPLY_STATUS;
    freeReplyObject(r);
    if (stored)
        c->stats.fills++;
    else
        c->stats.refused++;
    return stored;
}

int fcgi_cache_invalidate(fcgi_cache *c, const char *key)
{
    redisReply *r = command(c, "DEL %s", key);
    if (!r)
        return -1;
    freeReplyObject(r);
    return 0;
}

void fcgi_cache_get_stats(const fcgi_cache *c, fcgi_cache_stats *out)
{
    *out = c->stats;
}

/* The unsigned value of "name:<digits>" at the start of a line of an INFO
 * reply (len bytes at s), or -1 when absent. */
static int info_field(const char *s, size_t len, const char *name, unsigned long long *out)
{
    size_t nlen = strlen(name);
    for (size_t i = 0; i + nlen < len; i++) {
        if ((i == 0 || s[i - 1] == '\n') && memcmp(s + i, name, nlen) == 0 && s[i + nlen] == ':') {
            unsigned long long v = 0;
            size_t j = i + nlen + 1, digits = 0;
            for (; j < len && s[j] >= '0' && s[j] <= '9' && digits < 19; j++, digits++)
                v = v * 10 + (unsigned long long)(s[j] - '0');
            if (digits == 0)
                return -1;
            *out = v;
            return 0;
        }
    }
    return -1;
}

int fcgi_cache_server_stats(fcgi_cache *c, unsigned long long *hits, unsigned long long *misses)
{
    redisReply *r = command(c, "INFO stats");
    if (!r)
        return -1;
    int rc = -1;
    if (r->type == REDIS_REPLY_STRING && r->str &&
        info_field(r->str, r->len, "keyspace_hits", hits) == 0 &&
        info_field(r->str, r->len, "keyspace_misses", misses) == 0)
        rc = 0;
    freeReplyObject(r);
    return rc;
}

void fcgi_cache_book_key(long long id, char *out, size_t outlen)
{
    snprintf(out, outlen, "bazar:book:%lld", id);
}
