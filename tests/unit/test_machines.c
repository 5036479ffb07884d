/* test_machines.c - unit tests of the two replicated state machines'
 * callbacks: each works on the SQLite connection it is given (the
 * replication ticker applies and hashes on a connection of its own), not
 * on the one the module was set up with. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../catalog/catalog_db.h"
#include "../../catalog/catalog_pages.h"
#include "../../fcgi/fcgi_db.h"
#include "../../fcgi/fcgi_page.h"
#include "../../order/order_db.h"

static char dir[] = "/tmp/bazar-test-machines-XXXXXX";
static char path[sizeof dir + 16];

static int setup(void **state)
{
    (void)state;
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char p[sizeof path + 8];
    static const char *const name[] = {"catalog.db", "order.db", "old.db", "pages.db",
                                       "refusals.db", "locked.db"},
                             *const ext[] = {"", "-wal", "-shm"};
    for (int n = 0; n < 6; n++)
        for (int k = 0; k < 3; k++) {
            snprintf(p, sizeof p, "%s/%s%s", dir, name[n], ext[k]);
            unlink(p);
        }
    return rmdir(dir);
}

static sqlite3 *open_db(const char *schema)
{
    char err[256];
    sqlite3 *db = fcgi_db_open(path, 0, schema, err, sizeof err);
    assert_non_null(db);
    return db;
}

static void exec(sqlite3 *db, const char *sql)
{
    char err[256];
    assert_int_equal(fcgi_db_exec(db, sql, err, sizeof err), 0);
}

static int64_t one_int(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    int64_t v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

typedef int (*apply_fn)(void *, sqlite3 *, int64_t, json_object *, char *, size_t);
typedef int (*hash_fn)(void *, sqlite3 *, char *, size_t);

static int apply_json(apply_fn apply, sqlite3 *db, int64_t pos, const char *text)
{
    char err[256] = "";
    json_object *op = json_tokener_parse(text);
    assert_non_null(op);
    int rc = apply(NULL, db, pos, op, err, sizeof err);
    if (rc != 0)
        fprintf(stderr, "apply: %s\n", err);
    json_object_put(op);
    return rc;
}

/* The module is set up on `main_db`; a write transaction is open on a second
 * connection (as the ticker's would be). Applying `ops` (positions from
 * `pos`) and hashing on it must see and change that transaction: through
 * `main_db` the write lock would be taken. `probe` reads a value the ops
 * change: `changed` inside, `unchanged` on main_db after the rollback. */
static void check_second_connection(sqlite3 *main_db, const char *schema, apply_fn apply,
                                    hash_fn hash, const char *const *ops, int nops,
                                    int64_t pos, const char *probe, int64_t changed,
                                    int64_t unchanged)
{
    char before[80], inside[80];
    sqlite3 *other = open_db(schema);
    assert_int_equal(hash(NULL, main_db, before, sizeof before), 0);
    exec(other, "BEGIN IMMEDIATE");
    for (int k = 0; k < nops; k++)
        assert_int_equal(apply_json(apply, other, pos + k, ops[k]), 0);
    assert_int_equal(one_int(other, probe), changed);
    assert_int_equal(hash(NULL, other, inside, sizeof inside), 0);
    assert_string_not_equal(before, inside);
    exec(other, "ROLLBACK");
    assert_int_equal(one_int(main_db, probe), unchanged);
    sqlite3_close_v2(other);
    sqlite3_close_v2(main_db);
}

static void test_catalog_callbacks_use_their_connection(void **state)
{
    (void)state;
    snprintf(path, sizeof path, "%s/catalog.db", dir);
    sqlite3 *main_db = open_db(catalog_schema_sql);
    catalog_db_init(main_db);
    exec(main_db, "BEGIN IMMEDIATE");
    assert_int_equal(apply_json(catalog_apply, main_db, 1,
                                "{\"op\":\"add\",\"id\":0,\"title\":\"T\",\"topic\":\"t\","
                                "\"cents\":500,\"quantity\":2}"),
                     0);
    exec(main_db, "COMMIT");
    static const char *const ops[] = {"{\"op\":\"price\",\"id\":0,\"cents\":999}"};
    check_second_connection(main_db, catalog_schema_sql, catalog_apply, catalog_hash, ops, 1, 2,
                            "SELECT price_cents FROM books WHERE id = 0", 999, 500);
}

