/* sim_check.c - the simulator's judge: the sequential model of the books
 * (the committed log applied in order) and the invariants I1-I7 of
 * fcgi/repl/rc.h, checked as the world reports what happened. It sees
 * everything (every log, every commit, every read), so it checks what no
 * replica could know. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim.h"

typedef struct slot {
    int64_t pos, epoch;
    uint64_t chain;
} slot;

typedef struct pending_read {
    int book;
    sim_book b;
} pending_read;

struct sim_check {
    int n, violations;
    /* the committed log 1..g and the model after each position */
    sim_entry *com;
    sim_book *after;      /* the touched book after each committed entry */
    uint64_t *model_hash; /* all books after each committed entry */
    int64_t *com_epoch;   /* the epoch of the leader that committed each entry */
    int64_t g, cap;
    sim_book model[SIM_BOOKS];
    /* I2: (pos, epoch) -> chain */
    slot *map;
    size_t map_cap, map_len;
    /* I1: epoch -> leader */
    int *leader_of;
    int64_t leaders_cap;
    /* I6 */
    int64_t acked_version[SIM_BOOKS], read_max[SIM_BOOKS];
    pending_read *pending;
    size_t npending, pending_cap;
};

uint64_t sim_mix(uint64_t a, uint64_t b)
{
    uint64_t x = a ^ (b + 0x9e3779b97f4a7c15ULL + (a << 6) + (a >> 2));
    x ^= x >> 31;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 29;
    return x;
}

void sim_books_init(sim_book *books)
{
    for (int k = 0; k < SIM_BOOKS; k++)
        books[k] = (sim_book){.stock = 3 + k, .price = 1000 + 100 * k};
}

void sim_apply(sim_book *books, const sim_entry *e, int64_t pos)
{
    if (e->kind == OP_NOOP)
        return;
    sim_book *b = &books[e->book];
    if (e->kind == OP_DEC)
        b->stock--;
    else if (e->kind == OP_RESTOCK)
        b->stock += e->arg;
    else
        b->price = e->arg;
    b->version = pos;
    b->uid = e->uid;
}

uint64_t sim_books_hash(const sim_book *b)
{
    uint64_t h = 1;
    for (int k = 0; k < SIM_BOOKS; k++) {
        h = sim_mix(h, (uint64_t)b[k].stock);
        h = sim_mix(h, (uint64_t)b[k].price);
        h = sim_mix(h, (uint64_t)b[k].version);
    }
    return h;
}

uint64_t sim_disk_chain(const sim_disk *d, int64_t pos)
{
    return pos < 1 || pos > d->last ? 0 : d->log[pos].chain;
}

sim_check *sim_check_new(int n)
{
    sim_check *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->n = n;
    sim_books_init(c->model);
    return c;
}

void sim_check_free(sim_check *c)
{
    if (!c)
        return;
    free(c->com);
    free(c->after);
    free(c->model_hash);
    free(c->com_epoch);
    free(c->map);
    free(c->leader_of);
    free(c->pending);
    free(c);
}

void sim_violation(sim_check *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "VIOLATION: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    c->violations++;
}

int sim_check_violations(const sim_check *c)
{
    return c->violations;
}

int64_t sim_check_committed(const sim_check *c)
{
    return c->g;
}

static void *grow(void *p, int64_t *cap, int64_t need, size_t size)
{
    if (need < *cap)
        return p;
    int64_t nc = *cap ? *cap : 1024;
    while (nc <= need)
        nc *= 2;
    char *q = realloc(p, (size_t)nc * size);
    if (!q) {
        fprintf(stderr, "sim: out of memory\n");
        exit(2);
    }
    memset(q + (size_t)*cap * size, 0, (size_t)(nc - *cap) * size);
    *cap = nc;
    return q;
}

/* ---- I2: log matching ---- */

static size_t slot_of(const slot *map, size_t cap, int64_t pos, int64_t epoch)
{
    size_t h = (size_t)sim_mix((uint64_t)pos, (uint64_t)epoch) & (cap - 1);
    while (map[h].pos && (map[h].pos != pos || map[h].epoch != epoch))
        h = (h + 1) & (cap - 1);
    return h;
}

