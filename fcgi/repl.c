/* repl.c - one ordered, majority-replicated write stream per service.
 *
 * The protocol (docs/REPLICATION.md tells the whole story with the reasons):
 *
 *  - Every service (catalog, order) has n replicas and one primary. Every
 *    write is decided and ordered by the primary; any replica accepts a
 *    write and forwards it (one hop, marked X-Bazar-Forwarded) to the
 *    primary's client pool.
 *
 *  - At the primary, one SQLite IMMEDIATE transaction (a) lets the service
 *    decide what the request does given the current state (no oversell: the
 *    stock check and the decrement see the same snapshot), (b) applies the
 *    resulting entry, (c) appends it to repl_log at position applied+1 and
 *    (d) advances repl_meta.applied. Positions are dense: 1, 2, 3, ...
 *
 *  - The primary then sends every peer an append message carrying the
 *    entries [from..to] in parallel (curl multi). A peer applies, in one
 *    transaction, the entries past its own position, strictly in order; an
 *    entry that would leave a hole (from > applied+1) is refused with
 *    409 {"error":"gap","applied":a}, and the primary re-sends [a+1..to]
 *    from its log. Entries at or below a peer's position are skipped, so a
 *    message may be delivered twice or out of order without harm.
 *
 *  - Commit rule: an entry is committed once a majority of the replicas,
 *    the primary included, have it in their durable log. The primary waits
 *    for every peer's answer (bounded by peer_timeout_ms) and acknowledges
 *    the client only when a majority has the entry; otherwise 503 and the
 *    entry reaches the peers with the next message. Waiting for every live
 *    peer (not just the majority) means a read at any healthy replica after
 *    the acknowledgement already sees the write.
 *
 *  - Deadlock freedom: appends are served by the peer pool, whose handlers
 *    never call another replica. A client-pool worker may wait on the
 *    primary's client pool (one hop, never further) or on peer pools, and
 *    nothing waits on a client-pool worker of a backup. The wait-for graph
 *    has no cycle.
 */
#include "repl.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fcgi_db.h"
#include "fcgi_log.h"

#define REPL_MAX_PEERS 7
#define REPL_BATCH 512   /* entries per append message */
#define REPL_ROUNDS 8    /* gap-filling rounds per write */

struct repl {
    const fcgi_config *cfg;
    sqlite3 *db;
    fcgi_http *http;
    repl_machine m;
    int self, n, primary;
    int64_t epoch;
    sqlite3_stmt *st_applied, *st_set_applied, *st_log_insert, *st_log_range;
    char peer_key[REPL_MAX_PEERS + 1][48];
    char peer_url[REPL_MAX_PEERS + 1][FCGI_CONFIG_STR + 64];
};

static repl_t *current;

static const char schema[] =
    "CREATE TABLE IF NOT EXISTS repl_log ("
    "  pos INTEGER PRIMARY KEY, epoch INTEGER NOT NULL, op TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS repl_meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);"
    "INSERT OR IGNORE INTO repl_meta VALUES ('applied', 0), ('epoch', 1);";

repl_t *repl_new(const fcgi_config *cfg, sqlite3 *db, int self, int nreplicas, int primary,
                 const repl_machine *machine, fcgi_http *http, char *err, size_t errlen)
{
    if (nreplicas < 1 || nreplicas > REPL_MAX_PEERS || self < 1 || self > nreplicas ||
        primary < 1 || primary > nreplicas) {
        snprintf(err, errlen, "replica %d of %d (primary %d) is out of range", self, nreplicas,
                 primary);
        return NULL;
    }
    if (fcgi_db_exec(db, schema, err, errlen) != 0)
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
    r->primary = primary;
    r->epoch = 1;
    for (int i = 1; i <= nreplicas; i++) {
        snprintf(r->peer_key[i], sizeof r->peer_key[i], "peer-%s-%d", machine->service, i);
        snprintf(r->peer_url[i], sizeof r->peer_url[i], "%s/peer/%s/%d/repl/append",
                 cfg->internal_url, machine->service, i);
    }
    return r;
}

void repl_free(repl_t *r)
{
    free(r);
}

void repl_set_current(repl_t *r)
{
    current = r;
}

int repl_is_primary(const repl_t *r)
{
    return r->self == r->primary;
}

int64_t repl_applied(repl_t *r)
{
    sqlite3_stmt *st = fcgi_db_stmt(r->db, &r->st_applied,
                                    "SELECT value FROM repl_meta WHERE key = 'applied'");
    if (!st || sqlite3_step(st) != SQLITE_ROW)
        return -1;
    int64_t v = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    return v;
}

