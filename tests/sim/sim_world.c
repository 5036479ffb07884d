/* sim_world.c - one seeded run of the simulated cluster: an event queue
 * (ticks, message deliveries, client operations, faults) in simulated
 * milliseconds, the replica driver that feeds the real protocol core
 * (fcgi/repl/rc_*.c) exactly as the services do, a network that delays,
 * drops, duplicates, reorders and partitions (one-way too), crashes with
 * and without the disk, pauses, drifting clocks, log trimming and
 * snapshots. Reads also go through the front ends' lookup cache (the real
 * protocol of fcgi/fcgi_cache.c over a simulated Redis that pauses,
 * restarts empty and is cut from a replica), with the catalog's release of
 * held entries (DEL, or waiting out the cached values' life). After the
 * fault phase everything heals and the run must converge. Every decision
 * comes from one PRNG seeded by the seed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim.h"

enum { EV_TICK, EV_DELIVER, EV_CLIENT, EV_FAULT, EV_RESTART, EV_RESUME, EV_HEAL, EV_POOL,
       EV_RELEASE, EV_LOOKUP, EV_REDIS };

enum { F_CRASH, F_DISK, F_PAUSE, F_PARTITION, F_ONEWAY, F_CLOCK, F_DROP, F_DUP, F_DELAY,
       F_TRIM, F_WEATHER, F_POOL, F_REDIS_PAUSE, F_REDIS_RESTART, F_REDIS_CUT, F_KINDS };
const char *const sim_fault_names[16] = {"crash",   "disk-loss", "pause", "partition",
                                         "one-way", "clock",     "drop",  "dup",
                                         "delay",   "trim",      "weather", "pool-hang",
                                         "redis-pause", "redis-restart", "redis-cut"};

#define TICK_MS 10
#define TRACE 48
#define LIFE_MS 300 /* a cached lookup's life (cache_lease_ms) */
#define FRONT_ENDS 2
#define LOOKUPS 8 /* lookups in flight at most */

typedef struct snap_payload {
    sim_book books[SIM_BOOKS];
    sim_entry *log; /* positions 1..last: the sender's history, for the checker */
    int64_t last, last_epoch;
} snap_payload;

typedef struct event {
    int64_t at;
    uint64_t seq;
    int type, node;
    rc_msg msg;
    sim_entry *entries; /* RC_APPEND: msg.n entries (owned) */
    snap_payload *snap; /* RC_SNAP (owned) */
} event;

typedef struct node {
    rc_node rc; /* rc.hard is the durable part, with disk */
    sim_disk disk;
    int up, paused, isolated, pool_hung; /* pool_hung: clients cannot reach it */
    int64_t clock_off, retention, last_snapreq;
    int64_t round_end; /* a (pre-)vote round asked: when the ticker would stop waiting */
    fcgi_cache *cache; /* the catalog's Redis client */
    int redis_cut;     /* it cannot reach Redis */
    int releasing;     /* a release (DEL) is under way */
} sim_node;

/* A front end's lookup through the cache: get, then (miss or bypass) a
 * replica's read, then (with a lease) the fill. */
typedef struct lookup {
    int active, fe, book, served;
    fcgi_cache_ticket ticket;
    sim_book got;
} lookup;

typedef struct pending_write {
    uint64_t uid;
    int64_t pos, epoch;
    int leader, book, is_write;
} pending_write;

typedef struct trace_rec {
    uint64_t step;
    int64_t at;
    int type, node, kind, from, to;
    int64_t a, b, c;
} trace_rec;

typedef struct world {
    const sim_params *p;
    sim_stats *st;
    sim_rng rng;
    sim_check *chk;
    rc_config cfg;
    int n, f, healing;
    sim_node nd[SIM_MAX_N + 1];
    int64_t now;
    uint64_t seq, uid;
    event *heap;
    size_t hlen, hcap;
    int drop_pm, dup_pm, slow_pm;
    unsigned char cut[SIM_MAX_N + 1][SIM_MAX_N + 1];
    pending_write *pend;
    size_t npend, pend_cap;
    trace_rec trace[TRACE];
    uint64_t ntrace;
    sim_redis *redis;
    fcgi_cache *fe[FRONT_ENDS];
    int64_t fe_off[FRONT_ENDS];
    int fe_cut;    /* always 0: front ends reach Redis unless it is paused or down */
    int redis_off; /* 0, or the fault that has Redis: 9 paused, 10 down */
    lookup lk[LOOKUPS];
} world;

/* ---- PRNG (splitmix64) ---- */

