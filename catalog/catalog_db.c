/* catalog_db.c - the catalog's state: books and purchase records in SQLite,
 * the replicated state machine that changes them, and JSON views of them.
 *
 * Entries (the "op" of a log entry), all decided by the primary:
 *   {"op":"decrement","id":2,"key":"k"}   quantity-1, records the purchase
 *   {"op":"restock","id":2,"count":25}    quantity+count
 *   {"op":"price","id":1,"cents":3950}    sets the price
 *   {"op":"add","id":7,"title":..,"topic":..,"cents":..,"quantity":..}
 *   {"op":"refuse","id":2,"key":"k","status":409,"reason":..}
 *                                         records a purchase's refusal
 * Applying one touches nothing but these tables (and the index of the
 * titles, schema.sql) and the entry, so every replica that applies the same
 * log reaches the same state. */
#include "catalog_db.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fcgi_db.h"
#include "fcgi_json.h"
#include "fcgi_log.h"
#include "fcgi_page.h"

static sqlite3 *db;
static _Thread_local sqlite3_stmt *st_book, *st_purchase, *st_next, *st_search, *st_all, *st_dec, *st_rec,
    *st_restock, *st_price, *st_add, *st_hash_books, *st_hash_purchases, *st_key_get, *st_key_put,
    *st_hash_keys, *st_purchases_after, *st_book_set, *st_refusal_get, *st_refusal_put,
    *st_hash_refusals;

#define BOOK_COLS CATALOG_BOOK_COLS
#define REFUSAL_COLS "key, book_id, status, reason, pos"

void catalog_db_init(sqlite3 *handle)
{
    db = handle;
}

sqlite3 *catalog_db_handle(void)
{
    return db;
}

static void read_book(sqlite3_stmt *st, catalog_book *b)
{
    b->id = sqlite3_column_int64(st, 0);
    snprintf(b->title, sizeof b->title, "%s", (const char *)sqlite3_column_text(st, 1));
    snprintf(b->topic, sizeof b->topic, "%s", (const char *)sqlite3_column_text(st, 2));
    b->price_cents = sqlite3_column_int64(st, 3);
    b->quantity = sqlite3_column_int64(st, 4);
    b->version = sqlite3_column_int64(st, 5);
}

int catalog_db_book(int64_t id, catalog_book *out)
{
    sqlite3_stmt *st = fcgi_db_stmt(db, &st_book, "SELECT " BOOK_COLS " FROM books WHERE id = ?");
    if (!st || sqlite3_bind_int64(st, 1, id) != SQLITE_OK)
        return -1;
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        read_book(st, out);
    sqlite3_reset(st);
    return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

int catalog_db_purchase(const char *key, catalog_purchase *out)
{
    sqlite3_stmt *st = fcgi_db_stmt(
        db, &st_purchase, "SELECT book_id, title, price_cents, pos FROM purchases WHERE key = ?");
    if (!st || sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC) != SQLITE_OK)
        return -1;
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        out->book_id = sqlite3_column_int64(st, 0);
        snprintf(out->title, sizeof out->title, "%s", (const char *)sqlite3_column_text(st, 1));
        out->price_cents = sqlite3_column_int64(st, 2);
        out->pos = sqlite3_column_int64(st, 3);
    }
    sqlite3_reset(st);
    return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

int catalog_db_write_key(const char *key, int64_t *book_id)
{
    sqlite3_stmt *st = fcgi_db_stmt(db, &st_key_get, "SELECT book_id FROM write_keys WHERE key = ?");
    if (!st || sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC) != SQLITE_OK)
        return -1;
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        *book_id = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

int catalog_db_refusal(const char *key, catalog_refusal *out)
{
    sqlite3_stmt *st = fcgi_db_stmt(db, &st_refusal_get,
                                    "SELECT book_id, status, reason FROM refusals WHERE key = ?");
    if (!st || sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC) != SQLITE_OK)
        return -1;
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        out->book_id = sqlite3_column_int64(st, 0);
        out->status = sqlite3_column_int(st, 1);
        snprintf(out->reason, sizeof out->reason, "%s", (const char *)sqlite3_column_text(st, 2));
    }
    sqlite3_reset(st);
    return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

