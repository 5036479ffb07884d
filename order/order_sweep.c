/* order_sweep.c - the sweep: an order for every copy taken.
 *
 * A purchase takes its copy at the catalog and then records its order
 * (order_flow.c). A crash of the order primary in between leaves a copy
 * taken with no order; a retry with the same key records it, and when no
 * retry comes, the sweep does. It asks the catalog primary for its purchase
 * records in log order past the sweep position, only committed ones (a
 * record that a catalog failover could still undo is never seen), and only
 * up to the catalog's committed position of the previous pass: records at
 * least one pass old, so live purchases between their two steps are left to
 * finish themselves (were one not, recording by key twice is harmless: the
 * second finds the first). Each record without an order gets one, with the
 * title and price the catalog sold it at; then the sweep position is
 * replicated, so a new primary goes on from there. */
#include "order_sweep.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "fcgi_app.h"
#include "fcgi_json.h"
#include "fcgi_log.h"
#include "order_db.h"
#include "order_flow.h"

#define SWEEP_EVERY_MS 5000 /* per process; the first pass only learns `upto` */
#define SWEEP_PAGE 500      /* records per catalog call */
#define SWEEP_PAGES 8       /* catalog calls per pass */


static int decide_swept(void *arg, sqlite3 *db, json_object **op, char *why, size_t whylen)
{
    (void)db;
    int64_t to = *(const int64_t *)arg, now = order_db_swept();
    if (now < 0) {
        snprintf(why, whylen, "database error");
        return 500;
    }
    if (now >= to)
        return 200;
    *op = json_object_new_object();
    if (*op) {
        json_object_object_add(*op, "op", json_object_new_string("swept"));
        json_object_object_add(*op, "catalog_pos", json_object_new_int64(to));
    }
    return 200;
}

/* One page: the catalog's records with after < pos <= upto. Returns the
 * parsed answer (caller frees) or NULL. */
static json_object *fetch(int64_t after, int64_t upto, const char *rid)
{
    char url[FCGI_CONFIG_STR + 128], rid_hdr[96];
    snprintf(url, sizeof url,
             "%s/catalog/purchases?after=%" PRId64 "&upto=%" PRId64 "&limit=%d", order_ctx.cfg->internal_url,
             after, upto, SWEEP_PAGE);
    snprintf(rid_hdr, sizeof rid_hdr, "X-Request-Id: %s", rid);
    const char *hdrs[] = {rid_hdr, NULL};
    fcgi_http_call call = {.peer = "catalog", .method = "GET", .url = url, .headers = hdrs};
    json_object *ans = NULL;
    if (fcgi_http_do(order_ctx.http, &call) == 0 && call.resp.status == 200 && call.resp.body)
        ans = json_tokener_parse(call.resp.body);
    else
        LOG_WARN("sweep: catalog purchases unavailable (%s)",
                 call.rc ? call.resp.err : "bad status");
    fcgi_http_resp_clear(&call.resp);
    return ans;
}

/* Records an order for each record of `rows` that has none. Returns the
 * position up to which every record has its order. */
static int64_t settle(json_object *rows, int64_t done, int *recorded)
{
    size_t n = json_object_array_length(rows);
    for (size_t i = 0; i < n; i++) {
        json_object *row = json_object_array_get_idx(rows, i);
        order_taken t = {.book_id = fcgi_json_int(row, "book_id", -1),
                         .cents = fcgi_json_int(row, "price_cents", -1),
                         .key = fcgi_json_str(row, "key")};
        int64_t pos = fcgi_json_int(row, "pos", -1);
        const char *title = fcgi_json_str(row, "title");
        order_row o;
        int found = t.key ? order_db_by_key(t.key, &o) : -1;
        if (found < 0 || pos <= done || t.book_id < 0 || t.cents < 0 || !title)
            return done; /* malformed or a database error: stop here */
        if (!found) {
            char why[256];
            snprintf(t.title, sizeof t.title, "%s", title);
            int st = order_record(&t, why, sizeof why);
            if (st >= 300) {
                LOG_WARN("sweep: recording the order of key %s failed: %s", t.key, why);
                return done;
            }
            LOG_WARN("sweep: recorded the order of key %s (book %" PRId64 ", catalog entry %" PRId64
                     "): its copy was taken but no order was recorded",
                     t.key, t.book_id, pos);
            (*recorded)++;
        }
        done = pos;
    }
    return done;
}

void order_sweep_idle(void *unused)
{
    (void)unused;
    order_sweep("sweep");
}

void order_sweep(const char *rid)
{
    static double next_ms;
    static int64_t upto; /* the catalog's committed position one pass ago */
    double now = fcgi_now_ms();
    if (now < next_ms || !repl_is_primary(order_ctx.repl))
        return;
    next_ms = now + SWEEP_EVERY_MS;
    int64_t from = order_db_swept(), done = from, next_upto = -1;
    int recorded = 0;
    for (int page = 0; from >= 0 && page < SWEEP_PAGES; page++) {
        json_object *ans = fetch(done, upto, rid), *rows;
        if (!ans || !json_object_object_get_ex(ans, "purchases", &rows) ||
            !json_object_is_type(rows, json_type_array)) {
            json_object_put(ans);
            break;
        }
        int64_t committed = fcgi_json_int(ans, "committed", 0);
        if (next_upto < 0)
            next_upto = committed;
        size_t n = json_object_array_length(rows);
        int64_t last = fcgi_json_int(json_object_array_get_idx(rows, n ? n - 1 : 0), "pos", -1);
        int64_t settled = settle(rows, done, &recorded);
        json_object_put(ans);
        int complete = n == 0 || settled == last;
        if (complete && n < SWEEP_PAGE) { /* nothing else up to the bound */
            int64_t bound = upto < committed ? upto : committed;
            done = bound > settled ? bound : settled;
            break;
        }
        done = settled;
        if (!complete)
            break;
    }
    if (next_upto >= 0)
        upto = next_upto;
    if (done > from) {
        char why[256];
        int64_t pos;
        if (repl_submit(order_ctx.repl, decide_swept, &done, &pos, why, sizeof why) >= 300)
            LOG_WARN("sweep: replicating the position %" PRId64 " failed: %s", done, why);
    }
    if (recorded)
        LOG_WARN("sweep: recorded %d orders up to catalog entry %" PRId64, recorded, done);
}
