/* order_flow.c - the two steps of a purchase at the order primary: take the
 * copy at the catalog (a replicated write of the catalog's), then record the
 * order (a replicated write of ours). See order_flow.h and order_routes.c. */
#include "order_flow.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "fcgi_db.h"
#include "fcgi_json.h"
#include "fcgi_log.h"
#include "order_db.h"

order_env order_ctx;

/* After this long without an answer a decrement also goes out again (it
 * waits for the catalog's replication, a few milliseconds when healthy). */
#define TAKE_HEDGE_MS 250

int order_take(order_taken *t, const char *rid, double *catalog_ms, char *why, size_t whylen)
{
    /* The catalog primary the last decrement named (X-Bazar-Primary) is
     * asked directly, which saves the forwarding hop at a backup; it is a
     * patient call like the front end's (fcgi_http_do_patient): an attempt
     * held by a stopped primary is hedged through the balanced upstream
     * after TAKE_HEDGE_MS, and one that fails is repeated, until
     * write_deadline_ms. The key makes every repeat safe. Per process. */
    static int primary;
    char url[FCGI_CONFIG_STR + 96], direct[FCGI_CONFIG_STR + 96], body[200], key_hdr[160],
        rid_hdr[96];
    snprintf(body, sizeof body, "{\"key\":\"%s\"}", t->key); /* key is [A-Za-z0-9._:-] */
    snprintf(key_hdr, sizeof key_hdr, "Idempotency-Key: %s", t->key);
    snprintf(rid_hdr, sizeof rid_hdr, "X-Request-Id: %s", rid);
    snprintf(url, sizeof url, "%s/catalog/books/%" PRId64 "/decrement", order_ctx.cfg->internal_url,
             t->book_id);
    snprintf(direct, sizeof direct, "%s/replica/catalog/%d/books/%" PRId64 "/decrement",
             order_ctx.cfg->internal_url, primary, t->book_id);
    const char *hdrs[] = {"Content-Type: application/json", key_hdr, rid_hdr, NULL};
    fcgi_http_call call = {.peer = "catalog", .method = "POST", .url = url, .headers = hdrs,
                           .body = body, .len = strlen(body)};
    fcgi_http_patience pat = {.first_url = primary ? direct : NULL, .hedge_ms = TAKE_HEDGE_MS,
                              .deadline_ms = order_ctx.cfg->write_deadline_ms};
    int rc = fcgi_http_do_patient(order_ctx.http, &call, &pat);
    *catalog_ms += call.resp.ms;
    primary = rc == 0 && call.resp.status >= 200 && call.resp.status < 500 ? call.resp.primary : 0;
    if (call.attempts > 1)
        LOG_INFO("decrement of book %" PRId64 ": %d attempts in %.0f ms", t->book_id,
                 call.attempts, call.resp.ms);
    if (rc != 0 || call.resp.status >= 500 || call.resp.status < 200) {
        snprintf(why, whylen, "catalog unavailable (%s); retry with the same Idempotency-Key",
                 rc ? call.resp.err : "server error");
        fcgi_http_resp_clear(&call.resp);
        return 503;
    }
    json_object *ans = json_tokener_parse(call.resp.body ? call.resp.body : "");
    long status = call.resp.status;
    fcgi_http_resp_clear(&call.resp);
    json_object *v;
    if (status != 200) {
        snprintf(why, whylen, "%s",
                 ans && json_object_object_get_ex(ans, "error", &v) ? json_object_get_string(v)
                                                                     : "purchase refused");
        json_object_put(ans);
        return status == 404 ? 404 : 409;
    }
    double price = -1;
    t->title[0] = 0;
    if (ans && json_object_object_get_ex(ans, "price", &v))
        price = json_object_get_double(v);
    const char *title = fcgi_json_str(ans, "title");
    if (title)
        snprintf(t->title, sizeof t->title, "%s", title);
    json_object_put(ans);
    t->cents = (int64_t)llround(price * 100);
    if (!t->title[0] || price <= 0) {
        snprintf(why, whylen, "catalog answered without title or price");
        return 503;
    }
    return 200;
}

static int decide_order(void *arg, sqlite3 *db, json_object **op, char *why, size_t whylen)
{
    (void)db;
    const order_taken *t = arg;
    order_row o;
    int found = order_db_by_key(t->key, &o);
    int64_t id = found == 0 ? order_db_next_id() : 0;
    if (found < 0 || id < 0) {
        snprintf(why, whylen, "database error");
        return 500;
    }
    if (found) /* recorded meanwhile: by the sweep, or a retry racing this one */
        return 200;
    char now[40];
    fcgi_utc_now(now, sizeof now);
    *op = json_object_new_object();
    if (*op) {
        json_object_object_add(*op, "op", json_object_new_string("order"));
        json_object_object_add(*op, "order_id", json_object_new_int64(id));
        json_object_object_add(*op, "book_id", json_object_new_int64(t->book_id));
        json_object_object_add(*op, "key", json_object_new_string(t->key));
        json_object_object_add(*op, "title", json_object_new_string(t->title));
        json_object_object_add(*op, "cents", json_object_new_int64(t->cents));
        json_object_object_add(*op, "created_at", json_object_new_string(now));
    }
    return 200;
}

int order_record(const order_taken *t, char *why, size_t whylen)
{
    int64_t pos;
    return repl_submit(order_ctx.repl, decide_order, (void *)t, &pos, why, whylen);
}