/* Applies {"op":"refuse"}: records the refusal, changes no book. */
static int record_refusal(sqlite3 *handle, json_object *op, int64_t id, int64_t pos)
{
    const char *key = fcgi_json_str(op, "key"), *reason = fcgi_json_str(op, "reason");
    int64_t status = fcgi_json_int(op, "status", -1);
    if (!key || !reason || status < 400 || status > 499)
        return -1;
    sqlite3_stmt *st = fcgi_db_stmt(handle, &st_refusal_put,
                                    "INSERT INTO refusals (" REFUSAL_COLS ") VALUES (?, ?, ?, ?, ?)");
    if (!st || sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_bind_int64(st, 2, id) != SQLITE_OK || sqlite3_bind_int64(st, 3, status) != SQLITE_OK ||
        sqlite3_bind_text(st, 4, reason, -1, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_bind_int64(st, 5, pos) != SQLITE_OK)
        return -1;
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

/* Records the key of an admin write (when it has one). */
static int record_key(sqlite3 *handle, json_object *op, int64_t id, int64_t pos)
{
    json_object *k;
    if (!json_object_object_get_ex(op, "key", &k))
        return 0;
    sqlite3_stmt *st = fcgi_db_stmt(handle, &st_key_put,
                                    "INSERT INTO write_keys (key, book_id, pos) VALUES (?, ?, ?)");
    if (!st || !json_object_is_type(k, json_type_string) ||
        sqlite3_bind_text(st, 1, json_object_get_string(k), -1, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_bind_int64(st, 2, id) != SQLITE_OK || sqlite3_bind_int64(st, 3, pos) != SQLITE_OK)
        return -1;
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

int64_t catalog_db_next_id(void)
{
    sqlite3_stmt *st = fcgi_db_stmt(db, &st_next, "SELECT COALESCE(MAX(id), -1) + 1 FROM books");
    if (!st || sqlite3_step(st) != SQLITE_ROW)
        return -1;
    int64_t id = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    return id;
}

json_object *catalog_price_json(int64_t cents)
{
    char s[32];
    fcgi_cents_format(cents, s, sizeof s);
    return json_object_new_double_s((double)cents / 100.0, s);
}

json_object *catalog_book_json(const catalog_book *b)
{
    json_object *o = json_object_new_object();
    if (!o)
        return NULL;
    json_object_object_add(o, "id", json_object_new_int64(b->id));
    json_object_object_add(o, "title", json_object_new_string(b->title));
    json_object_object_add(o, "topic", json_object_new_string(b->topic));
    json_object_object_add(o, "price", catalog_price_json(b->price_cents));
    json_object_object_add(o, "quantity", json_object_new_int64(b->quantity));
    json_object_object_add(o, "version", json_object_new_int64(b->version));
    return o;
}

json_object *catalog_db_search_json(const char *topic)
{
    sqlite3_stmt *st =
        fcgi_db_stmt(db, &st_search, "SELECT id, title FROM books WHERE topic = ? ORDER BY id");
    if (!st || sqlite3_bind_text(st, 1, topic, -1, SQLITE_STATIC) != SQLITE_OK)
        return NULL;
    return fcgi_db_objects(st);
}

json_object *catalog_db_purchases_json(int64_t after, int64_t upto, int64_t limit)
{
    sqlite3_stmt *st = fcgi_db_stmt(db, &st_purchases_after,
                                    "SELECT key, book_id, title, price_cents, pos FROM purchases "
                                    "WHERE pos > ? AND pos <= ? ORDER BY pos LIMIT ?");
    if (!st || sqlite3_bind_int64(st, 1, after) != SQLITE_OK ||
        sqlite3_bind_int64(st, 2, upto) != SQLITE_OK ||
        sqlite3_bind_int64(st, 3, limit) != SQLITE_OK)
        return NULL;
    return fcgi_db_objects(st);
}

int catalog_db_append_book(json_object *arr, sqlite3_stmt *st)
{
    catalog_book b;
    read_book(st, &b);
    json_object *o = catalog_book_json(&b);
    if (!o || json_object_array_add(arr, o) != 0) {
        json_object_put(o);
        return -1;
    }
    return 0;
}

json_object *catalog_db_books_array(sqlite3_stmt *st)
{
    json_object *arr = json_object_new_array();
    int rc = arr ? SQLITE_ROW : SQLITE_NOMEM;
    while (rc == SQLITE_ROW && (rc = sqlite3_step(st)) == SQLITE_ROW)
        if (catalog_db_append_book(arr, st) != 0)
            rc = SQLITE_NOMEM;
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) {
        json_object_put(arr);
        return NULL;
    }
    return arr;
}

json_object *catalog_db_all_json(void)
{
    sqlite3_stmt *st = fcgi_db_stmt(db, &st_all, "SELECT " BOOK_COLS " FROM books ORDER BY id");
    return st ? catalog_db_books_array(st) : NULL;
}

/* Inserts one book; used by the seed and by the "add" entry. */
static int insert_book(sqlite3 *handle, int64_t id, const char *title, const char *topic, int64_t cents,
                       int64_t qty, int64_t version)
{
    sqlite3_stmt *st = fcgi_db_stmt(
        handle, &st_add,
        "INSERT INTO books (id, title, topic, price_cents, quantity, version) "
        "VALUES (?, ?, ?, ?, ?, ?)");
    if (!st || sqlite3_bind_int64(st, 1, id) != SQLITE_OK ||
        sqlite3_bind_text(st, 2, title, -1, SQLITE_TRANSIENT) != SQLITE_OK ||
        sqlite3_bind_text(st, 3, topic, -1, SQLITE_TRANSIENT) != SQLITE_OK ||
        sqlite3_bind_int64(st, 4, cents) != SQLITE_OK ||
        sqlite3_bind_int64(st, 5, qty) != SQLITE_OK ||
        sqlite3_bind_int64(st, 6, version) != SQLITE_OK)
        return -1;
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

/* Parses "12.34" / "12" into cents; -1 when malformed. */
static int64_t parse_cents(const char *s)
{
    char *end;
    errno = 0;
    long long whole = strtoll(s, &end, 10);
    if (errno || end == s || whole < 0 || whole > CATALOG_PRICE_MAX / 100)
        return -1;
    int64_t cents = whole * 100;
    if (*end == '.') {
        const char *f = end + 1;
        if (f[0] < '0' || f[0] > '9')
            return -1;
        cents += (f[0] - '0') * 10;
        end = (char *)f + 1;
        if (*end >= '0' && *end <= '9')
            cents += *end++ - '0';
    }
    return *end ? -1 : cents;
}

/* Imports the seed file's books (the caller holds the write lock). 0, or -1
 * with "file:line: reason" in err. */
static int seed_rows(const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    char line[1024];
    int lineno = 0, rc = 0;
    while (rc == 0 && fgets(line, sizeof line, f)) {
        lineno++;
        line[strcspn(line, "\r\n")] = 0;
        if (line[0] == '#' || line[0] == 0)
            continue;
        char *field[5], *p = line;
        int nf = 0;
        for (char *t; nf < 5 && (t = strsep(&p, "\t")) != NULL;)
            field[nf++] = t;
        char *idend, *qend;
        long long id = nf == 5 ? strtoll(field[0], &idend, 10) : -1;
        long long qty = nf == 5 ? strtoll(field[4], &qend, 10) : -1;
        int64_t cents = nf == 5 ? parse_cents(field[3]) : -1;
        if (nf != 5 || p != NULL || id < 0 || *idend || qty < 0 || *qend || cents <= 0 ||
            !field[1][0] || !field[2][0]) {
            snprintf(err, errlen, "%s:%d: expected id<TAB>title<TAB>topic<TAB>price<TAB>quantity",
                     path, lineno);
            rc = -1;
        } else if (insert_book(db, id, field[1], field[2], cents, qty, 0) != 0) {
            snprintf(err, errlen, "%s:%d: %s", path, lineno, sqlite3_errmsg(db));
            rc = -1;
        }
    }
    fclose(f);
    return rc;
}

/* Whether there are books, and whether the title index has any: 0, or -1. */
static int start_state(int *have_books, int *have_index, char *err, size_t errlen)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db,
                                "SELECT EXISTS (SELECT 1 FROM books), "
                                "EXISTS (SELECT 1 FROM books_title_fts_docsize)",
                                -1, &st, NULL);
    if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        *have_books = sqlite3_column_int(st, 0);
        *have_index = sqlite3_column_int(st, 1);
    }
    if (rc != SQLITE_ROW)
        snprintf(err, errlen, "read the catalog: %s", sqlite3_errmsg(db));
    sqlite3_finalize(st);
    return rc == SQLITE_ROW ? 0 : -1;
}

/* Indexes every title anew (books_title_fts, schema.sql), and moves the
 * book-set generation on. 0, or -1 with why. */
static int rebuild_title_index(sqlite3 *handle, char *err, size_t errlen)
{
    return fcgi_db_exec(handle,
                        "INSERT INTO books_title_fts (books_title_fts) VALUES ('rebuild');"
                        "UPDATE book_set SET generation = generation + 1",
                        err, errlen);
}

int catalog_db_book_set(int64_t *gen)
{
    sqlite3_stmt *st = fcgi_db_stmt(db, &st_book_set, "SELECT generation FROM book_set");
    if (!st)
        return -1;
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        *gen = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    return rc == SQLITE_ROW ? 0 : -1;
}

/* How long a starting process waits for another one of its replica that
 * holds the write lock to import the seed or index the titles. */
#define START_LOCK_WAIT_S 120

/* BEGIN IMMEDIATE, waiting out such a process (each attempt waits the
 * busy timeout). 0, or -1 with why. */
static int begin_at_start(char *err, size_t errlen)
{
    time_t deadline = time(NULL) + START_LOCK_WAIT_S;
    while (fcgi_db_exec(db, "BEGIN IMMEDIATE", err, errlen) != 0)
        if (sqlite3_errcode(db) != SQLITE_BUSY || time(NULL) > deadline)
            return -1;
    return 0;
}

int catalog_db_seed(const char *path, char *err, size_t errlen)
{
    int books, indexed;
    if (start_state(&books, &indexed, err, errlen) != 0)
        return -1;
    if (books && indexed)
        return 0;
    /* A replica's processes start together: one imports and indexes, the
     * others find it done once they get the lock. */
    if (begin_at_start(err, errlen) != 0)
        return -1;
    int rc = start_state(&books, &indexed, err, errlen);
    if (rc == 0 && !books)
        rc = seed_rows(path, err, errlen);
    if (rc == 0 && (!books || !indexed))
        rc = rebuild_title_index(db, err, errlen);
    if (rc == 0)
        rc = fcgi_db_exec(db, "COMMIT", err, errlen);
    if (rc != 0) {
        char e2[64];
        fcgi_db_exec(db, "ROLLBACK", e2, sizeof e2);
    }
    return rc;
}

/* Indexes the title of a book just added (books_title_fts), and moves the
 * book-set generation on. 0, or -1. */
static int index_title(sqlite3 *handle, int64_t id, const char *title)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(handle, "INSERT INTO books_title_fts (rowid, title) VALUES (?, ?)",
                                -1, &st, NULL);
    if (rc == SQLITE_OK && sqlite3_bind_int64(st, 1, id) == SQLITE_OK &&
        sqlite3_bind_text(st, 2, title, -1, SQLITE_STATIC) == SQLITE_OK)
        rc = sqlite3_step(st);
    sqlite3_finalize(st);
    char err[128];
    return rc == SQLITE_DONE &&
                   fcgi_db_exec(handle, "UPDATE book_set SET generation = generation + 1", err,
                                sizeof err) == 0
               ? 0
               : -1;
}

