/* order_routes.c - the order replica's HTTP routes and the purchase flow.
 *
 * A purchase, keyed by its Idempotency-Key K, at the order primary
 * (backups forward it there):
 *   1. take:   ask the catalog to decrement the book under K. The catalog
 *              records (K, book, title, price) in the same replicated write
 *              and is idempotent by K: asking twice takes one copy and gets
 *              the same answer. On its 404/409 nothing is written anywhere.
 *   2. record: replicate {"op":"order", order_id, K, book, title, price}.
 * Two replicated writes in sequence, and an order is never recorded without
 * its copy taken (2 follows a committed 1). A crash between 1 and 2 leaves
 * a copy taken without its order, which is recorded by the retry with K
 * (step 1 answers as the first time, step 2 records) or, when no retry
 * comes, by the sweep (order_sweep.c). A repeat of a recorded purchase
 * answers the same order and takes nothing. */
#include "order_routes.h"

#include <inttypes.h>
#include <stdio.h>
#include <time.h>

#include "fcgi_app.h"
#include "fcgi_text.h"
#include "order_db.h"
#include "order_flow.h"
#include "order_sweep.h"

static repl_t *repl;
static const fcgi_config *cfg;

void order_routes_init(repl_t *r, const fcgi_config *c, fcgi_http *h)
{
    repl = r;
    cfg = c;
    order_ctx = (order_env){.repl = r, .cfg = c, .http = h};
}

static int answer_order(fcgi_request *req, int found, const order_row *o, const char *what)
{
    if (found < 0)
        return fcgi_resp_error(req, 500, "database error");
    if (!found)
        return fcgi_resp_error(req, 404, "no order %s", what);
    json_object *j = order_json(o);
    return j ? fcgi_resp_json(req, 200, j) : fcgi_resp_error(req, 500, "out of memory");
}

/* Writes nothing: repl_submit then only makes sure that everything logged
 * so far, a repeated purchase's order included, has reached a majority. */
static int decide_nothing(void *arg, sqlite3 *db, json_object **op, char *why, size_t whylen)
{
    (void)arg, (void)db, (void)op, (void)why, (void)whylen;
    return 200;
}

static int h_purchase(fcgi_request *req)
{
    if (!repl_is_primary(repl))
        return repl_forward(repl, req);
    repl_hint_primary(repl, req);
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
    order_row o;
    int status, found = order_db_by_key(key, &o);
    if (found < 0) {
        status = 500;
        snprintf(why, sizeof why, "database error");
    } else if (found && o.book_id != book_id) {
        status = 409;
        snprintf(why, sizeof why, "Idempotency-Key already used for book %" PRId64, o.book_id);
    } else if (found) {
        /* A repeat of a recorded purchase (the first attempt may have ended
         * in 503 before its order reached a majority): answer it again. */
        status = repl_submit(repl, decide_nothing, NULL, &pos, why, sizeof why);
    } else {
        order_taken t = {.book_id = book_id, .key = key};
        status = order_take(&t, req->request_id, &catalog_ms, why, sizeof why);
        if (status == 200 && cfg->test_record_delay_ms) /* test hook: the crash window */
            nanosleep(&(struct timespec){cfg->test_record_delay_ms / 1000,
                                         (cfg->test_record_delay_ms % 1000) * 1000000L},
                      NULL);
        if (status == 200)
            status = order_record(&t, why, sizeof why);
    }
    fcgi_resp_header(req, "Server-Timing", "catalog;dur=%.2f", catalog_ms);
    if (status >= 300)
        return fcgi_resp_error(req, status, "%s", why);
    found = order_db_by_key(key, &o);
    return answer_order(req, found, &o, "for this key after recording it");
}

/* An order is read in one read transaction, answered only when everything
 * applied here is safe to read (repl_read_end). */
static int h_order(fcgi_request *req)
{
    long long id;
    if (fcgi_parse_id(req->caps.value[0], req->caps.len[0], &id) != 0)
        return fcgi_resp_error(req, 400, "order id must be a non-negative integer");
    int64_t applied;
    if (repl_read_begin(repl, &applied) != 0)
        return fcgi_resp_error(req, 503, "database busy");
    order_row o;
    int found = order_db_by_id(id, &o);
    if (!repl_read_end(repl, req, applied))
        return 503;
    char what[48];
    snprintf(what, sizeof what, "with id %lld", id);
    return answer_order(req, found, &o, what);
}

const fcgi_route order_routes[] = {
    {"POST", "/purchase/{id}", h_purchase},
    {"GET", "/orders/{id}", h_order},
    {"GET", "/health", repl_handle_health},
    {"GET", "/state", repl_handle_state},
    {"POST", "/repl/append", repl_handle_append},
    {"POST", "/repl/vote", repl_handle_vote},
    {"POST", "/repl/handover", repl_handle_handover},
    {"GET", "/repl/snapshot", repl_handle_snapshot},
    {"GET", "/repl/safe", repl_handle_safe},
};
const size_t order_nroutes = sizeof order_routes / sizeof order_routes[0];
