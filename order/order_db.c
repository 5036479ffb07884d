/* order_db.c - the order service's state: orders in SQLite, the replicated
 * state machine that changes them, and their JSON view.
 *
 * Entries, all decided by the primary:
 *   {"op":"order","order_id":7,"book_id":2,"key":"k","title":"...","cents":5000,
 *    "created_at":"..."}            one purchase, recorded after its copy was taken
 *   {"op":"swept","catalog_pos":81}  the sweep checked the catalog's records up to 81 */
#include "order_db.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "fcgi_db.h"
#include "fcgi_json.h"
#include "fcgi_log.h"

static sqlite3 *db;
static _Thread_local sqlite3_stmt *st_by_id, *st_by_key, *st_next, *st_insert, *st_swept, *st_sweep_set,
    *st_hash;

#define ORDER_COLS "order_id, book_id, key, title, price_cents, created_at"

/* A database written before purchases became two writes has orders with a
 * status (pending, done, failed) and "open"/"close"/"fail" entries in its
 * log. Migrated in place, the same way at every replica: done orders are
 * kept; failed ones were never shown; a pending order whose copy the
 * catalog took is an orphan purchase record, which the sweep records (its
 * position starts at 0); one whose copy was never taken was never
 * acknowledged. The old entries cannot be replayed by this version, so the
 * log is emptied: a replica that still needs them installs a snapshot. */
static int migrate_v1(char *err, size_t errlen)
{
    sqlite3_stmt *st = NULL;
    int old = sqlite3_prepare_v2(db, "SELECT status FROM orders", -1, &st, NULL) == SQLITE_OK;
    sqlite3_finalize(st);
    if (!old)
        return 0;
    if (fcgi_db_exec(db, "ALTER TABLE orders RENAME TO orders_v1", err, errlen) != 0 ||
        fcgi_db_exec(db, order_schema_sql, err, errlen) != 0 ||
        fcgi_db_exec(db,
                     "INSERT INTO orders (" ORDER_COLS ") SELECT " ORDER_COLS
                     " FROM orders_v1 WHERE status = 'done';"
                     "DROP TABLE orders_v1; DELETE FROM repl_log;",
                     err, errlen) != 0)
        return -1;
    LOG_WARN("order database of the old format migrated: done orders kept, log emptied");
    return 0;
}

int order_db_init(sqlite3 *handle, char *err, size_t errlen)
{
    db = handle;
    /* Every process of the replica starts at once: one migrates, under the
     * write lock, and the others find nothing left to do. */
    if (fcgi_db_exec(db, "BEGIN IMMEDIATE", err, errlen) != 0)
        return -1;
    if (migrate_v1(err, errlen) != 0) {
        char ignore[64];
        fcgi_db_exec(db, "ROLLBACK", ignore, sizeof ignore);
        return -1;
    }
    return fcgi_db_exec(db, "COMMIT", err, errlen);
}

static void read_row(sqlite3_stmt *st, order_row *o)
{
    o->order_id = sqlite3_column_int64(st, 0);
    o->book_id = sqlite3_column_int64(st, 1);
    snprintf(o->key, sizeof o->key, "%s", (const char *)sqlite3_column_text(st, 2));
    snprintf(o->title, sizeof o->title, "%s", (const char *)sqlite3_column_text(st, 3));
    o->price_cents = sqlite3_column_int64(st, 4);
    snprintf(o->created_at, sizeof o->created_at, "%s", (const char *)sqlite3_column_text(st, 5));
}

static int one_row(sqlite3_stmt *st, order_row *out)
{
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        read_row(st, out);
    sqlite3_reset(st);
    return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

int order_db_by_id(int64_t order_id, order_row *out)
{
    sqlite3_stmt *st =
        fcgi_db_stmt(db, &st_by_id, "SELECT " ORDER_COLS " FROM orders WHERE order_id = ?");
    if (!st || sqlite3_bind_int64(st, 1, order_id) != SQLITE_OK)
        return -1;
    return one_row(st, out);
}

int order_db_by_key(const char *key, order_row *out)
{
    sqlite3_stmt *st = fcgi_db_stmt(db, &st_by_key, "SELECT " ORDER_COLS " FROM orders WHERE key = ?");
    if (!st || sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC) != SQLITE_OK)
        return -1;
    return one_row(st, out);
}

/* The single integer `sql` selects (NULL counts as 0), or -1. */
static int64_t one_int(sqlite3_stmt **cache, const char *sql)
{
    sqlite3_stmt *st = fcgi_db_stmt(db, cache, sql);
    if (!st)
        return -1;
    int64_t v = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
    sqlite3_reset(st);
    return v;
}

int64_t order_db_next_id(void)
{
    return one_int(&st_next, "SELECT COALESCE(MAX(order_id), 0) + 1 FROM orders");
}

int64_t order_db_swept(void)
{
    return one_int(&st_swept, "SELECT catalog_pos FROM sweep WHERE id = 1");
}

json_object *order_json(const order_row *o)
{
    char price[32];
    json_object *j = json_object_new_object();
    if (!j)
        return NULL;
    fcgi_cents_format(o->price_cents, price, sizeof price);
    json_object_object_add(j, "order_id", json_object_new_int64(o->order_id));
    json_object_object_add(j, "book_id", json_object_new_int64(o->book_id));
    json_object_object_add(j, "title", json_object_new_string(o->title));
    json_object_object_add(j, "price", json_object_new_double_s((double)o->price_cents / 100, price));
    json_object_object_add(j, "created_at", json_object_new_string(o->created_at));
    return j;
}

