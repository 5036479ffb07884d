/* repl_leader.c - the primary's side of append, as a driver of the core
 * (fcgi/repl/rc_append.c): the core says what each peer gets (from where,
 * with which commit, safe position and lease); this file reads the entries
 * from SQLite, sends the messages in parallel over libcurl, gives the
 * replies back to the core and waits until a write is safe. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fcgi_db.h"
#include "fcgi_log.h"
#include "repl_internal.h"

#define REPL_BATCH 512 /* entries per append message */
#define REPL_ROUNDS 8  /* rounds per call for peers that ask for more */

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

/* The log entries from..to (pos, epoch, op in position order), as a
 * statement ready to step, or NULL. */
static sqlite3_stmt *log_range(repl_t *r, int64_t from, int64_t to)
{
    sqlite3_stmt *st = fcgi_db_stmt(
        r->db, &r->st_log_range,
        "SELECT pos, epoch, op FROM repl_log WHERE pos BETWEEN ? AND ? ORDER BY pos");
    if (!st || sqlite3_bind_int64(st, 1, from) != SQLITE_OK ||
        sqlite3_bind_int64(st, 2, to) != SQLITE_OK)
        return NULL;
    return st;
}

/* The JSON of append `m` with its entries read from the log: at most
 * m->n, and fewer when they would not fit in 7/8 of the body_limit the
 * peer enforces (the peer then answers with what it got and gets the rest
 * next). Entries that are gone from the log (trimmed meanwhile) turn the
 * message into a snapshot request. Returns 0 or -1; the caller frees b->p. */
static int build_json(repl_t *r, const rc_msg *m, buf *b)
{
    buf entries = {0};
    int snapshot = m->snapshot, rc = 0;
    int64_t n = 0;
    if (!snapshot && m->n > 0) {
        int64_t to = m->prev_pos + (m->n < REPL_BATCH ? m->n : REPL_BATCH);
        sqlite3_stmt *st = log_range(r, m->prev_pos + 1, to);
        if (!st)
            return -1;
        size_t budget = (size_t)r->cfg->body_limit / 8 * 7;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
            int64_t pos = sqlite3_column_int64(st, 0);
            const char *op = (const char *)sqlite3_column_text(st, 2);
            size_t oplen = op ? strlen(op) : 0;
            if (pos != m->prev_pos + 1 + n || !op || (n > 0 && entries.len + oplen + 400 > budget))
                break;
            buf_fmt(&entries, "%s{\"pos\":%" PRId64 ",\"epoch\":%" PRId64 ",\"op\":",
                    n ? "," : "", pos, (int64_t)sqlite3_column_int64(st, 1));
            buf_add(&entries, op, oplen);
            buf_add(&entries, "}", 1);
            n++;
        }
        sqlite3_reset(st);
        if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
            free(entries.p);
            return -1;
        }
        if (n == 0)
            snapshot = 1;
    }
    buf_fmt(b,
            "{\"service\":\"%s\",\"epoch\":%" PRId64 ",\"leader\":%d,\"from\":%" PRId64
            ",\"prev_epoch\":%" PRId64 ",\"head\":%" PRId64 ",\"sent_ms\":%" PRId64
            ",\"commit\":%" PRId64 ",\"safe\":%" PRId64 ",\"lease\":%" PRId64 ",\"entries\":[",
            r->m.service, m->epoch, r->self, m->prev_pos + 1, m->prev_epoch, m->head, m->sent_ms,
            m->commit, m->safe, m->leader_lease);
    buf_add(b, entries.p ? entries.p : "", entries.len);
    buf_fmt(b, "],\"snapshot\":%s}", snapshot ? "true" : "false");
    int failed = entries.failed;
    free(entries.p);
    return b->failed || failed ? -1 : 0;
}

static rc_result parse_result(const char *s)
{
    static const char *const names[] = {"ok", "gap", "diverged", "stale", "refused"};
    for (int k = 0; k < 5; k++)
        if (s && strcmp(s, names[k]) == 0)
            return (rc_result)k;
    return RC_REFUSED;
}

/* Gives peer i's answer to the core. Returns 1 when the peer wants more
 * than `last`. */
