/* order_routes.c - the order replica's HTTP routes and the purchase flow.
 *
 * The purchase flow (at the order primary; backups forward to it), keyed
 * by the purchase's Idempotency-Key K:
 *   1. open:  replicate {"op":"open", order_id, book_id, K} -> order pending.
 *   2. take:  ask the catalog to decrement the book, with K. The catalog is
 *             idempotent by K: asking twice takes one copy and gives the
 *             same answer.
 *   3. close: replicate {"op":"close", title, price} -> order done; or on the
 *             catalog's 404/409 replicate {"op":"fail"} -> no order.
 * A crash anywhere leaves either no order (nothing taken: step 1 precedes
 * step 2) or a pending order, which is finished by repeating step 2 with the
 * same K (so nothing is taken twice): when the client retries with K, and
 * by the primary itself, which resolves one stale pending order (older than
 * STALE_S) before each new purchase. An order is thus never recorded
 * without its copy taken, and a copy is never taken without its order. */
#include "order_routes.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "fcgi_app.h"
#include "fcgi_db.h"
#include "fcgi_log.h"
#include "fcgi_text.h"
#include "order_db.h"

#define STALE_S 5

static repl_t *repl;
static const fcgi_config *cfg;
static fcgi_http *http;

void order_routes_init(repl_t *r, const fcgi_config *c, fcgi_http *h)
{
    repl = r;
    cfg = c;
    http = h;
}

/* ---- decisions (inside the primary's write transaction) ---- */

typedef struct purchase {
    int64_t book_id, order_id, cents, fail_status;
    const char *key;
    char title[256];
} purchase;

static int db_error(char *why, size_t whylen)
{
    snprintf(why, whylen, "database error");
    return 500;
}

static int decide_open(void *arg, sqlite3 *db, json_object **op, char *why, size_t whylen)
{
    (void)db;
    purchase *p = arg;
    order_row o;
    int found = order_db_by_key(p->key, &o);
    if (found < 0)
        return db_error(why, whylen);
    if (found) /* another worker opened it meanwhile */
        return 200;
    p->order_id = order_db_next_id();
    if (p->order_id < 0)
        return db_error(why, whylen);
    char now[40];
    fcgi_utc_now(now, sizeof now);
    *op = json_object_new_object();
    if (*op) {
        json_object_object_add(*op, "op", json_object_new_string("open"));
        json_object_object_add(*op, "order_id", json_object_new_int64(p->order_id));
        json_object_object_add(*op, "book_id", json_object_new_int64(p->book_id));
        json_object_object_add(*op, "key", json_object_new_string(p->key));
        json_object_object_add(*op, "created_at", json_object_new_string(now));
    }
    return 200;
}

/* close (fail_status == 0) or fail the pending order p->order_id. */
static int decide_finish(void *arg, sqlite3 *db, json_object **op, char *why, size_t whylen)
{
    (void)db;
    purchase *p = arg;
    order_row o;
    int found = order_db_by_id(p->order_id, &o);
    if (found < 0)
        return db_error(why, whylen);
    if (!found || o.status != ORDER_PENDING) /* finished meanwhile */
        return 200;
    *op = json_object_new_object();
    if (!*op)
        return 200;
    json_object_object_add(*op, "op", json_object_new_string(p->fail_status ? "fail" : "close"));
    json_object_object_add(*op, "order_id", json_object_new_int64(p->order_id));
    if (p->fail_status) {
        json_object_object_add(*op, "status", json_object_new_int64(p->fail_status));
    } else {
        json_object_object_add(*op, "title", json_object_new_string(p->title));
        json_object_object_add(*op, "cents", json_object_new_int64(p->cents));
    }
    return 200;
}

/* ---- the flow ---- */

/* Step 2 and 3 for the pending order o. Returns the HTTP status of the
 * purchase, with the reason in why for an error; *catalog_ms accumulates.
 * `rid` is the request id passed on to the catalog. */
static int finish(const order_row *o, const char *rid, double *catalog_ms, char *why,
                  size_t whylen)
{
    char url[FCGI_CONFIG_STR + 64], body[200], key_hdr[160], rid_hdr[96];
    snprintf(url, sizeof url, "%s/catalog/books/%" PRId64 "/decrement", cfg->internal_url,
             o->book_id);
    snprintf(body, sizeof body, "{\"key\":\"%s\"}", o->key); /* key is [A-Za-z0-9._:-] */
    snprintf(key_hdr, sizeof key_hdr, "Idempotency-Key: %s", o->key);
    snprintf(rid_hdr, sizeof rid_hdr, "X-Request-Id: %s", rid);
    const char *hdrs[] = {"Content-Type: application/json", key_hdr, rid_hdr, NULL};
    fcgi_http_call call = {.peer = "catalog", .method = "POST", .url = url, .headers = hdrs,
                           .body = body, .len = strlen(body)};
    int rc = fcgi_http_do(http, &call);
    *catalog_ms += call.resp.ms;
    purchase p = {.order_id = o->order_id, .book_id = o->book_id, .key = o->key};
    int status;
    if (rc != 0 || call.resp.status >= 500 || call.resp.status < 200) {
        snprintf(why, whylen, "catalog unavailable (%s); retry with the same Idempotency-Key",
                 rc ? call.resp.err : "server error");
        fcgi_http_resp_clear(&call.resp);
        return 503;
    }
    json_object *ans = json_tokener_parse(call.resp.body ? call.resp.body : "");
    json_object *v;
    if (call.resp.status == 200) {
        double price = -1;
        if (ans && json_object_object_get_ex(ans, "price", &v))
            price = json_object_get_double(v);
        if (ans && json_object_object_get_ex(ans, "title", &v) &&
            json_object_is_type(v, json_type_string))
            snprintf(p.title, sizeof p.title, "%s", json_object_get_string(v));
        p.cents = (int64_t)llround(price * 100);
        if (!p.title[0] || price <= 0) {
            json_object_put(ans);
            fcgi_http_resp_clear(&call.resp);
            snprintf(why, whylen, "catalog answered without title or price");
            return 503;
        }
    } else {
        p.fail_status = call.resp.status == 404 || call.resp.status == 409 ? call.resp.status : 409;
        snprintf(why, whylen, "%s",
                 ans && json_object_object_get_ex(ans, "error", &v) ? json_object_get_string(v)
                                                                     : "purchase refused");
    }
    json_object_put(ans);
    fcgi_http_resp_clear(&call.resp);
    if (cfg->test_close_delay_ms && !p.fail_status) /* test hook: the crash window */
        nanosleep(&(struct timespec){cfg->test_close_delay_ms / 1000,
                                     (cfg->test_close_delay_ms % 1000) * 1000000L},
                  NULL);
    char why2[256];
    int64_t pos;
    status = repl_submit(repl, decide_finish, &p, &pos, why2, sizeof why2);
    if (status >= 300) {
        snprintf(why, whylen, "%s", why2);
        return status;
    }
    return p.fail_status ? (int)p.fail_status : 200;
}