static int set_applied(repl_t *r, int64_t pos)
{
    sqlite3_stmt *st = fcgi_db_stmt(r->db, &r->st_set_applied,
                                    "UPDATE repl_meta SET value = ? WHERE key = 'applied'");
    if (!st || sqlite3_bind_int64(st, 1, pos) != SQLITE_OK || sqlite3_step(st) != SQLITE_DONE)
        return -1;
    return 0;
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

/* Applies op at pos and logs it; inside an open transaction. */
static int apply_and_log(repl_t *r, int64_t pos, int64_t epoch, json_object *op, char *err,
                         size_t errlen)
{
    const char *text = json_object_to_json_string_ext(op, JSON_C_TO_STRING_PLAIN);
    if (!text) {
        snprintf(err, errlen, "cannot serialize entry");
        return -1;
    }
    if (r->m.apply(r->m.ctx, r->db, pos, op, err, errlen) != 0)
        return -1;
    if (log_insert(r, pos, epoch, text) != 0 || set_applied(r, pos) != 0) {
        snprintf(err, errlen, "log append failed: %s", sqlite3_errmsg(r->db));
        return -1;
    }
    return 0;
}

static void rollback(repl_t *r)
{
    char err[128];
    if (fcgi_db_exec(r->db, "ROLLBACK", err, sizeof err) != 0)
        LOG_ERROR("rollback: %s", err);
}

/* A growable string for append messages. */
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
    char tmp[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof tmp)
        b->failed = 1;
    else
        buf_add(b, tmp, (size_t)n);
}

/* Builds the append message with the logged entries [from..to] (at most
 * REPL_BATCH of them). Returns 0 or -1. The caller frees b->p. */
static int build_append(repl_t *r, int64_t from, int64_t to, buf *b)
{
    if (to - from + 1 > REPL_BATCH)
        to = from + REPL_BATCH - 1;
    buf_fmt(b, "{\"service\":\"%s\",\"epoch\":%" PRId64 ",\"leader\":%d,\"from\":%" PRId64
               ",\"entries\":[",
            r->m.service, r->epoch, r->self, from);
    sqlite3_stmt *st = fcgi_db_stmt(
        r->db, &r->st_log_range,
        "SELECT pos, epoch, op FROM repl_log WHERE pos BETWEEN ? AND ? ORDER BY pos");
    if (!st || sqlite3_bind_int64(st, 1, from) != SQLITE_OK ||
        sqlite3_bind_int64(st, 2, to) != SQLITE_OK)
        return -1;
    int rc, first = 1;
    int64_t expect = from;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t pos = sqlite3_column_int64(st, 0);
        if (pos != expect) /* the log no longer reaches back that far */
            break;
        expect++;
        const char *op = (const char *)sqlite3_column_text(st, 2);
        buf_fmt(b, "%s{\"pos\":%" PRId64 ",\"epoch\":%" PRId64 ",\"op\":", first ? "" : ",", pos,
                (int64_t)sqlite3_column_int64(st, 1));
        buf_add(b, op ? op : "null", op ? strlen(op) : 4);
        buf_add(b, "}", 1);
        first = 0;
    }
    sqlite3_reset(st);
    buf_add(b, "]}", 2);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return -1;
    return b->failed ? -1 : 0;
}

/* Reads "applied" from a peer's answer; -1 when absent. */
static int64_t answer_applied(const fcgi_http_resp *resp)
{
    int64_t applied = -1;
    json_object *o = resp->body ? json_tokener_parse(resp->body) : NULL;
    json_object *v;
    if (o && json_object_object_get_ex(o, "applied", &v) && json_object_is_type(v, json_type_int))
        applied = json_object_get_int64(v);
    json_object_put(o);
    return applied;
}

/* Sends [from..to] to every peer that has not yet got `to`, in parallel,
 * re-sending what a peer misses, for up to REPL_ROUNDS rounds. Returns the
 * number of replicas (self included) known to hold `to`. */
