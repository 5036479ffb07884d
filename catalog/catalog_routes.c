/* catalog_routes.c - the catalog replica's HTTP routes: reads answered
 * locally, writes decided and replicated by the primary (forwarded there by
 * backups). */
#include "catalog_routes.h"

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "catalog_db.h"
#include "catalog_pages.h"
#include "catalog_input.h"
#include "fcgi_app.h"
#include "fcgi_log.h"
#include "fcgi_page.h"
#include "fcgi_text.h"
#include "repl.h"

static repl_t *repl;

void catalog_routes_init(repl_t *r)
{
    repl = r;
}

/* The {id} capture as a book id, or -1 (after answering 400). */
static int64_t capture_id(fcgi_request *req, int i)
{
    long long id;
    if (fcgi_parse_id(req->caps.value[i], req->caps.len[i], &id) != 0) {
        fcgi_resp_error(req, 400, "book id must be a non-negative integer");
        return -1;
    }
    return id;
}

/* Answers a read of the whole state (as of one read transaction) only when
 * everything applied here is safe to read (repl_read_end). */
static int answer_state_read(fcgi_request *req, json_object *(*read)(const void *), const void *arg)
{
    int64_t applied;
    if (repl_read_begin(repl, &applied) != 0)
        return fcgi_resp_error(req, 503, "database busy");
    json_object *arr = read(arg);
    if (!repl_read_end(repl, req, applied)) {
        json_object_put(arr);
        return 503;
    }
    return arr ? fcgi_resp_json(req, 200, arr) : fcgi_resp_error(req, 500, "database error");
}

static json_object *read_search(const void *topic)
{
    return catalog_db_search_json(topic);
}

static json_object *read_all(const void *unused)
{
    (void)unused;
    return catalog_db_all_json();
}

static json_object *read_page(const void *pq)
{
    return catalog_pages_json(pq);
}

static json_object *read_topics(const void *unused)
{
    (void)unused;
    return catalog_topics_json();
}

static int h_search(fcgi_request *req)
{
    const char *topic = req->caps.value[0];
    size_t len = req->caps.len[0];
    if (len == 0 || len > CATALOG_TEXT_MAX || !fcgi_text_valid(topic, len))
        return fcgi_resp_error(req, 400, "topic must be 1 to %d bytes of printable UTF-8",
                               CATALOG_TEXT_MAX);
    return answer_state_read(req, read_search, topic);
}

static int h_all(fcgi_request *req)
{
    return answer_state_read(req, read_all, NULL);
}

/* GET /browse?topic=&q=&page=&per_page=&sort=: one page of the catalog
 * (fcgi/fcgi_page.h), read like a search: in one read transaction, answered
 * only when everything applied here is safe. */
static int h_browse(fcgi_request *req)
{
    fcgi_page_query pq;
    char why[256];
    if (fcgi_page_parse(req->query, &pq, why, sizeof why) != 0)
        return fcgi_resp_error(req, 400, "%s", why);
    return answer_state_read(req, read_page, &pq);
}

static int h_topics(fcgi_request *req)
{
    return answer_state_read(req, read_topics, NULL);
}

/* Answers book id as a lookup sees it: read in a read transaction, sent
 * only once the book's last change is safe here. A write answers through it
 * too: its own entry is safe, but the primary may since have applied a later
 * write to the book (a purchase) that is not; showing that one before it is
 * safe would let a later lookup return an older version than this answer
 * did (found by the Jepsen-style suite in tests/jepsen/). */
static int answer_book(fcgi_request *req, int status, int64_t id)
{
    int64_t applied;
    if (repl_read_begin(repl, &applied) != 0)
        return fcgi_resp_error(req, 503, "database busy");
    catalog_book b;
    int found = catalog_db_book(id, &b);
    if (!repl_read_end(repl, req, found == 1 ? b.version : applied))
        return 503;
    if (found < 0)
        return fcgi_resp_error(req, 500, "database error");
    if (!found)
        return fcgi_resp_error(req, 404, "no book with id %" PRId64, id);
    json_object *o = catalog_book_json(&b);
    return o ? fcgi_resp_json(req, status, o) : fcgi_resp_error(req, 500, "out of memory");
}

/* A lookup needs only the book's own last change to be safe here. */
static int h_book(fcgi_request *req)
{
    int64_t id = capture_id(req, 0);
    return id < 0 ? 400 : answer_book(req, 200, id);
}

/* ---- writes ---- */

