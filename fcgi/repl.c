/* repl.c - one ordered, majority-replicated write stream per service: the
 * services' API (writes, reads, forwarding) and the peer pool's handlers
 * (append, vote, snapshot, state, health), as a thin driver around the
 * I/O-free protocol core in fcgi/repl/ (its design comment, in rc.h, states
 * the protocol and its invariants; docs/REPLICATION.md tells the reasons).
 *
 * The driver's share of the design:
 *
 *  Processes. A replica is several processes (a client pool and a peer
 *  pool, each with a ticker thread) on one SQLite file. The core's state
 *  (rc_node) lives in the replica's shared memory behind one robust mutex;
 *  its durable part is stored in repl_meta. Lock order: SQLite's write lock
 *  (BEGIN IMMEDIATE) first, then the mutex, which is never held across a
 *  network call.
 *
 *  Durability before messages. Every change the core makes to the durable
 *  state (epoch, vote, leader, recovering) is stored in the same
 *  transaction as the log entries of the message that caused it, or in its
 *  own before any message that depends on it leaves.
 *
 *  Writes. The primary decides, applies and logs an entry in one SQLite
 *  IMMEDIATE transaction (no oversell: the stock check and the decrement
 *  see one state), then sends it to the peers that answered lately and
 *  waits until the core says it is safe (committed, and held by every
 *  replica that may hold a read lease). Only then is it acknowledged.
 *
 *  Reads. A read runs in one read transaction, notes the position of what
 *  it read (the book's version, or the whole state's applied position) and
 *  answers only when the core allows that position here: within a lease
 *  and at or below the safe position, waiting a little for the primary's
 *  next message to carry it. A backup without a lease answers 503 at once
 *  and nginx tries another replica.
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
#include <sys/random.h>
#include <time.h>

#include "fcgi_db.h"
#include "fcgi_log.h"
#include "fcgi_pool.h"
#include "fcgi_router.h"
#include "repl_msg.h"

#define REPL_BATCH 512

static repl_t *current;

int64_t repl_committed(const repl_t *r)
{
    rc_node *nd = repl_node_lock((repl_t *)r);
    int64_t c = nd->role == RC_LEADER ? nd->commit : 0;
    repl_node_unlock((repl_t *)r);
    return c;
}

int64_t repl_applied(repl_t *r)
{
    return repl_meta_get(r, "applied");
}

int64_t repl_random_ms(int64_t upto)
{
    uint32_t v = 0;
    if (upto <= 0 || getrandom(&v, sizeof v, 0) != (ssize_t)sizeof v)
        return 0;
    return (int64_t)(v % (uint32_t)(upto + 1));
}

/* How long after being held an entry the machine did not release becomes
 * readable anyway (0: no release step). */
static int64_t release_ms(const repl_t *r)
{
    return r->m.release ? r->m.release_ms : 0;
}

