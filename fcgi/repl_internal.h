/* repl_internal.h - what the replication driver's files share; not for
 * services. The driver (repl.c: API and peer handlers, repl_store.c:
 * SQLite, repl_leader.c: sending appends, repl_ticker.c: background work)
 * feeds the I/O-free protocol core (fcgi/repl/rc.h), whose state lives in
 * the replica's shared memory (repl_shared.h). */
#ifndef REPL_INTERNAL_H
#define REPL_INTERNAL_H

#include "fcgi_json.h"
#include "rc.h"
#include "repl.h"
#include "repl_shared.h"

#define REPL_MAX_PEERS 7
#define REPL_URL_MAX (FCGI_CONFIG_STR + 64)

struct repl {
    const fcgi_config *cfg;
    sqlite3 *db;
    fcgi_http *http;
    repl_machine m;
    int self, n;
    int named_primary; /* the primary of a fresh cluster's first epoch */
    repl_shared *sh;
    int behind; /* the last round left a peer still catching up */
    int64_t pool_ok_ms; /* ticker: when its own client pool last answered */
    int64_t release_at_ms; /* ticker: not before this does it try a release again */
    sqlite3_stmt *st_meta_get, *st_meta_set, *st_log_insert, *st_log_range, *st_log_epoch,
        *st_log_view, *st_data_version;
    /* /state's hash of the machine's state, kept until the database changes
     * (repl.c, state_hash). */
    int hash_valid;
    int64_t hash_data_version, hash_changes;
    char hash[64];
    char db_path[FCGI_CONFIG_STR + 64];
    char peer_key[REPL_MAX_PEERS + 1][48];
    char peer_base[REPL_MAX_PEERS + 1][REPL_URL_MAX]; /* .../peer/<service>/<i> */
};

/* ---- repl_store.c: the log and the durable state in SQLite ---- */

/* Creates the log tables, and repairs `base` for logs emptied or trimmed by
 * older versions. Returns 0 or -1 with a reason. */
int repl_store_init(repl_t *r, int primary, char *err, size_t errlen);

/* Meta values ("applied", "last_epoch", "epoch", "voted_for", "primary",
 * "recovering", "base", "base_epoch"): -1 on a database error or when
 * absent (all are >= 0). */
int64_t repl_meta_get(repl_t *r, const char *key);
int repl_meta_set(repl_t *r, const char *key, int64_t v);

/* Runs SQL; 0 or -1 (logged). */
int repl_exec(repl_t *r, const char *sql);

/* Applies op at pos (epoch ep) and logs it, inside an open transaction. */
int repl_apply_and_log(repl_t *r, int64_t pos, int64_t ep, json_object *op, char *err,
                       size_t errlen);

/* The core's view of this replica's log (reads meta; epoch_at queries). */
rc_log repl_log_view(repl_t *r);

/* The durable part of the protocol state as stored. */
int repl_hard_load(repl_t *r, rc_hard *h);

/* Inside an open write transaction, with the node locked: stores the
 * node's durable state if the core changed it. Returns 0 or -1. */
int repl_hard_save(repl_t *r);

/* Stores the durable state if the core changed it (its own transaction). */
int repl_hard_persist(repl_t *r);

/* Trims the log up to `upto` (inclusive), keeping its epoch as the base. */
int repl_log_trim(repl_t *r, int64_t upto);

/* ---- repl_leader.c: the primary's side of append ---- */

/* Sends an append to every peer (the write rounds: only to the peers that
 * answered within two heartbeats, `all` for heartbeats) in parallel, each
 * call bounded by timeout_ms, takes the replies, sends again to peers that
 * asked for more (up to a few rounds), and advances commit and safe. Then
 * waits until `pos` is safe (answers that other processes take, or a silent
 * peer's lease running out), until wait_ms after the start. Returns 1 when
 * pos is safe (always for pos 0), else 0. */
int repl_replicate(repl_t *r, int64_t pos, int all, int timeout_ms, int wait_ms);

/* Release (fcgi/repl/rc.h): hands the held entries not yet released to
 * the machine's release callback and, when it did its work, tells the core
 * (the primary only; nothing to do without a callback). */
void repl_release_held(repl_t *r);

/* How long a read waits for its position to become safe: the longest a
 * write can wait for a silent peer's lease (two heartbeats of grants, the
 * lease, the drift bound). */
int repl_read_wait_ms(const repl_t *r);

/* Appends a no-op of the leader's epoch (after winning). 0 or -1. */
int repl_append_noop(repl_t *r);

/* A GET/POST to peer i's peer pool at base + suffix; 0 or -1 like fcgi_http_do. */
int repl_peer_call(repl_t *r, int i, const char *method, const char *suffix, const char *body,
                   size_t len, int timeout_ms, fcgi_http_resp *resp);

/* A random number of milliseconds in [0, upto] (election jitter). */
int64_t repl_random_ms(int64_t upto);

/* ---- repl_ticker.c ---- */

/* Starts the replica's ticker thread (one per process; only the holder of
 * the replica's ticker lock works). Returns 0 or -1. */
int repl_ticker_start(repl_t *r, char *err, size_t errlen);

/* The core's node, locked / unlocked. */
static inline rc_node *repl_node_lock(repl_t *r)
{
    repl_shared_lock(r->sh);
    return &r->sh->node;
}
static inline void repl_node_unlock(repl_t *r)
{
    repl_shared_unlock(r->sh);
}

/* How long a call to a peer that has gone quiet may take (heartbeat_ms / 2,
 * at least 20 ms): a round of calls lasts as long as its slowest, and must
 * not wait out a dead or stopped peer's whole timeout. */
static inline int repl_probe_ms(const repl_t *r)
{
    return r->cfg->heartbeat_ms / 2 > 20 ? r->cfg->heartbeat_ms / 2 : 20;
}

#endif
