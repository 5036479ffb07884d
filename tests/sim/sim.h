/* sim.h - the deterministic simulator of the replication core: one process,
 * n replicas driven through the real protocol objects (fcgi/repl/rc_*.c)
 * over a simulated network, disk and clock, all from one seeded PRNG, so a
 * seed replays exactly. sim_world.c runs the world (events, faults,
 * clients, the replica driver); sim_check.c holds the sequential model and
 * checks the invariants after every step; sim_main.c runs seeds. */
#ifndef SIM_H
#define SIM_H

#include <stddef.h>
#include <stdint.h>

#include "fcgi_cache.h"
#include "rc.h"

#define SIM_BOOKS 3
#define SIM_MAX_N RC_MAX_REPLICAS

typedef enum { OP_NOOP, OP_DEC, OP_RESTOCK, OP_PRICE } sim_op_kind;

typedef struct sim_entry {
    int64_t epoch;
    uint64_t uid;   /* unique per proposal */
    uint64_t chain; /* hash of the whole log prefix up to this entry */
    int kind, book;
    int64_t arg;    /* restock count or new price */
} sim_entry;

typedef struct sim_book {
    int64_t stock, price, version; /* version: position of the last change */
    uint64_t uid;                  /* the entry that made it so */
} sim_book;

/* What survives a crash (lost only with the disk). */
typedef struct sim_disk {
    rc_hard hard;
    sim_entry *log; /* indexed by position; valid for base < pos <= last */
    int64_t cap, base, base_epoch, last;
    uint64_t base_chain;
    sim_book books[SIM_BOOKS]; /* the state: the log applied */
} sim_disk;

typedef struct sim_rng {
    uint64_t s;
} sim_rng;

uint64_t sim_rand(sim_rng *r);
/* Uniform in [lo, hi]. */
int64_t sim_range(sim_rng *r, int64_t lo, int64_t hi);
/* 1 with probability per_mille / 1000. */
int sim_chance(sim_rng *r, int per_mille);

uint64_t sim_mix(uint64_t a, uint64_t b);

/* realloc, and calloc of one object, that end the run on out of memory. */
void *sim_xrealloc(void *p, size_t size);
void *sim_xcalloc(size_t size);

/* ---- the checker (sim_check.c) ---- */

typedef struct sim_check sim_check;

sim_check *sim_check_new(int n);
void sim_check_free(sim_check *c);

/* A violation: prints it (with the caller's trace) and counts it. */
void sim_violation(sim_check *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int sim_check_violations(const sim_check *c);
/* The highest position known committed (any leader's commit). */
int64_t sim_check_committed(const sim_check *c);

/* I2: entry (pos, epoch) was created or received with this chain. */
void sim_check_entry(sim_check *c, int64_t pos, int64_t epoch, uint64_t chain);
/* I1 and I4: replica `id` became leader of `epoch` with this log, which
 * must hold every entry committed by leaders of earlier epochs. */
void sim_check_leader(sim_check *c, int id, int64_t epoch, const sim_disk *d);
/* I3: leader `id` of `epoch` reached commit position `commit`; records new
 * committed entries into the model (oversell is checked there). */
void sim_check_commit(sim_check *c, int id, int64_t epoch, const sim_disk *d, int64_t commit);
/* I3: a replica's log up to its known safe position is the committed one. */
void sim_check_safe(sim_check *c, int id, const sim_disk *d, int64_t safe);
/* I7: a replica's state equals the model's where its log is the committed one. */
void sim_check_state(sim_check *c, int id, const sim_disk *d);
/* I5: a write acknowledged at pos with entry uid. */
void sim_check_ack(sim_check *c, int64_t pos, uint64_t uid, int book, int is_write);
/* I6: a read of `book` served by replica `id` returned this book state. */
void sim_check_read(sim_check *c, int id, int book, const sim_book *b);
/* End of a run, after healing: pending reads were of committed entries,
 * and every replica equals the model at the last committed position. */
void sim_check_final(sim_check *c, const sim_disk *const *disks, int n);

/* The log's chain at pos (base_chain at base, 0 at 0). */
uint64_t sim_disk_chain(const sim_disk *d, int64_t pos);
/* The state's hash (books in order). */
uint64_t sim_books_hash(const sim_book *b);
/* Applies an entry to a state (no checks). */
void sim_apply(sim_book *books, const sim_entry *e, int64_t pos);
/* The initial catalog. */
void sim_books_init(sim_book *books);

/* ---- the simulated Redis (sim_redis.c) ---- */

typedef struct sim_redis sim_redis;

/* A Redis whose clock is *now (the simulated time). */
sim_redis *sim_redis_new(sim_rng *rng, const int64_t *now);
void sim_redis_free(sim_redis *r);
/* SIGSTOP (on) and SIGCONT (off: commands that timed out may be done now). */
void sim_redis_pause(sim_redis *r, int on);
/* Killed (down) or started again (empty either way: no persistence). */
void sim_redis_down(sim_redis *r, int down);
/* The cache protocol over this Redis for a process whose clock is off by
 * *clock_off and that cannot reach Redis while *cut. */
fcgi_cache *sim_redis_client(sim_redis *r, const int64_t *clock_off, const int *cut,
                             int64_t life_ms, int guard);
/* A book as the cached lookup text, and back (0, or -1). */
void sim_book_encode(const sim_book *b, char *out, size_t len);
int sim_book_decode(const char *s, sim_book *b);

/* ---- one run (sim_world.c) ---- */

typedef struct sim_stats {
    uint64_t steps, faults;
    uint64_t by_kind[16]; /* faults by kind, see sim_fault_names */
    uint64_t acked, reads, cache_hits, refused_reads, refused_unsafe, snapshots, elections,
        handovers;
    int violations;
} sim_stats;

extern const char *const sim_fault_names[16];

typedef struct sim_params {
    uint64_t seed;
    int n;           /* replicas */
    uint64_t steps;  /* events to run before healing */
    int verbose;     /* print the trace as it runs */
} sim_params;

/* Runs one seed; adds to *st. Returns the number of violations. */
int sim_run(const sim_params *p, sim_stats *st);

#endif
