/* sim_redis.c - a simulated Redis behind the cache protocol's store
 * interface (fcgi/fcgi_cache.h), so the simulator drives the very functions
 * the front end and the catalog run: GET, SET NX PX, SET PX, the fill's
 * compare-and-set, DEL, with key expiry on Redis's clock. Faults: paused
 * (every command times out, and some of them are still done when it
 * resumes, as a real timed-out command can be), restarted empty (no
 * persistence), and one client cut off from it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim.h"

#define KEYS (SIM_BOOKS + 1)
#define LATE_MAX 64

typedef struct slot {
    char key[32];
    char *val; /* NULL: absent */
    size_t len;
    int64_t expires;
} slot;

typedef enum { LATE_ADD, LATE_PUT, LATE_SWAP, LATE_DEL } late_kind;

typedef struct late_op {
    late_kind kind;
    char key[32];
    char *val, *expect;
    size_t len;
    int64_t px;
} late_op;

struct sim_redis {
    sim_rng *rng;
    const int64_t *now;
    int down, paused;
    slot slots[KEYS];
    late_op late[LATE_MAX];
    int nlate;
};

typedef struct client {
    sim_redis *r;
    const int64_t *clock_off;
    const int *cut;
} client;

sim_redis *sim_redis_new(sim_rng *rng, const int64_t *now)
{
    sim_redis *r = sim_xcalloc(sizeof *r);
    r->rng = rng;
    r->now = now;
    return r;
}

static void clear_late(sim_redis *r)
{
    for (int k = 0; k < r->nlate; k++) {
        free(r->late[k].val);
        free(r->late[k].expect);
    }
    r->nlate = 0;
}

static void clear_slots(sim_redis *r)
{
    for (int k = 0; k < KEYS; k++) {
        free(r->slots[k].val);
        r->slots[k].val = NULL;
    }
}

void sim_redis_free(sim_redis *r)
{
    if (!r)
        return;
    clear_late(r);
    clear_slots(r);
    free(r);
}

static char *dup_bytes(const char *s, size_t len)
{
    char *p = sim_xrealloc(NULL, len + 1);
    memcpy(p, s, len);
    p[len] = 0;
    return p;
}

/* The live slot of key (expired values are dropped), or a free one when
 * `make`, or NULL. */
static slot *find(sim_redis *r, const char *key, int make)
{
    slot *free_slot = NULL;
    for (int k = 0; k < KEYS; k++) {
        slot *s = &r->slots[k];
        if (s->val && s->expires <= *r->now) {
            free(s->val);
            s->val = NULL;
        }
        if (s->val && strcmp(s->key, key) == 0)
            return s;
        if (!s->val && !free_slot)
            free_slot = s;
    }
    if (!make || !free_slot)
        return NULL;
    snprintf(free_slot->key, sizeof free_slot->key, "%s", key);
    return free_slot;
}

static void store(slot *s, const char *val, size_t len, int64_t expires)
{
    free(s->val);
    s->val = dup_bytes(val, len);
    s->len = len;
    s->expires = expires;
}

/* The commands themselves, done at the server. */
static int do_add(sim_redis *r, const char *key, const char *val, size_t len, int64_t px)
{
    if (find(r, key, 0))
        return 0;
    slot *s = find(r, key, 1);
    if (!s)
        return 0;
    store(s, val, len, *r->now + px);
    return 1;
}

static int do_put(sim_redis *r, const char *key, const char *val, size_t len, int64_t px)
{
    slot *s = find(r, key, 1);
    if (s)
        store(s, val, len, *r->now + px);
    return 1;
}

static int do_swap(sim_redis *r, const char *key, const char *expect, const char *val,
                   size_t len, int64_t px)
{
    slot *s = find(r, key, 0);
    if (!s || strcmp(s->val, expect) != 0)
        return 0;
    store(s, val, len, *r->now + px);
    return 1;
}

static void do_del(sim_redis *r, const char *key)
{
    slot *s = find(r, key, 0);
    if (s) {
        free(s->val);
        s->val = NULL;
    }
}