int catalog_apply(void *ctx, sqlite3 *handle, int64_t pos, json_object *op, char *err,
                  size_t errlen)
{
    (void)ctx;
    const char *kind = fcgi_json_str(op, "op");
    int64_t id = fcgi_json_int(op, "id", -1);
    sqlite3_stmt *st;
    if (!kind || id < 0) {
        snprintf(err, errlen, "entry without op or id");
        return -1;
    }
    if (strcmp(kind, "decrement") == 0) {
        const char *key = fcgi_json_str(op, "key");
        st = fcgi_db_stmt(handle, &st_dec,
                          "UPDATE books SET quantity = quantity - 1, version = ? "
                          "WHERE id = ? AND quantity > 0");
        if (!key || !st || sqlite3_bind_int64(st, 1, pos) != SQLITE_OK ||
            sqlite3_bind_int64(st, 2, id) != SQLITE_OK || fcgi_db_step_one(handle, st) != 0)
            goto fail;
        st = fcgi_db_stmt(handle, &st_rec,
                          "INSERT INTO purchases (key, book_id, title, price_cents, pos) "
                          "SELECT ?, id, title, price_cents, ? FROM books WHERE id = ?");
        if (!st || sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC) != SQLITE_OK ||
            sqlite3_bind_int64(st, 2, pos) != SQLITE_OK ||
            sqlite3_bind_int64(st, 3, id) != SQLITE_OK || fcgi_db_step_one(handle, st) != 0)
            goto fail;
        return 0;
    }
    if (strcmp(kind, "restock") == 0) {
        int64_t count = fcgi_json_int(op, "count", -1);
        st = fcgi_db_stmt(handle, &st_restock,
                          "UPDATE books SET quantity = quantity + ?, version = ? WHERE id = ?");
        if (count < 1 || !st || sqlite3_bind_int64(st, 1, count) != SQLITE_OK ||
            sqlite3_bind_int64(st, 2, pos) != SQLITE_OK ||
            sqlite3_bind_int64(st, 3, id) != SQLITE_OK || fcgi_db_step_one(handle, st) != 0 ||
            record_key(handle, op, id, pos) != 0)
            goto fail;
        return 0;
    }
    if (strcmp(kind, "price") == 0) {
        int64_t cents = fcgi_json_int(op, "cents", -1);
        st = fcgi_db_stmt(handle, &st_price,
                          "UPDATE books SET price_cents = ?, version = ? WHERE id = ?");
        if (cents < 1 || !st || sqlite3_bind_int64(st, 1, cents) != SQLITE_OK ||
            sqlite3_bind_int64(st, 2, pos) != SQLITE_OK ||
            sqlite3_bind_int64(st, 3, id) != SQLITE_OK || fcgi_db_step_one(handle, st) != 0 ||
            record_key(handle, op, id, pos) != 0)
            goto fail;
        return 0;
    }
    if (strcmp(kind, "add") == 0) {
        const char *title = fcgi_json_str(op, "title"), *topic = fcgi_json_str(op, "topic");
        int64_t cents = fcgi_json_int(op, "cents", -1), qty = fcgi_json_int(op, "quantity", -1);
        if (!title || !topic || cents < 1 || qty < 0 ||
            insert_book(handle, id, title, topic, cents, qty, pos) != 0 ||
            index_title(handle, id, title) != 0 || record_key(handle, op, id, pos) != 0)
            goto fail;
        return 0;
    }
    if (strcmp(kind, "refuse") == 0) {
        if (!fcgi_json_str(op, "key") || !fcgi_json_str(op, "reason") ||
            fcgi_json_int(op, "status", -1) < 400 || fcgi_json_int(op, "status", -1) > 499) {
            snprintf(err, errlen, "refuse entry without key, reason or a 4xx status");
            return -1;
        }
        if (record_refusal(handle, op, id, pos) != 0)
            goto fail;
        return 0;
    }
    snprintf(err, errlen, "unknown op '%s'", kind);
    return -1;
