/* repl.c - one ordered, majority-replicated write stream per service.
 *
 * The protocol (docs/REPLICATION.md tells the whole story with the reasons):
 *
 *  Order. Every service (catalog, order) has n replicas; in each epoch one
 *  of them is the primary. Every write is decided and ordered by the
 *  primary; any replica accepts a write and forwards it (one hop, marked
 *  X-Bazar-Forwarded) to the primary's client pool. At the primary one
 *  SQLite IMMEDIATE transaction (a) lets the service decide what the request
 *  does given the current state (the stock check and the decrement see the
 *  same snapshot: no oversell), (b) applies the resulting entry, (c) appends
 *  it to repl_log at position applied+1 with the current epoch and (d)
 *  advances repl_meta.applied. Positions are dense: 1, 2, 3, ...
 *
 *  Fan-out. The primary sends every healthy peer an append message with the
 *  entries [from..to], in parallel (curl multi). A peer applies, in one
 *  transaction, the entries past its own position, strictly in order; a
 *  message that would leave a hole is refused with 409 "gap" and its
 *  position, and the primary re-sends [applied+1..to] from its log. Entries
 *  at or below a peer's position are skipped (after checking that their
 *  epochs match), so messages may be duplicated or reordered without harm.
 *
 *  Commit rule. An entry is committed once a majority of the replicas, the
 *  primary included, have it in their durable log. The primary waits for
 *  every healthy peer (bounded by peer_timeout_ms) and acknowledges only
 *  when a majority has the entry; otherwise 503 and the caller's retry
 *  (idempotent by key) finds the entry and re-checks the majority.
 *
 *  Read leases (no stale read after an acknowledgement). A replica serves
 *  reads only while it holds a lease: a backup gets lease_ms from the send
 *  time of each message of the primary after which it was caught up (the
 *  primary's ticker sends a heartbeat every heartbeat_ms, which also
 *  carries whatever the peer misses: that is catch-up); the primary gets
 *  lease_ms from the send time of each round a majority acknowledged. A
 *  peer that does not answer is skipped by later writes, but before
 *  acknowledging, a write waits until the lease such a peer may still hold
 *  (from the last message it acknowledged) has run out. So every replica
 *  that answers a read after an acknowledgement has the write.
 *
 *  Epochs and failover (repl_ticker.c). When the backups stop hearing from
 *  the primary for election_ms, the most up-to-date reachable replica
 *  (highest last entry epoch, then position, then lowest id) asks the
 *  others for their votes for epoch+1. A replica votes once per epoch, only
 *  for a candidate whose log is at least as complete as its own, and only
 *  if it has not heard from a live primary within election_ms (longer than
 *  any lease, so the old primary's lease has run out). With a majority the
 *  candidate becomes primary and logs a no-op in its epoch. Every message
 *  carries its epoch; a replica refuses messages from an older epoch and
 *  tells the sender the newer one, so a returning old primary is fenced: it
 *  cannot reach a majority, learns the epoch and becomes a backup. Entries
 *  it had applied but never committed conflict with the new primary's log
 *  (same position, other epoch): such a replica installs a snapshot.
 *
 *  Deadlock freedom. Appends, votes, snapshots and state are served by the
 *  peer pool, whose handlers never call another replica. A client-pool
 *  worker may wait on the primary's client pool (one hop, never further)
 *  or on peer pools, and nothing waits on a backup's client pool. The
 *  wait-for graph has no cycle. */
#include "repl_internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fcgi_db.h"
#include "fcgi_log.h"
#include "repl_msg.h"

#define REPL_BATCH 512 /* entries per append message */
#define REPL_ROUNDS 8  /* gap-filling rounds per replicate call */

static repl_t *current;

static const char schema[] =
    "CREATE TABLE IF NOT EXISTS repl_log ("
    "  pos INTEGER PRIMARY KEY, epoch INTEGER NOT NULL, op TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS repl_meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);"
    "INSERT OR IGNORE INTO repl_meta VALUES ('applied', 0), ('last_epoch', 0), ('epoch', 1),"
    "  ('voted_epoch', 0), ('voted_for', 0);";

int repl_exec(repl_t *r, const char *sql)
{
    char err[256];
    if (fcgi_db_exec(r->db, sql, err, sizeof err) != 0) {
        LOG_ERROR("%s: %s", sql, err);
        return -1;
    }
    return 0;
}

int64_t repl_meta_get(repl_t *r, const char *key)
{
    sqlite3_stmt *st =
        fcgi_db_stmt(r->db, &r->st_meta_get, "SELECT value FROM repl_meta WHERE key = ?");
    if (!st || sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC) != SQLITE_OK)
        return -1;
    int64_t v = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
    sqlite3_reset(st);
    return v;
}

int repl_meta_set(repl_t *r, const char *key, int64_t v)
{
    sqlite3_stmt *st = fcgi_db_stmt(r->db, &r->st_meta_set,
                                    "INSERT OR REPLACE INTO repl_meta (key, value) VALUES (?, ?)");
    if (!st || sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_bind_int64(st, 2, v) != SQLITE_OK || sqlite3_step(st) != SQLITE_DONE) {
        LOG_ERROR("repl_meta %s: %s", key, sqlite3_errmsg(r->db));
        return -1;
    }
    sqlite3_reset(st);
    return 0;
}

