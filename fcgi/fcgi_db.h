/* fcgi_db.h - SQLite set-up shared by every replica, and the state hash. */
#ifndef FCGI_DB_H
#define FCGI_DB_H

#include <stddef.h>
#include <stdint.h>
#include <sqlite3.h>

/* Opens (creating) the database at `path` in WAL mode with
 * synchronous=FULL (sync_full) or NORMAL, a busy timeout, and runs `schema`
 * (idempotent CREATE ... IF NOT EXISTS statements). Returns the handle or
 * NULL with the reason in err. Close with sqlite3_close_v2. */
sqlite3 *fcgi_db_open(const char *path, int sync_full, const char *schema, char *err,
                      size_t errlen);

/* Runs SQL without results. Returns 0 or -1 with sqlite's message in err. */
int fcgi_db_exec(sqlite3 *db, const char *sql, char *err, size_t errlen);

/* Prepares `sql` on `db` once and caches it in *slot; later calls reset
 * and clear the bindings of the cached statement, and one cached for
 * another connection is finalized and prepared again on `db`. A slot is
 * used by one thread at a time (the state machines keep theirs
 * _Thread_local, so the replication ticker's connection gets its own).
 * Returns the statement or NULL (the error is logged). */
sqlite3_stmt *fcgi_db_stmt(sqlite3 *db, sqlite3_stmt **slot, const char *sql);

/* Steps a prepared single-row INSERT/UPDATE, resets it, and checks that it
 * changed exactly one row. Returns 0 or -1. */
int fcgi_db_step_one(sqlite3 *db, sqlite3_stmt *st);

/* Steps a prepared, bound statement to its end and returns its rows as a
 * JSON array of objects named by the result columns ("SELECT id, title"
 * -> {"id":..,"title":..}; integers, text, null), or NULL on a database or
 * allocation error. Resets the statement. The caller owns the array. */
struct json_object *fcgi_db_objects(sqlite3_stmt *st);

/* Snapshots: the rows `select_sql` returns as a JSON array of arrays
 * (integers, text, null), or NULL on error. The caller owns it. */
struct json_object *fcgi_db_dump_rows(sqlite3 *db, const char *select_sql);

/* Inserts every row of such an array with `insert_sql` (ncols parameters,
 * bound by JSON type). Returns 0 or -1 with the reason in err. */
int fcgi_db_load_rows(sqlite3 *db, const char *insert_sql, struct json_object *rows, int ncols,
                      char *err, size_t errlen);

/* A 64-bit FNV-1a hash of a replica's logical state, fed row by row. */
typedef struct fcgi_hash {
    uint64_t h;
} fcgi_hash;

void fcgi_hash_init(fcgi_hash *h);
void fcgi_hash_bytes(fcgi_hash *h, const void *data, size_t len);
void fcgi_hash_i64(fcgi_hash *h, int64_t v);
void fcgi_hash_text(fcgi_hash *h, const unsigned char *s); /* NULL hashes as empty */
/* Writes 16 lowercase hex digits and a NUL into out (>= 17 bytes). */
void fcgi_hash_hex(const fcgi_hash *h, char *out, size_t outlen);

/* Formats integer cents as "12.30" into out. */
void fcgi_cents_format(int64_t cents, char *out, size_t outlen);

/* The current UTC time as "2026-11-21T19:36:41.123Z". */
void fcgi_utc_now(char *out, size_t outlen);

#endif
