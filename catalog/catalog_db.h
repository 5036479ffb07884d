/* catalog_db.h - the catalog's state: books and purchase records in SQLite,
 * the replicated state machine that changes them, and JSON views of them. */
#ifndef CATALOG_DB_H
#define CATALOG_DB_H

#include <stdint.h>
#include <json-c/json.h>
#include <sqlite3.h>

extern const char catalog_schema_sql[]; /* catalog/schema.sql, compiled in */

#define CATALOG_TEXT_MAX 200  /* bytes of a title or a topic */
#define CATALOG_PRICE_MAX 100000000LL /* cents: 1,000,000.00 */
#define CATALOG_QTY_MAX 1000000000LL

typedef struct catalog_book {
    int64_t id, price_cents, quantity, version;
    char title[CATALOG_TEXT_MAX + 1], topic[CATALOG_TEXT_MAX + 1];
} catalog_book;

typedef struct catalog_purchase {
    int64_t book_id, price_cents, pos;
    char title[CATALOG_TEXT_MAX + 1];
} catalog_purchase;

/* A purchase's refusal, recorded so that a repeat of its key gets it again
 * (schema.sql, table refusals). */
typedef struct catalog_refusal {
    int64_t book_id;
    int status;
    char reason[256];
} catalog_refusal;

/* Binds the module to the replica's connection (prepared statements are
 * cached on it); catalog_db_handle returns it (catalog_pages.c reads
 * through it). */
void catalog_db_init(sqlite3 *db);
sqlite3 *catalog_db_handle(void);

/* The columns of a book row, in catalog_book's order. */
#define CATALOG_BOOK_COLS "id, title, topic, price_cents, quantity, version"
/* Appends the book of a CATALOG_BOOK_COLS row to arr: 0, or -1. */
int catalog_db_append_book(json_object *arr, sqlite3_stmt *st);
/* Steps a bound statement over CATALOG_BOOK_COLS rows to its end: the
 * books as a JSON array, or NULL on a database or allocation error. Resets
 * it. */
json_object *catalog_db_books_array(sqlite3_stmt *st);

/* The generation of the set of books and their titles: it changes in the
 * same transaction as every change to them (an added book, a snapshot
 * installed, the seed imported), and with nothing else. 0 with *gen, or
 * -1. */
int catalog_db_book_set(int64_t *gen);

/* Loads the seed file (tab-separated id, title, topic, price, quantity;
 * '#' lines are comments) when the books table is empty, and indexes the
 * titles when they are not (a data file made before the title index).
 * Waits for another process of the replica doing the same. Returns 0 or -1
 * with "file:line: reason" in err. */
int catalog_db_seed(const char *path, char *err, size_t errlen);

/* Point reads. Return 1 found, 0 not found, -1 database error. */
int catalog_db_book(int64_t id, catalog_book *out);
int catalog_db_purchase(const char *key, catalog_purchase *out);

/* The book an admin write with this idempotency key changed: 1 found (with
 * *book_id set), 0 not found, -1 database error. */
int catalog_db_write_key(const char *key, int64_t *book_id);

/* The refusal recorded for a purchase's key: 1 found (with *out set), 0 not
 * found, -1 database error. */
int catalog_db_refusal(const char *key, catalog_refusal *out);

/* The next free book id (max + 1), or -1 on error. */
int64_t catalog_db_next_id(void);

/* JSON views; NULL on a database or allocation error. The caller owns them. */
json_object *catalog_book_json(const catalog_book *b);
json_object *catalog_db_search_json(const char *topic);
json_object *catalog_db_all_json(void);
/* Purchase records with after < pos <= upto in log order, at most limit:
 * [{"key","book_id","title","price_cents","pos"}]. */
json_object *catalog_db_purchases_json(int64_t after, int64_t upto, int64_t limit);

/* The replicated state machine (repl_machine callbacks; ctx unused). */
int catalog_apply(void *ctx, sqlite3 *db, int64_t pos, json_object *op, char *err, size_t errlen);
int catalog_hash(void *ctx, sqlite3 *db, char *out, size_t outlen);
json_object *catalog_dump(void *ctx, sqlite3 *db);
int catalog_load(void *ctx, sqlite3 *db, json_object *state, char *err, size_t errlen);

/* A price as a JSON number that prints with exactly two decimals. */
json_object *catalog_price_json(int64_t cents);

#endif