/* What a write request asks for; the decide functions read it. */
typedef struct write_req {
    int64_t id, count, cents, quantity;
    const char *key, *title, *topic;
} write_req;

static json_object *new_op(const char *kind, int64_t id)
{
    json_object *op = json_object_new_object();
    if (op) {
        json_object_object_add(op, "op", json_object_new_string(kind));
        json_object_object_add(op, "id", json_object_new_int64(id));
    }
    return op;
}

/* An admin write repeated with the same Idempotency-Key: 1 (and w->id set
 * to the book it changed) when it was already applied, 0 when new, -1 on a
 * database error. */
static int repeated(write_req *w)
{
    int64_t id;
    if (!w->key)
        return 0;
    int found = catalog_db_write_key(w->key, &id);
    if (found == 1)
        w->id = id;
    return found;
}

/* Adds the request's key to an admin write's entry (when it has one). */
static void add_key(json_object *op, const write_req *w)
{
    if (op && w->key)
        json_object_object_add(op, "key", json_object_new_string(w->key));
}

/* Common to the decisions on an existing book: 404 when it is missing. */
static int existing(const write_req *w, catalog_book *b, char *why, size_t whylen)
{
    int found = catalog_db_book(w->id, b);
    if (found < 0) {
        snprintf(why, whylen, "database error");
        return 500;
    }
    if (!found) {
        snprintf(why, whylen, "no book with id %" PRId64, w->id);
        return 404;
    }
    return 200;
}

static int decide_decrement(void *arg, sqlite3 *db, json_object **op, char *why, size_t whylen)
{
    (void)db;
    const write_req *w = arg;
    catalog_purchase p;
    int done = catalog_db_purchase(w->key, &p);
    if (done < 0) {
        snprintf(why, whylen, "database error");
        return 500;
    }
    if (done) { /* a retry: same answer, nothing taken */
        if (p.book_id != w->id) {
            snprintf(why, whylen, "idempotency key already used for book %" PRId64, p.book_id);
            return 409;
        }
        return 200;
    }
    catalog_refusal rf;
    int refused = catalog_db_refusal(w->key, &rf);
    if (refused < 0) {
        snprintf(why, whylen, "database error");
        return 500;
    }
    if (refused) { /* a retry of a refused purchase: the same refusal */
        if (rf.book_id != w->id)
            snprintf(why, whylen, "idempotency key already used for book %" PRId64, rf.book_id);
        else
            snprintf(why, whylen, "%s", rf.reason);
        return rf.book_id != w->id ? 409 : rf.status;
    }
    catalog_book b;
    int st = existing(w, &b, why, whylen);
    if (st != 200)
        return st;
    if (b.quantity < 1) {
        /* Refusals are final (schema.sql, table refusals): logged, answered
         * once safe, and found by a repeat of the key, even after a
         * restock. A missing book's 404 is not: the request named no book,
         * and a bad request changes nothing (docs/REPLICATION.md). */
        snprintf(why, whylen, "book %" PRId64 " is out of stock", w->id);
        *op = new_op("refuse", w->id);
        if (*op) {
            json_object_object_add(*op, "key", json_object_new_string(w->key));
            json_object_object_add(*op, "status", json_object_new_int(409));
            json_object_object_add(*op, "reason", json_object_new_string(why));
        }
        return 409;
    }
    *op = new_op("decrement", w->id);
    if (*op)
        json_object_object_add(*op, "key", json_object_new_string(w->key));
    return 200;
}

/* The common start of restock and price: a repeated key answers 200 as the
 * first time did (or 500), a missing book 404. Returns 0 to go on deciding. */
static int keyed_existing(write_req *w, catalog_book *b, char *why, size_t whylen)
{
    int rep = repeated(w);
    if (rep != 0)
        return rep < 0 ? 500 : 200;
    int st = existing(w, b, why, whylen);
    return st == 200 ? 0 : st;
}

static int decide_restock(void *arg, sqlite3 *db, json_object **op, char *why, size_t whylen)
{
    (void)db;
    write_req *w = arg;
    catalog_book b;
    int st = keyed_existing(w, &b, why, whylen);
    if (st != 0)
        return st;
    if (b.quantity + w->count > CATALOG_QTY_MAX) {
        snprintf(why, whylen, "restock would exceed %lld copies", CATALOG_QTY_MAX);
        return 400;
    }
    *op = new_op("restock", w->id);
    if (*op)
        json_object_object_add(*op, "count", json_object_new_int64(w->count));
    add_key(*op, w);
    return 200;
}

