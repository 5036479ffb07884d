/* fcgi_db.c - SQLite set-up shared by every replica, and the state hash. */
#include "fcgi_db.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>

#include "fcgi_log.h"

/* Runs the schema (idempotent: IF NOT EXISTS throughout). A replica's
 * processes start together and one of them may hold the write lock for
 * longer than the busy timeout while it imports a large seed file: the
 * others wait for it, up to SCHEMA_WAIT_S, instead of failing to start. */
#define SCHEMA_WAIT_S 120
static int exec_schema(sqlite3 *db, const char *schema, char *err, size_t errlen)
{
    time_t deadline = time(NULL) + SCHEMA_WAIT_S;
    while (fcgi_db_exec(db, schema, err, errlen) != 0)
        if (sqlite3_errcode(db) != SQLITE_BUSY || time(NULL) > deadline)
            return -1;
    return 0;
}

sqlite3 *fcgi_db_open(const char *path, int sync_full, const char *schema, char *err,
                      size_t errlen)
{
    sqlite3 *db = NULL;
    int rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
                                            SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        snprintf(err, errlen, "open %s: %s", path, db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
        sqlite3_close_v2(db);
        return NULL;
    }
    /* Several processes (both pools of a replica) share the file: writers
     * wait for each other instead of failing with SQLITE_BUSY. */
    if (sqlite3_busy_timeout(db, 5000) != SQLITE_OK ||
        fcgi_db_exec(db, "PRAGMA journal_mode=WAL", err, errlen) != 0 ||
        fcgi_db_exec(db, sync_full ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL",
                     err, errlen) != 0 ||
        fcgi_db_exec(db, "PRAGMA foreign_keys=ON", err, errlen) != 0 ||
        (schema && exec_schema(db, schema, err, errlen) != 0)) {
        sqlite3_close_v2(db);
        return NULL;
    }
    return db;
}

int fcgi_db_exec(sqlite3 *db, const char *sql, char *err, size_t errlen)
{
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        snprintf(err, errlen, "%s", msg ? msg : sqlite3_errmsg(db));
        sqlite3_free(msg);
        return -1;
    }
    return 0;
}

sqlite3_stmt *fcgi_db_stmt(sqlite3 *db, sqlite3_stmt **slot, const char *sql)
{
    if (*slot && sqlite3_db_handle(*slot) != db) { /* made on another connection */
        sqlite3_finalize(*slot);
        *slot = NULL;
    }
    if (*slot) {
        sqlite3_reset(*slot);
        sqlite3_clear_bindings(*slot);
        return *slot;
    }
    if (sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, slot, NULL) != SQLITE_OK) {
        LOG_ERROR("prepare failed: %s: %s", sqlite3_errmsg(db), sql);
        *slot = NULL;
    }
    return *slot;
}

int fcgi_db_step_one(sqlite3 *db, sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE && sqlite3_changes(db) == 1 ? 0 : -1;
}

void fcgi_hash_init(fcgi_hash *h)
{
    h->h = 1469598103934665603ULL;
}

void fcgi_hash_bytes(fcgi_hash *h, const void *data, size_t len)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < len; i++) {
        h->h ^= p[i];
        h->h *= 1099511628211ULL;
    }
}

void fcgi_hash_i64(fcgi_hash *h, int64_t v)
{
    char buf[32];
    int n = snprintf(buf, sizeof buf, "%" PRId64 "|", v);
    fcgi_hash_bytes(h, buf, (size_t)n);
}

void fcgi_hash_text(fcgi_hash *h, const unsigned char *s)
{
    if (s)
        fcgi_hash_bytes(h, s, strlen((const char *)s));
    fcgi_hash_bytes(h, "|", 1);
}

void fcgi_hash_hex(const fcgi_hash *h, char *out, size_t outlen)
{
    snprintf(out, outlen, "%016" PRIx64, h->h);
}

