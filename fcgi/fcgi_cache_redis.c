/* fcgi_cache_redis.c - the cache's store over Redis (hiredis): one
 * connection per process, made on first use, AUTH when the deployment sets
 * a password, dropped on any transport error and then retried at most every
 * 500 ms (calls in between fail at once, so lookups bypass quickly). */
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fcgi_app.h"
#include "fcgi_cache.h"
#include "fcgi_log.h"
#include "fcgi_secret.h"

#define RETRY_MS 500.0

typedef struct redis_store {
    redisContext *rc;
    double retry_at; /* fcgi_now_ms() before which we do not reconnect */
    char host[256];
    int port; /* 0: unix socket at host */
    int timeout_ms;
    char password[FCGI_SECRET_MAX]; /* AUTH after connecting, or "" */
} redis_store;

/* The compare-and-set of a fill, in one step at the server. */
static const char swap_script[] =
    "if redis.call('GET', KEYS[1]) == ARGV[1] then "
    "redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3]) return 1 end return 0";

static void drop(redis_store *s, const char *why)
{
    if (s->rc) {
        LOG_WARN("redis: %s; bypassing the cache", why);
        redisFree(s->rc);
        s->rc = NULL;
    }
    s->retry_at = fcgi_now_ms() + RETRY_MS;
}

static void fail_connect(redis_store *s, redisContext *rc)
{
    if (rc)
        redisFree(rc);
    s->retry_at = fcgi_now_ms() + RETRY_MS;
}

/* The live connection, connecting if the back-off allows, or NULL. */
static redisContext *conn(redis_store *s)
{
    if (s->rc)
        return s->rc;
    if (fcgi_now_ms() < s->retry_at)
        return NULL;
    struct timeval tv = {s->timeout_ms / 1000, (s->timeout_ms % 1000) * 1000};
    redisContext *rc = s->port ? redisConnectWithTimeout(s->host, s->port, tv)
                               : redisConnectUnixWithTimeout(s->host, tv);
    if (!rc || rc->err || redisSetTimeout(rc, tv) != REDIS_OK) {
        fail_connect(s, rc);
        return NULL;
    }
    if (s->password[0]) {
        redisReply *r = redisCommand(rc, "AUTH %s", s->password);
        int ok = r != NULL && r->type == REDIS_REPLY_STATUS;
        if (r)
            freeReplyObject(r);
        if (!ok) {
            LOG_WARN("redis: AUTH refused; bypassing the cache");
            fail_connect(s, rc);
            return NULL;
        }
    }
    s->rc = rc;
    return rc;
}

/* Runs a command (argv form); on a transport error drops the connection.
 * Returns the reply (caller frees) or NULL. */
static redisReply *command(redis_store *s, int argc, const char **argv, const size_t *lens)
{
    redisContext *rc = conn(s);
    if (!rc)
        return NULL;
    redisReply *r = redisCommandArgv(rc, argc, argv, lens);
    if (!r) {
        drop(s, rc->errstr[0] ? rc->errstr : "no reply");
        return NULL;
    }
    if (r->type == REDIS_REPLY_ERROR) {
        LOG_WARN("redis error: %s", r->str);
        freeReplyObject(r);
        return NULL;
    }
    return r;
}

static int st_get(void *ctx, const char *key, char **val, size_t *len)
{
    const char *argv[] = {"GET", key};
    redisReply *r = command(ctx, 2, argv, NULL);
    if (!r)
        return -1;
    int rc = 0;
    if (r->type == REDIS_REPLY_STRING) {
        *val = malloc(r->len + 1);
        if (*val) {
            memcpy(*val, r->str, r->len);
            (*val)[r->len] = 0;
            *len = r->len;
            rc = 1;
        } else {
            rc = -1;
        }
    }
    freeReplyObject(r);
    return rc;
}

