/* repl_ticker.c - a replica's background work, in one thread per process of
 * which only the holder of the replica's ticker lock acts: the core's ticks
 * (rc_tick: standing for election when the primary falls silent, a cut-off
 * primary stepping down), the election itself, the primary's heartbeats
 * (which carry catch-up and the safe position), the watch on its own client
 * pool, snapshot installs, and log retention. It has its own SQLite
 * connection and HTTP client and shares the protocol state through
 * repl_shared. */
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include "fcgi_db.h"
#include "fcgi_log.h"
#include "fcgi_pool.h"
#include "repl_internal.h"

#define TRIM_EVERY_MS 1000
#define SNAPSHOT_EVERY_MS 200
#define SNAPSHOT_TIMEOUT_MS 60000

static repl_t tk; /* the ticker's own view: the parent's fields, its own db and http */

static int hb_timeout(const repl_t *r)
{
    int t = r->cfg->lease_ms / 2;
    return t < r->cfg->peer_timeout_ms ? t : r->cfg->peer_timeout_ms;
}

/* Replaces the whole state with the primary's snapshot, if the core allows. */
static void install_snapshot(repl_t *r)
{
    rc_node *nd = repl_node_lock(r);
    int64_t p = nd->hard.leader, epoch = nd->hard.epoch;
    repl_node_unlock(r);
    if (p < 1 || p == r->self)
        return;
    char suffix[64];
    snprintf(suffix, sizeof suffix, "/repl/snapshot?epoch=%" PRId64, epoch);
    fcgi_http_resp resp;
    if (repl_peer_call(r, (int)p, "GET", suffix, NULL, 0, SNAPSHOT_TIMEOUT_MS, &resp) != 0 ||
        resp.status != 200) {
        LOG_WARN("snapshot from %s-%" PRId64 " failed: %s", r->m.service, p,
                 resp.err[0] ? resp.err : resp.body ? resp.body : "bad status");
        fcgi_http_resp_clear(&resp);
        return;
    }
    json_tokener *tok = json_tokener_new_ex(64);
    json_object *snap = tok ? json_tokener_parse_ex(tok, resp.body, (int)resp.len) : NULL, *state;
    if (tok)
        json_tokener_free(tok);
    fcgi_http_resp_clear(&resp);
    rc_msg m = {.kind = RC_SNAP,
                .from = (int)fcgi_json_int(snap, "leader", -1),
                .to = r->self,
                .epoch = fcgi_json_int(snap, "epoch", -1),
                .last_pos = fcgi_json_int(snap, "applied", -1),
                .last_epoch = fcgi_json_int(snap, "last_epoch", -1)};
    char err[256] = "malformed snapshot";
    if (!snap || m.last_pos < 0 || m.last_epoch < 0 || m.epoch < 1 ||
        !json_object_object_get_ex(snap, "state", &state) || repl_exec(r, "BEGIN IMMEDIATE") != 0) {
        LOG_ERROR("snapshot from %s-%" PRId64 " unusable", r->m.service, p);
        json_object_put(snap);
        return;
    }
    nd = repl_node_lock(r);
    int ok = rc_snap_may_install(nd, &m);
    repl_node_unlock(r);
    if (!ok) {
        repl_exec(r, "ROLLBACK");
        LOG_WARN("%s replica %d: snapshot of epoch %" PRId64 " at %" PRId64 " from %d refused",
                 r->m.service, r->self, m.epoch, m.last_pos, m.from);
        json_object_put(snap);
        return;
    }
    if (r->m.load(r->m.ctx, r->db, state, err, sizeof err) != 0 ||
        repl_exec(r, "DELETE FROM repl_log") != 0 ||
        repl_meta_set(r, "applied", m.last_pos) != 0 ||
        repl_meta_set(r, "last_epoch", m.last_epoch) != 0 ||
        repl_meta_set(r, "base", m.last_pos) != 0 ||
        repl_meta_set(r, "base_epoch", m.last_epoch) != 0 || repl_exec(r, "COMMIT") != 0) {
        repl_exec(r, "ROLLBACK");
        LOG_ERROR("snapshot install failed: %s", err);
        json_object_put(snap);
        return;
    }
    json_object_put(snap);
    rc_snap_installed(repl_node_lock(r), m.last_pos);
    repl_node_unlock(r);
    __atomic_add_fetch(&r->sh->snapshots, 1, __ATOMIC_RELAXED);
    LOG_INFO("%s replica %d installed a snapshot at position %" PRId64 " from replica %" PRId64,
             r->m.service, r->self, m.last_pos, p);
}