fail:
    snprintf(err, errlen, "%s of book %" PRId64 " failed: %s", kind, id, sqlite3_errmsg(handle));
    return -1;
}

int catalog_hash(void *ctx, sqlite3 *handle, char *out, size_t outlen)
{
    (void)ctx;
    fcgi_hash h;
    fcgi_hash_init(&h);
    sqlite3_stmt *st = fcgi_db_stmt(
        handle, &st_hash_books, "SELECT id, title, topic, price_cents, quantity FROM books ORDER BY id");
    if (!st)
        return -1;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        fcgi_hash_i64(&h, sqlite3_column_int64(st, 0));
        fcgi_hash_text(&h, sqlite3_column_text(st, 1));
        fcgi_hash_text(&h, sqlite3_column_text(st, 2));
        fcgi_hash_i64(&h, sqlite3_column_int64(st, 3));
        fcgi_hash_i64(&h, sqlite3_column_int64(st, 4));
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE)
        return -1;
    st = fcgi_db_stmt(handle, &st_hash_purchases,
                      "SELECT key, book_id, price_cents FROM purchases ORDER BY key");
    if (!st)
        return -1;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        fcgi_hash_text(&h, sqlite3_column_text(st, 0));
        fcgi_hash_i64(&h, sqlite3_column_int64(st, 1));
        fcgi_hash_i64(&h, sqlite3_column_int64(st, 2));
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE)
        return -1;
    st = fcgi_db_stmt(handle, &st_hash_keys, "SELECT key, book_id FROM write_keys ORDER BY key");
    if (!st)
        return -1;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        fcgi_hash_text(&h, sqlite3_column_text(st, 0));
        fcgi_hash_i64(&h, sqlite3_column_int64(st, 1));
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE)
        return -1;
    /* Refusals last: a state without any hashes as it did before they were
     * recorded. */
    st = fcgi_db_stmt(handle, &st_hash_refusals,
                      "SELECT key, book_id, status, reason FROM refusals ORDER BY key");
    if (!st)
        return -1;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        fcgi_hash_text(&h, sqlite3_column_text(st, 0));
        fcgi_hash_i64(&h, sqlite3_column_int64(st, 1));
        fcgi_hash_i64(&h, sqlite3_column_int64(st, 2));
        fcgi_hash_text(&h, sqlite3_column_text(st, 3));
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE)
        return -1;
    fcgi_hash_hex(&h, out, outlen);
    return 0;
}