/* Sets up the shared state when this is the first process of the replica. */
static int init_shared(repl_shared *s, void *arg)
{
    repl_t *r = arg;
    rc_hard hard;
    rc_log log = repl_log_view(r);
    rc_config cfg = {.n = r->n,
                     .heartbeat_ms = r->cfg->heartbeat_ms,
                     .lease_ms = r->cfg->lease_ms,
                     .election_ms = r->cfg->election_ms,
                     .drift_ms = r->cfg->clock_drift_ms,
                     .batch = REPL_BATCH,
                     .release_ms = release_ms(r)};
    const char *bad = rc_config_check(&cfg);
    if (bad) {
        LOG_ERROR("replication configuration: %s", bad);
        return -1;
    }
    if (repl_hard_load(r, &hard) != 0 || log.last < 0 || log.base < 0)
        return -1;
    rc_init(&s->node, &cfg, r->self, &hard, &log, repl_wall_ms());
    s->node.jitter_ms = repl_random_ms(r->cfg->election_ms / 4);
    s->boot_applied = log.last;
    LOG_INFO("%s replica %d starts as %s in epoch %" PRId64 " at position %" PRId64 "%s",
             r->m.service, r->self, s->node.role == RC_LEADER ? "the primary" : "a backup",
             hard.epoch, log.last, hard.recovering ? " (recovering)" : "");
    return 0;
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
    r->named_primary = primary;
    snprintf(r->db_path, sizeof r->db_path, "%s", db_path ? db_path : "");
    for (int i = 1; i <= nreplicas; i++) {
        snprintf(r->peer_key[i], sizeof r->peer_key[i], "peer-%s-%d", machine->service, i);
        snprintf(r->peer_base[i], sizeof r->peer_base[i], "%s/peer/%s/%d", cfg->internal_url,
                 machine->service, i);
    }
    err[0] = 0;
    if (repl_store_init(r, primary, err, errlen) != 0 ||
        !(r->sh = repl_shared_open(cfg->var_dir, machine->service, self, init_shared, r, err,
                                   errlen))) {
        free(r);
        return NULL;
    }
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
    rc_node *nd = repl_node_lock((repl_t *)r);
    int lead = nd->role == RC_LEADER;
    repl_node_unlock((repl_t *)r);
    return lead;
}

/* ---- reads ---- */

int repl_read_wait_ms(const repl_t *r)
{
    return 2 * r->cfg->heartbeat_ms + r->cfg->lease_ms + r->cfg->clock_drift_ms + release_ms(r);
}

/* 1 when `version` may be read here now; *lease says whether the replica
 * serves at all (a lease, no snapshot pending). */
static int may_read(repl_t *r, int64_t version, int *lease)
{
    int64_t now = repl_wall_ms();
    rc_node *nd = repl_node_lock(r);
    int ok = rc_may_read(nd, version, now);
    *lease = ok || rc_may_read(nd, 0, now);
    repl_node_unlock(r);
    return ok;
}

int repl_serving(repl_t *r, int64_t version)
{
    int lease;
    return may_read(r, version, &lease);
}

int repl_read_begin(repl_t *r, int64_t *applied)
{
    if (repl_exec(r, "BEGIN") != 0)
        return -1;
    *applied = repl_applied(r);
    if (*applied < 0) {
        repl_exec(r, "ROLLBACK");
        return -1;
    }
    return 0;
}

/* Asks the primary for its safe position and takes it as far as this
 * replica's log is known to match the primary's (rc_follower_learn_safe).
 * The primary's peer pool answers; it never calls anyone. */
static void ask_primary_safe(repl_t *r)
{
    rc_node *nd = repl_node_lock(r);
    int64_t p = nd->hard.leader;
    int follower = nd->role == RC_FOLLOWER;
    repl_node_unlock(r);
    if (!follower || p < 1 || p == r->self)
        return;
    fcgi_http_resp resp;
    if (repl_peer_call(r, (int)p, "GET", "/repl/safe", NULL, 0, r->cfg->heartbeat_ms, &resp) ==
            0 &&
        resp.status == 200 && resp.body) {
        json_object *a = json_tokener_parse(resp.body);
        int64_t epoch = fcgi_json_int(a, "epoch", -1), safe = fcgi_json_int(a, "safe", -1);
        json_object_put(a);
        if (epoch > 0 && safe >= 0) {
            rc_follower_learn_safe(repl_node_lock(r), epoch, safe);
            repl_node_unlock(r);
        }
    }
    fcgi_http_resp_clear(&resp);
}