static int replicate(repl_t *r, int64_t to)
{
    int64_t next[REPL_MAX_PEERS + 1]; /* first entry each peer still needs; 0: done or dead */
    int acked = 1;
    for (int i = 1; i <= r->n; i++)
        next[i] = (i == r->self) ? 0 : to;
    static const char *const hdrs[] = {"Content-Type: application/json", NULL};
    for (int round = 0; round < REPL_ROUNDS; round++) {
        fcgi_http_call calls[REPL_MAX_PEERS];
        buf bodies[REPL_MAX_PEERS];
        int peer_of[REPL_MAX_PEERS];
        size_t nc = 0;
        memset(calls, 0, sizeof calls);
        memset(bodies, 0, sizeof bodies);
        for (int i = 1; i <= r->n; i++) {
            if (next[i] <= 0)
                continue;
            if (build_append(r, next[i], to, &bodies[nc]) != 0) {
                LOG_ERROR("cannot build append for %s-%d", r->m.service, i);
                free(bodies[nc].p);
                bodies[nc].p = NULL;
                next[i] = 0;
                continue;
            }
            calls[nc] = (fcgi_http_call){.peer = r->peer_key[i], .method = "POST",
                                         .url = r->peer_url[i], .headers = hdrs,
                                         .body = bodies[nc].p, .len = bodies[nc].len,
                                         .timeout_ms = r->cfg->peer_timeout_ms};
            peer_of[nc++] = i;
        }
        if (nc == 0)
            break;
        fcgi_http_do_all(r->http, calls, nc);
        for (size_t k = 0; k < nc; k++) {
            int i = peer_of[k];
            fcgi_http_resp *resp = &calls[k].resp;
            int64_t applied = calls[k].rc == 0 ? answer_applied(resp) : -1;
            if (calls[k].rc == 0 && resp->status == 200 && applied >= to) {
                acked++;
                next[i] = 0;
            } else if (calls[k].rc == 0 && (resp->status == 200 || resp->status == 409) &&
                       applied >= 0 && applied < to) {
                next[i] = applied + 1; /* a gap or a partial batch: send what it misses */
            } else {
                LOG_WARN("append to %s-%d failed: %s (status %ld)", r->m.service, i,
                         calls[k].rc ? resp->err : (resp->body ? resp->body : ""), resp->status);
                next[i] = 0;
            }
            fcgi_http_resp_clear(resp);
            free(bodies[k].p);
        }
    }
    return acked;
}

int repl_submit(repl_t *r, repl_decide_fn decide, void *arg, int64_t *pos, char *why,
                size_t whylen)
{
    char err[256];
    *pos = 0;
    if (fcgi_db_exec(r->db, "BEGIN IMMEDIATE", err, sizeof err) != 0) {
        snprintf(why, whylen, "database busy: %s", err);
        return 503;
    }
    json_object *op = NULL;
    int status = decide(arg, r->db, &op, why, whylen);
    if (status >= 300) {
        json_object_put(op);
        rollback(r);
        return status;
    }
    int64_t head = repl_applied(r);
    if (head < 0) {
        json_object_put(op);
        rollback(r);
        snprintf(why, whylen, "database error");
        return 500;
    }
    if (op) {
        if (apply_and_log(r, head + 1, r->epoch, op, err, sizeof err) != 0) {
            json_object_put(op);
            rollback(r);
            LOG_ERROR("apply at primary failed: %s", err);
            snprintf(why, whylen, "write failed: %s", err);
            return 500;
        }
        head++;
        *pos = head;
        json_object_put(op);
    }
    if (fcgi_db_exec(r->db, "COMMIT", err, sizeof err) != 0) {
        rollback(r);
        snprintf(why, whylen, "commit failed: %s", err);
        *pos = 0;
        return 503;
    }
    /* An idempotent repeat changes nothing but may answer for an entry that
     * never reached a majority: make sure everything up to the head has. */
    if (head == 0 || r->n == 1)
        return status;
    int acked = replicate(r, head);
    if (acked * 2 <= r->n) {
        snprintf(why, whylen, "write reached %d of %d %s replicas, not a majority; retry", acked,
                 r->n, r->m.service);
        return 503;
    }
    return status;
}

/* Reads an integer member; -1 when absent or not an integer. */
static int64_t member_int(json_object *o, const char *name)
{
    json_object *v;
    if (!json_object_object_get_ex(o, name, &v) || !json_object_is_type(v, json_type_int))
        return -1;
    return json_object_get_int64(v);
}

static int answer_applied_json(fcgi_request *req, int status, int64_t applied, const char *error)
{
    json_object *o = json_object_new_object();
    if (!o)
        return fcgi_resp_error(req, 500, "out of memory");
    if (error)
        json_object_object_add(o, "error", json_object_new_string(error));
    json_object_object_add(o, "applied", json_object_new_int64(applied));
    return fcgi_resp_json(req, status, o);
}

