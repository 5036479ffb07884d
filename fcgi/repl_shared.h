/* repl_shared.h - state shared by all processes of one replica (both pools
 * and the ticker thread): a small mmap'd file under var_dir/run. It holds
 * the replica's protocol state (the core's rc_node, fcgi/repl/rc.h) behind
 * one process-shared mutex, and a few counters. */
#ifndef REPL_SHARED_H
#define REPL_SHARED_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "rc.h"

typedef struct repl_shared {
    pthread_mutex_t mu;     /* robust, process-shared: guards node */
    rc_node node;           /* the protocol state of this replica */
    int64_t boot_applied;   /* applied position when the replica (re)started */
    int64_t snapshots;      /* snapshots installed since the replica started */
    int64_t snap_asked_ms;  /* when the ticker last asked for a snapshot */
    int32_t ticker_pid;     /* the process whose ticker thread works */
    int32_t wake_ticker;    /* set by a request (a handover taken): the ticker
                             * ticks at once instead of after its period */
} repl_shared;

/* Maps var_dir/run/<service>-<id>.shm. The first process of the replica to
 * start (no other process holds the replica's alive lock) resets it, calls
 * init(s, arg) (which must set up node and boot_applied) and only then lets
 * the other processes of the replica in. Returns the mapping or NULL with a
 * reason in err. The mapping and the lock live as long as the process. */
repl_shared *repl_shared_open(const char *var_dir, const char *service, int id,
                              int (*init)(repl_shared *s, void *arg), void *arg, char *err,
                              size_t errlen);

/* The mutex around every use of s->node (recovers it if its holder died). */
void repl_shared_lock(repl_shared *s);
void repl_shared_unlock(repl_shared *s);

/* Wall-clock milliseconds (CLOCK_REALTIME): leases compare send times taken
 * at the primary with receive-side clocks, so hosts need clocks that agree
 * within clock_drift_ms. */
int64_t repl_wall_ms(void);

#endif