int repl_read_end(repl_t *r, fcgi_request *req, int64_t version)
{
    repl_exec(r, "COMMIT");
    /* A change this replica does not know to be safe yet (the primary's
     * next message would say): ask the primary, and wait a little for the
     * change to become safe, not for ever. */
    int64_t until = repl_wall_ms() + repl_read_wait_ms(r), next_ask = 0;
    int lease;
    while (!may_read(r, version, &lease)) {
        int64_t now = repl_wall_ms();
        if (!lease || now >= until) {
            fcgi_resp_error(req, 503, "%s replica %d is not serving reads (%s)", r->m.service,
                            r->self,
                            lease ? "the latest change is not yet known to be safe"
                                  : "catching up or cut off");
            return 0;
        }
        if (now >= next_ask) {
            ask_primary_safe(r);
            next_ask = now + 20;
            continue;
        }
        nanosleep(&(struct timespec){0, 1000000L}, NULL);
    }
    return 1;
}

int repl_check_serving(repl_t *r, fcgi_request *req)
{
    int64_t applied;
    if (repl_read_begin(r, &applied) != 0) {
        fcgi_resp_error(req, 503, "database busy");
        return 0;
    }
    return repl_read_end(r, req, applied);
}

/* ---- writes ---- */

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
    /* The role is checked again under the write lock. */
    rc_node *nd = repl_node_lock(r);
    int leading = nd->role == RC_LEADER;
    int64_t epoch = nd->hard.epoch;
    repl_node_unlock(r);
    if (!leading) {
        repl_exec(r, "ROLLBACK");
        snprintf(why, whylen, "%s replica %d is no longer the primary", r->m.service, r->self);
        return 503;
    }
    json_object *op = NULL;
    int status = decide(arg, r->db, &op, why, whylen);
    int64_t head = status < 500 ? repl_applied(r) : 0;
    if (status >= 500 || head < 0) {
        json_object_put(op);
        repl_exec(r, "ROLLBACK");
        if (status < 500)
            snprintf(why, whylen, "database error");
        return status < 500 ? 500 : status;
    }
    int writes = status < 300 || op;
    if (!writes) {
        /* A refusal that writes nothing still read the state: it too waits
         * below until what it read is safe. */
        repl_exec(r, "ROLLBACK");
    } else if (op) {
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
    if (writes && fcgi_db_exec(r->db, "COMMIT", err, sizeof err) != 0) {
        repl_exec(r, "ROLLBACK");
        snprintf(why, whylen, "commit failed: %s", err);
        *pos = 0;
        return 503;
    }
    if (*pos)
        rc_leader_appended(repl_node_lock(r), head, repl_wall_ms());
    if (*pos)
        repl_node_unlock(r);
    /* An idempotent repeat or a refusal changes nothing but may answer for
     * an entry that is not safe yet (the write it repeats, the refusal it
     * finds, the purchase that left no copy): wait until everything up to
     * the head is. */
    int timeout = r->cfg->lease_ms + r->cfg->clock_drift_ms + r->cfg->heartbeat_ms;
    int wait = r->cfg->peer_timeout_ms + (int)release_ms(r);
    int ok = head == 0 || repl_replicate(r, head, 0, timeout, wait);
    if (!ok) {
        snprintf(why, whylen,
                 "the write is not known to be on a majority of the %d %s replicas; retry "
                 "with the same key",
                 r->n, r->m.service);
        return 503;
    }
    return status;
}

void repl_hint_primary(repl_t *r, fcgi_request *req)
{
    rc_node *nd = repl_node_lock(r);
    int64_t primary = nd->hard.leader;
    repl_node_unlock(r);
    if (primary > 0)
        fcgi_resp_header(req, "X-Bazar-Primary", "%" PRId64, primary);
}

/* A forward's still_wanted: while the replica it went to is still the
 * primary this replica would forward to (not silent, not replaced). A
 * forward to a primary that stopped would otherwise hold this process for
 * as long as the stop lasts, and with it every later request queued here. */
typedef struct forward_watch {
    repl_t *r;
    int primary;
} forward_watch;

static int forward_still_wanted(void *arg)
{
    forward_watch *fw = arg;
    rc_node *nd = repl_node_lock(fw->r);
    int to = rc_forward_to(nd, repl_wall_ms());
    repl_node_unlock(fw->r);
    return to == fw->primary;
}