json_object *catalog_dump(void *ctx, sqlite3 *handle)
{
    (void)ctx;
    static const char *const names[] = {"books", "purchases", "write_keys", "refusals"};
    json_object *values[] = {
        fcgi_db_dump_rows(handle, "SELECT " BOOK_COLS " FROM books ORDER BY id"),
        fcgi_db_dump_rows(handle,
                          "SELECT key, book_id, title, price_cents, pos FROM purchases ORDER BY key"),
        fcgi_db_dump_rows(handle, "SELECT key, book_id, pos FROM write_keys ORDER BY key"),
        fcgi_db_dump_rows(handle, "SELECT " REFUSAL_COLS " FROM refusals ORDER BY key")};
    return fcgi_json_object_of(4, names, values);
}

int catalog_load(void *ctx, sqlite3 *handle, json_object *state, char *err, size_t errlen)
{
    (void)ctx;
    json_object *books, *purchases, *keys, *refusals = NULL;
    err[0] = 0;
    if (!json_object_object_get_ex(state, "books", &books) ||
        !json_object_object_get_ex(state, "purchases", &purchases) ||
        !json_object_object_get_ex(state, "write_keys", &keys)) {
        snprintf(err, errlen, "snapshot without books or purchases");
        return -1;
    }
    /* A snapshot made before refusals were recorded has none. */
    json_object_object_get_ex(state, "refusals", &refusals);
    if (fcgi_db_exec(handle,
                     "DELETE FROM refusals; DELETE FROM write_keys; DELETE FROM purchases; "
                     "DELETE FROM books",
                     err, errlen) != 0)
        return -1;
    return fcgi_db_load_rows(handle,
                             "INSERT INTO books (" BOOK_COLS ") VALUES (?, ?, ?, ?, ?, ?)", books,
                             6, err, errlen) ||
                   fcgi_db_load_rows(handle,
                                     "INSERT INTO purchases (key, book_id, title, price_cents, pos)"
                                     " VALUES (?, ?, ?, ?, ?)",
                                     purchases, 5, err, errlen) ||
                   fcgi_db_load_rows(handle,
                                     "INSERT INTO write_keys (key, book_id, pos) VALUES (?, ?, ?)",
                                     keys, 3, err, errlen) ||
                   (refusals &&
                    fcgi_db_load_rows(handle,
                                      "INSERT INTO refusals (" REFUSAL_COLS ") VALUES (?, ?, ?, ?, ?)",
                                      refusals, 5, err, errlen)) ||
                   rebuild_title_index(handle, err, errlen)
               ? -1
               : 0;
}
