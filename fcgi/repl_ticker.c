/* repl_ticker.c - a replica's background work, in one thread per process of
 * which only the holder of the replica's ticker lock acts: the primary's
 * heartbeats (which carry catch-up), elections when the primary falls
 * silent, snapshot installs, and log retention. It has its own SQLite
 * connection and HTTP client and shares the rest through repl_shared. */
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
#include "repl_internal.h"

#define TRIM_EVERY_MS 1000
#define SNAPSHOT_TIMEOUT_MS 60000

static repl_t tk; /* the ticker's own view: the parent's fields, its own db and http */

static void sleep_ms(int64_t ms)
{
    nanosleep(&(struct timespec){ms / 1000, (ms % 1000) * 1000000L}, NULL);
}

static int hb_timeout(const repl_t *r)
{
    int t = r->cfg->lease_ms / 2;
    return t < r->cfg->peer_timeout_ms ? t : r->cfg->peer_timeout_ms;
}

/* Replaces the whole state with the primary's snapshot. */
static void install_snapshot(repl_t *r)
{
    int64_t p = repl_get(&r->sh->primary);
    if (p < 1 || p == r->self)
        return;
    fcgi_http_resp resp;
    if (repl_peer_call(r, (int)p, "GET", "/repl/snapshot", NULL, 0, SNAPSHOT_TIMEOUT_MS, &resp) != 0 ||
        resp.status != 200) {
        LOG_WARN("snapshot from %s-%" PRId64 " failed: %s", r->m.service, p,
                 resp.err[0] ? resp.err : "bad status");
        fcgi_http_resp_clear(&resp);
        return;
    }
    json_tokener *tok = json_tokener_new_ex(64);
    json_object *snap = tok ? json_tokener_parse_ex(tok, resp.body, (int)resp.len) : NULL, *state;
    if (tok)
        json_tokener_free(tok);
    fcgi_http_resp_clear(&resp);
    int64_t applied = fcgi_json_int(snap, "applied", -1), last = fcgi_json_int(snap, "last_epoch", -1),
            epoch = fcgi_json_int(snap, "epoch", -1);
    char err[256] = "malformed snapshot";
    if (!snap || applied < 0 || last < 0 || epoch < 1 ||
        !json_object_object_get_ex(snap, "state", &state) || repl_exec(r, "BEGIN IMMEDIATE") != 0) {
        LOG_ERROR("snapshot from %s-%" PRId64 " unusable", r->m.service, p);
        json_object_put(snap);
        return;
    }
    if (r->m.load(r->m.ctx, r->db, state, err, sizeof err) != 0 ||
        repl_exec(r, "DELETE FROM repl_log") != 0 || repl_meta_set(r, "applied", applied) != 0 ||
        repl_meta_set(r, "last_epoch", last) != 0 ||
        (epoch > repl_meta_get(r, "epoch") && repl_meta_set(r, "epoch", epoch) != 0) ||
        repl_exec(r, "COMMIT") != 0) {
        repl_exec(r, "ROLLBACK");
        LOG_ERROR("snapshot install failed: %s", err);
        json_object_put(snap);
        return;
    }
    json_object_put(snap);
    repl_set(&r->sh->need_snapshot, 0);
    repl_raise(&r->sh->snapshots, repl_get(&r->sh->snapshots) + 1);
    LOG_INFO("%s replica %d installed a snapshot at position %" PRId64 " from replica %" PRId64,
             r->m.service, r->self, applied, p);
}