/* Takes the primary's role just won: its no-op, then heartbeats at once. */
static void lead(repl_t *r)
{
    rc_node *nd = repl_node_lock(r);
    int64_t epoch = nd->hard.epoch;
    repl_node_unlock(r);
    if (repl_hard_persist(r) != 0 || repl_append_noop(r) != 0)
        return;
    LOG_WARN("%s replica %d is the primary of epoch %" PRId64, r->m.service, r->self, epoch);
    repl_replicate(r, 0, 1, hb_timeout(r), 0);
}

/* One round of requests: pre-votes (would you vote for me in epoch+1?) or
 * votes, as the core's role says. Returns what rc_on_vote_reply said last
 * that mattered: 1 won, 2 stood (pre-votes won), 0 neither.
 *
 * A round lasts as long as its slowest call, and the election is held
 * because `silent` (the primary it last knew) has not been heard from for
 * election_ms: dead, stopped or cut off, it would hold each round for the
 * whole timeout. It is only probed, briefly (heartbeat_ms / 5): its vote,
 * should it answer at all, is one the others can make up for. */
static int ask_round(repl_t *r, int silent)
{
    rc_log log = repl_log_view(r);
    char bodies[REPL_MAX_PEERS][256], urls[REPL_MAX_PEERS + 1][REPL_URL_MAX + 16];
    static const char *const hdrs[] = {"Content-Type: application/json", NULL};
    fcgi_http_call calls[REPL_MAX_PEERS];
    int peer_of[REPL_MAX_PEERS];
    size_t nc = 0;
    memset(calls, 0, sizeof calls);
    rc_node *nd = repl_node_lock(r);
    for (int i = 1; i <= r->n; i++) {
        if (i == r->self)
            continue;
        rc_msg m;
        rc_vote_request(nd, &log, i, &m);
        snprintf(bodies[nc], sizeof bodies[nc],
                 "{\"service\":\"%s\",\"epoch\":%" PRId64 ",\"candidate\":%d,"
                 "\"last_epoch\":%" PRId64 ",\"applied\":%" PRId64 ",\"pre\":%s,"
                 "\"handover\":%" PRId64 "}",
                 r->m.service, m.epoch, r->self, m.last_epoch, m.last_pos,
                 m.kind == RC_PREVOTE ? "true" : "false", m.handover);
        snprintf(urls[i], sizeof urls[i], "%s/repl/vote", r->peer_base[i]);
        /* heartbeat_ms / 5 (20 ms by default): a live peer pool answers a
         * vote in a few milliseconds, and each millisecond here is one of
         * the failover's, twice (pre-votes, then votes), and widens the
         * window in which two backups stand at once and split the vote. */
        int probe_ms = r->cfg->heartbeat_ms / 5 > 10 ? r->cfg->heartbeat_ms / 5 : 10;
        calls[nc] = (fcgi_http_call){.peer = r->peer_key[i], .method = "POST", .url = urls[i],
                                     .headers = hdrs, .body = bodies[nc],
                                     .len = strlen(bodies[nc]),
                                     .timeout_ms = i == silent && probe_ms < hb_timeout(r)
                                                       ? probe_ms : hb_timeout(r)};
        peer_of[nc++] = i;
    }
    repl_node_unlock(r);
    fcgi_http_do_all(r->http, calls, nc);
    int result = 0;
    for (size_t k = 0; k < nc; k++) {
        json_object *a = calls[k].rc == 0 && calls[k].resp.body
                             ? json_tokener_parse(calls[k].resp.body) : NULL, *g, *pre;
        fcgi_http_resp_clear(&calls[k].resp);
        if (!a)
            continue;
        int is_pre = json_object_object_get_ex(a, "pre", &pre) && json_object_get_boolean(pre);
        rc_msg rep = {.kind = is_pre ? RC_PREVOTE_REPLY : RC_VOTE_REPLY, .from = peer_of[k],
                      .to = r->self, .epoch = fcgi_json_int(a, "epoch", 0),
                      .last_pos = fcgi_json_int(a, "asked", 0),
                      .granted = json_object_object_get_ex(a, "granted", &g) &&
                                 json_object_get_boolean(g)};
        json_object_put(a);
        nd = repl_node_lock(r);
        int res = rc_on_vote_reply(nd, &log, &rep, repl_wall_ms());
        repl_node_unlock(r);
        if (res)
            result = res;
    }
    return result;
}