void sim_check_entry(sim_check *c, int64_t pos, int64_t epoch, uint64_t chain)
{
    if (c->map_len * 2 >= c->map_cap) {
        size_t nc = c->map_cap ? c->map_cap * 2 : 4096;
        slot *m = calloc(nc, sizeof *m);
        if (!m) {
            fprintf(stderr, "sim: out of memory\n");
            exit(2);
        }
        for (size_t i = 0; i < c->map_cap; i++)
            if (c->map[i].pos)
                m[slot_of(m, nc, c->map[i].pos, c->map[i].epoch)] = c->map[i];
        free(c->map);
        c->map = m;
        c->map_cap = nc;
    }
    size_t h = slot_of(c->map, c->map_cap, pos, epoch);
    if (!c->map[h].pos) {
        c->map[h] = (slot){pos, epoch, chain};
        c->map_len++;
    } else if (c->map[h].chain != chain) {
        sim_violation(c, "I2 log matching: two logs hold (pos %lld, epoch %lld) with different "
                         "prefixes",
                      (long long)pos, (long long)epoch);
    }
}

/* ---- I1, I4 ---- */

void sim_check_leader(sim_check *c, int id, int64_t epoch, const sim_disk *d)
{
    c->leader_of = grow(c->leader_of, &c->leaders_cap, epoch, sizeof *c->leader_of);
    if (c->leader_of[epoch] && c->leader_of[epoch] != id)
        sim_violation(c, "I1 two leaders in epoch %lld: %d and %d", (long long)epoch,
                      c->leader_of[epoch], id);
    c->leader_of[epoch] = id;
    /* What it must hold: every entry committed by a leader of an earlier
     * epoch (a late winner of an old epoch need not hold what a newer one
     * committed since; it can commit nothing itself). */
    int64_t g = c->g;
    while (g > 0 && c->com_epoch[g] >= epoch)
        g--;
    if (d->last < g)
        sim_violation(c, "I4 leader completeness: replica %d leads epoch %lld with log %lld < "
                         "committed %lld",
                      id, (long long)epoch, (long long)d->last, (long long)g);
    else if (g > 0 && sim_disk_chain(d, g) != c->com[g].chain)
        sim_violation(c, "I4 leader completeness: replica %d leads epoch %lld without the "
                         "committed entries",
                      id, (long long)epoch);
}

/* ---- I3 and the model ---- */

void sim_check_commit(sim_check *c, int id, int64_t epoch, const sim_disk *d, int64_t commit)
{
    int64_t upto = commit < c->g ? commit : c->g;
    if (upto > 0 && sim_disk_chain(d, upto) != c->com[upto].chain) {
        sim_violation(c, "I3 committed entries changed: leader %d's log differs at %lld", id,
                      (long long)upto);
        return;
    }
    if (commit > d->last) {
        sim_violation(c, "I3 leader %d commits %lld past its log %lld", id, (long long)commit,
                      (long long)d->last);
        return;
    }
    for (int64_t p = c->g + 1; p <= commit; p++) {
        if (p >= c->cap) { /* the four arrays share one capacity */
            int64_t cap = c->cap, cap2 = c->cap, cap3 = c->cap;
            c->com = grow(c->com, &cap, p, sizeof *c->com);
            c->after = grow(c->after, &cap2, p, sizeof *c->after);
            c->com_epoch = grow(c->com_epoch, &cap3, p, sizeof *c->com_epoch);
            c->model_hash = grow(c->model_hash, &c->cap, p, sizeof *c->model_hash);
        }
        c->com_epoch[p] = epoch;
        const sim_entry *e = &d->log[p];
        c->com[p] = *e;
        sim_apply(c->model, e, p);
        if (e->kind != OP_NOOP) {
            c->after[p] = c->model[e->book];
            if (c->model[e->book].stock < 0)
                sim_violation(c, "I7 oversell: book %d stock %lld after position %lld", e->book,
                              (long long)c->model[e->book].stock, (long long)p);
        }
        c->model_hash[p] = sim_books_hash(c->model);
        c->g = p;
    }
}

void sim_check_safe(sim_check *c, int id, const sim_disk *d, int64_t safe)
{
    int64_t s = safe < d->last ? safe : d->last;
    if (s > c->g)
        sim_violation(c, "I3 replica %d takes %lld as safe, past the committed %lld", id,
                      (long long)s, (long long)c->g);
    else if (s > 0 && sim_disk_chain(d, s) != c->com[s].chain)
        sim_violation(c, "I3 replica %d's log up to its safe %lld is not the committed one", id,
                      (long long)s);
}

