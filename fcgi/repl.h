/* repl.h - one ordered, majority-replicated write stream per service, with
 * read leases, catch-up, snapshots and primary failover.
 * The protocol is described at the top of repl.c and in docs/REPLICATION.md. */
#ifndef REPL_H
#define REPL_H

#include <stddef.h>
#include <stdint.h>
#include <json-c/json.h>
#include <sqlite3.h>

#include "fcgi_app.h"
#include "fcgi_config.h"
#include "fcgi_http.h"

typedef struct repl repl_t;

/* The service's state machine: what a log entry does to its tables. Every
 * callback gets the connection to use (the ticker thread has its own). */
typedef struct repl_machine {
    const char *service; /* "catalog" or "order": names routes and messages */
    /* Applies entry `op` at log position `pos` inside the replication
     * transaction. Runs at every replica, primary included, in log order, so
     * it must depend on nothing but the tables and `op`. Returns 0, or -1
     * with a reason in err (the transaction is rolled back). */
    int (*apply)(void *ctx, sqlite3 *db, int64_t pos, json_object *op, char *err, size_t errlen);
    /* Writes the hex hash of the logical state (rows in id order) into out. */
    int (*hash)(void *ctx, sqlite3 *db, char *out, size_t outlen);
    /* Returns the whole logical state as JSON (inside a read transaction),
     * or NULL. The caller owns it. */
    json_object *(*dump)(void *ctx, sqlite3 *db);
    /* Replaces the whole logical state with a dump, inside a transaction.
     * Returns 0 or -1 with a reason in err. */
    int (*load)(void *ctx, sqlite3 *db, json_object *state, char *err, size_t errlen);
    /* Optional (NULL: none). Called at the primary with the ops of entries
     * (n, in log order) that no replica serves the old state of any more,
     * before any read may see them: drops what copies outside the replicas
     * hold of what they change (the catalog DELs the books' cached
     * lookups). Returns 0 when done, -1 when it could not: reads and the
     * writes' answers then wait until every outside copy read before has
     * expired (release_ms). See "Release" in fcgi/repl/rc.h. */
    int (*release)(void *release_ctx, json_object *const *ops, int n);
    void *release_ctx; /* the request thread's */
    /* A release context for another thread (the ticker's), or NULL. */
    void *(*release_open)(void *release_ctx);
    int release_ms; /* with release: how long an outside copy lives, drift included */
    void *ctx;
} repl_machine;

/* Called by repl_submit inside the primary's write transaction to decide
 * what a request does, given the current state. Returns an HTTP status:
 * 2xx with *op set to a new entry to log and apply (ownership passes to the
 * caller of decide), 2xx with *op NULL when the request changes nothing (an
 * idempotent repeat), or an error status (4xx) with a reason in why. An
 * error with *op set is a refusal that must be final (a keyed write's, so
 * that a repeat of the key is refused the same way): the entry is logged
 * and applied like any other, and the error is answered once it is known
 * to be on a majority (503 when it is not). */
typedef int (*repl_decide_fn)(void *arg, sqlite3 *db, json_object **op, char *why, size_t whylen);

/* Creates the replication state of replica `self` (1..n) of machine->service
 * over `db`, creating the log tables if needed, mapping the replica's shared
 * state and, when db_path is given, starting a ticker thread on its own
 * connection to db_path (heartbeats, catch-up, elections, snapshots, log
 * retention; one process's ticker works at a time). Only the peer pool's
 * processes run one: a replica whose client pool hangs must still send
 * heartbeats and hand over (rc.h, "Handover"), and a ticker in a stopped
 * client worker would stop them. `http` is the process's client (not
 * owned). Returns NULL with a reason in err. Free with repl_free. */
repl_t *repl_new(const fcgi_config *cfg, sqlite3 *db, const char *db_path, int self,
                 int nreplicas, int primary, const repl_machine *machine, fcgi_http *http,
                 char *err, size_t errlen);
void repl_free(repl_t *r);

/* 1 when this replica is the primary of the current epoch. */
int repl_is_primary(const repl_t *r);

/* 1 when this replica may answer a read of an item whose last change is
 * at log position `version` (0: just whether it serves at all): it holds a
 * read lease and the position is known to be safe (committed, and on
 * every replica that may hold a lease). Never waits. */
int repl_serving(repl_t *r, int64_t version);

/* A read in two steps: repl_read_begin opens a read transaction on the
 * replica's connection and gives the applied position it sees; the handler
 * reads what it needs (from the same connection); repl_read_end closes the
 * transaction and returns 1 when `version` (the position of the last change
 * of what was read: an item's version, or the applied position) may be
 * answered here, waiting a little for the primary to say it is safe, or
 * answers 503 {"error": ...} and returns 0 (nginx then tries another
 * replica). repl_read_begin returns 0 or -1 (database error). */
int repl_read_begin(repl_t *r, int64_t *applied);
int repl_read_end(repl_t *r, fcgi_request *req, int64_t version);

/* Both steps for a handler that reads after them: answers 503 and returns 0
 * unless everything applied here may be read. */
int repl_check_serving(repl_t *r, fcgi_request *req);

/* Primary only. Runs decide, apply and the log append in one SQLite
 * transaction, then sends the entry (and whatever a peer is missing before
 * it) to the peers that answered lately, in parallel, and waits until it is
 * safe (committed on a majority and held by every replica that may hold a
 * read lease). Returns decide's status when it is, with *pos set (0 when
 * nothing was written), decide's error status when it refused, or 503 when
 * this replica is not the primary or the entry is not safe in time: it then
 * stays in the log and reaches the peers with the next heartbeat (or is
 * discarded if another primary takes over first), so every write that can
 * end in 503 must be safe to retry (see order/ and catalog/). */
int repl_submit(repl_t *r, repl_decide_fn decide, void *arg, int64_t *pos, char *why,
                size_t whylen);

/* Backups: sends the client's write unchanged to the primary's client pool
 * and relays the primary's answer. Returns the status relayed, or 503. */
int repl_forward(repl_t *r, fcgi_request *req);

/* Adds "X-Bazar-Primary: N" (the primary this replica knows) to the answer
 * of a write, so that a caller can send its next write straight to N's
 * client pool (/replica/<service>/N/...) and skip the forwarding hop. Only
 * a hint: a write reaching a backup is still forwarded. repl_forward adds
 * it itself. */
void repl_hint_primary(repl_t *r, fcgi_request *req);

/* Route handlers for the peer pool (they use the process's repl_t). */
int repl_handle_append(fcgi_request *req);   /* POST /repl/append */
int repl_handle_vote(fcgi_request *req);     /* POST /repl/vote */
int repl_handle_handover(fcgi_request *req); /* POST /repl/handover */
int repl_handle_snapshot(fcgi_request *req); /* GET /repl/snapshot?epoch=E */
int repl_handle_safe(fcgi_request *req);     /* GET /repl/safe (the primary's safe position) */
int repl_handle_state(fcgi_request *req);    /* GET /state */
int repl_handle_health(fcgi_request *req);   /* GET /health */

/* At the primary: the highest log position known to be held by a majority
 * (committed: no failover can undo it). Entries are committed in order, so
 * every position up to it is too. 0 at a backup. */
int64_t repl_committed(const repl_t *r);

/* The last log position applied here, or -1 on a database error. */
int64_t repl_applied(repl_t *r);

#endif