uint64_t sim_rand(sim_rng *r)
{
    uint64_t z = (r->s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

int64_t sim_range(sim_rng *r, int64_t lo, int64_t hi)
{
    return lo + (int64_t)(sim_rand(r) % (uint64_t)(hi - lo + 1));
}

int sim_chance(sim_rng *r, int per_mille)
{
    return (int)(sim_rand(r) % 1000) < per_mille;
}

void *sim_xcalloc(size_t size)
{
    return memset(sim_xrealloc(NULL, size), 0, size);
}

void *sim_xrealloc(void *p, size_t size)
{
    void *q = realloc(p, size);
    if (!q) {
        fprintf(stderr, "sim: out of memory\n");
        exit(2);
    }
    return q;
}

/* ---- trace ---- */

static void trace(world *w, int type, int node, const rc_msg *m, int64_t a, int64_t b, int64_t c)
{
    trace_rec *t = &w->trace[w->ntrace++ % TRACE];
    *t = (trace_rec){w->st->steps, w->now, type, node, m ? (int)m->kind : 0, m ? m->from : 0,
                     m ? m->to : 0, a, b, c};
}

static void trace_dump(const world *w)
{
    static const char *const ev[] = {"tick",    "deliver", "client", "fault",  "restart", "resume",
                                     "heal",    "pool",    "release", "lookup", "redis"};
    static const char *const kinds[] = {"-",        "append", "append-reply", "vote",
                                        "vote-reply", "snap-req", "snap", "prevote",
                                        "prevote-reply", "handover"};
    uint64_t from = w->ntrace > TRACE ? w->ntrace - TRACE : 0;
    fprintf(stderr, "last %d events (step, ms, event, replica, message, a b c):\n", TRACE);
    for (uint64_t k = from; k < w->ntrace; k++) {
        const trace_rec *t = &w->trace[k % TRACE];
        fprintf(stderr, "  %8llu %7lld %-7s r%d %s %d->%d  %lld %lld %lld\n",
                (unsigned long long)t->step, (long long)t->at, ev[t->type], t->node,
                kinds[t->kind], t->from, t->to, (long long)t->a, (long long)t->b,
                (long long)t->c);
    }
    for (int i = 1; i <= w->n; i++) {
        const sim_node *x = &w->nd[i];
        fprintf(stderr,
                "  r%d %s%s role=%d epoch=%lld voted=%lld leader=%lld rec=%lld last=%lld "
                "base=%lld safe=%lld commit=%lld snap=%d\n",
                i, x->up ? "up" : "down", x->paused ? " paused" : "", (int)x->rc.role,
                (long long)x->rc.hard.epoch, (long long)x->rc.hard.voted_for,
                (long long)x->rc.hard.leader, (long long)x->rc.hard.recovering,
                (long long)x->disk.last, (long long)x->disk.base, (long long)x->rc.safe,
                (long long)x->rc.commit, x->rc.need_snapshot);
    }
}

/* ---- events ---- */

static int ev_before(const event *a, const event *b)
{
    return a->at < b->at || (a->at == b->at && a->seq < b->seq);
}

static void push(world *w, event e)
{
    if (w->hlen == w->hcap) {
        w->hcap = w->hcap ? w->hcap * 2 : 256;
        w->heap = sim_xrealloc(w->heap, w->hcap * sizeof *w->heap);
    }
    e.seq = w->seq++;
    size_t i = w->hlen++;
    while (i > 0 && ev_before(&e, &w->heap[(i - 1) / 2])) {
        w->heap[i] = w->heap[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    w->heap[i] = e;
}

static event pop(world *w)
{
    event top = w->heap[0], last = w->heap[--w->hlen];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= w->hlen)
            break;
        if (c + 1 < w->hlen && ev_before(&w->heap[c + 1], &w->heap[c]))
            c++;
        if (!ev_before(&w->heap[c], &last))
            break;
        w->heap[i] = w->heap[c];
        i = c;
    }
    if (w->hlen)
        w->heap[i] = last;
    return top;
}

static void free_event(event *e)
{
    free(e->entries);
    if (e->snap) {
        free(e->snap->log);
        free(e->snap);
    }
}

static void schedule(world *w, int type, int node, int64_t after)
{
    push(w, (event){.at = w->now + after, .type = type, .node = node});
}

/* ---- the disk ---- */

static int64_t disk_epoch_at(void *ctx, int64_t pos)
{
    return ((const sim_disk *)ctx)->log[pos].epoch;
}

static rc_log view(sim_node *x)
{
    sim_disk *d = &x->disk;
    return (rc_log){.base = d->base,
                    .base_epoch = d->base_epoch,
                    .last = d->last,
                    .last_epoch = d->last == 0 ? 0 : d->log[d->last].epoch,
                    .epoch_at = disk_epoch_at,
                    .ctx = d};
}

static void disk_reserve(sim_disk *d, int64_t pos)
{
    if (pos < d->cap)
        return;
    int64_t cap = d->cap ? d->cap : 256;
    while (cap <= pos)
        cap *= 2;
    d->log = sim_xrealloc(d->log, (size_t)cap * sizeof *d->log);
    d->cap = cap;
}

/* Appends e at last+1 (chained onto this log's own prefix) and applies it. */
static int64_t disk_append(world *w, sim_node *x, const sim_entry *e)
{
    sim_disk *d = &x->disk;
    int64_t pos = d->last + 1;
    disk_reserve(d, pos);
    d->log[pos] = *e;
    d->log[pos].chain = sim_mix(sim_mix(sim_disk_chain(d, pos - 1), e->uid), (uint64_t)e->epoch);
    d->last = pos;
    sim_apply(d->books, e, pos);
    sim_check_entry(w->chk, pos, e->epoch, d->log[pos].chain);
    return pos;
}

static void disk_lose(sim_disk *d)
{
    free(d->log);
    memset(d, 0, sizeof *d);
    sim_books_init(d->books);
}

static int64_t local_ms(const world *w, const sim_node *x)
{
    return w->now + x->clock_off;
}

static int impaired(const world *w, int i)
{
    const sim_node *x = &w->nd[i];
    return !x->up || x->paused || x->isolated || x->pool_hung || x->rc.hard.recovering;
}

static int impaired_count(const world *w)
{
    int k = 0;
    for (int i = 1; i <= w->n; i++)
        k += impaired(w, i);
    return k;
}

/* ---- the network ---- */

static void send(world *w, const rc_msg *m, sim_entry *entries, snap_payload *snap)
{
    event e = {.type = EV_DELIVER, .node = m->to, .msg = *m, .entries = entries, .snap = snap};
    if (w->drop_pm && sim_chance(&w->rng, w->drop_pm)) {
        w->st->by_kind[F_DROP]++;
        w->st->faults++;
        free_event(&e);
        return;
    }
    int64_t delay = sim_range(&w->rng, 1, 4);
    if (w->slow_pm && sim_chance(&w->rng, w->slow_pm)) {
        delay = sim_range(&w->rng, 20, 2500); /* overtaken by later messages */
        w->st->by_kind[F_DELAY]++;
        w->st->faults++;
    }
    if (w->dup_pm && sim_chance(&w->rng, w->dup_pm) && !snap) {
        event d = e;
        if (entries) {
            d.entries = sim_xrealloc(NULL, (size_t)m->n * sizeof *entries + 1);
            memcpy(d.entries, entries, (size_t)m->n * sizeof *entries);
        }
        d.at = w->now + sim_range(&w->rng, 1, 600);
        push(w, d);
        w->st->by_kind[F_DUP]++;
        w->st->faults++;
    }
    e.at = w->now + delay;
    push(w, e);
}

static void send_append(world *w, int li, int to)
{
    sim_node *x = &w->nd[li];
    rc_log lv = view(x);
    rc_msg m;
    rc_leader_build(&x->rc, &lv, to, local_ms(w, x), &m);
    sim_entry *entries = NULL;
    if (m.n > 0) {
        entries = sim_xrealloc(NULL, (size_t)m.n * sizeof *entries);
        memcpy(entries, &x->disk.log[m.prev_pos + 1], (size_t)m.n * sizeof *entries);
    }
    send(w, &m, entries, NULL);
}

static void replicate(world *w, int li)
{
    for (int i = 1; i <= w->n; i++)
        if (i != li)
            send_append(w, li, i);
}

/* ---- the leader ---- */

static void leader_advance(world *w, int li)
{
    sim_node *x = &w->nd[li];
    if (x->rc.role != RC_LEADER)
        return;
    rc_log lv = view(x);
    int64_t commit = x->rc.commit;
    rc_leader_advance(&x->rc, &lv, local_ms(w, x));
    if (x->rc.commit > commit)
        sim_check_commit(w->chk, li, x->rc.hard.epoch, &x->disk, x->rc.commit);
    sim_check_safe(w->chk, li, &x->disk, x->rc.safe);
    /* Release (the catalog's DEL of what the held entries change), as an
     * event a little later: the DEL is a round trip to Redis. */
    if (x->rc.held > x->rc.released && !x->releasing) {
        x->releasing = 1;
        event e = {.at = w->now + sim_range(&w->rng, 0, 5), .type = EV_RELEASE, .node = li};
        e.msg.epoch = x->rc.hard.epoch;
        e.msg.head = x->rc.held; /* read before the DEL, as the driver does */
        push(w, e);
    }
    for (size_t k = 0; k < w->npend;) {
        pending_write *pw = &w->pend[k];
        sim_node *l = &w->nd[pw->leader];
        int gone = !l->up || l->rc.role != RC_LEADER || l->rc.hard.epoch != pw->epoch;
        if (!gone && pw->pos > l->rc.safe) {
            k++;
            continue;
        }
        if (!gone) { /* acknowledged to the client */
            sim_check_ack(w->chk, pw->pos, pw->uid, pw->book, pw->is_write);
            w->st->acked++;
        }
        w->pend[k] = w->pend[--w->npend];
    }
}

/* The leader decides, appends and applies one entry, then fans it out. */
static void propose(world *w, int li, int kind, int book, int64_t arg, int client)
{
    sim_node *x = &w->nd[li];
    sim_entry e = {.epoch = x->rc.hard.epoch, .uid = ++w->uid, .kind = kind, .book = book,
                   .arg = arg};
    int64_t pos = disk_append(w, x, &e);
    rc_leader_appended(&x->rc, pos, local_ms(w, x));
    trace(w, EV_CLIENT, li, NULL, kind, book, pos);
    if (client) {
        if (w->npend == w->pend_cap) {
            w->pend_cap = w->pend_cap ? w->pend_cap * 2 : 64;
            w->pend = sim_xrealloc(w->pend, w->pend_cap * sizeof *w->pend);
        }
        w->pend[w->npend++] = (pending_write){e.uid, pos, e.epoch, li, book, kind != OP_NOOP};
    }
    replicate(w, li);
    leader_advance(w, li);
}

static void won(world *w, int li)
{
    sim_node *x = &w->nd[li];
    w->st->elections++;
    sim_check_leader(w->chk, li, x->rc.hard.epoch, &x->disk);
    propose(w, li, OP_NOOP, 0, 0, 0);
}

static void ask_votes(world *w, int i);

/* ---- the replica driver: one delivered message ---- */

static void on_append(world *w, int i, event *e)
{
    sim_node *x = &w->nd[i];
    rc_log lv = view(x);
    int64_t now = local_ms(w, x), skip, take;
    int64_t epochs[e->msg.n + 1];
    for (int64_t k = 0; k < e->msg.n; k++)
        epochs[k] = e->entries[k].epoch;
    e->msg.entry_epoch = epochs;
    rc_result res = rc_follower_check(&x->rc, &lv, &e->msg, now, &skip, &take);
    for (int64_t k = skip; res == RC_OK && k < skip + take; k++)
        disk_append(w, x, &e->entries[k]);
    lv = view(x);
    rc_msg r;
    rc_follower_reply(&x->rc, &lv, &e->msg, res, now, &r);
    x->rc.hard_dirty = 0; /* durable: the sim's disk writes cannot fail */
    trace(w, EV_DELIVER, i, &e->msg, res, e->msg.prev_pos, e->msg.n);
    sim_check_safe(w->chk, i, &x->disk, x->rc.safe);
    if (take)
        sim_check_state(w->chk, i, &x->disk);
    send(w, &r, NULL, NULL);
}

static void on_snapshot(world *w, int i, event *e)
{
    sim_node *x = &w->nd[i];
    snap_payload *s = e->snap;
    e->msg.last_pos = s->last;
    e->msg.last_epoch = s->last_epoch;
    if (!rc_snap_may_install(&x->rc, &e->msg))
        return;
    sim_disk *d = &x->disk;
    disk_reserve(d, s->last);
    if (s->last > 0)
        memcpy(&d->log[1], &s->log[1], (size_t)s->last * sizeof *d->log);
    memcpy(d->books, s->books, sizeof d->books);
    d->base = d->last = s->last;
    d->base_epoch = s->last_epoch;
    rc_snap_installed(&x->rc, s->last);
    w->st->snapshots++;
    trace(w, EV_DELIVER, i, &e->msg, s->last, s->last_epoch, 0);
    sim_check_safe(w->chk, i, d, x->rc.safe);
    sim_check_state(w->chk, i, d);
}

static void deliver(world *w, event *e)
{
    int i = e->node;
    sim_node *x = &w->nd[i];
    if (!x->up || w->cut[e->msg.from][i])
        return;
    rc_msg *m = &e->msg, r;
    rc_log lv = view(x);
    int64_t now = local_ms(w, x);
    switch (m->kind) {
    case RC_APPEND:
        on_append(w, i, e);
        break;
    case RC_APPEND_REPLY: {
        int was_leader = x->rc.role == RC_LEADER;
        trace(w, EV_DELIVER, i, m, m->result, m->match, m->hint);
        if (rc_leader_on_reply(&x->rc, m, now) || !was_leader)
            break;
        leader_advance(w, i);
        const rc_peer *p = &x->rc.peer[m->from];
        if (m->result == RC_GAP || (m->result == RC_OK && p->next <= x->disk.last))
            send_append(w, i, m->from); /* catch-up goes on at once */
        break;
    }
    case RC_VOTE:
    case RC_PREVOTE:
        rc_on_vote(&x->rc, &lv, m, now, &r);
        x->rc.hard_dirty = 0;
        trace(w, EV_DELIVER, i, m, r.granted, m->epoch, 0);
        send(w, &r, NULL, NULL);
        break;
    case RC_VOTE_REPLY:
    case RC_PREVOTE_REPLY: {
        trace(w, EV_DELIVER, i, m, m->granted, m->epoch, 0);
        int handed = x->rc.role == RC_CANDIDATE && x->rc.handover_from;
        int res = rc_on_vote_reply(&x->rc, &lv, m, now);
        x->rc.hard_dirty = 0;
        if (res == 1 && handed)
            w->st->handovers++;
        if (res == 1)
            won(w, i);
        else if (res == 2)
            ask_votes(w, i);
        break;
    }
    case RC_SNAP_REQ:
        if (rc_snap_may_serve(&x->rc, m)) {
            snap_payload *s = sim_xrealloc(NULL, sizeof *s);
            memcpy(s->books, x->disk.books, sizeof s->books);
            s->last = x->disk.last;
            s->last_epoch = lv.last_epoch;
            s->log = sim_xrealloc(NULL, (size_t)(s->last + 1) * sizeof *s->log);
            if (s->last > 0)
                memcpy(&s->log[1], &x->disk.log[1], (size_t)s->last * sizeof *s->log);
            rc_msg sm = {.kind = RC_SNAP, .from = i, .to = m->from, .epoch = x->rc.hard.epoch};
            send(w, &sm, NULL, s);
        }
        break;
    case RC_SNAP:
        on_snapshot(w, i, e);
        break;
    case RC_HANDOVER:
        trace(w, EV_DELIVER, i, m, rc_on_handover(&x->rc, m, now), m->epoch, 0);
        break;
    }
}

/* ---- ticks ---- */

/* Sends the (pre-)vote request of replica i to every peer. Like the
 * ticker's round, it waits for answers lease_ms / 2 (its local time). */
static void ask_votes(world *w, int i)
{
    w->nd[i].round_end = local_ms(w, &w->nd[i]) + w->cfg.lease_ms / 2;
    rc_log lv = view(&w->nd[i]);
    for (int k = 1; k <= w->n; k++) {
        if (k == i)
            continue;
        rc_msg m;
        rc_vote_request(&w->nd[i].rc, &lv, k, &m);
        send(w, &m, NULL, NULL);
    }
}

static void tick(world *w, int i)
{
    sim_node *x = &w->nd[i];
    int64_t now = local_ms(w, x);
    if (x->round_end && now >= x->round_end) {
        /* The round is over: a (pre-)candidate that has not won tries again soon. */
        x->round_end = 0;
        rc_election_lost(&x->rc, now, sim_range(&w->rng, 0, w->cfg.election_ms / 2));
    }
    int r = rc_tick(&x->rc, now);
    x->rc.hard_dirty = 0;
    if (r == 3) { /* a leader that stepped down hands over */
        rc_msg m;
        trace(w, EV_TICK, i, NULL, r, x->rc.hard.epoch, 0);
        if (rc_handover(&x->rc, &m))
            send(w, &m, NULL, NULL);
    } else if (r) {
        trace(w, EV_TICK, i, NULL, r, x->rc.hard.epoch, 0);
        x->rc.jitter_ms = sim_range(&w->rng, 0, w->cfg.election_ms);
        ask_votes(w, i);
    }
    if (x->rc.role == RC_LEADER) {
        for (int k = 1; k <= w->n; k++) {
            const rc_peer *p = &x->rc.peer[k];
            if (k != i && (p->next <= x->disk.last || now - p->stamp_ms >= w->cfg.heartbeat_ms))
                send_append(w, i, k);
        }
        leader_advance(w, i);
    } else if (x->rc.need_snapshot && x->rc.hard.leader > 0 && now - x->last_snapreq >= 200) {
        x->last_snapreq = now;
        rc_msg m = {.kind = RC_SNAP_REQ, .from = i, .to = (int)x->rc.hard.leader,
                    .epoch = x->rc.hard.epoch};
        send(w, &m, NULL, NULL);
    }
    /* Retention: keep `retention` entries, and never trim past safe. */
    sim_disk *d = &x->disk;
    int64_t cut = d->last - x->retention;
    if (cut > x->rc.safe)
        cut = x->rc.safe;
    if (cut > d->base + x->retention / 2 + 1) {
        d->base = cut;
        d->base_epoch = d->log[cut].epoch;
        w->st->by_kind[F_TRIM]++;
        w->st->faults++;
    }
}

/* ---- clients ---- */

static int reachable(const world *w, int a, int b)
{
    const sim_node *y = &w->nd[b];
    return a == b || (y->up && !y->paused && !w->cut[a][b] && !w->cut[b][a]);
}

/* A read of `book` at replica i, as the services answer it; 1 with the
 * book in *out when served (and checked), 0 when refused. */
static int replica_read(world *w, int i, int book, sim_book *out)
{
    sim_node *x = &w->nd[i];
    if (!x->up || x->paused || x->pool_hung)
        return 0;
    const sim_book *b = &x->disk.books[book];
    int64_t now = local_ms(w, x);
    int li = (int)x->rc.hard.leader;
    /* A follower that does not know the change is safe asks the leader
     * (as the services' reads do), if it can reach it. */
    if (!rc_may_read(&x->rc, b->version, now) && rc_may_read(&x->rc, 0, now) && li > 0 &&
        li != i && reachable(w, i, li) && w->nd[li].rc.role == RC_LEADER) {
        rc_follower_learn_safe(&x->rc, w->nd[li].rc.hard.epoch, w->nd[li].rc.safe);
        sim_check_safe(w->chk, i, &x->disk, x->rc.safe);
    }
    if (!rc_may_read(&x->rc, b->version, now)) {
        w->st->refused_reads++;
        if (rc_may_read(&x->rc, 0, local_ms(w, x)))
            w->st->refused_unsafe++;
        return 0;
    }
    w->st->reads++;
    trace(w, EV_CLIENT, i, NULL, -1, book, b->version);
    sim_check_read(w->chk, i, book, b);
    *out = *b;
    return 1;
}

/* ---- the front ends' lookups through the cache ---- */

static void start_lookup(world *w, int book)
{
    int k = 0;
    while (k < LOOKUPS && w->lk[k].active)
        k++;
    if (k == LOOKUPS)
        return;
    lookup *l = &w->lk[k];
    *l = (lookup){.active = 1, .fe = (int)sim_range(&w->rng, 0, FRONT_ENDS - 1), .book = book};
    char key[32], *val = NULL;
    size_t len = 0;
    fcgi_cache_book_key(book, key, sizeof key);
    if (fcgi_cache_get(w->fe[l->fe], key, &val, &len, &l->ticket) != FCGI_CACHE_HIT) {
        schedule(w, EV_LOOKUP, k, sim_range(&w->rng, 0, 20));
        return;
    }
    sim_book b;
    if (sim_book_decode(val, &b) != 0)
        sim_violation(w->chk, "cache: a hit on book %d holds %s", book, val);
    else {
        w->st->cache_hits++;
        trace(w, EV_LOOKUP, 0, NULL, -1, book, b.version);
        sim_check_read(w->chk, 0, book, &b); /* replica 0: the cache */
    }
    free(val);
    l->active = 0;
}

/* The lookup's next step: the catalog read after a miss, then the fill. */
static void on_lookup(world *w, int k)
{
    lookup *l = &w->lk[k];
    if (!l->served) {
        int i = (int)sim_range(&w->rng, 1, w->n);
        l->served = replica_read(w, i, l->book, &l->got);
        if (l->served && l->ticket.lease[0])
            schedule(w, EV_LOOKUP, k, sim_range(&w->rng, 0, 40));
        else
            l->active = 0;
        return;
    }
    char key[32], val[128];
    fcgi_cache_book_key(l->book, key, sizeof key);
    sim_book_encode(&l->got, val, sizeof val);
    int rc = fcgi_cache_fill(w->fe[l->fe], key, &l->ticket, val, strlen(val));
    trace(w, EV_LOOKUP, 0, NULL, rc, l->book, l->got.version);
    l->active = 0;
}

/* The catalog leader's release: DEL the books the held entries change,
 * then tell the core; when the DEL fails the core waits it out. */
static void on_release(world *w, int li, const event *e)
{
    sim_node *x = &w->nd[li];
    x->releasing = 0;
    if (!x->up || x->rc.role != RC_LEADER || x->rc.hard.epoch != e->msg.epoch)
        return;
    if (x->paused) { /* the DEL waits with the process */
        event again = *e;
        again.at = w->now + TICK_MS;
        x->releasing = 1;
        push(w, again);
        return;
    }
    int64_t upto = e->msg.head;
    int want[SIM_BOOKS] = {0}, n = 0;
    for (int64_t p = x->rc.released + 1; p <= upto; p++) {
        if (p <= x->disk.base || p > x->disk.last)
            return; /* not expected (trimming stops at safe): left to the wait */
        if (x->disk.log[p].kind != OP_NOOP)
            want[x->disk.log[p].book] = 1;
    }
    char keys[SIM_BOOKS][32];
    const char *list[SIM_BOOKS];
    for (int b = 0; b < SIM_BOOKS; b++)
        if (want[b]) {
            fcgi_cache_book_key(b, keys[n], sizeof keys[n]);
            list[n] = keys[n];
            n++;
        }
    int ok = fcgi_cache_invalidate(x->cache, list, n) == 0;
    trace(w, EV_RELEASE, li, NULL, upto, ok, n);
    if (ok || RC_MUTANT_IS(15)) /* wrong: a failed DEL counts as done (the driver's rule) */
        rc_leader_release(&x->rc, upto);
    leader_advance(w, li);
}

static void client(world *w)
{
    int i = (int)sim_range(&w->rng, 1, w->n), book = (int)sim_range(&w->rng, 0, SIM_BOOKS - 1);
    sim_node *x = &w->nd[i];
    int op = (int)sim_range(&w->rng, 0, 99);
    if (op < 25) {
        start_lookup(w, book);
        return;
    }
    if (!x->up || x->paused || x->pool_hung)
        return;
    if (op < 45) {
        sim_book b;
        replica_read(w, i, book, &b);
        return;
    }
    int li = rc_forward_to(&x->rc, local_ms(w, x));
    li = li == 0 ? i : li;
    if (li < 0 || !reachable(w, i, li) || w->nd[li].rc.role != RC_LEADER || w->nd[li].pool_hung)
        return; /* 503: nothing written */
    sim_node *l = &w->nd[li];
    if (op < 75) {
        if (l->disk.books[book].stock > 0) /* decided on the leader's state */
            propose(w, li, OP_DEC, book, 0, 1);
    } else if (op < 88) {
        propose(w, li, OP_RESTOCK, book, sim_range(&w->rng, 1, 3), 1);
    } else {
        propose(w, li, OP_PRICE, book, sim_range(&w->rng, 100, 5000), 1);
    }
}

/* ---- faults ---- */

static int pick_healthy(world *w)
{
    if (impaired_count(w) >= w->f)
        return 0;
    int i = (int)sim_range(&w->rng, 1, w->n);
    return impaired(w, i) ? 0 : i;
}

static void fault(world *w)
{
    int kind = (int)sim_range(&w->rng, 0, 11), i = 0;
    int64_t span = sim_range(&w->rng, 50, 3000);
    switch (kind) {
    case 0: /* crash (kill -9) */
    case 1: /* crash and lose the disk */
        if (!(i = pick_healthy(w)))
            return;
        w->nd[i].up = 0;
        if (kind == 1) {
            disk_lose(&w->nd[i].disk);
            w->nd[i].rc.hard = (rc_hard){.recovering = 1};
        }
        schedule(w, EV_RESTART, i, span);
        break;
    case 2: /* SIGSTOP */
        if (!(i = pick_healthy(w)))
            return;
        w->nd[i].paused = 1;
        schedule(w, EV_RESUME, i, span);
        break;
    case 3: /* partition one replica from all others, both ways */
    case 4: /* one-way: some of its links in one direction only */
        if (!(i = pick_healthy(w)))
            return;
        w->nd[i].isolated = 1;
        for (int k = 1; k <= w->n; k++) {
            if (k == i)
                continue;
            int out = kind == 3 || sim_chance(&w->rng, 500), in = kind == 3 || !out;
            w->cut[i][k] = (unsigned char)(w->cut[i][k] | out);
            w->cut[k][i] = (unsigned char)(w->cut[k][i] | in);
        }
        schedule(w, EV_HEAL, i, span);
        break;
    case 5: /* clock offset within the bound */
        i = (int)sim_range(&w->rng, 1, w->n);
        w->nd[i].clock_off = sim_range(&w->rng, -w->cfg.drift_ms / 2, w->cfg.drift_ms / 2);
        break;
    case 6: /* network weather: drops, duplicates, long delays */
        w->drop_pm = (int)sim_range(&w->rng, 0, 80);
        w->dup_pm = (int)sim_range(&w->rng, 0, 40);
        w->slow_pm = (int)sim_range(&w->rng, 0, 40);
        break;
    case 7: /* the client pool hangs: the driver sees it and the replica must not lead */
        if (!(i = pick_healthy(w)))
            return;
        w->nd[i].pool_hung = 1;
        w->nd[i].rc.cannot_lead = 1;
        schedule(w, EV_POOL, i, span);
        break;
    case 9: /* Redis SIGSTOPped */
    case 10: /* Redis killed, started again empty */
        if (w->redis_off)
            return;
        w->redis_off = kind;
        if (kind == 9)
            sim_redis_pause(w->redis, 1);
        else
            sim_redis_down(w->redis, 1);
        schedule(w, EV_REDIS, 0, span);
        break;
    case 11: /* one catalog replica cut from Redis (the front ends still reach it) */
        i = (int)sim_range(&w->rng, 1, w->n);
        w->nd[i].redis_cut = 1;
        schedule(w, EV_REDIS, i, span);
        break;
    default: /* log retention: short ones force snapshots */
        i = (int)sim_range(&w->rng, 1, w->n);
        w->nd[i].retention = sim_range(&w->rng, 2, 300);
        break;
    }
    static const int counted[] = {F_CRASH,   F_DISK,    F_PAUSE, F_PARTITION,   F_ONEWAY,
                                  F_CLOCK,   F_WEATHER, F_POOL,  F_TRIM,        F_REDIS_PAUSE,
                                  F_REDIS_RESTART, F_REDIS_CUT};
    if (kind != 8) {
        w->st->by_kind[counted[kind]]++;
        w->st->faults++;
    }
    trace(w, EV_FAULT, i, NULL, kind, span, 0);
}

static void heal_node(world *w, int i)
{
    w->nd[i].isolated = 0;
    for (int k = 1; k <= w->n; k++)
        w->cut[i][k] = w->cut[k][i] = 0;
}

static void restart(world *w, int i)
{
    sim_node *x = &w->nd[i];
    x->up = 1;
    x->paused = 0;
    x->last_snapreq = 0;
    x->round_end = 0;
    rc_log lv = view(x);
    rc_restart(&x->rc, &lv, local_ms(w, x));
    x->rc.hard_dirty = 0;
    x->rc.cannot_lead = x->pool_hung;
}

/* ---- the run ---- */

/* Redis back: resumed, or started again (empty); or replica i reaches it. */
static void redis_back(world *w, int i)
{
    if (i > 0) {
        w->nd[i].redis_cut = 0;
        return;
    }
    if (w->redis_off == 9)
        sim_redis_pause(w->redis, 0);
    else if (w->redis_off == 10)
        sim_redis_down(w->redis, 0);
    w->redis_off = 0;
}

static void heal_all(world *w)
{
    w->healing = 1;
    redis_back(w, 0);
    for (int i = 1; i <= w->n; i++)
        redis_back(w, i);
    w->drop_pm = w->dup_pm = w->slow_pm = 0;
    for (int i = 1; i <= w->n; i++) {
        heal_node(w, i);
        w->nd[i].paused = 0;
        w->nd[i].pool_hung = 0;
        w->nd[i].rc.cannot_lead = 0;
        if (!w->nd[i].up)
            restart(w, i);
    }
}

static int converged(const world *w)
{
    int leader = 0;
    for (int i = 1; i <= w->n; i++)
        if (w->nd[i].rc.role == RC_LEADER)
            leader = i;
    if (!leader)
        return 0;
    const sim_node *l = &w->nd[leader];
    if (l->rc.commit != l->disk.last)
        return 0;
    for (int i = 1; i <= w->n; i++) {
        const sim_node *x = &w->nd[i];
        if (x->disk.last != l->disk.last || x->rc.hard.recovering || x->rc.need_snapshot ||
            sim_disk_chain(&x->disk, x->disk.last) != sim_disk_chain(&l->disk, l->disk.last))
            return 0;
    }
    return 1;
}

static void step(world *w)
{
    event e = pop(w);
    w->now = e.at;
    w->st->steps++;
    sim_node *x = &w->nd[e.node];
    switch (e.type) {
    case EV_TICK:
        if (x->up && !x->paused)
            tick(w, e.node);
        schedule(w, EV_TICK, e.node, TICK_MS);
        break;
    case EV_DELIVER:
        if (x->paused) { /* waits in the socket until SIGCONT */
            e.at = w->now + TICK_MS;
            push(w, e);
            return;
        }
        deliver(w, &e);
        break;
    case EV_CLIENT:
        if (!w->healing)
            client(w);
        schedule(w, EV_CLIENT, 0, sim_range(&w->rng, 1, 8));
        break;
    case EV_FAULT:
        if (!w->healing)
            fault(w);
        schedule(w, EV_FAULT, 0, sim_range(&w->rng, 30, 600));
        break;
    case EV_RESTART:
        if (!x->up)
            restart(w, e.node);
        break;
    case EV_RESUME:
        x->paused = 0;
        break;
    case EV_HEAL:
        heal_node(w, e.node);
        break;
    case EV_POOL:
        x->pool_hung = 0;
        x->rc.cannot_lead = 0;
        break;
    case EV_RELEASE:
        on_release(w, e.node, &e);
        break;
    case EV_LOOKUP:
        on_lookup(w, e.node);
        break;
    case EV_REDIS:
        redis_back(w, e.node);
        break;
    }
    free_event(&e);
}

int sim_run(const sim_params *p, sim_stats *st)
{
    world *w = sim_xcalloc(sizeof *w);
    w->p = p;
    w->st = st;
    w->rng.s = p->seed;
    w->n = p->n;
    w->f = (p->n - 1) / 2;
    w->chk = sim_check_new(p->n);
    /* Every other seed runs the programs' default timing (heartbeat 100 ms,
     * lease 500 ms, election 700 ms), the others the slower one an operator
     * may choose (150/1000/1500): both within lease + drift < election. */
    int fast = p->seed % 2 == 0;
    w->cfg = (rc_config){.n = p->n, .heartbeat_ms = fast ? 100 : 150,
                         .lease_ms = fast ? 500 : 1000, .election_ms = fast ? 700 : 1500,
                         .drift_ms = 100, .batch = 64};
    w->cfg.release_ms = LIFE_MS + w->cfg.drift_ms;
    int before = st->violations;
    int guard = !RC_MUTANT_IS(14); /* wrong: fills without the lease check */
    w->redis = sim_redis_new(&w->rng, &w->now);
    for (int k = 0; k < FRONT_ENDS; k++) {
        w->fe_off[k] = sim_range(&w->rng, -w->cfg.drift_ms / 2, w->cfg.drift_ms / 2);
        w->fe[k] = sim_redis_client(w->redis, &w->fe_off[k], &w->fe_cut, LIFE_MS, guard);
    }
    for (int i = 1; i <= w->n; i++) {
        sim_node *x = &w->nd[i];
        sim_books_init(x->disk.books);
        x->up = 1;
        x->cache = sim_redis_client(w->redis, &x->clock_off, &x->redis_cut, LIFE_MS, guard);
        x->retention = sim_range(&w->rng, 2, 300);
        rc_hard h = {.epoch = 1, .leader = 1};
        rc_log lv = view(x);
        rc_init(&x->rc, &w->cfg, i, &h, &lv, 0);
        x->rc.jitter_ms = sim_range(&w->rng, 0, w->cfg.election_ms);
        schedule(w, EV_TICK, i, sim_range(&w->rng, 0, TICK_MS - 1));
    }
    sim_check_leader(w->chk, 1, 1, &w->nd[1].disk);
    schedule(w, EV_CLIENT, 0, 1);
    schedule(w, EV_FAULT, 0, sim_range(&w->rng, 100, 1000));
    uint64_t start = st->steps;
    while (st->steps - start < p->steps && !sim_check_violations(w->chk))
        step(w);
    if (!sim_check_violations(w->chk)) {
        heal_all(w);
        int64_t until = w->now + 60000;
        while (w->now < until && !sim_check_violations(w->chk)) {
            step(w);
            if (st->steps % 64 == 0 && converged(w))
                break;
        }
        const sim_disk *disks[SIM_MAX_N];
        for (int i = 1; i <= w->n; i++)
            disks[i - 1] = &w->nd[i].disk;
        if (!sim_check_violations(w->chk))
            sim_check_final(w->chk, disks, w->n);
    }
    int v = sim_check_violations(w->chk);
    if (v) {
        fprintf(stderr, "seed %llu, %d replicas, step %llu, simulated %lld ms\n",
                (unsigned long long)p->seed, p->n, (unsigned long long)(st->steps - start),
                (long long)w->now);
        trace_dump(w);
        fprintf(stderr, "replay: make sim SEED=%llu SIM_REPLICAS=%d\n",
                (unsigned long long)p->seed, p->n);
    }
    st->violations = before + v;
    while (w->hlen) {
        event e = pop(w);
        free_event(&e);
    }
    free(w->heap);
    free(w->pend);
    for (int i = 1; i <= w->n; i++) {
        free(w->nd[i].disk.log);
        fcgi_cache_free(w->nd[i].cache);
    }
    for (int k = 0; k < FRONT_ENDS; k++)
        fcgi_cache_free(w->fe[k]);
    sim_redis_free(w->redis);
    sim_check_free(w->chk);
    free(w);
    return v;
}