/* The election timer ran out: pre-votes, then (with a majority of them)
 * the vote for a new epoch, durable before anyone is asked; leads on a
 * majority. `handed`: its primary handed over and it already stood (no
 * pre-votes; the primary answers, so it is not only probed). */
static void run_election(repl_t *r, int handed)
{
    rc_node *nd = repl_node_lock(r);
    int silent = handed ? 0 : (int)nd->hard.leader;
    repl_node_unlock(r);
    int res = handed ? 2 : ask_round(r, silent);
    if (res == 2) {
        nd = repl_node_lock(r);
        int64_t epoch = nd->hard.epoch;
        repl_node_unlock(r);
        if (repl_hard_persist(r) != 0)
            return;
        LOG_INFO("%s replica %d stands for epoch %" PRId64 "%s", r->m.service, r->self, epoch,
                 handed ? " (its primary handed over)" : "");
        res = ask_round(r, silent);
        if (res == 1) {
            lead(r);
            return;
        }
        repl_hard_persist(r);
    }
    /* Lost (two stood at once and split the vote, or too few answered):
     * try again after a random fraction of election_ms, not a whole one. */
    int64_t backoff = repl_random_ms(r->cfg->election_ms / 2);
    nd = repl_node_lock(r);
    rc_election_lost(nd, repl_wall_ms(), backoff);
    int64_t epoch = nd->hard.epoch;
    rc_role role = nd->role;
    repl_node_unlock(r);
    if (role == RC_CANDIDATE || role == RC_PRECANDIDATE)
        LOG_INFO("%s replica %d: %s of epoch %" PRId64 " lost; again in %" PRId64 " ms",
                 r->m.service, r->self, role == RC_CANDIDATE ? "election" : "pre-vote",
                 epoch + (role == RC_PRECANDIDATE), backoff);
}

/* A primary that stepped down because it cannot lead, once its leases have
 * run out: tells its most complete backup to stand at once (rc.h,
 * "Handover"). Should that fail, the backups elect as usual. */
static void hand_over(repl_t *r)
{
    rc_msg m;
    rc_node *nd = repl_node_lock(r);
    int to = rc_handover(nd, &m);
    repl_node_unlock(r);
    if (!to)
        return;
    char url[REPL_URL_MAX + 16], body[160];
    static const char *const hdrs[] = {"Content-Type: application/json", NULL};
    snprintf(url, sizeof url, "%s/repl/handover", r->peer_base[to]);
    snprintf(body, sizeof body, "{\"service\":\"%s\",\"epoch\":%" PRId64 ",\"from\":%d}",
             r->m.service, m.epoch, r->self);
    fcgi_http_call call = {.peer = r->peer_key[to], .method = "POST", .url = url, .headers = hdrs,
                           .body = body, .len = strlen(body), .timeout_ms = hb_timeout(r)};
    int rc = fcgi_http_do(r->http, &call);
    LOG_WARN("%s replica %d hands over to replica %d: %s", r->m.service, r->self, to,
             rc == 0 && call.resp.status == 200 ? "taken" : "not taken; the backups elect as usual");
    fcgi_http_resp_clear(&call.resp);
}

/* 1 when some serving process of this replica's client pool runs (is
 * neither stopped nor a zombie, fcgi_pool.h); also 1 when that cannot be
 * told (no pid file). */
static int own_pool_runs(const repl_t *r)
{
    char path[FCGI_CONFIG_STR + 64];
    snprintf(path, sizeof path, "%s/run/%s-%d.pid", r->cfg->var_dir, r->m.service, r->self);
    pid_t pids[64];
    int n = fcgi_pool_pids(path, pids, sizeof pids / sizeof pids[0]);
    if (n <= 0)
        return 1;
    for (int i = 0; i < n; i++)
        if (fcgi_pid_runs(pids[i]))
            return 1;
    return 0;
}

/* Point 7 of the failure list in docs/REPLICATION.md: a primary whose
 * client pool is stopped (SIGSTOP) or gone, while this thread (in its peer
 * pool) still sends heartbeats, would keep its role and take no write. So
 * the ticker watches the pool's processes; none running for a heartbeat
 * period: the replica cannot lead, steps down (its followers then elect
 * another), and stands again only once the pool runs. A busy pool is not a
 * stopped one: workers waiting on the network or on a lease still run. */