void fcgi_cents_format(int64_t cents, char *out, size_t outlen)
{
    const char *sign = cents < 0 ? "-" : "";
    uint64_t a = cents < 0 ? (uint64_t)(-(cents + 1)) + 1 : (uint64_t)cents;
    snprintf(out, outlen, "%s%" PRIu64 ".%02" PRIu64, sign, a / 100, a % 100);
}

void fcgi_utc_now(char *out, size_t outlen)
{
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    snprintf(out, outlen, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000);
}

/* One result column as JSON (integers, text, null). */
static json_object *column_json(sqlite3_stmt *st, int c)
{
    int t = sqlite3_column_type(st, c);
    return t == SQLITE_NULL      ? NULL
           : t == SQLITE_INTEGER ? json_object_new_int64(sqlite3_column_int64(st, c))
                                 : json_object_new_string((const char *)sqlite3_column_text(st, c));
}

json_object *fcgi_db_objects(sqlite3_stmt *st)
{
    json_object *rows = json_object_new_array();
    int rc = SQLITE_NOMEM, ncols = sqlite3_column_count(st);
    while (rows && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        json_object *o = json_object_new_object();
        if (!o) {
            rc = SQLITE_NOMEM;
            break;
        }
        for (int c = 0; c < ncols; c++)
            json_object_object_add(o, sqlite3_column_name(st, c), column_json(st, c));
        json_object_array_add(rows, o);
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) {
        json_object_put(rows);
        return NULL;
    }
    return rows;
}

json_object *fcgi_db_dump_rows(sqlite3 *db, const char *select_sql)
{
    sqlite3_stmt *st = NULL;
    json_object *rows = json_object_new_array();
    if (!rows || sqlite3_prepare_v2(db, select_sql, -1, &st, NULL) != SQLITE_OK) {
        LOG_ERROR("dump: %s", sqlite3_errmsg(db));
        json_object_put(rows);
        return NULL;
    }
    int rc, ncols = sqlite3_column_count(st);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        json_object *row = json_object_new_array_ext(ncols);
        if (!row)
            break;
        for (int c = 0; c < ncols; c++)
            json_object_array_add(row, column_json(st, c));
        json_object_array_add(rows, row);
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        json_object_put(rows);
        return NULL;
    }
    return rows;
}

int fcgi_db_load_rows(sqlite3 *db, const char *insert_sql, json_object *rows, int ncols,
                      char *err, size_t errlen)
{
    sqlite3_stmt *st = NULL;
    if (!json_object_is_type(rows, json_type_array)) {
        snprintf(err, errlen, "snapshot rows are not an array");
        return -1;
    }
    if (sqlite3_prepare_v2(db, insert_sql, -1, &st, NULL) != SQLITE_OK) {
        snprintf(err, errlen, "%s", sqlite3_errmsg(db));
        return -1;
    }
    int rc = 0;
    size_t n = json_object_array_length(rows);
    for (size_t i = 0; i < n && rc == 0; i++) {
        json_object *row = json_object_array_get_idx(rows, i);
        if (!json_object_is_type(row, json_type_array) ||
            json_object_array_length(row) != (size_t)ncols) {
            snprintf(err, errlen, "snapshot row %zu has the wrong shape", i);
            rc = -1;
            break;
        }
        sqlite3_reset(st);
        for (int c = 0; c < ncols && rc == 0; c++) {
            json_object *v = json_object_array_get_idx(row, (size_t)c);
            int b = !v ? sqlite3_bind_null(st, c + 1)
                    : json_object_is_type(v, json_type_int)
                        ? sqlite3_bind_int64(st, c + 1, json_object_get_int64(v))
                        : sqlite3_bind_text(st, c + 1, json_object_get_string(v), -1,
                                            SQLITE_TRANSIENT);
            if (b != SQLITE_OK)
                rc = -1;
        }
        if (rc == 0 && sqlite3_step(st) != SQLITE_DONE)
            rc = -1;
        if (rc != 0 && !err[0])
            snprintf(err, errlen, "snapshot row %zu: %s", i, sqlite3_errmsg(db));
    }
    sqlite3_finalize(st);
    return rc;
}