/* Asks every peer for its vote for a new epoch; becomes primary on a majority. */
static void run_election(repl_t *r, int64_t seen_epoch)
{
    if (repl_exec(r, "BEGIN IMMEDIATE") != 0)
        return;
    int64_t mine = repl_meta_get(r, "epoch"), last = repl_meta_get(r, "last_epoch"),
            applied = repl_applied(r);
    int64_t e = (mine > seen_epoch ? mine : seen_epoch) + 1;
    if (mine < 0 || last < 0 || applied < 0 || repl_meta_set(r, "epoch", e) != 0 ||
        repl_meta_set(r, "voted_epoch", e) != 0 || repl_meta_set(r, "voted_for", r->self) != 0 ||
        repl_meta_set(r, "primary", 0) != 0 || repl_exec(r, "COMMIT") != 0) {
        repl_exec(r, "ROLLBACK");
        return;
    }
    repl_raise(&r->sh->epoch, e);
    repl_set(&r->sh->primary, 0);
    char body[256], urls[REPL_MAX_PEERS + 1][REPL_URL_MAX + 16];
    snprintf(body, sizeof body,
             "{\"service\":\"%s\",\"epoch\":%" PRId64 ",\"candidate\":%d,\"last_epoch\":%" PRId64
             ",\"applied\":%" PRId64 "}",
             r->m.service, e, r->self, last, applied);
    static const char *const hdrs[] = {"Content-Type: application/json", NULL};
    fcgi_http_call calls[REPL_MAX_PEERS];
    size_t nc = 0;
    memset(calls, 0, sizeof calls);
    for (int i = 1; i <= r->n; i++) {
        if (i == r->self)
            continue;
        snprintf(urls[i], sizeof urls[i], "%s/repl/vote", r->peer_base[i]);
        calls[nc++] = (fcgi_http_call){.peer = r->peer_key[i], .method = "POST", .url = urls[i],
                                       .headers = hdrs, .body = body, .len = strlen(body),
                                       .timeout_ms = hb_timeout(r)};
    }
    fcgi_http_do_all(r->http, calls, nc);
    int grants = 1;
    int64_t newer = 0;
    for (size_t k = 0; k < nc; k++) {
        json_object *a = calls[k].rc == 0 && calls[k].resp.body
                             ? json_tokener_parse(calls[k].resp.body) : NULL, *g;
        if (calls[k].resp.status == 200 && a && json_object_object_get_ex(a, "granted", &g) &&
            json_object_get_boolean(g))
            grants++;
        if (fcgi_json_int(a, "epoch", 0) > e)
            newer = fcgi_json_int(a, "epoch", 0);
        json_object_put(a);
        fcgi_http_resp_clear(&calls[k].resp);
    }
    if (newer) {
        repl_adopt_epoch(r, newer, 0);
        return;
    }
    if (grants * 2 <= r->n) {
        LOG_INFO("%s replica %d: election for epoch %" PRId64 " got %d of %d votes", r->m.service,
                 r->self, e, grants, r->n);
        repl_set(&r->sh->heard_ms, repl_wall_ms()); /* back off one election period */
        return;
    }
    /* Won: take the role and log a no-op in the new epoch, so that every
     * later commit is of an entry of this epoch (older entries are only
     * ever committed along with it). */
    char err[256];
    json_object *noop = json_object_new_object();
    if (!noop)
        return;
    json_object_object_add(noop, "op", json_object_new_string("noop"));
    int ok = repl_exec(r, "BEGIN IMMEDIATE") == 0;
    if (ok && (repl_meta_get(r, "epoch") != e || repl_meta_set(r, "primary", r->self) != 0 ||
               repl_apply_and_log(r, repl_applied(r) + 1, e, noop, err, sizeof err) != 0 ||
               repl_exec(r, "COMMIT") != 0)) {
        repl_exec(r, "ROLLBACK");
        ok = 0;
    }
    json_object_put(noop);
    if (!ok)
        return;
    repl_set(&r->sh->primary, r->self);
    repl_set(&r->sh->heard_ms, repl_wall_ms());
    for (int i = 1; i <= r->n; i++)
        repl_set(&r->sh->peer_fail_ms[i], 0);
    LOG_WARN("%s replica %d is the primary of epoch %" PRId64 " (%d of %d votes)", r->m.service,
             r->self, e, grants, r->n);
    repl_replicate(r, repl_applied(r), 1, hb_timeout(r));
}

/* The primary fell silent: the most up-to-date reachable replica (highest
 * last entry epoch, then position, then lowest id) stands for election. */