int repl_handle_append(fcgi_request *req)
{
    repl_t *r = current;
    char why[256];
    int status;
    json_object *msg = fcgi_req_json(req, &status, why, sizeof why);
    if (!msg)
        return fcgi_resp_error(req, status, "%s", why);
    json_object *service, *entries;
    if (!json_object_object_get_ex(msg, "service", &service) ||
        !json_object_is_type(service, json_type_string) ||
        strcmp(json_object_get_string(service), r->m.service) != 0)
        return fcgi_resp_error(req, 400, "append for another service");
    int64_t epoch = member_int(msg, "epoch"), leader = member_int(msg, "leader");
    if (epoch < r->epoch)
        return fcgi_resp_error(req, 409, "stale epoch %" PRId64 " (current %" PRId64 ")", epoch,
                               r->epoch);
    if (leader != r->primary)
        return fcgi_resp_error(req, 409, "replica %" PRId64 " is not the primary", leader);
    if (!json_object_object_get_ex(msg, "entries", &entries) ||
        !json_object_is_type(entries, json_type_array))
        return fcgi_resp_error(req, 400, "append without an entries array");

    char err[256];
    if (fcgi_db_exec(r->db, "BEGIN IMMEDIATE", err, sizeof err) != 0)
        return fcgi_resp_error(req, 503, "database busy: %s", err);
    int64_t applied = repl_applied(r);
    size_t n = json_object_array_length(entries);
    for (size_t i = 0; i < n && applied >= 0; i++) {
        json_object *e = json_object_array_get_idx(entries, i), *op;
        int64_t pos = json_object_is_type(e, json_type_object) ? member_int(e, "pos") : -1;
        int64_t ep = json_object_is_type(e, json_type_object) ? member_int(e, "epoch") : -1;
        if (pos < 1 || ep < 1 || !json_object_object_get_ex(e, "op", &op) ||
            !json_object_is_type(op, json_type_object)) {
            rollback(r);
            return fcgi_resp_error(req, 400, "malformed entry %zu", i);
        }
        if (pos <= applied)
            continue; /* a duplicate delivery */
        if (pos != applied + 1) {
            /* Keep what this message already filled in, then ask for the rest. */
            if (fcgi_db_exec(r->db, "COMMIT", err, sizeof err) != 0)
                rollback(r);
            return answer_applied_json(req, 409, repl_applied(r), "gap");
        }
        if (apply_and_log(r, pos, ep, op, err, sizeof err) != 0) {
            rollback(r);
            LOG_ERROR("apply of entry %" PRId64 " failed: %s", pos, err);
            return fcgi_resp_error(req, 500, "apply of entry %" PRId64 " failed", pos);
        }
        applied = pos;
    }
    if (applied < 0 || fcgi_db_exec(r->db, "COMMIT", err, sizeof err) != 0) {
        rollback(r);
        return fcgi_resp_error(req, 503, "commit failed");
    }
    return answer_applied_json(req, 200, applied, NULL);
}

int repl_handle_state(fcgi_request *req)
{
    repl_t *r = current;
    char hash[64] = "";
    int64_t applied = repl_applied(r);
    if (applied < 0 || r->m.hash(r->m.ctx, r->db, hash, sizeof hash) != 0)
        return fcgi_resp_error(req, 503, "database error");
    json_object *o = json_object_new_object();
    if (!o)
        return fcgi_resp_error(req, 500, "out of memory");
    json_object_object_add(o, "service", json_object_new_string(r->m.service));
    json_object_object_add(o, "id", json_object_new_int(r->self));
    json_object_object_add(o, "role",
                           json_object_new_string(repl_is_primary(r) ? "primary" : "backup"));
    json_object_object_add(o, "primary", json_object_new_int(r->primary));
    json_object_object_add(o, "epoch", json_object_new_int64(r->epoch));
    json_object_object_add(o, "applied", json_object_new_int64(applied));
    json_object_object_add(o, "hash", json_object_new_string(hash));
    return fcgi_resp_json(req, 200, o);
}

int repl_forward(repl_t *r, fcgi_request *req)
{
    if (fcgi_req_header(req, "X-Bazar-Forwarded"))
        return fcgi_resp_error(req, 503, "%s replica %d is not the primary", r->m.service,
                               r->self);
    const char *body = NULL;
    size_t len = 0;
    int st = fcgi_req_body(req, &body, &len);
    if (st != 0)
        return fcgi_resp_error(req, st, st == 413 ? "request body too large" : "short body");
    char url[FCGI_CONFIG_STR * 2 + 64];
    int n = snprintf(url, sizeof url, "%s/replica/%s/%d%.*s%s%s", r->cfg->internal_url,
                     r->m.service, r->primary, (int)req->path_len, req->path,
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
        LOG_WARN("forward to %s primary %d failed: %s", r->m.service, r->primary,
                 call.rc ? call.resp.err : "bad gateway");
        fcgi_http_resp_clear(&call.resp);
        return fcgi_resp_error(req, 503, "%s primary unavailable", r->m.service);
    }
    if (call.resp.server_timing[0])
        fcgi_resp_header(req, "Server-Timing", "%s", call.resp.server_timing);
    int status = fcgi_resp_raw(req, (int)call.resp.status, "application/json",
                               call.resp.body ? call.resp.body : "", call.resp.len);
    fcgi_http_resp_clear(&call.resp);
    return status;
}
