/* order_db.h - the order service's state: orders in SQLite, the replicated
 * state machine that changes them, and their JSON view. */
#ifndef ORDER_DB_H
#define ORDER_DB_H

#include <stddef.h>
#include <stdint.h>
#include <json-c/json.h>
#include <sqlite3.h>

extern const char order_schema_sql[]; /* order/schema.sql, compiled in */

typedef struct order_row {
    int64_t order_id, book_id, price_cents;
    char key[129];
    char title[256];
    char created_at[40];
} order_row;

/* Binds the module to the replica's connection, first migrating a database
 * written by an older Bazar (orders with a status; see order_db.c).
 * Returns 0, or -1 with a reason in err. */
int order_db_init(sqlite3 *db, char *err, size_t errlen);

/* Point reads. Return 1 found, 0 not found, -1 database error. */
int order_db_by_id(int64_t order_id, order_row *out);
int order_db_by_key(const char *key, order_row *out);

/* The next order id (max + 1, from 1), or -1 on error. */
int64_t order_db_next_id(void);

/* The catalog log position the sweep has checked up to, or -1 on error. */
int64_t order_db_swept(void);

/* {"order_id","book_id","title","price","created_at"}; NULL on failure. */
json_object *order_json(const order_row *o);

/* The replicated state machine (repl_machine callbacks; ctx unused). */
int order_apply(void *ctx, sqlite3 *db, int64_t pos, json_object *op, char *err, size_t errlen);
int order_hash(void *ctx, sqlite3 *db, char *out, size_t outlen);
json_object *order_dump(void *ctx, sqlite3 *db);
int order_load(void *ctx, sqlite3 *db, json_object *state, char *err, size_t errlen);

#endif