static void maybe_elect(repl_t *r)
{
    int64_t last = repl_meta_get(r, "last_epoch"), applied = repl_applied(r);
    if (last < 0 || applied < 0)
        return;
    int best = r->self, reachable = 1;
    int64_t best_last = last, best_pos = applied, seen_epoch = repl_get(&r->sh->epoch);
    char urls[REPL_MAX_PEERS + 1][REPL_URL_MAX + 16];
    fcgi_http_call calls[REPL_MAX_PEERS];
    int peer_of[REPL_MAX_PEERS];
    size_t nc = 0;
    memset(calls, 0, sizeof calls);
    for (int i = 1; i <= r->n; i++) {
        if (i == r->self)
            continue;
        snprintf(urls[i], sizeof urls[i], "%s/state", r->peer_base[i]);
        calls[nc] = (fcgi_http_call){.peer = r->peer_key[i], .method = "GET", .url = urls[i],
                                     .timeout_ms = hb_timeout(r)};
        peer_of[nc++] = i;
    }
    fcgi_http_do_all(r->http, calls, nc);
    int64_t live_primary = 0, live_epoch = 0;
    for (size_t k = 0; k < nc; k++) {
        json_object *a = calls[k].rc == 0 && calls[k].resp.status == 200 && calls[k].resp.body
                             ? json_tokener_parse(calls[k].resp.body) : NULL, *role;
        fcgi_http_resp_clear(&calls[k].resp);
        if (!a)
            continue;
        int i = peer_of[k];
        int64_t pl = fcgi_json_int(a, "last_epoch", -1), pp = fcgi_json_int(a, "applied", -1),
                pe = fcgi_json_int(a, "epoch", 0);
        if (pe > seen_epoch)
            seen_epoch = pe;
        if (json_object_object_get_ex(a, "role", &role) &&
            strcmp(json_object_get_string(role), "primary") == 0 && pe >= repl_get(&r->sh->epoch)) {
            live_primary = i;
            live_epoch = pe;
        }
        json_object_put(a);
        if (pl < 0 || pp < 0)
            continue;
        reachable++;
        if (pl > best_last || (pl == best_last && pp > best_pos) ||
            (pl == best_last && pp == best_pos && i < best)) {
            best = i;
            best_last = pl;
            best_pos = pp;
        }
    }
    if (live_primary) { /* a primary exists that we have not heard from yet */
        repl_adopt_epoch(r, live_epoch, live_primary);
        return;
    }
    if (reachable * 2 <= r->n)
        return; /* no majority to elect with */
    int64_t silent = repl_wall_ms() - repl_get(&r->sh->heard_ms);
    if (best != r->self && silent < 3 * (int64_t)r->cfg->election_ms)
        return; /* the rule's winner stands; after 3 periods anyone may */
    run_election(r, seen_epoch);
}

static void tick(repl_t *r, int64_t *last_trim)
{
    repl_shared *sh = r->sh;
    int64_t now = repl_wall_ms();
    if (repl_get(&sh->need_snapshot)) {
        install_snapshot(r);
    } else if (repl_get(&sh->primary) == r->self) {
        int64_t head = repl_applied(r);
        if (head >= 0)
            repl_replicate(r, head, 1, hb_timeout(r));
    } else if (r->n > 1 && now - repl_get(&sh->heard_ms) > r->cfg->election_ms) {
        maybe_elect(r);
    }
    if (now - *last_trim > TRIM_EVERY_MS) {
        *last_trim = now;
        int64_t applied = repl_applied(r);
        char sql[128];
        snprintf(sql, sizeof sql, "DELETE FROM repl_log WHERE pos <= %" PRId64,
                 applied - (int64_t)r->cfg->log_retention);
        if (applied > r->cfg->log_retention)
            repl_exec(r, sql);
    }
}

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
        /* A peer catching up gets its next batches at once, not one
         * heartbeat later: a gap of 10,000 entries is 20 batches. */
        sleep_ms(!held ? 500 : tk.behind ? 1 : tk.cfg->heartbeat_ms);
        if (!held) {
            if (flock(fd, LOCK_EX | LOCK_NB) != 0)
                continue;
            held = 1;
            LOG_INFO("ticker of %s replica %d runs in pid %d", tk.m.service, tk.self, (int)getpid());
        }
        tick(&tk, &last_trim);
    }
    return NULL;
}

int repl_ticker_start(repl_t *r, char *err, size_t errlen)
{
    tk = *r;
    tk.st_meta_get = tk.st_meta_set = tk.st_log_insert = tk.st_log_range = tk.st_log_epoch = NULL;
    tk.db = fcgi_db_open(r->db_path, r->cfg->sync_full, NULL, err, errlen);
    if (!tk.db)
        return -1;
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