static void check_own_pool(repl_t *r, int64_t now)
{
    if (own_pool_runs(r))
        r->pool_ok_ms = now;
    int cannot = now - r->pool_ok_ms > r->cfg->heartbeat_ms;
    rc_node *nd = repl_node_lock(r);
    int was = nd->cannot_lead;
    nd->cannot_lead = cannot;
    repl_node_unlock(r);
    if (cannot != was)
        LOG_WARN("%s replica %d: its client pool %s", r->m.service, r->self,
                 cannot ? "is stopped or gone; it does not lead" : "runs again");
}

/* A database that started empty (repl_store.c) belongs to a new cluster
 * or to a replica that lost its disk. Only the peers can tell: if every
 * peer answers that it is at epoch 1 with nothing applied, the cluster is
 * new, and the replica is a normal member (the named primary of epoch 1
 * leads); if any peer has moved on, the disk was lost, and the replica
 * stays recovering until it has caught up with a primary's commit position
 * (the core clears it). While a peer does not answer it waits: the silent
 * one may hold the writes this replica helped commit. Until then it neither
 * votes nor leads: votes and acknowledgements it gave before the loss may
 * be what made a write committed. So a new cluster starts once all its
 * replicas are up. */
static void settle_fresh(repl_t *r)
{
    char urls[REPL_MAX_PEERS + 1][REPL_URL_MAX + 16];
    fcgi_http_call calls[REPL_MAX_PEERS];
    size_t nc = 0;
    memset(calls, 0, sizeof calls);
    for (int i = 1; i <= r->n; i++) {
        if (i == r->self)
            continue;
        snprintf(urls[i], sizeof urls[i], "%s/state", r->peer_base[i]);
        calls[nc++] = (fcgi_http_call){.peer = r->peer_key[i], .method = "GET", .url = urls[i],
                                       .timeout_ms = hb_timeout(r)};
    }
    fcgi_http_do_all(r->http, calls, nc);
    int fresh = 1, moved = 0;
    for (size_t k = 0; k < nc; k++) {
        json_object *a = calls[k].rc == 0 && calls[k].resp.status == 200 && calls[k].resp.body
                             ? json_tokener_parse(calls[k].resp.body) : NULL;
        fcgi_http_resp_clear(&calls[k].resp);
        if (!a)
            continue;
        if (fcgi_json_int(a, "epoch", -1) == 1 && fcgi_json_int(a, "applied", -1) == 0)
            fresh++;
        else
            moved = 1;
        json_object_put(a);
    }
    if (!moved && fresh < r->n)
        return; /* a peer has not answered yet */
    if (repl_exec(r, "BEGIN IMMEDIATE") != 0)
        return;
    rc_log log = repl_log_view(r);
    rc_node *nd = repl_node_lock(r);
    if (!moved) {
        nd->hard.recovering = 0;
        nd->hard_dirty = 1;
        nd->heard_ms = repl_wall_ms(); /* a full period to hear from the named primary */
        if (nd->hard.epoch == 1 && r->named_primary == r->self && log.last == 0)
            rc_become_leader(nd, &log, repl_wall_ms());
    }
    int rc = repl_hard_save(r) | repl_meta_set(r, "fresh", 0);
    repl_node_unlock(r);
    if (rc != 0 || repl_exec(r, "COMMIT") != 0) {
        repl_exec(r, "ROLLBACK");
        return;
    }
    LOG_WARN("%s replica %d started on an empty database: %s", r->m.service, r->self,
             moved ? "its disk was lost; it catches up before it votes again"
                   : "a new cluster");
}

static void tick(repl_t *r, int64_t *last_trim)
{
    if (repl_meta_get(r, "fresh") == 1)
        settle_fresh(r);
    rc_node *snap = repl_node_lock(r);
    int check = snap->role == RC_LEADER || snap->cannot_lead;
    repl_node_unlock(r);
    if (check && r->n > 1)
        check_own_pool(r, repl_wall_ms());
    int64_t now = repl_wall_ms();
    rc_node *nd = repl_node_lock(r);
    int stood = rc_tick(nd, now);
    rc_role role = nd->role;
    int need = nd->need_snapshot;
    int64_t safe = nd->safe;
    if (stood)
        nd->jitter_ms = repl_random_ms(r->cfg->election_ms / 4);
    repl_node_unlock(r);
    if (stood == 1 || stood == 4) {
        run_election(r, stood == 4);
    } else if (stood == 3) {
        hand_over(r);
    } else if (stood == 2) { /* a single replica */
        rc_log log = repl_log_view(r);
        rc_become_leader(repl_node_lock(r), &log, now);
        repl_node_unlock(r);
        lead(r);
    } else if (role == RC_LEADER) {
        repl_replicate(r, 0, 1, hb_timeout(r), 0);
        /* Entries no write may come to release: the election's no-op, the
         * entries inherited from the last primary. At most every 250 ms,
         * so that a Redis that does not answer slows heartbeats little. */
        if (now >= r->release_at_ms) {
            r->release_at_ms = now + 250;
            repl_release_held(r);
        }
    } else if (need && now - r->sh->snap_asked_ms >= SNAPSHOT_EVERY_MS) {
        r->sh->snap_asked_ms = now;
        install_snapshot(r);
    }
    repl_hard_persist(r);
    if (now - *last_trim > TRIM_EVERY_MS) {
        /* Retention keeps log_retention entries, and never any that are
         * not known to be safe. */
        *last_trim = now;
        int64_t upto = repl_applied(r) - (int64_t)r->cfg->log_retention;
        if (upto > safe)
            upto = safe;
        if (upto > 0)
            repl_log_trim(r, upto);
    }
}

