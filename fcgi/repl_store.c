/* repl_store.c - the replication state in SQLite: the log (repl_log), the
 * durable protocol state and positions (repl_meta), and the core's view of
 * the log (rc_log). Every function works on the caller's connection. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "fcgi_db.h"
#include "fcgi_log.h"
#include "repl_internal.h"

#define REPL_EPOCH_UNKNOWN 1000000000000LL /* stored for a base epoch nobody knows */

static const char schema[] =
    "CREATE TABLE IF NOT EXISTS repl_log ("
    "  pos INTEGER PRIMARY KEY, epoch INTEGER NOT NULL, op TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS repl_meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);"
    "INSERT OR IGNORE INTO repl_meta VALUES ('applied', 0), ('last_epoch', 0), ('epoch', 1),"
    "  ('voted_epoch', 0), ('voted_for', 0), ('recovering', 0);";

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
        if (st)
            sqlite3_reset(st);
        return -1;
    }
    sqlite3_reset(st);
    return 0;
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

static int64_t view_epoch_at(void *ctx, int64_t pos)
{
    int64_t e = log_epoch(ctx, pos);
    return e > 0 ? e : -1; /* a hole between base and last is a storage error */
}

rc_log repl_log_view(repl_t *r)
{
    /* One statement: outside a transaction it reads one consistent state. */
    int64_t v[4] = {-1, -1, -1, -1};
    static const char *const keys[4] = {"base", "base_epoch", "applied", "last_epoch"};
    sqlite3_stmt *st = fcgi_db_stmt(
        r->db, &r->st_log_view,
        "SELECT key, value FROM repl_meta WHERE key IN ('base', 'base_epoch', 'applied', "
        "'last_epoch')");
    int rc = SQLITE_ERROR;
    while (st && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *k = (const char *)sqlite3_column_text(st, 0);
        for (int i = 0; k && i < 4; i++)
            if (strcmp(k, keys[i]) == 0)
                v[i] = sqlite3_column_int64(st, 1);
    }
    if (st)
        sqlite3_reset(st);
    if (rc != SQLITE_DONE) {
        LOG_ERROR("repl_meta: %s", sqlite3_errmsg(r->db));
        v[0] = v[2] = -1; /* callers refuse to act on a log they cannot see */
    }
    return (rc_log){.base = v[0],
                    .base_epoch = v[1] >= REPL_EPOCH_UNKNOWN ? -2 : v[1],
                    .last = v[2],
                    .last_epoch = v[3],
                    .epoch_at = view_epoch_at,
                    .ctx = r};
}