static int decide_price(void *arg, sqlite3 *db, json_object **op, char *why, size_t whylen)
{
    (void)db;
    write_req *w = arg;
    catalog_book b;
    int st = keyed_existing(w, &b, why, whylen);
    if (st != 0)
        return st;
    *op = new_op("price", w->id);
    if (*op)
        json_object_object_add(*op, "cents", json_object_new_int64(w->cents));
    add_key(*op, w);
    return 200;
}

static int decide_add(void *arg, sqlite3 *db, json_object **op, char *why, size_t whylen)
{
    (void)db;
    write_req *w = arg;
    int rep = repeated(w);
    if (rep != 0)
        return rep < 0 ? 500 : 201;
    w->id = catalog_db_next_id();
    if (w->id < 0) {
        snprintf(why, whylen, "database error");
        return 500;
    }
    *op = new_op("add", w->id);
    if (*op) {
        json_object_object_add(*op, "title", json_object_new_string(w->title));
        json_object_object_add(*op, "topic", json_object_new_string(w->topic));
        json_object_object_add(*op, "cents", json_object_new_int64(w->cents));
        json_object_object_add(*op, "quantity", json_object_new_int64(w->quantity));
    }
    add_key(*op, w);
    return 201;
}

/* Replicates the write (primary); the book's cached lookup is dropped by
 * the release callback (catalog_release.c) before anyone reads the write.
 * Returns the status, or answers the error itself and returns it. */
static int replicate(fcgi_request *req, repl_decide_fn decide, write_req *w)
{
    char why[256] = "";
    int64_t pos = 0;
    int status = repl_submit(repl, decide, w, &pos, why, sizeof why);
    if (status >= 300)
        fcgi_resp_error(req, status, "%s", why[0] ? why : "write failed");
    return status;
}

/* Parses the body of a write at the primary and the optional
 * Idempotency-Key of an admin write into w->key; NULL after answering the
 * error. */
static json_object *write_body(fcgi_request *req, write_req *w)
{
    int status;
    char why[256];
    const char *key = fcgi_req_header(req, "Idempotency-Key");
    if (key && !fcgi_key_valid(key)) {
        fcgi_resp_error(req, 400, "Idempotency-Key must be 1 to 128 characters of [A-Za-z0-9._:-]");
        return NULL;
    }
    w->key = key;
    json_object *body = fcgi_req_json(req, &status, why, sizeof why);
    if (!body)
        fcgi_resp_error(req, status, "%s", why);
    return body;
}

static int h_decrement(fcgi_request *req)
{
    if (!repl_is_primary(repl))
        return repl_forward(repl, req);
    repl_hint_primary(repl, req);
    write_req w = {0};
    if ((w.id = capture_id(req, 0)) < 0)
        return 400;
    json_object *body = write_body(req, &w), *k;
    if (!body)
        return 400;
    if (!json_object_object_get_ex(body, "key", &k) || !json_object_is_type(k, json_type_string) ||
        !fcgi_key_valid(json_object_get_string(k)))
        return fcgi_resp_error(req, 400, "'key' must be 1 to 128 characters of [A-Za-z0-9._:-]");
    w.key = json_object_get_string(k);
    int status = replicate(req, decide_decrement, &w);
    if (status >= 300)
        return status;
    /* Read like a lookup (see answer_book): the quantity shown is never of
     * a later purchase that is not yet safe. */
    catalog_purchase p;
    catalog_book b;
    int64_t applied;
    if (repl_read_begin(repl, &applied) != 0)
        return fcgi_resp_error(req, 503, "database busy");
    int found = catalog_db_purchase(w.key, &p) == 1 && catalog_db_book(w.id, &b) == 1;
    if (!repl_read_end(repl, req, found ? b.version : applied))
        return 503;
    if (!found)
        return fcgi_resp_error(req, 500, "purchase record missing");
    json_object *o = json_object_new_object();
    if (!o)
        return fcgi_resp_error(req, 500, "out of memory");
    json_object_object_add(o, "id", json_object_new_int64(p.book_id));
    json_object_object_add(o, "title", json_object_new_string(p.title));
    json_object_object_add(o, "price", catalog_price_json(p.price_cents));
    json_object_object_add(o, "quantity", json_object_new_int64(b.quantity));
    json_object_object_add(o, "version", json_object_new_int64(b.version));
    return fcgi_resp_json(req, 200, o);
}