/* Finishes one pending order that its worker left behind (it died, or its
 * client gave up), so stock never stays taken without an order. */
static void resolve_stale(const char *rid, double *catalog_ms)
{
    time_t t = time(NULL) - STALE_S;
    struct tm tm;
    char before[40], why[256];
    gmtime_r(&t, &tm);
    strftime(before, sizeof before, "%Y-%m-%dT%H:%M:%S", &tm);
    order_row o;
    if (order_db_stale_pending(before, &o) == 1) {
        int st = finish(&o, rid, catalog_ms, why, sizeof why);
        LOG_INFO("resolved stale pending order %" PRId64 ": %d", o.order_id, st);
    }
}

static int answer_order(fcgi_request *req, int64_t order_id)
{
    order_row o;
    int found = order_db_by_id(order_id, &o);
    if (found < 0)
        return fcgi_resp_error(req, 500, "database error");
    if (!found || o.status != ORDER_DONE)
        return fcgi_resp_error(req, 404, "no order with id %" PRId64, order_id);
    json_object *j = order_json(&o);
    return j ? fcgi_resp_json(req, 200, j) : fcgi_resp_error(req, 500, "out of memory");
}

static int h_purchase(fcgi_request *req)
{
    if (!repl_is_primary(repl))
        return repl_forward(repl, req);
    long long book_id;
    if (fcgi_parse_id(req->caps.value[0], req->caps.len[0], &book_id) != 0)
        return fcgi_resp_error(req, 400, "book id must be a non-negative integer");
    const char *key = fcgi_req_header(req, "Idempotency-Key");
    if (!key || !fcgi_key_valid(key))
        return fcgi_resp_error(req, 400,
                               "Idempotency-Key must be 1 to 128 characters of [A-Za-z0-9._:-]");
    double catalog_ms = 0;
    char why[256] = "";
    int64_t pos;
    resolve_stale(req->request_id, &catalog_ms);

    purchase p = {.book_id = book_id, .key = key};
    order_row o;
    int found = order_db_by_key(key, &o), status = 200;
    if (found == 0) {
        status = repl_submit(repl, decide_open, &p, &pos, why, sizeof why);
        if (status < 300)
            found = order_db_by_key(key, &o);
    } else if (found == 1 && o.status != ORDER_PENDING) {
        /* A repeat of a finished purchase: make sure its entries reached a
         * majority (the first attempt may have ended in 503), then answer
         * exactly as the first time. */
        status = repl_submit(repl, decide_finish, &(purchase){.order_id = o.order_id}, &pos, why,
                             sizeof why);
    }
    if (status < 300 && found < 0) {
        status = 500;
        snprintf(why, sizeof why, "database error");
    }
    if (status < 300 && o.book_id != book_id) {
        status = 409;
        snprintf(why, sizeof why, "Idempotency-Key already used for book %" PRId64, o.book_id);
    } else if (status < 300 && o.status == ORDER_PENDING) {
        status = finish(&o, req->request_id, &catalog_ms, why, sizeof why);
    } else if (status < 300 && o.status == ORDER_FAILED) {
        status = (int)o.fail_status;
        snprintf(why, sizeof why, "%s", status == 404 ? "no such book" : "out of stock");
    }
    fcgi_resp_header(req, "Server-Timing", "catalog;dur=%.2f", catalog_ms);
    if (status >= 300)
        return fcgi_resp_error(req, status, "%s", why);
    return answer_order(req, o.order_id);
}

static int h_order(fcgi_request *req)
{
    if (!repl_check_serving(repl, req))
        return 503;
    long long id;
    if (fcgi_parse_id(req->caps.value[0], req->caps.len[0], &id) != 0)
        return fcgi_resp_error(req, 400, "order id must be a non-negative integer");
    return answer_order(req, id);
}

const fcgi_route order_routes[] = {
    {"POST", "/purchase/{id}", h_purchase},
    {"GET", "/orders/{id}", h_order},
    {"GET", "/health", repl_handle_health},
    {"GET", "/state", repl_handle_state},
    {"POST", "/repl/append", repl_handle_append},
    {"POST", "/repl/vote", repl_handle_vote},
    {"GET", "/repl/snapshot", repl_handle_snapshot},
};
const size_t order_nroutes = sizeof order_routes / sizeof order_routes[0];
