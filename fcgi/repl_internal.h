/* repl_internal.h - what repl.c and repl_ticker.c share; not for services. */
#ifndef REPL_INTERNAL_H
#define REPL_INTERNAL_H

#include "repl.h"
#include "fcgi_json.h"
#include "repl_shared.h"

#define REPL_MAX_PEERS 7
#define REPL_URL_MAX (FCGI_CONFIG_STR + 64)

struct repl {
    const fcgi_config *cfg;
    sqlite3 *db;
    fcgi_http *http;
    repl_machine m;
    int self, n;
    repl_shared *sh;
    int behind; /* the last repl_replicate ran out of rounds with a peer still catching up */
    sqlite3_stmt *st_meta_get, *st_meta_set, *st_log_insert, *st_log_range, *st_log_epoch;
    char db_path[FCGI_CONFIG_STR + 64];
    char peer_key[REPL_MAX_PEERS + 1][48];
    char peer_base[REPL_MAX_PEERS + 1][REPL_URL_MAX]; /* .../peer/<service>/<i> */
};

/* Meta values ("applied", "last_epoch", "epoch", "voted_epoch", "voted_for",
 * "primary"): -1 on a database error. */
int64_t repl_meta_get(repl_t *r, const char *key);
int repl_meta_set(repl_t *r, const char *key, int64_t v);

/* Runs SQL; 0 or -1 (logged). */
int repl_exec(repl_t *r, const char *sql);

/* Applies op at pos (epoch ep) and logs it, inside an open transaction. */
int repl_apply_and_log(repl_t *r, int64_t pos, int64_t ep, json_object *op, char *err,
                       size_t errlen);

/* Sends the log up to `to` to the peers in parallel (all of them when
 * probe, else only those not known to be failing), re-sending what each
 * misses; returns how many replicas (self included) hold `to`, and sets
 * r->behind when a peer that is catching up still misses entries after
 * the last round. Steps down when a peer knows a newer epoch. */
int repl_replicate(repl_t *r, int64_t to, int probe, int timeout_ms);

/* Adopts a newer epoch learned from a peer: this replica is a backup of
 * `primary` (0: unknown) from now on. Persists it. */
void repl_adopt_epoch(repl_t *r, int64_t epoch, int64_t primary);

/* Starts the replica's ticker thread (one per process; only the holder of
 * the replica's ticker lock works). Returns 0 or -1. */
int repl_ticker_start(repl_t *r, char *err, size_t errlen);

/* A GET/POST to peer i's peer pool at base + suffix; 0 or -1 like fcgi_http_do. */
int repl_peer_call(repl_t *r, int i, const char *method, const char *suffix, const char *body,
                   size_t len, int timeout_ms, fcgi_http_resp *resp);


#endif