int repl_forward(repl_t *r, fcgi_request *req)
{
    rc_node *nd = repl_node_lock(r);
    int64_t now = repl_wall_ms(), silent_ms = now - nd->leader_ms;
    int primary = rc_forward_to(nd, now), known = (int)nd->hard.leader;
    repl_node_unlock(r);
    if (primary == RC_FORWARD_SILENT)
        return fcgi_resp_error(req, 503,
                               "%s replica %d is not the primary, and its primary %d has been "
                               "silent for %" PRId64 " ms",
                               r->m.service, r->self, known, silent_ms);
    if (fcgi_req_header(req, "X-Bazar-Forwarded") || primary < 1)
        return fcgi_resp_error(req, 503, "%s replica %d is not the primary%s", r->m.service,
                               r->self, primary < 0 ? " (electing one)" : "");
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
    int n = snprintf(url, sizeof url, "%s/replica/%s/%d%.*s%s%s", r->cfg->internal_url,
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
    forward_watch fw = {.r = r, .primary = primary};
    fcgi_http_call call = {.peer = "primary", .method = req->method, .url = url,
                           .headers = hdrs, .body = body, .len = len,
                           .still_wanted = forward_still_wanted, .wanted_arg = &fw};
    if (fcgi_http_do(r->http, &call) != 0 || call.resp.status >= 502) {
        LOG_WARN("forward to %s primary %d failed: %s", r->m.service, primary,
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

/* ---- the peer pool's handlers ---- */

static const char *result_name(rc_result res)
{
    static const char *const names[] = {"ok", "gap", "diverged", "stale", "refused"};
    return names[res];
}

static int answer_append(fcgi_request *req, repl_t *r, const rc_msg *rep, int64_t applied)
{
    json_object *o = json_object_new_object();
    if (!o)
        return fcgi_resp_error(req, 500, "out of memory");
    rc_node *nd = repl_node_lock(r);
    int64_t epoch = nd->hard.epoch, primary = nd->hard.leader;
    repl_node_unlock(r);
    json_object_object_add(o, "result", json_object_new_string(result_name(rep->result)));
    if (rep->result != RC_OK)
        json_object_object_add(o, "error", json_object_new_string(result_name(rep->result)));
    json_object_object_add(o, "epoch", json_object_new_int64(epoch));
    json_object_object_add(o, "primary", json_object_new_int64(primary));
    json_object_object_add(o, "match", json_object_new_int64(rep->match));
    json_object_object_add(o, "hint", json_object_new_int64(rep->hint));
    json_object_object_add(o, "echo_ms", json_object_new_int64(rep->echo_ms));
    json_object_object_add(o, "applied", json_object_new_int64(applied));
    return fcgi_resp_json(req, rep->result == RC_OK ? 200 : 409, o);
}

int repl_handle_append(fcgi_request *req)
{
    repl_t *r = current;
    char why[256];
    int status;
    json_object *msg = fcgi_req_json(req, &status, why, sizeof why);
    if (!msg)
        return fcgi_resp_error(req, status, "%s", why);
    /* The whole message is validated (fcgi/repl_msg.c) before anything is applied. */
    repl_msg v;
    if (repl_msg_from_json(msg, &v, why, sizeof why) != 0)
        return fcgi_resp_error(req, 400, "%s", why);
    if (strcmp(v.service, r->m.service) != 0 || v.leader > r->n || v.leader == r->self) {
        const char *what = strcmp(v.service, r->m.service) != 0
                               ? "append for another service"
                               : "append from a replica that cannot be the primary";
        repl_msg_free(&v);
        return fcgi_resp_error(req, 400, "%s", what);
    }
    int64_t *epochs = calloc(v.n + 1, sizeof *epochs);
    if (!epochs) {
        repl_msg_free(&v);
        return fcgi_resp_error(req, 500, "out of memory");
    }
    for (size_t k = 0; k < v.n; k++)
        epochs[k] = v.entries[k].epoch;
    rc_msg m = {.kind = RC_APPEND, .from = (int)v.leader, .to = r->self, .epoch = v.epoch,
                .prev_pos = v.from - 1, .prev_epoch = v.prev_epoch, .n = (int64_t)v.n,
                .head = v.head, .commit = v.commit, .safe = v.safe, .sent_ms = v.sent_ms,
                .leader_lease = v.lease, .snapshot = v.snapshot, .entry_epoch = epochs};
    rc_msg rep;
    int64_t skip = 0, take = 0, now = repl_wall_ms();
    if (repl_exec(r, "BEGIN IMMEDIATE") != 0) {
        free(epochs);
        repl_msg_free(&v);
        return fcgi_resp_error(req, 503, "database busy");
    }
    rc_log log = repl_log_view(r);
    if (log.last < 0 || log.base < 0) {
        repl_exec(r, "ROLLBACK");
        free(epochs);
        repl_msg_free(&v);
        return fcgi_resp_error(req, 503, "database error");
    }
    rc_node *nd = repl_node_lock(r);
    rc_result res = rc_follower_check(nd, &log, &m, now, &skip, &take);
    int saved = repl_hard_save(r);
    repl_node_unlock(r);
    for (int64_t k = skip; res == RC_OK && k < skip + take; k++) {
        char err[256];
        if (repl_apply_and_log(r, m.prev_pos + 1 + k, epochs[k], v.entries[k].op, err,
                               sizeof err) != 0) {
            /* An entry the state machine refuses (unknown op, missing fields,
             * no such row) is the sender's fault: 422; a database failure is ours. */
            int dberr = sqlite3_errcode(r->db) & 0xff;
            int refused = dberr == SQLITE_OK || dberr == SQLITE_ROW || dberr == SQLITE_DONE ||
                          dberr == SQLITE_CONSTRAINT || dberr == SQLITE_MISMATCH;
            repl_exec(r, "ROLLBACK");
            repl_node_lock(r)->hard_dirty = 1; /* whatever the check adopted is stored later */
            repl_node_unlock(r);
            LOG_ERROR("apply of entry %" PRId64 " failed: %s", m.prev_pos + 1 + k, err);
            free(epochs);
            repl_msg_free(&v);
            return fcgi_resp_error(req, refused ? 422 : 500, "apply of entry %" PRId64 " failed",
                                   m.prev_pos + 1 + k);
        }
    }
    if (saved != 0 || repl_exec(r, "COMMIT") != 0) {
        repl_exec(r, "ROLLBACK");
        repl_node_lock(r)->hard_dirty = 1;
        repl_node_unlock(r);
        free(epochs);
        repl_msg_free(&v);
        return fcgi_resp_error(req, 503, "commit failed");
    }
    /* Only now, with the entries durable and visible, the lease and the
     * safe position the message grants are taken. */
    if (res == RC_OK && take > 0) {
        log.last = m.prev_pos + skip + take;
        log.last_epoch = epochs[skip + take - 1];
    }
    nd = repl_node_lock(r);
    rc_follower_reply(nd, &log, &m, res, repl_wall_ms(), &rep);
    repl_node_unlock(r);
    repl_hard_persist(r);
    if (res == RC_DIVERGED)
        LOG_WARN("%s replica %d: its log no longer matches primary %" PRId64
                 "'s; installing a snapshot",
                 r->m.service, r->self, v.leader);
    free(epochs);
    repl_msg_free(&v);
    return answer_append(req, r, &rep, log.last);
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
    /* handover: the primary that handed over to the candidate (rc.h), 0 none */
    int64_t handover = fcgi_json_int(msg, "handover", 0);
    if (epoch < 1 || cand < 1 || cand > r->n || cand == r->self || c_last < 0 || c_pos < 0 ||
        handover < 0 || handover > r->n)
        return fcgi_resp_error(req, 400, "malformed vote request");
    json_object *pre;
    int is_pre = json_object_object_get_ex(msg, "pre", &pre) && json_object_get_boolean(pre);
    rc_msg m = {.kind = is_pre ? RC_PREVOTE : RC_VOTE, .from = (int)cand, .to = r->self,
                .epoch = epoch, .last_pos = c_pos, .last_epoch = c_last, .handover = handover},
           rep = {0};
    if (repl_exec(r, "BEGIN IMMEDIATE") != 0)
        return fcgi_resp_error(req, 503, "database busy");
    rc_log log = repl_log_view(r);
    int saved = -1;
    if (log.last >= 0 && log.base >= 0) { /* else no vote: the log cannot be judged */
        rc_node *nd = repl_node_lock(r);
        rc_on_vote(nd, &log, &m, repl_wall_ms(), &rep);
        saved = repl_hard_save(r);
        repl_node_unlock(r);
    }
    if (saved != 0 || repl_exec(r, "COMMIT") != 0) {
        repl_exec(r, "ROLLBACK");
        repl_node_lock(r)->hard_dirty = 1;
        repl_node_unlock(r);
        rep.granted = 0; /* a vote that is not durable is not given */
    }
    json_object *o = json_object_new_object();
    if (!o)
        return fcgi_resp_error(req, 500, "out of memory");
    json_object_object_add(o, "granted", json_object_new_boolean(rep.granted));
    json_object_object_add(o, "epoch", json_object_new_int64(rep.epoch));
    json_object_object_add(o, "asked", json_object_new_int64(epoch));
    if (is_pre)
        json_object_object_add(o, "pre", json_object_new_boolean(1));
    if (!rep.granted)
        json_object_object_add(o, "error", json_object_new_string("vote not granted"));
    else if (!is_pre)
        LOG_INFO("%s replica %d: voted for %" PRId64 " in epoch %" PRId64, r->m.service,
                 r->self, cand, epoch);
    return fcgi_resp_json(req, rep.granted ? 200 : 409, o);
}

/* POST /repl/handover {"service","epoch","from"}: the primary of epoch
 * `epoch`, which stepped down because it cannot lead and whose leases have
 * run out, tells this replica to stand at once (fcgi/repl/rc.h, "Handover").
 * Taken only from the primary this replica knows for that epoch; the
 * ticker stands at its next tick. Nothing durable changes here. */
int repl_handle_handover(fcgi_request *req)
{
    repl_t *r = current;
    char why[256];
    int status;
    json_object *msg = fcgi_req_json(req, &status, why, sizeof why), *v;
    if (!msg)
        return fcgi_resp_error(req, status, "%s", why);
    if (!json_object_object_get_ex(msg, "service", &v) || !json_object_is_type(v, json_type_string) ||
        strcmp(json_object_get_string(v), r->m.service) != 0)
        return fcgi_resp_error(req, 400, "handover for another service");
    int64_t epoch = fcgi_json_int(msg, "epoch", -1), from = fcgi_json_int(msg, "from", -1);
    if (epoch < 1 || from < 1 || from > r->n || from == r->self)
        return fcgi_resp_error(req, 400, "malformed handover");
    rc_msg m = {.kind = RC_HANDOVER, .from = (int)from, .to = r->self, .epoch = epoch};
    rc_node *nd = repl_node_lock(r);
    int taken = rc_on_handover(nd, &m, repl_wall_ms());
    int64_t mine = nd->hard.epoch, leader = nd->hard.leader;
    repl_node_unlock(r);
    if (taken)
        __atomic_store_n(&r->sh->wake_ticker, 1, __ATOMIC_RELEASE);
    if (!taken)
        return fcgi_resp_error(req, 409,
                               "handover not taken: replica %d is at epoch %" PRId64
                               " with primary %" PRId64 ", or may not stand",
                               r->self, mine, leader);
    LOG_INFO("%s replica %d: primary %" PRId64 " hands over; it stands at once", r->m.service,
             r->self, from);
    json_object *o = json_object_new_object();
    if (!o)
        return fcgi_resp_error(req, 500, "out of memory");
    json_object_object_add(o, "taken", json_object_new_boolean(1));
    return fcgi_resp_json(req, 200, o);
}

int repl_handle_safe(fcgi_request *req)
{
    repl_t *r = current;
    rc_node *nd = repl_node_lock(r);
    int lead = nd->role == RC_LEADER;
    int64_t epoch = nd->hard.epoch, safe = nd->safe;
    repl_node_unlock(r);
    if (!lead)
        return fcgi_resp_error(req, 409, "%s replica %d is not the primary", r->m.service,
                               r->self);
    json_object *o = json_object_new_object();
    if (!o)
        return fcgi_resp_error(req, 500, "out of memory");
    json_object_object_add(o, "epoch", json_object_new_int64(epoch));
    json_object_object_add(o, "safe", json_object_new_int64(safe));
    return fcgi_resp_json(req, 200, o);
}

int repl_handle_snapshot(fcgi_request *req)
{
    repl_t *r = current;
    long long epoch;
    if (fcgi_query_id(req->query, "epoch", &epoch) != 1 || epoch < 1)
        return fcgi_resp_error(req, 400, "epoch must be a positive integer");
    rc_msg m = {.kind = RC_SNAP_REQ, .epoch = epoch};
    rc_node *nd = repl_node_lock(r);
    int ok = rc_snap_may_serve(nd, &m);
    repl_node_unlock(r);
    if (!ok)
        return fcgi_resp_error(req, 409, "%s replica %d is not the primary of epoch %lld",
                               r->m.service, r->self, epoch);
    if (repl_exec(r, "BEGIN") != 0)
        return fcgi_resp_error(req, 503, "database busy");
    int64_t applied = repl_applied(r), last = repl_meta_get(r, "last_epoch");
    json_object *state = r->m.dump(r->m.ctx, r->db);
    repl_exec(r, "COMMIT");
    if (!state || applied < 0 || last < 0) {
        json_object_put(state);
        return fcgi_resp_error(req, 503, "cannot take a snapshot");
    }
    json_object *o = json_object_new_object();
    json_object_object_add(o, "service", json_object_new_string(r->m.service));
    json_object_object_add(o, "epoch", json_object_new_int64(epoch));
    json_object_object_add(o, "leader", json_object_new_int(r->self));
    json_object_object_add(o, "applied", json_object_new_int64(applied));
    json_object_object_add(o, "last_epoch", json_object_new_int64(last));
    json_object_object_add(o, "state", state);
    return fcgi_resp_json(req, 200, o);
}

/* Appends the serving processes of the pool whose pid file is path to arr. */
static void add_pids(json_object *arr, const char *path)
{
    pid_t pids[64];
    int n = fcgi_pool_pids(path, pids, sizeof pids / sizeof pids[0]);
    for (int i = 0; i < n; i++) {
        json_object *v = json_object_new_int64(pids[i]);
        if (v && json_object_array_add(arr, v) != 0)
            json_object_put(v);
    }
}

/* The hash of the machine's state, inside an open read transaction.
 * Hashing reads every row (60 ms at 100,000 books, ten times that under
 * the sanitizers), and the cluster panel asks every replica every 2 s: so
 * it is computed again only when the database has changed since. SQLite
 * says exactly when: PRAGMA data_version moves when another connection
 * committed, sqlite3_total_changes64 when this one wrote. Nothing is
 * assumed about the log, so a write that bypassed it still shows. */
static int state_hash(repl_t *r, char *out, size_t outlen)
{
    sqlite3_stmt *st = fcgi_db_stmt(r->db, &r->st_data_version, "PRAGMA data_version");
    if (!st)
        return -1;
    int rc = sqlite3_step(st);
    int64_t version = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
    sqlite3_reset(st);
    if (version < 0)
        return -1;
    int64_t changes = sqlite3_total_changes64(r->db);
    if (!r->hash_valid || version != r->hash_data_version || changes != r->hash_changes) {
        r->hash_valid = 0;
        if (r->m.hash(r->m.ctx, r->db, r->hash, sizeof r->hash) != 0)
            return -1;
        r->hash_valid = 1;
        r->hash_data_version = version;
        r->hash_changes = changes;
    }
    snprintf(out, outlen, "%s", r->hash);
    return 0;
}

int repl_handle_state(fcgi_request *req)
{
    repl_t *r = current;
    char hash[64] = "";
    if (repl_exec(r, "BEGIN") != 0)
        return fcgi_resp_error(req, 503, "database busy");
    int64_t applied = repl_applied(r), last_epoch = repl_meta_get(r, "last_epoch");
    int hrc = state_hash(r, hash, sizeof hash);
    repl_exec(r, "COMMIT");
    if (applied < 0 || last_epoch < 0 || hrc != 0)
        return fcgi_resp_error(req, 503, "database error");
    json_object *o = json_object_new_object();
    if (!o)
        return fcgi_resp_error(req, 500, "out of memory");
    int64_t now = repl_wall_ms();
    rc_node *nd = repl_node_lock(r);
    rc_node n = *nd;
    repl_node_unlock(r);
    int serving = repl_serving(r, 0);
    json_object_object_add(o, "service", json_object_new_string(r->m.service));
    json_object_object_add(o, "id", json_object_new_int(r->self));
    json_object_object_add(o, "role", json_object_new_string(n.role == RC_LEADER    ? "primary"
                                                             : n.role == RC_CANDIDATE ? "candidate"
                                                                                      : "backup"));
    json_object_object_add(o, "primary",
                           n.hard.leader ? json_object_new_int64(n.hard.leader) : NULL);
    json_object_object_add(o, "epoch", json_object_new_int64(n.hard.epoch));
    json_object_object_add(o, "applied", json_object_new_int64(applied));
    json_object_object_add(o, "last_epoch", json_object_new_int64(last_epoch));
    json_object_object_add(o, "safe", json_object_new_int64(n.safe));
    json_object_object_add(o, "commit", json_object_new_int64(n.role == RC_LEADER ? n.commit : 0));
    json_object_object_add(o, "hash", json_object_new_string(hash));
    json_object_object_add(o, "serving", json_object_new_boolean(serving));
    json_object_object_add(o, "recovering", json_object_new_boolean(n.hard.recovering != 0));
    json_object_object_add(o, "heard_ms_ago",
                           json_object_new_int64(n.role == RC_LEADER ? 0 : now - n.leader_ms));
    json_object_object_add(o, "replayed",
                           json_object_new_int64(applied - r->sh->boot_applied));
    json_object_object_add(o, "snapshots", json_object_new_int64(r->sh->snapshots));
    /* Where this replica runs, as its own host sees it: the pool that
     * answered and the serving pids of both pools (fcgi_pool.h). */
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
    json_object_object_add(o, "ticker_pid",
                           json_object_new_int(__atomic_load_n(&r->sh->ticker_pid,
                                                               __ATOMIC_RELAXED)));
    return fcgi_resp_json(req, 200, o);
}

int repl_handle_health(fcgi_request *req)
{
    repl_t *r = current;
    int64_t applied = repl_applied(r);
    if (applied < 0)
        return fcgi_resp_error(req, 503, "database unavailable");
    if (!repl_serving(r, 0))
        return fcgi_resp_error(req, 503, "%s replica %d is not serving reads (catching up or "
                                         "cut off)",
                               r->m.service, r->self);
    json_object *o = json_object_new_object();
    if (!o)
        return fcgi_resp_error(req, 500, "out of memory");
    json_object_object_add(o, "status", json_object_new_string("ok"));
    json_object_object_add(o, "applied", json_object_new_int64(applied));
    return fcgi_resp_json(req, 200, o);
}