/* SET key val PX ms [NX]: 1 set, 0 not (NX and the key exists), -1. */
static int set_px(redis_store *s, const char *key, const char *val, size_t len, int64_t px,
                  int nx)
{
    char ms[24];
    snprintf(ms, sizeof ms, "%lld", (long long)px);
    const char *argv[] = {"SET", key, val, "PX", ms, "NX"};
    size_t lens[] = {3, strlen(key), len, 2, strlen(ms), 2};
    redisReply *r = command(s, nx ? 6 : 5, argv, lens);
    if (!r)
        return -1;
    int rc = r->type == REDIS_REPLY_STATUS;
    freeReplyObject(r);
    return rc;
}

static int st_add(void *ctx, const char *key, const char *val, size_t len, int64_t px)
{
    return set_px(ctx, key, val, len, px, 1);
}

static int st_put(void *ctx, const char *key, const char *val, size_t len, int64_t px)
{
    return set_px(ctx, key, val, len, px, 0);
}

static int st_swap(void *ctx, const char *key, const char *expect, const char *val, size_t len,
                   int64_t px)
{
    char ms[24];
    snprintf(ms, sizeof ms, "%lld", (long long)px);
    const char *argv[] = {"EVAL", swap_script, "1", key, expect, val, ms};
    size_t lens[] = {4, sizeof swap_script - 1, 1, strlen(key), strlen(expect), len, strlen(ms)};
    redisReply *r = command(ctx, 7, argv, lens);
    if (!r)
        return -1;
    int rc = r->type == REDIS_REPLY_INTEGER && r->integer == 1;
    freeReplyObject(r);
    return rc;
}

static int st_del(void *ctx, const char *const *keys, int n)
{
    const char **argv = malloc(((size_t)n + 1) * sizeof *argv);
    if (!argv)
        return -1;
    argv[0] = "DEL";
    for (int i = 0; i < n; i++)
        argv[i + 1] = keys[i];
    redisReply *r = command(ctx, n + 1, argv, NULL);
    free(argv);
    if (!r)
        return -1;
    int rc = r->type == REDIS_REPLY_INTEGER ? 0 : -1;
    freeReplyObject(r);
    return rc;
}

static int64_t st_now(void *ctx)
{
    (void)ctx;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
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

static int st_counters(void *ctx, unsigned long long *hits, unsigned long long *misses)
{
    const char *argv[] = {"INFO", "stats"};
    redisReply *r = command(ctx, 2, argv, NULL);
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

/* A second connection's store: the same address, password and timeout,
 * not connected yet. */
static void *st_clone(void *ctx)
{
    const redis_store *s = ctx;
    redis_store *copy = calloc(1, sizeof *copy);
    if (!copy)
        return NULL;
    *copy = *s;
    copy->rc = NULL;
    copy->retry_at = 0;
    return copy;
}

static void st_close(void *ctx)
{
    redis_store *s = ctx;
    if (s->rc)
        redisFree(s->rc);
    free(s);
}

fcgi_cache *fcgi_cache_new(const char *addr, int timeout_ms, const char *password,
                           int64_t life_ms, int guard)
{
    if (strlen(password) >= FCGI_SECRET_MAX)
        return NULL;
    redis_store *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->timeout_ms = timeout_ms;
    snprintf(s->password, sizeof s->password, "%s", password);
    if (strncmp(addr, "unix:", 5) == 0) {
        snprintf(s->host, sizeof s->host, "%s", addr + 5);
    } else {
        const char *colon = strrchr(addr, ':');
        if (!colon || colon == addr || (size_t)(colon - addr) >= sizeof s->host) {
            free(s);
            return NULL;
        }
        memcpy(s->host, addr, (size_t)(colon - addr));
        s->host[colon - addr] = 0;
        s->port = atoi(colon + 1);
    }
    fcgi_cache_store st = {.get = st_get, .add = st_add, .put = st_put, .swap = st_swap,
                           .del = st_del, .now_ms = st_now, .counters = st_counters,
                           .close = st_close, .clone = st_clone, .ctx = s};
    fcgi_cache *c = fcgi_cache_open(&st, life_ms, guard);
    if (!c)
        free(s);
    return c;
}