void sim_redis_pause(sim_redis *r, int on)
{
    r->paused = on;
    if (on)
        return;
    for (int k = 0; k < r->nlate; k++) { /* timed out, but done after all */
        late_op *o = &r->late[k];
        switch (o->kind) {
        case LATE_ADD:
            do_add(r, o->key, o->val, o->len, o->px);
            break;
        case LATE_PUT:
            do_put(r, o->key, o->val, o->len, o->px);
            break;
        case LATE_SWAP:
            do_swap(r, o->key, o->expect, o->val, o->len, o->px);
            break;
        case LATE_DEL:
            do_del(r, o->key);
            break;
        }
    }
    clear_late(r);
}

void sim_redis_down(sim_redis *r, int down)
{
    r->down = down;
    clear_late(r);
    clear_slots(r);
}

/* 1 when a command from this client reaches a working Redis; otherwise
 * it times out, and a paused Redis may still do it later. */
static int reaches(client *c, late_kind kind, const char *key, const char *val, size_t len,
                   const char *expect, int64_t px)
{
    sim_redis *r = c->r;
    if (*c->cut || r->down)
        return 0;
    if (!r->paused)
        return 1;
    if (r->nlate < LATE_MAX && sim_chance(r->rng, 500)) {
        late_op *o = &r->late[r->nlate++];
        *o = (late_op){.kind = kind, .len = len, .px = px};
        snprintf(o->key, sizeof o->key, "%s", key);
        o->val = val ? dup_bytes(val, len) : NULL;
        o->expect = expect ? dup_bytes(expect, strlen(expect)) : NULL;
    }
    return 0;
}

static int st_get(void *ctx, const char *key, char **val, size_t *len)
{
    client *c = ctx;
    if (*c->cut || c->r->down || c->r->paused)
        return -1;
    slot *s = find(c->r, key, 0);
    if (!s)
        return 0;
    *val = dup_bytes(s->val, s->len);
    *len = s->len;
    return 1;
}

static int st_add(void *ctx, const char *key, const char *val, size_t len, int64_t px)
{
    client *c = ctx;
    return reaches(c, LATE_ADD, key, val, len, NULL, px) ? do_add(c->r, key, val, len, px) : -1;
}

static int st_put(void *ctx, const char *key, const char *val, size_t len, int64_t px)
{
    client *c = ctx;
    return reaches(c, LATE_PUT, key, val, len, NULL, px) ? do_put(c->r, key, val, len, px) : -1;
}

static int st_swap(void *ctx, const char *key, const char *expect, const char *val, size_t len,
                   int64_t px)
{
    client *c = ctx;
    return reaches(c, LATE_SWAP, key, val, len, expect, px)
               ? do_swap(c->r, key, expect, val, len, px)
               : -1;
}

static int st_del(void *ctx, const char *const *keys, int n)
{
    client *c = ctx;
    int ok = 1;
    for (int k = 0; k < n; k++) {
        if (reaches(c, LATE_DEL, keys[k], NULL, 0, NULL, 0))
            do_del(c->r, keys[k]);
        else
            ok = 0;
    }
    return ok ? 0 : -1;
}

static int64_t st_now(void *ctx)
{
    client *c = ctx;
    return *c->r->now + *c->clock_off;
}

fcgi_cache *sim_redis_client(sim_redis *r, const int64_t *clock_off, const int *cut,
                             int64_t life_ms, int guard)
{
    client *c = sim_xcalloc(sizeof *c);
    *c = (client){r, clock_off, cut};
    fcgi_cache_store st = {.get = st_get, .add = st_add, .put = st_put, .swap = st_swap,
                           .del = st_del, .now_ms = st_now, .close = free, .ctx = c};
    fcgi_cache *fc = fcgi_cache_open(&st, life_ms, guard);
    if (!fc) {
        fprintf(stderr, "sim: out of memory\n");
        exit(2);
    }
    return fc;
}

void sim_book_encode(const sim_book *b, char *out, size_t len)
{
    snprintf(out, len, "%lld,%lld,%lld,%llu", (long long)b->stock, (long long)b->price,
             (long long)b->version, (unsigned long long)b->uid);
}

int sim_book_decode(const char *s, sim_book *b)
{
    long long stock, price, version;
    unsigned long long uid;
    if (sscanf(s, "%lld,%lld,%lld,%llu", &stock, &price, &version, &uid) != 4)
        return -1;
    *b = (sim_book){stock, price, version, uid};
    return 0;
}