static int take_reply(repl_t *r, int i, const fcgi_http_call *call, int64_t last, int64_t now)
{
    if (call->rc != 0 || (call->resp.status != 200 && call->resp.status != 409) ||
        !call->resp.body)
        return 0;
    json_object *a = json_tokener_parse(call->resp.body), *res;
    if (!a)
        return 0;
    rc_msg rep = {.kind = RC_APPEND_REPLY,
                  .from = i,
                  .to = r->self,
                  .epoch = fcgi_json_int(a, "epoch", 0),
                  .result = parse_result(json_object_object_get_ex(a, "result", &res)
                                             ? json_object_get_string(res) : NULL),
                  .match = fcgi_json_int(a, "match", 0),
                  .hint = fcgi_json_int(a, "hint", 0),
                  .echo_ms = fcgi_json_int(a, "echo_ms", 0)};
    json_object_put(a);
    rc_node *nd = repl_node_lock(r);
    int stepped = rc_leader_on_reply(nd, &rep, now);
    int more = !stepped && nd->role == RC_LEADER &&
               (rep.result == RC_GAP ||
                (rep.result == RC_OK && nd->peer[i].next <= last));
    repl_node_unlock(r);
    if (stepped) {
        LOG_WARN("%s replica %d: replica %d knows epoch %" PRId64 "; stepping down",
                 r->m.service, r->self, i, rep.epoch);
        repl_hard_persist(r);
    }
    return more;
}

/* One round: an append to each peer in want[], in parallel; want[] is then
 * the peers that asked for more. Returns how many were sent. */
static int round_trip(repl_t *r, const rc_log *log, int *want, int timeout_ms)
{
    fcgi_http_call calls[REPL_MAX_PEERS];
    buf bodies[REPL_MAX_PEERS];
    int peer_of[REPL_MAX_PEERS];
    char urls[REPL_MAX_PEERS + 1][REPL_URL_MAX + 16];
    static const char *const hdrs[] = {"Content-Type: application/json", NULL};
    size_t nc = 0;
    memset(calls, 0, sizeof calls);
    memset(bodies, 0, sizeof bodies);
    int64_t now = repl_wall_ms();
    for (int i = 1; i <= r->n; i++) {
        if (!want[i])
            continue;
        want[i] = 0;
        rc_msg m;
        rc_node *nd = repl_node_lock(r);
        int leading = nd->role == RC_LEADER;
        int healthy = nd->peer[i].acked_ms + 2 * r->cfg->heartbeat_ms >= now;
        if (leading)
            rc_leader_build(nd, log, i, now, &m);
        repl_node_unlock(r);
        if (!leading)
            break;
        if (build_json(r, &m, &bodies[nc]) != 0) {
            LOG_ERROR("cannot build append for %s-%d", r->m.service, i);
            free(bodies[nc].p);
            bodies[nc] = (buf){0};
            continue;
        }
        snprintf(urls[i], sizeof urls[i], "%s/repl/append", r->peer_base[i]);
        /* A peer that has not answered lately is only probed, briefly: a
         * round waits for its slowest call, and the leases of the others
         * must not wait for a dead or stopped peer's timeout. */
        int probe_ms = repl_probe_ms(r);
        calls[nc] = (fcgi_http_call){.peer = r->peer_key[i], .method = "POST", .url = urls[i],
                                     .headers = hdrs, .body = bodies[nc].p,
                                     .len = bodies[nc].len,
                                     .timeout_ms = healthy || timeout_ms < probe_ms ? timeout_ms
                                                                                   : probe_ms};
        peer_of[nc++] = i;
    }
    if (nc)
        fcgi_http_do_all(r->http, calls, nc);
    now = repl_wall_ms();
    for (size_t k = 0; k < nc; k++) {
        want[peer_of[k]] = take_reply(r, peer_of[k], &calls[k], log->last, now);
        fcgi_http_resp_clear(&calls[k].resp);
        free(bodies[k].p);
    }
    return (int)nc;
}

/* Advances commit and safe; returns safe, or -1 when not the leader. A log
 * view a little old only counts this replica's own position low. */
static int64_t advance(repl_t *r, const rc_log *log)
{
    rc_node *nd = repl_node_lock(r);
    int64_t safe = nd->role == RC_LEADER ? rc_leader_advance(nd, log, repl_wall_ms()) : -1;
    repl_node_unlock(r);
    return safe;
}

/* Release (fcgi/repl/rc.h): hands the ops of the held entries not yet
 * released to the machine's release callback (the catalog's cache DELs)
 * and, when it did its work, tells the core. `held` is read first: work
 * done before an entry is held could be undone by a read of the old state. */