static void test_order_callbacks_use_their_connection(void **state)
{
    (void)state;
    char err[256];
    snprintf(path, sizeof path, "%s/order.db", dir);
    sqlite3 *main_db = open_db(order_schema_sql);
    assert_int_equal(order_db_init(main_db, err, sizeof err), 0);
    static const char *const ops[] = {
        "{\"op\":\"order\",\"order_id\":1,\"book_id\":2,\"key\":\"k\",\"title\":\"T\","
        "\"cents\":500,\"created_at\":\"now\"}",
        "{\"op\":\"swept\",\"catalog_pos\":7}"};
    check_second_connection(main_db, order_schema_sql, order_apply, order_hash, ops, 2, 1,
                            "SELECT COUNT(*) FROM orders", 1, 0);
}

/* Books whose title holds `phrase` (FTS5 syntax) by the title index. */
static int64_t title_matches(sqlite3 *db, const char *phrase)
{
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(db,
                                        "SELECT COUNT(*) FROM books_title_fts "
                                        "WHERE books_title_fts MATCH ?",
                                        -1, &st, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_bind_text(st, 1, phrase, -1, SQLITE_STATIC), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    int64_t n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return n;
}

/* A data file made before the page indexes and the title index gets both
 * when a replica starts (the schema, then catalog_db_seed, which indexes
 * the titles there and reads no seed file); the index follows adds and
 * snapshot installs. */
static void test_catalog_schema_upgrades_an_old_file(void **state)
{
    (void)state;
    snprintf(path, sizeof path, "%s/old.db", dir);
    sqlite3 *db = open_db("CREATE TABLE books (id INTEGER PRIMARY KEY, title TEXT NOT NULL, "
                          "topic TEXT NOT NULL, price_cents INTEGER NOT NULL, "
                          "quantity INTEGER NOT NULL, version INTEGER NOT NULL DEFAULT 0);"
                          "INSERT INTO books (id, title, topic, price_cents, quantity) VALUES "
                          "(0, 'Paxos Made Simple', 'ds', 100, 1), (1, 'RPCs for Noobs', 'ds', "
                          "200, 2);");
    sqlite3_close_v2(db);
    char err[256] = "";
    for (int open = 0; open < 2; open++) { /* the second start changes nothing */
        db = open_db(catalog_schema_sql);
        catalog_db_init(db);
        assert_int_equal(catalog_db_seed("/nonexistent/seed.tsv", err, sizeof err), 0);
        assert_int_equal(one_int(db, "SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' "
                                     "AND name IN ('books_title', 'books_price', "
                                     "'books_quantity', 'books_topic_title', "
                                     "'books_topic_price', 'books_topic_quantity')"),
                         6);
        assert_int_equal(title_matches(db, "\"MADE sim\""), 1);
        assert_int_equal(title_matches(db, "\"s fo\""), 1);
        assert_int_equal(one_int(db, "SELECT COUNT(*) FROM books_title_fts_docsize"), 2);
        sqlite3_close_v2(db);
    }
    db = open_db(catalog_schema_sql);
    catalog_db_init(db);
    assert_int_equal(title_matches(db, "\"made\""), 1);
    assert_int_equal(apply_json(catalog_apply, db, 1,
                                "{\"op\":\"add\",\"id\":2,\"title\":\"Made to Stick\","
                                "\"topic\":\"t\",\"cents\":500,\"quantity\":2}"),
                     0);
    assert_int_equal(title_matches(db, "\"made\""), 2);
    json_object *state_json = catalog_dump(NULL, db);
    assert_non_null(state_json);
    json_object_array_del_idx(json_object_object_get(state_json, "books"), 0, 1); /* no Paxos */
    assert_int_equal(catalog_load(NULL, db, state_json, err, sizeof err), 0);
    json_object_put(state_json);
    assert_int_equal(title_matches(db, "\"made\""), 1);
    assert_int_equal(title_matches(db, "\"paxos\""), 0);
    assert_int_equal(one_int(db, "SELECT COUNT(*) FROM books_title_fts_docsize"), 2);
    sqlite3_close_v2(db);
}

/* The ids of one page as GET /browse answers it (catalog_pages_json, in a
 * read transaction), as "id,id,...;total". */
static void page_ids(sqlite3 *db, const char *query, char *out, size_t cap)
{
    fcgi_page_query pq;
    char why[256];
    assert_int_equal(fcgi_page_parse(query, &pq, why, sizeof why), 0);
    exec(db, "BEGIN");
    json_object *page = catalog_pages_json(&pq);
    exec(db, "COMMIT");
    assert_non_null(page);
    json_object *books = json_object_object_get(page, "books");
    size_t len = 0;
    out[0] = 0;
    for (size_t i = 0; i < json_object_array_length(books); i++)
        len += (size_t)snprintf(out + len, cap - len, "%s%d", i ? "," : "",
                                json_object_get_int(json_object_object_get(
                                    json_object_array_get_idx(books, i), "id")));
    snprintf(out + len, cap - len, ";%d", json_object_get_int(json_object_object_get(page, "total")));
    json_object_put(page);
}

/* The same page read straight from the table, in SQL's order: what the
 * kept order must agree with. */
static void expected_ids(sqlite3 *db, const char *order, const char *like, int page, char *out,
                         size_t cap)
{
    char sql[512];
    snprintf(sql, sizeof sql,
             "SELECT coalesce((SELECT group_concat(id) FROM (SELECT id FROM books WHERE title "
             "LIKE '%s' ORDER BY %s LIMIT 7 OFFSET %d)), '') || ';' || (SELECT COUNT(*) FROM "
             "books WHERE title LIKE '%s')",
             like, order, (page - 1) * 7, like);
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    const unsigned char *t = sqlite3_column_text(st, 0);
    assert_non_null(t);
    snprintf(out, cap, "%s", (const char *)t);
    sqlite3_finalize(st);
}

/* Every page of the id and title orders, either way, with and without a
 * q, agrees with SQL's: after the first read (the order read and kept),
 * after purchases and price changes (kept: they move no book in these
 * orders), after an added book (read anew), and after a snapshot that
 * renames a book without changing how many there are (read anew: the
 * book-set generation moved, where a count would not have). */
static void test_catalog_kept_orders_follow_every_change_of_the_books(void **state)
{
    (void)state;
    snprintf(path, sizeof path, "%s/pages.db", dir);
    sqlite3 *db = open_db(catalog_schema_sql);
    catalog_db_init(db);
    char op[256], got[1024], want[1024];
    int64_t pos = 1;
    for (int id = 0; id < 40; id++) { /* titles out of id order, some alike */
        snprintf(op, sizeof op,
                 "{\"op\":\"add\",\"id\":%d,\"title\":\"%s %02d\",\"topic\":\"t%d\","
                 "\"cents\":%d,\"quantity\":5}",
                 id, id % 3 ? "Volume" : "Atlas", (id * 7) % 40, id % 4, 100 + id);
        assert_int_equal(apply_json(catalog_apply, db, pos++, op), 0);
    }
    static const struct {
        const char *sort, *order;
    } sorts[] = {{"id", "id"}, {"-id", "id DESC"}, {"title", "title, id"},
                 {"-title", "title DESC, id DESC"}};
    static const struct {
        const char *q, *like;
    } qs[] = {{"", "%"}, {"vo", "%vo%"}, {"Atlas", "%Atlas%"}};
    for (int round = 0; round < 4; round++) {
        if (round == 1) { /* purchases and a price change: the generation stays */
            int64_t before, after;
            assert_int_equal(catalog_db_book_set(&before), 0);
            assert_int_equal(apply_json(catalog_apply, db, pos++,
                                        "{\"op\":\"decrement\",\"id\":3,\"key\":\"k1\"}"), 0);
            assert_int_equal(apply_json(catalog_apply, db, pos++,
                                        "{\"op\":\"price\",\"id\":4,\"cents\":999}"), 0);
            assert_int_equal(catalog_db_book_set(&after), 0);
            assert_int_equal(before, after);
        } else if (round == 2) { /* a book added in the middle of the title order */
            assert_int_equal(apply_json(catalog_apply, db, pos++,
                                        "{\"op\":\"add\",\"id\":40,\"title\":\"Volume 10a\","
                                        "\"topic\":\"t\",\"cents\":100,\"quantity\":1}"), 0);
        } else if (round == 3) { /* a snapshot: book 5 renamed, as many books */
            json_object *snap = catalog_dump(NULL, db);
            assert_non_null(snap);
            json_object *books = json_object_object_get(snap, "books");
            for (size_t i = 0; i < json_object_array_length(books); i++) {
                json_object *row = json_object_array_get_idx(books, i);
                if (json_object_get_int(json_object_array_get_idx(row, 0)) == 5)
                    json_object_array_put_idx(row, 1, json_object_new_string("Aardvark"));
            }
            char err[256] = "";
            exec(db, "BEGIN IMMEDIATE");
            assert_int_equal(catalog_load(NULL, db, snap, err, sizeof err), 0);
            exec(db, "COMMIT");
            json_object_put(snap);
        }
        /* the topic list, kept the same way */
        exec(db, "BEGIN");
        json_object *topics = catalog_topics_json();
        exec(db, "COMMIT");
        assert_non_null(topics);
        int64_t counted = 0;
        for (size_t i = 0; i < json_object_array_length(topics); i++)
            counted += json_object_get_int64(
                json_object_object_get(json_object_array_get_idx(topics, i), "count"));
        json_object_put(topics);
        assert_int_equal(counted, one_int(db, "SELECT COUNT(*) FROM books"));
        assert_int_equal(counted, round < 2 ? 40 : 41);
        for (size_t s = 0; s < sizeof sorts / sizeof sorts[0]; s++)
            for (size_t k = 0; k < sizeof qs / sizeof qs[0]; k++)
                for (int page = 1; page <= 8; page++) {
                    char query[128];
                    snprintf(query, sizeof query, "q=%s&sort=%s&page=%d&per_page=7", qs[k].q,
                             sorts[s].sort, page);
                    page_ids(db, query, got, sizeof got);
                    expected_ids(db, sorts[s].order, qs[k].like, page, want, sizeof want);
                    if (strcmp(got, want) != 0)
                        fail_msg("round %d, %s: got %s, want %s", round, query, got, want);
                }
    }
    catalog_pages_free();
    sqlite3_close_v2(db);
}

/* A refusal is part of the replicated state: applied from its entry, found
 * by its key, hashed, and carried by snapshots
 * (a snapshot from before refusals loads with none). An entry that is not
 * a refusal (a 2xx status, no key) does not apply. */
static void test_catalog_refusals_are_replicated_state(void **state)
{
    (void)state;
    char err[256] = "", none[80], one[80], loaded[80];
    snprintf(path, sizeof path, "%s/refusals.db", dir);
    sqlite3 *db = open_db(catalog_schema_sql);
    catalog_db_init(db);
    assert_int_equal(apply_json(catalog_apply, db, 1,
                                "{\"op\":\"add\",\"id\":0,\"title\":\"T\",\"topic\":\"t\","
                                "\"cents\":500,\"quantity\":0}"),
                     0);
    assert_int_equal(catalog_hash(NULL, db, none, sizeof none), 0);
    json_object *before = catalog_dump(NULL, db);
    assert_non_null(before);
    assert_int_equal(apply_json(catalog_apply, db, 2,
                                "{\"op\":\"refuse\",\"id\":0,"
                                "\"key\":\"k1\",\"status\":409,\"reason\":\"book 0 is out of stock\"}"),
                     0);
    assert_int_not_equal(apply_json(catalog_apply, db, 3,
                                    "{\"op\":\"refuse\",\"id\":0,"
                                    "\"key\":\"k2\",\"status\":200,\"reason\":\"r\"}"),
                         0);
    assert_int_not_equal(apply_json(catalog_apply, db, 3,
                                    "{\"op\":\"refuse\",\"id\":0,"
                                    "\"status\":409,\"reason\":\"r\"}"),
                         0);
    /* the book itself is untouched: no copy, its version still the add's */
    assert_int_equal(one_int(db, "SELECT quantity FROM books WHERE id = 0"), 0);
    assert_int_equal(one_int(db, "SELECT version FROM books WHERE id = 0"), 1);
    catalog_refusal rf;
    assert_int_equal(catalog_db_refusal("k1", &rf), 1);
    assert_int_equal(rf.status, 409);
    assert_int_equal(rf.book_id, 0);
    assert_string_equal(rf.reason, "book 0 is out of stock");
    assert_int_equal(catalog_db_refusal("k2", &rf), 0);
    assert_int_equal(catalog_hash(NULL, db, one, sizeof one), 0);
    assert_string_not_equal(none, one);
    json_object *after = catalog_dump(NULL, db);
    assert_non_null(after);
    /* a snapshot from before refusals: none left, the hash as before */
    json_object_object_del(before, "refusals");
    exec(db, "BEGIN IMMEDIATE");
    assert_int_equal(catalog_load(NULL, db, before, err, sizeof err), 0);
    exec(db, "COMMIT");
    assert_int_equal(catalog_db_refusal("k1", &rf), 0);
    assert_int_equal(catalog_hash(NULL, db, loaded, sizeof loaded), 0);
    assert_string_equal(loaded, none);
    /* the snapshot with it: back, the hash as at the primary */
    exec(db, "BEGIN IMMEDIATE");
    assert_int_equal(catalog_load(NULL, db, after, err, sizeof err), 0);
    exec(db, "COMMIT");
    assert_int_equal(catalog_db_refusal("k1", &rf), 1);
    assert_int_equal(catalog_hash(NULL, db, loaded, sizeof loaded), 0);
    assert_string_equal(loaded, one);
    json_object_put(before);
    json_object_put(after);
    sqlite3_close_v2(db);
}

static void *commit_later(void *arg)
{
    sleep(6); /* longer than the connections' 5 s busy timeout */
    exec(arg, "COMMIT");
    return NULL;
}

/* A replica's processes start together, and one of them may hold the write
 * lock for longer than the busy timeout (importing a 100,000-book seed on a
 * loaded machine did, in CI): the others wait for it in fcgi_db_open's
 * schema instead of failing to start. */
static void test_a_process_starting_waits_for_a_long_seed_import(void **state)
{
    (void)state;
    snprintf(path, sizeof path, "%s/locked.db", dir);
    sqlite3 *first = open_db(catalog_schema_sql);
    exec(first, "BEGIN IMMEDIATE");
    exec(first, "INSERT INTO books (id, title, topic, price_cents, quantity) "
                "VALUES (0, 'Seeded', 't', 100, 1)");
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, commit_later, first), 0);
    time_t t0 = time(NULL);
    sqlite3 *second = open_db(catalog_schema_sql); /* fails without the wait */
    assert_true(time(NULL) - t0 >= 5);
    assert_int_equal(one_int(second, "SELECT COUNT(*) FROM books"), 1);
    assert_int_equal(pthread_join(t, NULL), 0);
    sqlite3_close_v2(second);
    sqlite3_close_v2(first);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_catalog_callbacks_use_their_connection),
        cmocka_unit_test(test_order_callbacks_use_their_connection),
        cmocka_unit_test(test_catalog_schema_upgrades_an_old_file),
        cmocka_unit_test(test_catalog_kept_orders_follow_every_change_of_the_books),
        cmocka_unit_test(test_catalog_refusals_are_replicated_state),
        cmocka_unit_test(test_a_process_starting_waits_for_a_long_seed_import),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
