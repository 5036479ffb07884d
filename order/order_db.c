/* order_db.c - the order service's state: orders in SQLite, the replicated
 * state machine that changes them, and their JSON view.
 *
 * Entries, all decided by the primary:
 *   {"op":"open","order_id":7,"book_id":2,"key":"k","created_at":"..."}
 *   {"op":"close","order_id":7,"title":"...","cents":5000}
 *   {"op":"fail","order_id":7,"status":409}                               */
#include "order_db.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "fcgi_db.h"
#include "fcgi_json.h"
#include "fcgi_log.h"

static sqlite3 *db;
static sqlite3_stmt *st_by_id, *st_by_key, *st_stale, *st_next, *st_open, *st_close, *st_fail,
    *st_hash;

#define ORDER_COLS "order_id, book_id, key, status, title, price_cents, fail_status, created_at"

void order_db_init(sqlite3 *handle)
{
    db = handle;
}

static void read_row(sqlite3_stmt *st, order_row *o)
{
    const char *status = (const char *)sqlite3_column_text(st, 3);
    o->order_id = sqlite3_column_int64(st, 0);
    o->book_id = sqlite3_column_int64(st, 1);
    snprintf(o->key, sizeof o->key, "%s", (const char *)sqlite3_column_text(st, 2));
    o->status = strcmp(status, "done") == 0     ? ORDER_DONE
                : strcmp(status, "failed") == 0 ? ORDER_FAILED
                                                : ORDER_PENDING;
    const unsigned char *title = sqlite3_column_text(st, 4);
    snprintf(o->title, sizeof o->title, "%s", title ? (const char *)title : "");
    o->price_cents = sqlite3_column_int64(st, 5);
    o->fail_status = sqlite3_column_int64(st, 6);
    snprintf(o->created_at, sizeof o->created_at, "%s", (const char *)sqlite3_column_text(st, 7));
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

int order_db_stale_pending(const char *before, order_row *out)
{
    sqlite3_stmt *st = fcgi_db_stmt(db, &st_stale,
                                    "SELECT " ORDER_COLS " FROM orders WHERE status = 'pending' "
                                    "AND created_at < ? ORDER BY created_at LIMIT 1");
    if (!st || sqlite3_bind_text(st, 1, before, -1, SQLITE_STATIC) != SQLITE_OK)
        return -1;
    return one_row(st, out);
}

int64_t order_db_next_id(void)
{
    sqlite3_stmt *st = fcgi_db_stmt(db, &st_next, "SELECT COALESCE(MAX(order_id), 0) + 1 FROM orders");
    if (!st || sqlite3_step(st) != SQLITE_ROW)
        return -1;
    int64_t id = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    return id;
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


int order_apply(void *ctx, sqlite3 *handle, int64_t pos, json_object *op, char *err, size_t errlen)
{
    (void)ctx;
    (void)handle;
    (void)pos;
    const char *kind = fcgi_json_str(op, "op");
    int64_t id = fcgi_json_int(op, "order_id", -1);
    sqlite3_stmt *st;
    if (!kind || id < 1) {
        snprintf(err, errlen, "entry without op or order_id");
        return -1;
    }
    if (strcmp(kind, "open") == 0) {
        const char *key = fcgi_json_str(op, "key"), *at = fcgi_json_str(op, "created_at");
        int64_t book = fcgi_json_int(op, "book_id", -1);
        st = fcgi_db_stmt(db, &st_open,
                          "INSERT INTO orders (order_id, book_id, key, status, created_at) "
                          "VALUES (?, ?, ?, 'pending', ?)");
        if (!key || !at || book < 0 || !st || sqlite3_bind_int64(st, 1, id) != SQLITE_OK ||
            sqlite3_bind_int64(st, 2, book) != SQLITE_OK ||
            sqlite3_bind_text(st, 3, key, -1, SQLITE_STATIC) != SQLITE_OK ||
            sqlite3_bind_text(st, 4, at, -1, SQLITE_STATIC) != SQLITE_OK || fcgi_db_step_one(db, st) != 0)
            goto fail;
        return 0;
    }
    if (strcmp(kind, "close") == 0) {
        const char *title = fcgi_json_str(op, "title");
        int64_t cents = fcgi_json_int(op, "cents", -1);
        st = fcgi_db_stmt(db, &st_close,
                          "UPDATE orders SET status = 'done', title = ?, price_cents = ? "
                          "WHERE order_id = ? AND status = 'pending'");
        if (!title || cents < 0 || !st ||
            sqlite3_bind_text(st, 1, title, -1, SQLITE_STATIC) != SQLITE_OK ||
            sqlite3_bind_int64(st, 2, cents) != SQLITE_OK ||
            sqlite3_bind_int64(st, 3, id) != SQLITE_OK || fcgi_db_step_one(db, st) != 0)
            goto fail;
        return 0;
    }
    if (strcmp(kind, "fail") == 0) {
        int64_t status = fcgi_json_int(op, "status", -1);
        st = fcgi_db_stmt(db, &st_fail,
                          "UPDATE orders SET status = 'failed', fail_status = ? "
                          "WHERE order_id = ? AND status = 'pending'");
        if (status < 400 || !st || sqlite3_bind_int64(st, 1, status) != SQLITE_OK ||
            sqlite3_bind_int64(st, 2, id) != SQLITE_OK || fcgi_db_step_one(db, st) != 0)
            goto fail;
        return 0;
    }
    snprintf(err, errlen, "unknown op '%s'", kind);
    return -1;
fail:
    snprintf(err, errlen, "%s of order %" PRId64 " failed: %s", kind, id, sqlite3_errmsg(db));
    return -1;
}

int order_hash(void *ctx, sqlite3 *handle, char *out, size_t outlen)
{
    (void)ctx;
    (void)handle;
    fcgi_hash h;
    fcgi_hash_init(&h);
    sqlite3_stmt *st = fcgi_db_stmt(db, &st_hash, "SELECT " ORDER_COLS " FROM orders ORDER BY order_id");
    if (!st)
        return -1;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        fcgi_hash_i64(&h, sqlite3_column_int64(st, 0));
        fcgi_hash_i64(&h, sqlite3_column_int64(st, 1));
        fcgi_hash_text(&h, sqlite3_column_text(st, 2));
        fcgi_hash_text(&h, sqlite3_column_text(st, 3));
        fcgi_hash_text(&h, sqlite3_column_text(st, 4));
        fcgi_hash_i64(&h, sqlite3_column_int64(st, 5));
        fcgi_hash_i64(&h, sqlite3_column_int64(st, 6));
        fcgi_hash_text(&h, sqlite3_column_text(st, 7));
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
    json_object *o = json_object_new_object();
    json_object *rows = fcgi_db_dump_rows(handle, "SELECT " ORDER_COLS " FROM orders ORDER BY order_id");
    if (!o || !rows) {
        json_object_put(o);
        json_object_put(rows);
        return NULL;
    }
    json_object_object_add(o, "orders", rows);
    return o;
}

int order_load(void *ctx, sqlite3 *handle, json_object *state, char *err, size_t errlen)
{
    (void)ctx;
    json_object *rows;
    err[0] = 0;
    if (!json_object_object_get_ex(state, "orders", &rows)) {
        snprintf(err, errlen, "snapshot without orders");
        return -1;
    }
    if (fcgi_db_exec(handle, "DELETE FROM orders", err, errlen) != 0)
        return -1;
    return fcgi_db_load_rows(handle, "INSERT INTO orders (" ORDER_COLS ") VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                             rows, 8, err, errlen);
}