void repl_release_held(repl_t *r)
{
    enum { MAX = 256 };
    rc_node *nd = repl_node_lock(r);
    int64_t from = nd->released + 1, held = nd->role == RC_LEADER ? nd->held : 0;
    repl_node_unlock(r);
    if (!r->m.release || held < from)
        return;
    if (held - from >= MAX)
        held = from + MAX - 1;
    sqlite3_stmt *st = log_range(r, from, held);
    if (!st)
        return;
    json_object *ops[MAX];
    int n = 0, rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW && n < MAX) {
        const char *text = (const char *)sqlite3_column_text(st, 2);
        if (sqlite3_column_int64(st, 0) != from + n || !text ||
            !(ops[n] = json_tokener_parse(text)))
            break;
        n++;
    }
    sqlite3_reset(st);
    /* Only a whole range is released; a gap (never expected: entries are
     * trimmed only below safe) is left to the core's release wait. */
    if ((rc == SQLITE_ROW || rc == SQLITE_DONE) && n == held - from + 1 &&
        r->m.release(r->m.release_ctx, ops, n) == 0) {
        rc_leader_release(repl_node_lock(r), held);
        repl_node_unlock(r);
    }
    for (int k = 0; k < n; k++)
        json_object_put(ops[k]);
}

int repl_replicate(repl_t *r, int64_t pos, int all, int timeout_ms, int wait_ms)
{
    int64_t deadline = repl_wall_ms() + wait_ms, now = repl_wall_ms();
    int want[REPL_MAX_PEERS + 1] = {0};
    rc_node *nd = repl_node_lock(r);
    for (int i = 1; i <= r->n; i++)
        /* A write goes to the peers that answered lately; the others get
         * the ticker's heartbeats until they answer again. */
        want[i] = i != r->self && (all || nd->peer[i].acked_ms + 2 * r->cfg->heartbeat_ms >= now);
    repl_node_unlock(r);
    rc_log log = repl_log_view(r);
    if (log.last < 0 || log.base < 0)
        return 0; /* a database error: nothing is sent, the write is not safe */
    /* Already safe (an idempotent repeat or a refusal of settled state):
     * nothing to send. */
    if (!all && pos > 0 && advance(r, &log) >= pos)
        return 1;
    r->behind = 0;
    for (int round = 0; round < REPL_ROUNDS; round++)
        if (!round_trip(r, &log, want, timeout_ms))
            break;
    for (int i = 1; i <= r->n; i++)
        if (want[i])
            r->behind = 1; /* the ticker goes on at once */
    int64_t release_at = 0;
    for (;;) {
        int64_t safe = advance(r, &log);
        /* Entries held but not released: release them (again every 20 ms
         * while the release fails; the core's wait ends it anyway). */
        if (safe >= 0 && safe < pos && repl_wall_ms() >= release_at) {
            release_at = repl_wall_ms() + 20;
            repl_release_held(r);
            safe = advance(r, &log);
        }
        if (safe < 0)
            return 0;
        if (safe >= pos)
            return 1;
        if (repl_wall_ms() >= deadline)
            return 0;
        /* Waiting for an answer another process takes, or for a silent
         * peer's lease to run out. */
        nanosleep(&(struct timespec){0, 1000000L}, NULL);
    }
}

int repl_append_noop(repl_t *r)
{
    char err[256];
    json_object *noop = json_object_new_object();
    if (!noop || repl_exec(r, "BEGIN IMMEDIATE") != 0) {
        json_object_put(noop);
        return -1;
    }
    json_object_object_add(noop, "op", json_object_new_string("noop"));
    rc_node *nd = repl_node_lock(r);
    int leading = nd->role == RC_LEADER;
    int64_t epoch = nd->hard.epoch;
    repl_node_unlock(r);
    int64_t pos = repl_meta_get(r, "applied") + 1;
    int ok = leading && pos > 0 && repl_apply_and_log(r, pos, epoch, noop, err, sizeof err) == 0 &&
             repl_exec(r, "COMMIT") == 0;
    json_object_put(noop);
    if (!ok) {
        repl_exec(r, "ROLLBACK");
        return -1;
    }
    rc_leader_appended(repl_node_lock(r), pos, repl_wall_ms());
    repl_node_unlock(r);
    return 0;
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