#define WAKE_MS 5 /* how often the sleeping ticker looks at wake_ticker */

static void *ticker_main(void *arg)
{
    (void)arg;
    char path[FCGI_CONFIG_STR + 64];
    snprintf(path, sizeof path, "%s/run/%s-%d.ticker", tk.cfg->var_dir, tk.m.service, tk.self);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        LOG_ERROR("ticker: cannot open %s", path);
        return NULL;
    }
    int held = 0;
    int64_t last_trim = 0;
    for (;;) {
        if (!held) {
            nanosleep(&(struct timespec){0, 500000000L}, NULL);
            if (flock(fd, LOCK_EX | LOCK_NB) != 0)
                continue;
            held = 1;
            tk.pool_ok_ms = repl_wall_ms();
            __atomic_store_n(&tk.sh->ticker_pid, (int32_t)getpid(), __ATOMIC_RELAXED);
            LOG_INFO("ticker of %s replica %d runs in pid %d", tk.m.service, tk.self, (int)getpid());
        }
        /* A peer catching up gets its next batches at once; a handover
         * taken by a request (repl_handle_handover) is acted on within
         * WAKE_MS, not a whole period later. */
        int64_t ms = tk.behind ? 1 : tk.cfg->heartbeat_ms;
        rc_node *nd = repl_node_lock(&tk);
        int64_t handover_at = nd->handover_at;
        repl_node_unlock(&tk);
        if (handover_at > 0) { /* a handover is due: tick then, not up to a period later */
            int64_t until = handover_at - repl_wall_ms();
            ms = until < 1 ? 1 : until < ms ? until : ms;
        }
        for (int64_t slept = 0; slept < ms;) {
            int64_t step = ms - slept < WAKE_MS ? ms - slept : WAKE_MS;
            nanosleep(&(struct timespec){step / 1000, (step % 1000) * 1000000L}, NULL);
            slept += step;
            if (__atomic_exchange_n(&tk.sh->wake_ticker, 0, __ATOMIC_ACQ_REL))
                break;
        }
        tick(&tk, &last_trim);
    }
    return NULL;
}

int repl_ticker_start(repl_t *r, char *err, size_t errlen)
{
    tk = *r;
    /* The release callback's context (the catalog's Redis connection)
     * belongs to the request thread: the ticker opens its own, or releases
     * by time only. */
    tk.m.release_ctx = r->m.release && r->m.release_open ? r->m.release_open(r->m.release_ctx)
                                                         : NULL;
    if (!tk.m.release_ctx)
        tk.m.release = NULL;
    tk.st_meta_get = tk.st_meta_set = tk.st_log_insert = tk.st_log_range = tk.st_log_epoch =
        tk.st_log_view = tk.st_data_version = NULL;
    tk.hash_valid = 0;
    tk.db = fcgi_db_open(r->db_path, r->cfg->sync_full, NULL, err, errlen);
    if (!tk.db)
        return -1;
    tk.pool_ok_ms = repl_wall_ms();
    tk.http = fcgi_http_new(r->cfg->peer_timeout_ms);
    if (!tk.http || fcgi_http_set_secret(tk.http, r->cfg->cluster_secret) != 0) {
        snprintf(err, errlen, "cannot create the ticker's HTTP client");
        return -1;
    }
    /* Signals belong to the request loop: the thread starts with them blocked. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    pthread_t t;
    int rc = pthread_create(&t, NULL, ticker_main, NULL);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        snprintf(err, errlen, "cannot start the ticker thread");
        return -1;
    }
    pthread_detach(t);
    return 0;
}