void sim_check_state(sim_check *c, int id, const sim_disk *d)
{
    for (int k = 0; k < SIM_BOOKS; k++)
        if (d->books[k].stock < 0)
            sim_violation(c, "I7 replica %d: book %d stock %lld", id, k,
                          (long long)d->books[k].stock);
    if (d->last > c->g || (d->last > 0 && sim_disk_chain(d, d->last) != c->com[d->last].chain))
        return; /* not (yet) the committed log: nothing to compare with */
    sim_book init[SIM_BOOKS];
    sim_books_init(init);
    uint64_t want = d->last ? c->model_hash[d->last] : sim_books_hash(init);
    if (sim_books_hash(d->books) != want)
        sim_violation(c, "I7 replica %d's state at %lld differs from the model's", id,
                      (long long)d->last);
}

/* ---- I5, I6 ---- */

void sim_check_ack(sim_check *c, int64_t pos, uint64_t uid, int book, int is_write)
{
    if (pos > c->g || c->com[pos].uid != uid) {
        sim_violation(c, "I5 write acknowledged at %lld is not committed (committed %lld)",
                      (long long)pos, (long long)c->g);
        return;
    }
    if (is_write && pos > c->acked_version[book])
        c->acked_version[book] = pos;
}

static void verify_read(sim_check *c, int book, const sim_book *b)
{
    sim_book want;
    if (b->version == 0) {
        sim_book init[SIM_BOOKS];
        sim_books_init(init);
        want = init[book];
    } else if (c->com[b->version].kind == OP_NOOP || c->com[b->version].book != book) {
        sim_violation(c, "I6 read of book %d at version %lld: the committed entry there is "
                         "not a change of it",
                      book, (long long)b->version);
        return;
    } else {
        want = c->after[b->version];
    }
    if (b->stock != want.stock || b->price != want.price || b->uid != want.uid)
        sim_violation(c, "I6 read of book %d at version %lld: stock %lld price %lld, the model "
                         "has stock %lld price %lld",
                      book, (long long)b->version, (long long)b->stock, (long long)b->price,
                      (long long)want.stock, (long long)want.price);
}

void sim_check_read(sim_check *c, int id, int book, const sim_book *b)
{
    if (b->version < c->acked_version[book])
        sim_violation(c, "I6 stale read: replica %d returned book %d at version %lld after a "
                         "write at %lld was acknowledged",
                      id, book, (long long)b->version, (long long)c->acked_version[book]);
    if (b->version < c->read_max[book])
        sim_violation(c, "I6 read went back: replica %d returned book %d at version %lld after "
                         "a read returned %lld",
                      id, book, (long long)b->version, (long long)c->read_max[book]);
    if (b->version > c->read_max[book])
        c->read_max[book] = b->version;
    if (b->version <= c->g) {
        verify_read(c, book, b);
        return;
    }
    if (c->npending == c->pending_cap) { /* checked once it commits, or at the end */
        c->pending_cap = c->pending_cap ? c->pending_cap * 2 : 64;
        c->pending = realloc(c->pending, c->pending_cap * sizeof *c->pending);
        if (!c->pending) {
            fprintf(stderr, "sim: out of memory\n");
            exit(2);
        }
    }
    c->pending[c->npending++] = (pending_read){book, *b};
}

void sim_check_final(sim_check *c, const sim_disk *const *disks, int n)
{
    for (size_t k = 0; k < c->npending; k++) {
        if (c->pending[k].b.version > c->g)
            sim_violation(c, "I6 a read returned book %d at version %lld, which never committed",
                          c->pending[k].book, (long long)c->pending[k].b.version);
        else
            verify_read(c, c->pending[k].book, &c->pending[k].b);
    }
    c->npending = 0;
    sim_book init[SIM_BOOKS];
    sim_books_init(init);
    uint64_t want = c->g ? c->model_hash[c->g] : sim_books_hash(init);
    for (int i = 0; i < n; i++) {
        const sim_disk *d = disks[i];
        if (d->last != c->g || sim_disk_chain(d, c->g) != (c->g ? c->com[c->g].chain : 0) ||
            sim_books_hash(d->books) != want)
            sim_violation(c, "I7 no convergence: replica %d at %lld, committed %lld", i + 1,
                          (long long)d->last, (long long)c->g);
    }
}
