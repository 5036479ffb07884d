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
#include "order_db.h"

order_env order_ctx;

int order_take(order_taken *t, const char *rid, double *catalog_ms, char *why, size_t whylen)
{
    /* The catalog primary the last decrement named (X-Bazar-Primary): asked
     * directly, which saves the forwarding hop at a backup; when it fails,
     * once more through the balanced upstream. The key makes the repeat
     * safe. Per process. */
    static int primary;
    char url[FCGI_CONFIG_STR + 96], body[200], key_hdr[160], rid_hdr[96];
    snprintf(body, sizeof body, "{\"key\":\"%s\"}", t->key); /* key is [A-Za-z0-9._:-] */
    snprintf(key_hdr, sizeof key_hdr, "Idempotency-Key: %s", t->key);
    snprintf(rid_hdr, sizeof rid_hdr, "X-Request-Id: %s", rid);
    const char *hdrs[] = {"Content-Type: application/json", key_hdr, rid_hdr, NULL};
    fcgi_http_call call;
    int rc;
    for (int direct = primary;; direct = 0) {
        if (direct)
            snprintf(url, sizeof url, "%s/replica/catalog/%d/books/%" PRId64 "/decrement",
                     order_ctx.cfg->internal_url, direct, t->book_id);
        else
            snprintf(url, sizeof url, "%s/catalog/books/%" PRId64 "/decrement", order_ctx.cfg->internal_url,
                     t->book_id);
        call = (fcgi_http_call){.peer = "catalog", .method = "POST", .url = url, .headers = hdrs,
                                .body = body, .len = strlen(body)};
        rc = fcgi_http_do(order_ctx.http, &call);
        *catalog_ms += call.resp.ms;
        int answered = rc == 0 && call.resp.status >= 200 && call.resp.status < 500;
        primary = answered ? call.resp.primary : 0;
        if (answered || !direct)
            break;
        fcgi_http_resp_clear(&call.resp);
    }
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