/* GET /purchases?after=P&upto=U&limit=L: the purchase records of committed
 * decrements with P < pos <= U, in log order, for the order service's sweep
 * (order/order_sweep.c). Answered by the primary, the only replica that
 * knows what is committed; only committed records are listed, so a record
 * seen here can never be undone by a failover. */
static int h_purchases(fcgi_request *req)
{
    if (!repl_is_primary(repl))
        return repl_forward(repl, req);
    long long after = 0, upto = INT64_MAX, limit = 256;
    if (fcgi_query_id(req->query, "after", &after) < 0 ||
        fcgi_query_id(req->query, "upto", &upto) < 0 ||
        fcgi_query_id(req->query, "limit", &limit) < 0 || limit < 1 || limit > 1000)
        return fcgi_resp_error(req, 400,
                               "after and upto must be non-negative integers, limit 1 to 1000");
    int64_t committed = repl_committed(repl);
    json_object *rows = catalog_db_purchases_json(after, upto < committed ? upto : committed, limit);
    json_object *o = json_object_new_object();
    if (!rows || !o) {
        json_object_put(rows);
        json_object_put(o);
        return fcgi_resp_error(req, 500, "database error");
    }
    json_object_object_add(o, "committed", json_object_new_int64(committed));
    json_object_object_add(o, "purchases", rows);
    return fcgi_resp_json(req, 200, o);
}

/* Reads a write's own field from its body into w (0, or -1 with why). */
typedef int (*field_fn)(json_object *body, write_req *w, char *why, size_t whylen);

static int count_field(json_object *body, write_req *w, char *why, size_t whylen)
{
    return catalog_input_int(body, "count", 1, 1000000, &w->count, why, whylen);
}

static int price_field(json_object *body, write_req *w, char *why, size_t whylen)
{
    return catalog_input_price(body, &w->cents, why, whylen);
}

/* A write to the existing book {id} (restock, price): forwarded by a
 * backup; at the primary the id, the JSON body and its field, then
 * decided, replicated and answered with the book. */
static int book_write(fcgi_request *req, field_fn field, repl_decide_fn decide)
{
    if (!repl_is_primary(repl))
        return repl_forward(repl, req);
    write_req w = {0};
    char why[256];
    if ((w.id = capture_id(req, 0)) < 0)
        return 400;
    json_object *body = write_body(req, &w);
    if (!body)
        return 400;
    if (field(body, &w, why, sizeof why) != 0)
        return fcgi_resp_error(req, 400, "%s", why);
    int status = replicate(req, decide, &w);
    return status >= 300 ? status : answer_book(req, 200, w.id);
}

static int h_restock(fcgi_request *req)
{
    return book_write(req, count_field, decide_restock);
}

static int h_price(fcgi_request *req)
{
    return book_write(req, price_field, decide_price);
}

static int h_add(fcgi_request *req)
{
    if (!repl_is_primary(repl))
        return repl_forward(repl, req);
    write_req w = {0};
    char why[256];
    json_object *body = write_body(req, &w);
    if (!body)
        return 400;
    if (catalog_input_text(body, "title", &w.title, why, sizeof why) != 0 ||
        catalog_input_text(body, "topic", &w.topic, why, sizeof why) != 0 ||
        catalog_input_price(body, &w.cents, why, sizeof why) != 0 ||
        catalog_input_int(body, "quantity", 0, CATALOG_QTY_MAX, &w.quantity, why, sizeof why) != 0)
        return fcgi_resp_error(req, 400, "%s", why);
    int status = replicate(req, decide_add, &w);
    return status >= 300 ? status : answer_book(req, 201, w.id);
}

const fcgi_route catalog_routes[] = {
    {"GET", "/search/{topic}", h_search},
    {"GET", "/books", h_all},
    {"GET", "/browse", h_browse},
    {"GET", "/topics", h_topics},
    {"POST", "/books", h_add},
    {"GET", "/books/{id}", h_book},
    {"PUT", "/books/{id}/price", h_price},
    {"POST", "/books/{id}/restock", h_restock},
    {"POST", "/books/{id}/decrement", h_decrement},
    {"GET", "/purchases", h_purchases},
    {"GET", "/health", repl_handle_health},
    {"GET", "/state", repl_handle_state},
    {"POST", "/repl/append", repl_handle_append},
    {"POST", "/repl/vote", repl_handle_vote},
    {"POST", "/repl/handover", repl_handle_handover},
    {"GET", "/repl/snapshot", repl_handle_snapshot},
    {"GET", "/repl/safe", repl_handle_safe},
};
const size_t catalog_nroutes = sizeof catalog_routes / sizeof catalog_routes[0];