static int apply_order(sqlite3 *handle, json_object *op, int64_t id, char *err, size_t errlen)
{
    const char *key = fcgi_json_str(op, "key"), *at = fcgi_json_str(op, "created_at"),
               *title = fcgi_json_str(op, "title");
    int64_t book = fcgi_json_int(op, "book_id", -1), cents = fcgi_json_int(op, "cents", -1);
    sqlite3_stmt *st = fcgi_db_stmt(handle, &st_insert,
                                    "INSERT INTO orders (" ORDER_COLS ") VALUES (?, ?, ?, ?, ?, ?)");
    if (id < 1 || book < 0 || cents < 0 || !key || !at || !title) {
        snprintf(err, errlen, "order entry without order_id, book_id, key, title, cents or created_at");
        return -1;
    }
    if (!st || sqlite3_bind_int64(st, 1, id) != SQLITE_OK ||
        sqlite3_bind_int64(st, 2, book) != SQLITE_OK ||
        sqlite3_bind_text(st, 3, key, -1, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_bind_text(st, 4, title, -1, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_bind_int64(st, 5, cents) != SQLITE_OK ||
        sqlite3_bind_text(st, 6, at, -1, SQLITE_STATIC) != SQLITE_OK || fcgi_db_step_one(handle, st) != 0) {
        snprintf(err, errlen, "order %" PRId64 " failed: %s", id, sqlite3_errmsg(handle));
        return -1;
    }
    return 0;
}

static int apply_swept(sqlite3 *handle, int64_t pos, char *err, size_t errlen)
{
    sqlite3_stmt *st = fcgi_db_stmt(
        handle, &st_sweep_set, "UPDATE sweep SET catalog_pos = MAX(catalog_pos, ?) WHERE id = 1");
    if (pos < 0 || !st || sqlite3_bind_int64(st, 1, pos) != SQLITE_OK ||
        fcgi_db_step_one(handle, st) != 0) {
        snprintf(err, errlen, "swept entry without a valid catalog_pos: %s", sqlite3_errmsg(handle));
        return -1;
    }
    return 0;
}

int order_apply(void *ctx, sqlite3 *handle, int64_t pos, json_object *op, char *err, size_t errlen)
{
    (void)ctx;
    (void)pos;
    const char *kind = fcgi_json_str(op, "op");
    if (kind && strcmp(kind, "order") == 0)
        return apply_order(handle, op, fcgi_json_int(op, "order_id", -1), err, errlen);
    if (kind && strcmp(kind, "swept") == 0)
        return apply_swept(handle, fcgi_json_int(op, "catalog_pos", -1), err, errlen);
    snprintf(err, errlen, "unknown op '%s'", kind ? kind : "(none)");
    return -1;
}

/* The sweep position read on `handle` (snapshots may run on the ticker
 * thread's own connection), or -1. */
static int64_t swept_on(sqlite3 *handle)
{
    sqlite3_stmt *st = NULL;
    int64_t v = -1;
    if (sqlite3_prepare_v2(handle, "SELECT catalog_pos FROM sweep WHERE id = 1", -1, &st, NULL) ==
            SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

int order_hash(void *ctx, sqlite3 *handle, char *out, size_t outlen)
{
    (void)ctx;
    fcgi_hash h;
    fcgi_hash_init(&h);
    int64_t swept = swept_on(handle);
    sqlite3_stmt *st = fcgi_db_stmt(handle, &st_hash, "SELECT " ORDER_COLS " FROM orders ORDER BY order_id");
    if (swept < 0 || !st)
        return -1;
    fcgi_hash_i64(&h, swept);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        fcgi_hash_i64(&h, sqlite3_column_int64(st, 0));
        fcgi_hash_i64(&h, sqlite3_column_int64(st, 1));
        fcgi_hash_text(&h, sqlite3_column_text(st, 2));
        fcgi_hash_text(&h, sqlite3_column_text(st, 3));
        fcgi_hash_i64(&h, sqlite3_column_int64(st, 4));
        fcgi_hash_text(&h, sqlite3_column_text(st, 5));
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE)
        return -1;
    fcgi_hash_hex(&h, out, outlen);
    return 0;
}

json_object *order_dump(void *ctx, sqlite3 *handle)
{
    (void)ctx;
    int64_t swept = swept_on(handle);
    json_object *o = json_object_new_object();
    json_object *rows = fcgi_db_dump_rows(handle, "SELECT " ORDER_COLS " FROM orders ORDER BY order_id");
    if (swept < 0 || !o || !rows) {
        json_object_put(o);
        json_object_put(rows);
        return NULL;
    }
    json_object_object_add(o, "orders", rows);
    json_object_object_add(o, "swept", json_object_new_int64(swept));
    return o;
}

int order_load(void *ctx, sqlite3 *handle, json_object *state, char *err, size_t errlen)
{
    (void)ctx;
    json_object *rows;
    err[0] = 0;
    int64_t swept = fcgi_json_int(state, "swept", -1);
    if (!json_object_object_get_ex(state, "orders", &rows) || swept < 0) {
        snprintf(err, errlen, "snapshot without orders or swept");
        return -1;
    }
    char sql[96];
    snprintf(sql, sizeof sql, "DELETE FROM orders; UPDATE sweep SET catalog_pos = %" PRId64, swept);
    if (fcgi_db_exec(handle, sql, err, errlen) != 0)
        return -1;
    return fcgi_db_load_rows(handle, "INSERT INTO orders (" ORDER_COLS ") VALUES (?, ?, ?, ?, ?, ?)",
                             rows, 6, err, errlen);
}
