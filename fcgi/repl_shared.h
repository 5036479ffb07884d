/* repl_shared.h - state shared by all processes of one replica (both pools
 * and the ticker thread): a small mmap'd file under var_dir/run. */
#ifndef REPL_SHARED_H
#define REPL_SHARED_H

#include <stddef.h>
#include <stdint.h>

#define REPL_SHARED_PEERS 8

/* Every field is read and written with __atomic builtins (relaxed is
 * enough: each is an independent monotonic fact or a flag). */
typedef struct repl_shared {
    int64_t lease_until_ms;   /* wall-clock ms until which this replica may serve reads */
    int64_t leader_head;      /* the primary's head position in its last message */
    int64_t boot_applied;     /* applied position when the replica (re)started */
    int64_t snapshots;        /* snapshots installed since the replica started */
    int64_t need_snapshot;    /* 1: the primary's log no longer reaches our position */
    int64_t epoch;            /* the highest epoch seen */
    int64_t primary;          /* the primary of that epoch (0: unknown) */
    int64_t heard_ms;         /* wall-clock ms when the primary was last heard from */
    int64_t committed;        /* at a primary: highest position a majority is known to hold */
    /* At the primary, per peer: send time of the last message the peer
     * acknowledged, and since when it has been failing (0: healthy). */
    int64_t peer_ok_sent_ms[REPL_SHARED_PEERS];
    int64_t peer_fail_ms[REPL_SHARED_PEERS];
} repl_shared;

/* Maps var_dir/run/<service>-<id>.shm. The first process of the replica to
 * start (no other process holds the replica's alive lock) resets it and
 * records boot_applied = applied. Returns the mapping or NULL with a reason
 * in err. The mapping and the lock live as long as the process. */
repl_shared *repl_shared_open(const char *var_dir, const char *service, int id, int64_t applied,
                              char *err, size_t errlen);

/* Wall-clock milliseconds (CLOCK_REALTIME): leases compare send times taken
 * at the primary with receive-side clocks, so hosts need synchronized clocks
 * (skew well below the lease). */
int64_t repl_wall_ms(void);

static inline int64_t repl_get(const int64_t *p)
{
    return __atomic_load_n(p, __ATOMIC_RELAXED);
}
static inline void repl_set(int64_t *p, int64_t v)
{
    __atomic_store_n(p, v, __ATOMIC_RELAXED);
}
/* Raises *p to v if v is larger. */
static inline void repl_raise(int64_t *p, int64_t v)
{
    int64_t cur = repl_get(p);
    while (cur < v && !__atomic_compare_exchange_n(p, &cur, v, 0, __ATOMIC_RELAXED,
                                                   __ATOMIC_RELAXED))
        ;
}

#endif