int repl_store_init(repl_t *r, int primary, char *err, size_t errlen)
{
    /* A database without the log tables is either a new cluster's or one
     * whose disk was lost: it starts "recovering" (no vote, no lead) and
     * "fresh" until the ticker has asked the peers which (repl_ticker.c).
     * All of a replica's processes start at once on such a database, so
     * the check and the set-up are one write transaction: otherwise one
     * could find the tables made by another but not yet marked recovering,
     * load that state into the shared node first, and vote at once (a test
     * of a lost disk caught exactly that). */
    if (repl_exec(r, "BEGIN IMMEDIATE") != 0) {
        snprintf(err, errlen, "cannot begin: %s", sqlite3_errmsg(r->db));
        return -1;
    }
    sqlite3_stmt *q = NULL;
    int exists = sqlite3_prepare_v2(r->db, "SELECT 1 FROM sqlite_master WHERE name = 'repl_meta'",
                                    -1, &q, NULL) == SQLITE_OK &&
                 sqlite3_step(q) == SQLITE_ROW;
    sqlite3_finalize(q);
    char sql[sizeof schema + 256];
    snprintf(sql, sizeof sql,
             "%s INSERT OR IGNORE INTO repl_meta VALUES ('primary', %d);%s", schema, primary,
             exists ? "" : " UPDATE repl_meta SET value = 1 WHERE key = 'recovering';"
                           " INSERT OR REPLACE INTO repl_meta VALUES ('fresh', 1);");
    if (fcgi_db_exec(r->db, sql, err, errlen) != 0) {
        repl_exec(r, "ROLLBACK");
        return -1;
    }
    /* The base: below it the log holds nothing. Logs emptied (a snapshot,
     * the order migration) or trimmed by versions that did not record it
     * get it back here; an epoch that is not known any more is stored as
     * 0 at position 0 and else as "unknown", which no leader's matches, so
     * such a replica installs a snapshot instead of trusting a guess. */
    int64_t applied = repl_meta_get(r, "applied"), last = repl_meta_get(r, "last_epoch"),
            base = repl_meta_get(r, "base"), base_epoch = repl_meta_get(r, "base_epoch"),
            lo = -1;
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(r->db, "SELECT coalesce(min(pos), -1) FROM repl_log", -1, &st,
                           NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        lo = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    int64_t want = lo < 0 ? applied : lo - 1;
    int rc = applied < 0 || last < 0 ? -1 : 0;
    if (rc == 0 && (base != want || base_epoch < 0)) {
        int64_t e = want == applied ? last : want == 0 ? 0 : REPL_EPOCH_UNKNOWN;
        rc = repl_meta_set(r, "base", want) | repl_meta_set(r, "base_epoch", e);
    }
    if (rc != 0 || repl_exec(r, "COMMIT") != 0) {
        repl_exec(r, "ROLLBACK");
        snprintf(err, errlen, "cannot read the replication state: %s", sqlite3_errmsg(r->db));
        return -1;
    }
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
        if (st)
            sqlite3_reset(st);
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

int repl_hard_load(repl_t *r, rc_hard *h)
{
    int64_t epoch = repl_meta_get(r, "epoch"), voted = repl_meta_get(r, "voted_for"),
            voted_epoch = repl_meta_get(r, "voted_epoch"), leader = repl_meta_get(r, "primary"),
            rec = repl_meta_get(r, "recovering");
    if (epoch < 0 || voted < 0 || voted_epoch < 0 || leader < 0 || rec < 0)
        return -1;
    *h = (rc_hard){.epoch = epoch,
                   .voted_for = voted_epoch == epoch ? voted : 0,
                   .leader = leader,
                   .recovering = rec};
    return 0;
}

int repl_hard_save(repl_t *r)
{
    rc_node *nd = &r->sh->node;
    if (!nd->hard_dirty)
        return 0;
    const rc_hard *h = &nd->hard;
    if (repl_meta_set(r, "epoch", h->epoch) != 0 || repl_meta_set(r, "voted_epoch", h->epoch) ||
        repl_meta_set(r, "voted_for", h->voted_for) != 0 ||
        repl_meta_set(r, "primary", h->leader) != 0 ||
        repl_meta_set(r, "recovering", h->recovering) != 0)
        return -1;
    nd->hard_dirty = 0;
    return 0;
}

int repl_hard_persist(repl_t *r)
{
    if (!__atomic_load_n(&r->sh->node.hard_dirty, __ATOMIC_RELAXED))
        return 0;
    if (repl_exec(r, "BEGIN IMMEDIATE") != 0)
        return -1;
    repl_node_lock(r);
    int rc = repl_hard_save(r);
    repl_node_unlock(r);
    if (rc != 0 || repl_exec(r, "COMMIT") != 0) {
        repl_exec(r, "ROLLBACK");
        repl_node_lock(r)->hard_dirty = 1;
        repl_node_unlock(r);
        return -1;
    }
    return 0;
}

int repl_log_trim(repl_t *r, int64_t upto)
{
    if (repl_exec(r, "BEGIN IMMEDIATE") != 0)
        return -1;
    int64_t base = repl_meta_get(r, "base"), e = upto > base ? log_epoch(r, upto) : 0;
    char sql[128];
    snprintf(sql, sizeof sql, "DELETE FROM repl_log WHERE pos <= %" PRId64, upto);
    if (base < 0 || upto <= base || e <= 0) {
        repl_exec(r, "ROLLBACK");
        return base < 0 || e < 0 ? -1 : 0;
    }
    if (repl_exec(r, sql) != 0 || repl_meta_set(r, "base", upto) != 0 ||
        repl_meta_set(r, "base_epoch", e) != 0 || repl_exec(r, "COMMIT") != 0) {
        repl_exec(r, "ROLLBACK");
        return -1;
    }
    return 0;
}