int64_t repl_committed(const repl_t *r)
{
    return repl_get(&r->sh->committed);
}

int64_t repl_applied(repl_t *r)
{
    return repl_meta_get(r, "applied");
}

/* The epoch of the logged entry at pos, 0 when it is not in the log, -1 on error. */
static int64_t log_epoch(repl_t *r, int64_t pos)
{
    sqlite3_stmt *st =
        fcgi_db_stmt(r->db, &r->st_log_epoch, "SELECT epoch FROM repl_log WHERE pos = ?");
    if (!st || sqlite3_bind_int64(st, 1, pos) != SQLITE_OK)
        return -1;
    int rc = sqlite3_step(st);
    int64_t e = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : rc == SQLITE_DONE ? 0 : -1;
    sqlite3_reset(st);
    return e;
}

static int log_insert(repl_t *r, int64_t pos, int64_t epoch, const char *op)
{
    sqlite3_stmt *st = fcgi_db_stmt(r->db, &r->st_log_insert,
                                    "INSERT INTO repl_log (pos, epoch, op) VALUES (?, ?, ?)");
    if (!st || sqlite3_bind_int64(st, 1, pos) != SQLITE_OK ||
        sqlite3_bind_int64(st, 2, epoch) != SQLITE_OK ||
        sqlite3_bind_text(st, 3, op, -1, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_step(st) != SQLITE_DONE) {
        LOG_ERROR("repl_log insert at %" PRId64 ": %s", pos, sqlite3_errmsg(r->db));
        return -1;
    }
    sqlite3_reset(st);
    return 0;
}

int repl_apply_and_log(repl_t *r, int64_t pos, int64_t ep, json_object *op, char *err,
                       size_t errlen)
{
    const char *text = json_object_to_json_string_ext(op, JSON_C_TO_STRING_PLAIN);
    json_object *kind;
    if (!text) {
        snprintf(err, errlen, "cannot serialize entry");
        return -1;
    }
    int noop = json_object_object_get_ex(op, "op", &kind) &&
               json_object_is_type(kind, json_type_string) &&
               strcmp(json_object_get_string(kind), "noop") == 0;
    if (!noop && r->m.apply(r->m.ctx, r->db, pos, op, err, errlen) != 0)
        return -1;
    if (log_insert(r, pos, ep, text) != 0 || repl_meta_set(r, "applied", pos) != 0 ||
        repl_meta_set(r, "last_epoch", ep) != 0) {
        snprintf(err, errlen, "log append failed: %s", sqlite3_errmsg(r->db));
        return -1;
    }
    return 0;
}

void repl_adopt_epoch(repl_t *r, int64_t epoch, int64_t primary)
{
    repl_shared *sh = r->sh;
    if (epoch < repl_get(&sh->epoch) ||
        (epoch == repl_get(&sh->epoch) && primary == repl_get(&sh->primary)))
        return;
    if (repl_exec(r, "BEGIN IMMEDIATE") == 0) {
        int64_t mine = repl_meta_get(r, "epoch");
        if (mine >= 0 && epoch >= mine) {
            repl_meta_set(r, "epoch", epoch);
            repl_meta_set(r, "primary", primary);
        }
        if (repl_exec(r, "COMMIT") != 0)
            repl_exec(r, "ROLLBACK");
    }
    int was_primary = repl_get(&sh->primary) == r->self;
    repl_raise(&sh->epoch, epoch);
    if (repl_get(&sh->epoch) == epoch)
        repl_set(&sh->primary, primary);
    if (was_primary && primary != r->self) {
        repl_set(&sh->lease_until_ms, 0);
        LOG_WARN("%s replica %d: epoch %" PRId64 " has primary %" PRId64 "; stepping down",
                 r->m.service, r->self, epoch, primary);
    }
}

repl_t *repl_new(const fcgi_config *cfg, sqlite3 *db, const char *db_path, int self,
                 int nreplicas, int primary, const repl_machine *machine, fcgi_http *http,
                 char *err, size_t errlen)
{
    if (nreplicas < 1 || nreplicas > REPL_MAX_PEERS || self < 1 || self > nreplicas ||
        primary < 1 || primary > nreplicas) {
        snprintf(err, errlen, "replica %d of %d (primary %d) is out of range", self, nreplicas,
                 primary);
        return NULL;
    }
    char sql[sizeof schema + 128];
    snprintf(sql, sizeof sql, "%s INSERT OR IGNORE INTO repl_meta VALUES ('primary', %d);",
             schema, primary);
    if (fcgi_db_exec(db, sql, err, errlen) != 0)
        return NULL;
    repl_t *r = calloc(1, sizeof *r);
    if (!r) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    r->cfg = cfg;
    r->db = db;
    r->http = http;
    r->m = *machine;
    r->self = self;
    r->n = nreplicas;
    snprintf(r->db_path, sizeof r->db_path, "%s", db_path ? db_path : "");
    for (int i = 1; i <= nreplicas; i++) {
        snprintf(r->peer_key[i], sizeof r->peer_key[i], "peer-%s-%d", machine->service, i);
        snprintf(r->peer_base[i], sizeof r->peer_base[i], "%s/peer/%s/%d", cfg->internal_url,
                 machine->service, i);
    }
    int64_t applied = repl_applied(r), epoch = repl_meta_get(r, "epoch"),
            prim = repl_meta_get(r, "primary");
    if (applied < 0 || epoch < 0 || prim < 0) {
        snprintf(err, errlen, "cannot read the replication state: %s", sqlite3_errmsg(db));
        free(r);
        return NULL;
    }
    r->sh = repl_shared_open(cfg->var_dir, machine->service, self, applied, err, errlen);
    if (!r->sh) {
        free(r);
        return NULL;
    }
    if (repl_get(&r->sh->epoch) < epoch) {
        repl_set(&r->sh->epoch, epoch);
        repl_set(&r->sh->primary, prim);
    }
    if (repl_get(&r->sh->heard_ms) == 0) /* a grace period before any election */
        repl_set(&r->sh->heard_ms, repl_wall_ms());
    current = r;
    if (db_path && repl_ticker_start(r, err, errlen) != 0) {
        free(r);
        current = NULL;
        return NULL;
    }
    return r;
}

void repl_free(repl_t *r)
{
    /* The shared mapping and the ticker thread live as long as the process. */
    if (current == r)
        current = NULL;
    free(r);
}

int repl_is_primary(const repl_t *r)
{
    return repl_get(&r->sh->primary) == r->self;
}

int repl_can_serve(const repl_t *r)
{
    if (r->n == 1)
        return 1;
    return repl_wall_ms() < repl_get(&r->sh->lease_until_ms) && !repl_get(&r->sh->need_snapshot);
}

int repl_check_serving(repl_t *r, fcgi_request *req)
{
    if (repl_can_serve(r))
        return 1;
    fcgi_resp_error(req, 503, "%s replica %d is not serving reads (catching up or cut off)",
                    r->m.service, r->self);
    return 0;
}

/* ---- the primary's side: building and sending append messages ---- */

typedef struct buf {
    char *p;
    size_t len, cap;
    int failed;
} buf;

static void buf_add(buf *b, const char *s, size_t n)
{
    if (b->failed)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 1024;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->failed = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = 0;
}

static void buf_fmt(buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void buf_fmt(buf *b, const char *fmt, ...)
{
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof tmp)
        b->failed = 1;
    else
        buf_add(b, tmp, (size_t)n);
}

/* Builds the append message carrying the logged entries [from..to] (at most
 * REPL_BATCH entries, and fewer when they would not fit in 7/8 of the
 * body_limit that the receiving peer enforces). When the log no longer reaches back to `from`, the message
 * says "snapshot" instead. Returns 0 or -1; the caller frees b->p. */
static int build_append(repl_t *r, int64_t epoch, int64_t from, int64_t to, int64_t sent_ms,
                        buf *b)
{
    if (to - from + 1 > REPL_BATCH)
        to = from + REPL_BATCH - 1;
    int64_t prev = from > 1 ? log_epoch(r, from - 1) : 0;
    sqlite3_stmt *st = fcgi_db_stmt(
        r->db, &r->st_log_range,
        "SELECT pos, epoch, op FROM repl_log WHERE pos BETWEEN ? AND ? ORDER BY pos");
    if (prev < 0 || !st || sqlite3_bind_int64(st, 1, from) != SQLITE_OK ||
        sqlite3_bind_int64(st, 2, to) != SQLITE_OK)
        return -1;
    buf_fmt(b,
            "{\"service\":\"%s\",\"epoch\":%" PRId64 ",\"leader\":%d,\"from\":%" PRId64
            ",\"prev_epoch\":%" PRId64 ",\"head\":%" PRId64 ",\"sent_ms\":%" PRId64
            ",\"entries\":[",
            r->m.service, epoch, r->self, from, prev ? prev : (int64_t)-1, to, sent_ms);
    int rc, first = 1, reaches = 1;
    int64_t expect = from;
    size_t budget = (size_t)r->cfg->body_limit / 8 * 7;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t pos = sqlite3_column_int64(st, 0);
        if (pos != expect) {
            reaches = 0;
            break;
        }
        const char *op = (const char *)sqlite3_column_text(st, 2);
        if (!op)
            op = "{}";
        size_t oplen = strlen(op);
        /* Stop before the message outgrows what a peer accepts (body_limit):
         * the peer answers with what it applied and gets the rest next. */
        if (!first && b->len + oplen + 96 > budget)
            break;
        expect++;
        buf_fmt(b, "%s{\"pos\":%" PRId64 ",\"epoch\":%" PRId64 ",\"op\":", first ? "" : ",", pos,
                (int64_t)sqlite3_column_int64(st, 1));
        buf_add(b, op, oplen);
        buf_add(b, "}", 1);
        first = 0;
    }
    sqlite3_reset(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return -1;
    if (first && from <= to)
        reaches = 0;
    buf_fmt(b, "],\"snapshot\":%s}", reaches ? "false" : "true");
    return b->failed ? -1 : 0;
}

/* Waits until every peer that did not take part in a write has lost the
 * read lease it may still hold from the last message it acknowledged. */
static void wait_out_leases(repl_t *r, const int *acked_peer)
{
    int64_t until = 0;
    for (int i = 1; i <= r->n; i++) {
        if (i == r->self || acked_peer[i])
            continue;
        int64_t t = repl_get(&r->sh->peer_ok_sent_ms[i]) + r->cfg->lease_ms;
        if (t > until)
            until = t;
    }
    int64_t now = repl_wall_ms();
    if (until > now) {
        int64_t ms = until - now;
        LOG_INFO("waiting %" PRId64 " ms for a silent peer's read lease to expire", ms);
        nanosleep(&(struct timespec){ms / 1000, (ms % 1000) * 1000000L}, NULL);
    }
}

int repl_peer_call(repl_t *r, int i, const char *method, const char *suffix, const char *body,
                   size_t len, int timeout_ms, fcgi_http_resp *resp)
{
    static const char *const hdrs[] = {"Content-Type: application/json", NULL};
    char url[REPL_URL_MAX + 64];
    snprintf(url, sizeof url, "%s%s", r->peer_base[i], suffix);
    fcgi_http_call call = {.peer = r->peer_key[i], .method = method, .url = url, .headers = hdrs,
                           .body = body, .len = len, .timeout_ms = timeout_ms};
    int rc = fcgi_http_do(r->http, &call);
    *resp = call.resp;
    return rc;
}

int repl_replicate(repl_t *r, int64_t to, int probe, int timeout_ms)
{
    int64_t next[REPL_MAX_PEERS + 1]; /* first entry each peer still needs; -1: done */
    int acked_peer[REPL_MAX_PEERS + 1] = {0};
    int acked = 1;
    int64_t epoch = repl_get(&r->sh->epoch), sent = repl_wall_ms();
    static const char *const hdrs[] = {"Content-Type: application/json", NULL};
    r->behind = 0;
    char urls[REPL_MAX_PEERS + 1][REPL_URL_MAX + 16];
    for (int i = 1; i <= r->n; i++) {
        int skip = i == r->self || (!probe && repl_get(&r->sh->peer_fail_ms[i]) != 0);
        /* A write's round starts with its new entry [to..to]; a heartbeat
         * (probe) with no entry at all, [to+1..to]: the peer answers its
         * position and a peer that is behind gets what it misses in the
         * next round. (Probing with [to..to] would need the head entry in
         * the log, which an emptied log - see order/order_db.c - lacks.) */
        next[i] = skip ? -1 : probe ? to + 1 : to;
        snprintf(urls[i], sizeof urls[i], "%s/repl/append", r->peer_base[i]);
    }
    for (int round = 0; round < REPL_ROUNDS; round++) {
        fcgi_http_call calls[REPL_MAX_PEERS];
        buf bodies[REPL_MAX_PEERS];
        int peer_of[REPL_MAX_PEERS];
        size_t nc = 0;
        memset(calls, 0, sizeof calls);
        memset(bodies, 0, sizeof bodies);
        for (int i = 1; i <= r->n; i++) {
            if (next[i] < 0)
                continue;
            if (build_append(r, epoch, next[i], to, sent, &bodies[nc]) != 0) {
                LOG_ERROR("cannot build append for %s-%d", r->m.service, i);
                free(bodies[nc].p);
                bodies[nc] = (buf){0};
                next[i] = -1;
                continue;
            }
            calls[nc] = (fcgi_http_call){.peer = r->peer_key[i], .method = "POST",
                                         .url = urls[i], .headers = hdrs, .body = bodies[nc].p,
                                         .len = bodies[nc].len, .timeout_ms = timeout_ms};
            peer_of[nc++] = i;
        }
        if (nc == 0)
            break;
        fcgi_http_do_all(r->http, calls, nc);
        int64_t newer_epoch = 0, newer_primary = 0;
        for (size_t k = 0; k < nc; k++) {
            int i = peer_of[k];
            fcgi_http_resp *resp = &calls[k].resp;
            json_object *ans = calls[k].rc == 0 && resp->body ? json_tokener_parse(resp->body)
                                                              : NULL;
            int64_t applied = fcgi_json_int(ans, "applied", -1);
            int64_t their_epoch = fcgi_json_int(ans, "epoch", 0);
            if (calls[k].rc == 0 && resp->status == 200 && applied >= to) {
                acked++;
                acked_peer[i] = 1;
                next[i] = -1;
                repl_raise(&r->sh->peer_ok_sent_ms[i], sent);
                repl_set(&r->sh->peer_fail_ms[i], 0);
            } else if (calls[k].rc == 0 && (resp->status == 200 || resp->status == 409) &&
                       their_epoch <= epoch && applied >= 0 && applied < to &&
                       fcgi_json_int(ans, "snapshot", 0) == 0) {
                next[i] = applied + 1; /* a gap or a partial batch: send what it misses */
            } else {
                if (their_epoch > epoch) {
                    newer_epoch = their_epoch;
                    newer_primary = fcgi_json_int(ans, "primary", 0);
                }
                if (repl_get(&r->sh->peer_fail_ms[i]) == 0) {
                    LOG_WARN("append to %s-%d failed: %s (status %ld)", r->m.service, i,
                             calls[k].rc ? resp->err : (resp->body ? resp->body : ""),
                             resp->status);
                    repl_set(&r->sh->peer_fail_ms[i], repl_wall_ms());
                }
                next[i] = -1;
            }
            json_object_put(ans);
            fcgi_http_resp_clear(resp);
            free(bodies[k].p);
        }
        if (newer_epoch) {
            repl_adopt_epoch(r, newer_epoch, newer_primary);
            return 0;
        }
    }
    for (int i = 1; i <= r->n; i++)
        if (next[i] > 0) /* answered every round with progress, and wants more */
            r->behind = 1;
    if (acked * 2 > r->n) {
        repl_raise(&r->sh->committed, to);
        repl_raise(&r->sh->lease_until_ms, sent + r->cfg->lease_ms);
        if (!probe)
            wait_out_leases(r, acked_peer);
    }
    return acked;
}

int repl_submit(repl_t *r, repl_decide_fn decide, void *arg, int64_t *pos, char *why,
                size_t whylen)
{
    char err[256];
    *pos = 0;
    if (!repl_is_primary(r)) {
        snprintf(why, whylen, "%s replica %d is not the primary", r->m.service, r->self);
        return 503;
    }
    if (fcgi_db_exec(r->db, "BEGIN IMMEDIATE", err, sizeof err) != 0) {
        snprintf(why, whylen, "database busy: %s", err);
        return 503;
    }
    /* The role is re-checked under the write lock: a vote for another
     * replica or a newer epoch learned by another process is durable here. */
    int64_t epoch = repl_meta_get(r, "epoch"), prim = repl_meta_get(r, "primary");
    if (prim != r->self) {
        repl_exec(r, "ROLLBACK");
        snprintf(why, whylen, "%s replica %d is no longer the primary", r->m.service, r->self);
        return 503;
    }
    json_object *op = NULL;
    int status = decide(arg, r->db, &op, why, whylen);
    if (status >= 300) {
        json_object_put(op);
        repl_exec(r, "ROLLBACK");
        return status;
    }
    int64_t head = repl_applied(r);
    if (head < 0 || epoch < 0) {
        json_object_put(op);
        repl_exec(r, "ROLLBACK");
        snprintf(why, whylen, "database error");
        return 500;
    }
    if (op) {
        if (repl_apply_and_log(r, head + 1, epoch, op, err, sizeof err) != 0) {
            json_object_put(op);
            repl_exec(r, "ROLLBACK");
            LOG_ERROR("apply at primary failed: %s", err);
            snprintf(why, whylen, "write failed: %s", err);
            return 500;
        }
        head++;
        *pos = head;
        json_object_put(op);
    }
    if (fcgi_db_exec(r->db, "COMMIT", err, sizeof err) != 0) {
        repl_exec(r, "ROLLBACK");
        snprintf(why, whylen, "commit failed: %s", err);
        *pos = 0;
        return 503;
    }
    /* An idempotent repeat changes nothing but may answer for an entry that
     * never reached a majority: make sure everything up to the head has. */
    if (r->n == 1)
        repl_raise(&r->sh->committed, head);
    if (head == 0 || r->n == 1)
        return status;
    int acked = repl_replicate(r, head, 0, r->cfg->peer_timeout_ms);
    if (acked * 2 <= r->n || !repl_is_primary(r)) {
        snprintf(why, whylen, "write reached %d of %d %s replicas, not a majority; retry", acked,
                 r->n, r->m.service);
        return 503;
    }
    return status;
}

/* ---- the peer's side ---- */

static int answer(fcgi_request *req, int status, repl_t *r, int64_t applied, const char *error,
                  int snapshot)
{
    json_object *o = json_object_new_object();
    if (!o)
        return fcgi_resp_error(req, 500, "out of memory");
    if (error)
        json_object_object_add(o, "error", json_object_new_string(error));
    json_object_object_add(o, "applied", json_object_new_int64(applied));
    json_object_object_add(o, "epoch", json_object_new_int64(repl_get(&r->sh->epoch)));
    json_object_object_add(o, "primary", json_object_new_int64(repl_get(&r->sh->primary)));
    if (snapshot)
        json_object_object_add(o, "snapshot", json_object_new_int(1));
    return fcgi_resp_json(req, status, o);
}

/* Marks this replica as needing a snapshot (its ticker installs one). */
static int want_snapshot(fcgi_request *req, repl_t *r, int64_t applied, const char *why)
{
    if (!repl_get(&r->sh->need_snapshot))
        LOG_WARN("%s replica %d: %s; a snapshot will be installed", r->m.service, r->self, why);
    repl_set(&r->sh->need_snapshot, 1);
    return answer(req, 409, r, applied, why, 1);
}

int repl_handle_append(fcgi_request *req)
{
    repl_t *r = current;
    char why[256];
    int status;
    json_object *msg = fcgi_req_json(req, &status, why, sizeof why), *v, *entries;
    if (!msg)
        return fcgi_resp_error(req, status, "%s", why);
    /* The whole message is validated (fcgi/repl_msg.c) before anything is applied. */
    repl_msg valid;
    if (repl_msg_from_json(msg, &valid, why, sizeof why) != 0)
        return fcgi_resp_error(req, 400, "%s", why);
    repl_msg_free(&valid);
    if (!json_object_object_get_ex(msg, "service", &v) || !json_object_is_type(v, json_type_string) ||
        strcmp(json_object_get_string(v), r->m.service) != 0)
        return fcgi_resp_error(req, 400, "append for another service");
    int64_t epoch = fcgi_json_int(msg, "epoch", -1), leader = fcgi_json_int(msg, "leader", -1),
            from = fcgi_json_int(msg, "from", -1), prev = fcgi_json_int(msg, "prev_epoch", -1),
            head = fcgi_json_int(msg, "head", -1), sent = fcgi_json_int(msg, "sent_ms", -1);
    if (epoch < 1 || leader < 1 || leader > r->n || leader == r->self || from < 1 || head < 0 ||
        sent < 0 || !json_object_object_get_ex(msg, "entries", &entries) ||
        !json_object_is_type(entries, json_type_array))
        return fcgi_resp_error(req, 400, "malformed append message");
    if (epoch < repl_get(&r->sh->epoch))
        return answer(req, 409, r, repl_applied(r), "stale epoch", 0);

    if (repl_exec(r, "BEGIN IMMEDIATE") != 0)
        return fcgi_resp_error(req, 503, "database busy");
    int64_t mine = repl_meta_get(r, "epoch"), applied = repl_applied(r);
    if (mine < 0 || applied < 0) {
        repl_exec(r, "ROLLBACK");
        return fcgi_resp_error(req, 503, "database error");
    }
    if (epoch < mine) {
        repl_exec(r, "ROLLBACK");
        return answer(req, 409, r, applied, "stale epoch", 0);
    }
    if (epoch > mine || repl_meta_get(r, "primary") != leader) {
        repl_meta_set(r, "epoch", epoch);
        repl_meta_set(r, "primary", leader);
    }
    json_object *snap;
    if (json_object_object_get_ex(msg, "snapshot", &snap) && json_object_get_boolean(snap)) {
        repl_exec(r, "COMMIT");
        repl_adopt_epoch(r, epoch, leader);
        return want_snapshot(req, r, applied, "the primary's log no longer reaches back");
    }
    /* The entry before `from` must be the one the primary has there. */
    if (from - 1 >= 1 && from - 1 <= applied && prev > 0) {
        int64_t here = log_epoch(r, from - 1);
        if (here > 0 && here != prev) {
            repl_exec(r, "COMMIT");
            repl_adopt_epoch(r, epoch, leader);
            return want_snapshot(req, r, applied, "log diverged from the primary's");
        }
    }
    size_t n = json_object_array_length(entries);
    const char *problem = NULL;
    for (size_t i = 0; i < n && !problem; i++) {
        json_object *e = json_object_array_get_idx(entries, i), *op;
        int64_t pos = fcgi_json_int(e, "pos", -1), ep = fcgi_json_int(e, "epoch", -1);
        if (pos < 1 || ep < 1 || ep > epoch || !json_object_object_get_ex(e, "op", &op) ||
            !json_object_is_type(op, json_type_object)) {
            repl_exec(r, "ROLLBACK");
            return fcgi_resp_error(req, 400, "malformed entry %zu", i);
        }
        if (pos <= applied) { /* a duplicate delivery, unless it conflicts */
            int64_t here = log_epoch(r, pos);
            if (here > 0 && here != ep)
                problem = "diverged";
            continue;
        }
        if (pos != applied + 1) {
            problem = "gap";
            break;
        }
        char err[256];
        if (repl_apply_and_log(r, pos, ep, op, err, sizeof err) != 0) {
            /* An entry the state machine refuses (unknown op, missing fields,
             * no such row) is the sender's fault: 422; a database failure is ours. */
            int dberr = sqlite3_errcode(r->db) & 0xff;
            int refused = dberr == SQLITE_OK || dberr == SQLITE_ROW || dberr == SQLITE_DONE ||
                          dberr == SQLITE_CONSTRAINT || dberr == SQLITE_MISMATCH;
            repl_exec(r, "ROLLBACK");
            LOG_ERROR("apply of entry %" PRId64 " failed: %s", pos, err);
            return fcgi_resp_error(req, refused ? 422 : 500, "apply of entry %" PRId64 " failed",
                                   pos);
        }
        applied = pos;
    }
    if (repl_exec(r, "COMMIT") != 0) {
        repl_exec(r, "ROLLBACK");
        return fcgi_resp_error(req, 503, "commit failed");
    }
    repl_adopt_epoch(r, epoch, leader);
    repl_set(&r->sh->heard_ms, repl_wall_ms());
    repl_set(&r->sh->leader_head, head);
    if (problem && strcmp(problem, "diverged") == 0)
        return want_snapshot(req, r, applied, "log diverged from the primary's");
    if (problem)
        return answer(req, 409, r, applied, problem, 0);
    if (applied >= head && !repl_get(&r->sh->need_snapshot))
        repl_raise(&r->sh->lease_until_ms, sent + r->cfg->lease_ms);
    return answer(req, 200, r, applied, NULL, 0);
}

/* Appends the pids listed in a pid file (one per line) to arr. */
static void add_pids(json_object *arr, const char *path)
{
    char line[32];
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    while (fgets(line, sizeof line, f)) {
        long pid = strtol(line, NULL, 10);
        if (pid > 0)
            json_object_array_add(arr, json_object_new_int64(pid));
    }
    fclose(f);
}

int repl_handle_state(fcgi_request *req)
{
    repl_t *r = current;
    char hash[64] = "";
    if (repl_exec(r, "BEGIN") != 0)
        return fcgi_resp_error(req, 503, "database busy");
    int64_t applied = repl_applied(r), last_epoch = repl_meta_get(r, "last_epoch");
    int hrc = r->m.hash(r->m.ctx, r->db, hash, sizeof hash);
    repl_exec(r, "COMMIT");
    if (applied < 0 || last_epoch < 0 || hrc != 0)
        return fcgi_resp_error(req, 503, "database error");
    repl_shared *sh = r->sh;
    json_object *o = json_object_new_object();
    if (!o)
        return fcgi_resp_error(req, 500, "out of memory");
    int64_t now = repl_wall_ms(), prim = repl_get(&sh->primary);
    json_object_object_add(o, "service", json_object_new_string(r->m.service));
    json_object_object_add(o, "id", json_object_new_int(r->self));
    json_object_object_add(o, "role",
                           json_object_new_string(prim == r->self ? "primary" : "backup"));
    json_object_object_add(o, "primary", prim ? json_object_new_int64(prim) : NULL);
    json_object_object_add(o, "epoch", json_object_new_int64(repl_get(&sh->epoch)));
    json_object_object_add(o, "applied", json_object_new_int64(applied));
    json_object_object_add(o, "last_epoch", json_object_new_int64(last_epoch));
    json_object_object_add(o, "hash", json_object_new_string(hash));
    json_object_object_add(o, "serving", json_object_new_boolean(repl_can_serve(r)));
    json_object_object_add(o, "heard_ms_ago", json_object_new_int64(now - repl_get(&sh->heard_ms)));
    json_object_object_add(o, "replayed",
                           json_object_new_int64(applied - repl_get(&sh->boot_applied)));
    json_object_object_add(o, "snapshots", json_object_new_int64(repl_get(&sh->snapshots)));
    /* Where this replica runs, as its own host sees it: the pool that
     * answered and the pids of both pools (spawn-fcgi's pid files). */
    char where[FCGI_CONFIG_STR + 16];
    if (fcgi_app_listen_address(where, sizeof where) == 0)
        json_object_object_add(o, "listen", json_object_new_string(where));
    json_object *pids = json_object_new_array();
    const char *suffix[2] = {"", ".peer"};
    for (int k = 0; k < 2 && pids; k++) {
        snprintf(where, sizeof where, "%s/run/%s-%d%s.pid", r->cfg->var_dir, r->m.service,
                 r->self, suffix[k]);
        add_pids(pids, where);
    }
    json_object_object_add(o, "pids", pids);
    return fcgi_resp_json(req, 200, o);
}

int repl_handle_health(fcgi_request *req)
{
    repl_t *r = current;
    int64_t applied = repl_applied(r);
    if (applied < 0)
        return fcgi_resp_error(req, 503, "database unavailable");
    if (!repl_check_serving(r, req))
        return 503;
    json_object *o = json_object_new_object();
    if (!o)
        return fcgi_resp_error(req, 500, "out of memory");
    json_object_object_add(o, "status", json_object_new_string("ok"));
    json_object_object_add(o, "applied", json_object_new_int64(applied));
    return fcgi_resp_json(req, 200, o);
}

int repl_handle_vote(fcgi_request *req)
{
    repl_t *r = current;
    char why[256];
    int status;
    json_object *msg = fcgi_req_json(req, &status, why, sizeof why), *v;
    if (!msg)
        return fcgi_resp_error(req, status, "%s", why);
    if (!json_object_object_get_ex(msg, "service", &v) || !json_object_is_type(v, json_type_string) ||
        strcmp(json_object_get_string(v), r->m.service) != 0)
        return fcgi_resp_error(req, 400, "vote for another service");
    int64_t epoch = fcgi_json_int(msg, "epoch", -1), cand = fcgi_json_int(msg, "candidate", -1),
            c_last = fcgi_json_int(msg, "last_epoch", -1), c_pos = fcgi_json_int(msg, "applied", -1);
    if (epoch < 1 || cand < 1 || cand > r->n || cand == r->self || c_last < 0 || c_pos < 0)
        return fcgi_resp_error(req, 400, "malformed vote request");
    const char *deny = NULL;
    int64_t prim = repl_get(&r->sh->primary);
    if (prim == r->self)
        deny = "I am the primary";
    else if (prim && prim != cand &&
             repl_wall_ms() - repl_get(&r->sh->heard_ms) < r->cfg->election_ms)
        deny = "a live primary is known";
    if (repl_exec(r, "BEGIN IMMEDIATE") != 0)
        return fcgi_resp_error(req, 503, "database busy");
    int64_t mine = repl_meta_get(r, "epoch"), voted = repl_meta_get(r, "voted_epoch"),
            voted_for = repl_meta_get(r, "voted_for"), last = repl_meta_get(r, "last_epoch"),
            applied = repl_applied(r);
    if (mine < 0 || voted < 0 || voted_for < 0 || last < 0 || applied < 0)
        deny = "database error";
    else if (epoch < mine || (epoch == voted && voted_for != cand))
        deny = "already voted in that epoch";
    else if (c_last < last || (c_last == last && c_pos < applied))
        deny = "candidate's log is behind mine";
    if (!deny && (repl_meta_set(r, "epoch", epoch) != 0 || repl_meta_set(r, "voted_epoch", epoch) != 0 ||
                  repl_meta_set(r, "voted_for", cand) != 0 || repl_meta_set(r, "primary", 0) != 0))
        deny = "database error";
    if (deny || repl_exec(r, "COMMIT") != 0) {
        repl_exec(r, "ROLLBACK");
        json_object *o = json_object_new_object();
        json_object_object_add(o, "granted", json_object_new_boolean(0));
        json_object_object_add(o, "error", json_object_new_string(deny ? deny : "commit failed"));
        json_object_object_add(o, "epoch", json_object_new_int64(repl_get(&r->sh->epoch)));
        return fcgi_resp_json(req, 409, o);
    }
    repl_raise(&r->sh->epoch, epoch);
    repl_set(&r->sh->primary, 0);
    LOG_INFO("%s replica %d: voted for %" PRId64 " in epoch %" PRId64, r->m.service, r->self, cand,
             epoch);
    json_object *o = json_object_new_object();
    json_object_object_add(o, "granted", json_object_new_boolean(1));
    json_object_object_add(o, "epoch", json_object_new_int64(epoch));
    return fcgi_resp_json(req, 200, o);
}

int repl_handle_snapshot(fcgi_request *req)
{
    repl_t *r = current;
    if (repl_exec(r, "BEGIN") != 0)
        return fcgi_resp_error(req, 503, "database busy");
    int64_t applied = repl_applied(r), last = repl_meta_get(r, "last_epoch"),
            epoch = repl_meta_get(r, "epoch");
    json_object *state = r->m.dump(r->m.ctx, r->db);
    repl_exec(r, "COMMIT");
    if (!state || applied < 0 || last < 0 || epoch < 0) {
        json_object_put(state);
        return fcgi_resp_error(req, 503, "cannot take a snapshot");
    }
    json_object *o = json_object_new_object();
    json_object_object_add(o, "service", json_object_new_string(r->m.service));
    json_object_object_add(o, "applied", json_object_new_int64(applied));
    json_object_object_add(o, "last_epoch", json_object_new_int64(last));
    json_object_object_add(o, "epoch", json_object_new_int64(epoch));
    json_object_object_add(o, "state", state);
    return fcgi_resp_json(req, 200, o);
}

void repl_hint_primary(repl_t *r, fcgi_request *req)
{
    int64_t primary = repl_get(&r->sh->primary);
    if (primary > 0)
        fcgi_resp_header(req, "X-Bazar-Primary", "%" PRId64, primary);
}

int repl_forward(repl_t *r, fcgi_request *req)
{
    int64_t primary = repl_get(&r->sh->primary);
    if (fcgi_req_header(req, "X-Bazar-Forwarded") || primary < 1 || primary == r->self)
        return fcgi_resp_error(req, 503, "%s replica %d is not the primary%s", r->m.service,
                               r->self, primary < 1 ? " (electing one)" : "");
    const char *body = NULL;
    size_t len = 0;
    int st = fcgi_req_body(req, &body, &len);
    if (st != 0)
        return fcgi_resp_error(req, st, st == 413 ? "request body too large" : "short body");
    /* The body is forwarded as JSON: refuse anything else here, as the primary would. */
    const char *ctype = fcgi_req_param(req, "CONTENT_TYPE");
    if (len > 0 && ctype && ctype[0] && !fcgi_content_type_is_json(ctype))
        return fcgi_resp_error(req, 415, "Content-Type must be application/json");
    char url[FCGI_CONFIG_STR * 2 + 64];
    int n = snprintf(url, sizeof url, "%s/replica/%s/%" PRId64 "%.*s%s%s", r->cfg->internal_url,
                     r->m.service, primary, (int)req->path_len, req->path,
                     req->query[0] ? "?" : "", req->query);
    if (n < 0 || (size_t)n >= sizeof url)
        return fcgi_resp_error(req, 414, "path too long");
    char key_hdr[256], rid_hdr[96];
    const char *key = fcgi_req_header(req, "Idempotency-Key");
    const char *hdrs[5];
    size_t h = 0;
    hdrs[h++] = "Content-Type: application/json";
    hdrs[h++] = "X-Bazar-Forwarded: 1";
    snprintf(rid_hdr, sizeof rid_hdr, "X-Request-Id: %s", req->request_id);
    hdrs[h++] = rid_hdr;
    if (key && strlen(key) < 200) {
        snprintf(key_hdr, sizeof key_hdr, "Idempotency-Key: %s", key);
        hdrs[h++] = key_hdr;
    }
    hdrs[h] = NULL;
    fcgi_http_call call = {.peer = "primary", .method = req->method, .url = url,
                           .headers = hdrs, .body = body, .len = len};
    if (fcgi_http_do(r->http, &call) != 0 || call.resp.status >= 502) {
        LOG_WARN("forward to %s primary %" PRId64 " failed: %s", r->m.service, primary,
                 call.rc ? call.resp.err : "bad gateway");
        fcgi_http_resp_clear(&call.resp);
        return fcgi_resp_error(req, 503, "%s primary unavailable", r->m.service);
    }
    if (call.resp.server_timing[0])
        fcgi_resp_header(req, "Server-Timing", "%s", call.resp.server_timing);
    if (call.resp.primary > 0)
        fcgi_resp_header(req, "X-Bazar-Primary", "%d", call.resp.primary);
    int status = fcgi_resp_raw(req, (int)call.resp.status, "application/json",
                               call.resp.body ? call.resp.body : "", call.resp.len);
    fcgi_http_resp_clear(&call.resp);
    return status;
}
