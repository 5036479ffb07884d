/* front_routes.c - the public API (README.md, "The API"): validates input,
 * serves lookups from the Redis cache, and calls catalog and order through
 * nginx's internal listener. Every answer carries Server-Timing. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "fcgi_log.h"
#include "fcgi_metrics.h"
#include "fcgi_page.h"
#include "fcgi_text.h"
#include "front.h"

#define TEXT_MAX 200
/* The limit of one attempt of a downstream call. nginx bounds each try at a
 * replica (3 s) and the patient call's deadline the whole call; this only
 * stops an attempt that nginx keeps retrying from running forever. */
#define CALL_TIMEOUT_MS 8000

front front_ctx;

/* Where a call goes (the internal listener's URL of path) and its request
 * id header. Returns 0, or -1 with resp->err set when the URL is too long. */
static int call_target(fcgi_request *req, const char *path, char *url, size_t urlcap, char *rid,
                       size_t ridcap, fcgi_http_resp *resp)
{
    int n = snprintf(url, urlcap, "%s%s", front_ctx.cfg->internal_url, path);
    memset(resp, 0, sizeof *resp);
    if (n < 0 || (size_t)n >= urlcap) {
        snprintf(resp->err, sizeof resp->err, "url too long");
        return -1;
    }
    snprintf(rid, ridcap, "X-Request-Id: %s", req->request_id);
    return 0;
}

int front_relay(fcgi_request *req, int rc, fcgi_http_resp *resp, const char *tier)
{
    int status;
    if (rc != 0 || resp->status >= 502 || resp->status < 200) {
        LOG_WARN("%s call failed: %s (status %ld)", tier, rc ? resp->err : "gateway error",
                 resp->status);
        status = fcgi_resp_error(req, 503, "no %s replica can serve the request", tier);
    } else {
        status = fcgi_resp_raw(req, (int)resp->status, "application/json",
                               resp->body ? resp->body : "", resp->len);
    }
    fcgi_http_resp_clear(resp);
    return status;
}

/* The {id} capture, or -1 after answering 400. */
static long long capture_id(fcgi_request *req, const char *what)
{
    long long id;
    if (fcgi_parse_id(req->caps.value[0], req->caps.len[0], &id) != 0) {
        fcgi_resp_error(req, 400, "%s id must be a non-negative integer", what);
        return -1;
    }
    return id;
}

/* A call that meets a failover waits instead of failing: it is a patient
 * call (fcgi_http_do_patient), attempts that overlap, until deadline_ms;
 * then the caller answers 503 and Retry-After says when to try again.
 *   - An attempt that gets no answer or a 5xx (a dead replica, no primary
 *     yet, a backup without a read lease, a write not yet known to be on a
 *     majority) is sent again after a back-off of 25 ms doubling to 400 ms.
 *   - One still unanswered after a hedge delay is most likely at a replica
 *     that is stopped or cut off, where nginx would wait
 *     fastcgi_read_timeout (3 s) before giving up: the same request also
 *     goes out again then (nginx's round robin sends it on to the next
 *     replica), and the first good answer is taken. A read answers in a
 *     few milliseconds, so its hedge comes after READ_HEDGE_MS; a write may
 *     wait for its replication, so after WRITE_HEDGE_MS.
 * A read is safe to repeat as it is (any replica's answer is as fresh as
 * any other's: each serves under its lease); a write carries its
 * Idempotency-Key in `hdr`, so a repeat returns the first result instead of
 * applying twice, at whichever replica it lands, and an attempt still
 * running elsewhere is harmless: the first decision for a key is final, a
 * refusal too (the catalog records refusals by key; without that, one
 * attempt could be refused and an overlapping one applied after a restock,
 * docs/REPLICATION.md "Refusals are final"). The first attempt goes to `first` (a
 * replica named as the primary, or NULL: `path` too), the others to `path`,
 * the balanced upstream. *ms is the whole time. */
#define READ_HEDGE_MS 100
#define WRITE_HEDGE_MS 250

static int patient_call(fcgi_request *req, const char *peer, const char *method,
                        const char *first, const char *path, const char *body, size_t len,
                        const char *hdr, int deadline_ms, double *ms, fcgi_http_resp *r)
{
    char url[FCGI_CONFIG_STR + 2048], first_url[FCGI_CONFIG_STR + 128], rid[96];
    *ms = 0;
    if (call_target(req, path, url, sizeof url, rid, sizeof rid, r) != 0)
        return -1;
    if (first)
        snprintf(first_url, sizeof first_url, "%s%s", front_ctx.cfg->internal_url, first);
    int is_read = strcmp(method, "GET") == 0 && !hdr;
    const char *hdrs[] = {"Content-Type: application/json", rid, hdr, NULL};
    fcgi_http_call call = {.peer = peer, .method = method, .url = url, .headers = hdrs,
                           .body = body, .len = len, .timeout_ms = CALL_TIMEOUT_MS};
    fcgi_http_patience pat = {.first_url = first ? first_url : NULL,
                              .hedge_ms = is_read ? READ_HEDGE_MS : WRITE_HEDGE_MS,
                              .deadline_ms = deadline_ms};
    int rc = fcgi_http_do_patient(front_ctx.http, &call, &pat);
    *r = call.resp;
    *ms = r->ms;
    if (rc != 0 || r->status >= 500) {
        LOG_WARN("%s %s failed (%s, %ld) after %d attempts in %.0f ms; giving up", method, path,
                 rc ? r->err : "server error", r->status, call.attempts, r->ms);
        fcgi_resp_header(req, "Retry-After", "1");
    } else if (call.attempts > 1) {
        LOG_INFO("%s %s answered after %d attempts in %.0f ms", method, path, call.attempts,
                 r->ms);
    }
    return rc;
}

/* A keyed write through patient_call, until write_deadline_ms; the key
 * goes back to the client in the answer. */
static int keyed_call(fcgi_request *req, const char *peer, const char *method, const char *first,
                      const char *path, const char *body, size_t len, const char *key,
                      double *ms, fcgi_http_resp *r)
{
    char hdr[160];
    snprintf(hdr, sizeof hdr, "Idempotency-Key: %s", key);
    int rc = patient_call(req, peer, method, first, path, body, len, hdr,
                          front_ctx.cfg->write_deadline_ms, ms, r);
    fcgi_resp_header(req, "Idempotency-Key", "%s", key);
    return rc;
}

/* A read through patient_call, until read_deadline_ms. */
static int read_call(fcgi_request *req, const char *tier, const char *path, fcgi_http_resp *r)
{
    double ms;
    int rc = patient_call(req, tier, "GET", NULL, path, NULL, 0, NULL,
                          front_ctx.cfg->read_deadline_ms, &ms, r);
    r->ms = ms;
    return rc;
}

/* A read that any replica of `tier` answers (nginx's upstream picks one and
 * moves on from one that cannot serve), relayed as it is. */
static int replica_read(fcgi_request *req, const char *tier, const char *path)
{
    fcgi_http_resp r;
    int rc = read_call(req, tier, path, &r);
    fcgi_resp_header(req, "Server-Timing", "%s;dur=%.2f", tier, r.ms);
    return front_relay(req, rc, &r, tier);
}

static int h_search(fcgi_request *req)
{
    const char *topic = req->caps.value[0];
    size_t len = req->caps.len[0];
    char enc[TEXT_MAX * 3 + 1], path[TEXT_MAX * 3 + 32];
    if (len == 0 || len > TEXT_MAX || !fcgi_text_valid(topic, len) ||
        fcgi_url_encode(topic, len, enc, sizeof enc) != 0)
        return fcgi_resp_error(req, 400, "topic must be 1 to %d bytes of printable UTF-8",
                               TEXT_MAX);
    snprintf(path, sizeof path, "/catalog/search/%s", enc);
    return replica_read(req, "catalog", path);
}

static int h_all(fcgi_request *req)
{
    return replica_read(req, "catalog", "/catalog/books");
}

/* GET /bazar/books?topic=&q=&page=&per_page=&sort=: one page of the
 * catalog. The query is checked here (fcgi/fcgi_page.h) and passed on in its
 * canonical form; a catalog replica answers it like a search. Not cached:
 * a page changes with every write to any of its books. */
static int h_books(fcgi_request *req)
{
    fcgi_page_query pq;
    char why[256], path[2048];
    if (fcgi_page_parse(req->query, &pq, why, sizeof why) != 0)
        return fcgi_resp_error(req, 400, "%s", why);
    static const char prefix[] = "/catalog/browse?";
    memcpy(path, prefix, sizeof prefix);
    if (fcgi_page_format(&pq, path + sizeof prefix - 1, sizeof path - sizeof prefix + 1) != 0)
        return fcgi_resp_error(req, 400, "query too long");
    return replica_read(req, "catalog", path);
}

/* GET /bazar/topics: every topic with its number of books. */
static int h_topics(fcgi_request *req)
{
    return replica_read(req, "catalog", "/catalog/topics");
}

/* GET /bazar/info/{id}: the cache-aside lookup with a fill lease (see
 * fcgi/fcgi_cache.c for why the lease closes the stale-fill race). */
static int h_info(fcgi_request *req)
{
    long long id = capture_id(req, "book");
    if (id < 0)
        return 400;
    char key[64], path[64];
    fcgi_cache_ticket ticket = {.lease = ""};
    fcgi_cache *cache = front_ctx.cache;
    enum fcgi_cache_result cr = FCGI_CACHE_BYPASS;
    fcgi_cache_book_key(id, key, sizeof key);
    if (cache) {
        char *val = NULL;
        size_t len = 0;
        cr = fcgi_cache_get(cache, key, &val, &len, &ticket);
        if (cr == FCGI_CACHE_HIT) {
            fcgi_metrics_cache_event(FCGI_METRICS_CACHE_HIT);
            fcgi_resp_header(req, "Server-Timing", "cache;desc=hit");
            int st = fcgi_resp_raw(req, 200, "application/json", val, len);
            free(val);
            return st;
        }
    }
    snprintf(path, sizeof path, "/catalog/books/%lld", id);
    fcgi_http_resp r;
    int rc = read_call(req, "catalog", path, &r);
    if (rc == 0 && r.status == 200 && ticket.lease[0]) {
        if (front_ctx.cfg->test_fill_delay_ms) /* test hook: widen the race window */
            nanosleep(&(struct timespec){front_ctx.cfg->test_fill_delay_ms / 1000,
                                         (front_ctx.cfg->test_fill_delay_ms % 1000) * 1000000L},
                      NULL);
        fcgi_cache_fill(cache, key, &ticket, r.body, r.len);
    }
    if (cache) /* with the cache off nothing is looked up */
        fcgi_metrics_cache_event(cr == FCGI_CACHE_MISS ? FCGI_METRICS_CACHE_MISS
                                                       : FCGI_METRICS_CACHE_BYPASS);
    fcgi_resp_header(req, "Server-Timing", "cache;desc=%s, catalog;dur=%.2f",
                     !cache ? "off" : cr == FCGI_CACHE_MISS ? "miss" : "bypass", r.ms);
    return front_relay(req, rc, &r, "catalog");
}

/* Copies the value of one name from a Server-Timing header ("catalog;dur=1.2"). */
static void copy_timing(const char *st, const char *name, char *out, size_t outlen)
{
    const char *p = st ? strstr(st, name) : NULL;
    out[0] = 0;
    if (p) {
        size_t n = strcspn(p, ",");
        snprintf(out, outlen, ", %.*s", (int)(n < 64 ? n : 64), p);
    }
}

/* The write's Idempotency-Key: the client's (validated) or a fresh random
 * one, so that our own retry below is safe. Returns 0, or -1 after
 * answering the error. */
static int write_key(fcgi_request *req, char key[130])
{
    const char *given = fcgi_req_header(req, "Idempotency-Key");
    if (given) {
        if (!fcgi_key_valid(given)) {
            fcgi_resp_error(req, 400,
                            "Idempotency-Key must be 1 to 128 characters of [A-Za-z0-9._:-]");
            return -1;
        }
        snprintf(key, 130, "%s", given);
        return 0;
    }
    unsigned char raw[16];
    if (getrandom(raw, sizeof raw, 0) != (ssize_t)sizeof raw) {
        fcgi_resp_error(req, 500, "no randomness for an idempotency key");
        return -1;
    }
    for (size_t i = 0; i < sizeof raw; i++)
        snprintf(key + 2 * i, 3, "%02x", raw[i]);
    return 0;
}

static int h_purchase(fcgi_request *req)
{
    long long id = capture_id(req, "book");
    if (id < 0)
        return 400;
    char key[130], path[64], inner[80];
    if (write_key(req, key) != 0)
        return 400;
    /* Straight to the order primary the last answer named (no forwarding
     * hop at a backup); the balanced upstream when none is known or it
     * failed. Per process, so each worker learns it once. */
    static int primary;
    char direct[80];
    snprintf(path, sizeof path, "/order/purchase/%lld", id);
    snprintf(direct, sizeof direct, "/replica/order/%d/purchase/%lld", primary, id);
    fcgi_http_resp r;
    double ms;
    int rc = keyed_call(req, "order", "POST", primary ? direct : NULL, path, NULL, 0, key, &ms, &r);
    primary = rc == 0 && r.status < 500 ? r.primary : 0;
    copy_timing(r.server_timing, "catalog;", inner, sizeof inner);
    fcgi_resp_header(req, "Server-Timing", "order;dur=%.2f%s", ms, inner);
    return front_relay(req, rc, &r, "order");
}

static int h_order(fcgi_request *req)
{
    long long id = capture_id(req, "order");
    if (id < 0)
        return 400;
    char path[64];
    snprintf(path, sizeof path, "/order/orders/%lld", id);
    return replica_read(req, "order", path);
}

/* Admin writes (token already checked): a well-formed JSON object, then
 * the catalog validates the fields and decides; keyed and retried once like
 * purchases, so a replica dying under the write costs no error and no
 * double restock. */
static int admin_write(fcgi_request *req, const char *method, const char *path)
{
    int status;
    char why[256];
    if (!fcgi_req_json(req, &status, why, sizeof why))
        return fcgi_resp_error(req, status, "%s", why);
    const char *body;
    size_t len;
    char key[130];
    if (fcgi_req_body(req, &body, &len) != 0)
        return fcgi_resp_error(req, 400, "unreadable body");
    if (write_key(req, key) != 0)
        return 400;
    fcgi_http_resp r;
    double ms;
    int rc = keyed_call(req, "catalog", method, NULL, path, body, len, key, &ms, &r);
    fcgi_resp_header(req, "Server-Timing", "catalog;dur=%.2f", ms);
    return front_relay(req, rc, &r, "catalog");
}

static int h_add(fcgi_request *req)
{
    if (!front_auth_check(req))
        return 401;
    return admin_write(req, "POST", "/catalog/books");
}

/* An admin write to the book {id}: /catalog/books/{id}/<what>. */
static int book_admin_write(fcgi_request *req, const char *method, const char *what)
{
    if (!front_auth_check(req))
        return 401;
    long long id = capture_id(req, "book");
    char path[64];
    snprintf(path, sizeof path, "/catalog/books/%lld/%s", id, what);
    return id < 0 ? 400 : admin_write(req, method, path);
}

static int h_price(fcgi_request *req)
{
    return book_admin_write(req, "PUT", "price");
}

static int h_restock(fcgi_request *req)
{
    return book_admin_write(req, "POST", "restock");
}

/* Healthy when some catalog and some order replica answer. */
static int h_health(fcgi_request *req)
{
    char cu[FCGI_CONFIG_STR + 32], ou[FCGI_CONFIG_STR + 32];
    snprintf(cu, sizeof cu, "%s/catalog/health", front_ctx.cfg->internal_url);
    snprintf(ou, sizeof ou, "%s/order/health", front_ctx.cfg->internal_url);
    fcgi_http_call calls[2] = {
        {.peer = "catalog", .method = "GET", .url = cu},
        {.peer = "order", .method = "GET", .url = ou},
    };
    fcgi_http_do_all(front_ctx.http, calls, 2);
    int ok = calls[0].rc == 0 && calls[0].resp.status == 200 && calls[1].rc == 0 &&
             calls[1].resp.status == 200;
    fcgi_resp_header(req, "Server-Timing", "catalog;dur=%.2f, order;dur=%.2f", calls[0].resp.ms,
                     calls[1].resp.ms);
    fcgi_http_resp_clear(&calls[0].resp);
    fcgi_http_resp_clear(&calls[1].resp);
    if (!ok)
        return fcgi_resp_error(req, 503, "no catalog or no order replica is serving");
    json_object *o = json_object_new_object();
    if (!o)
        return fcgi_resp_error(req, 500, "out of memory");
    json_object_object_add(o, "status", json_object_new_string("ok"));
    return fcgi_resp_json(req, 200, o);
}

const fcgi_route front_routes[] = {
    {"GET", "/bazar/search/{topic}", h_search},
    {"GET", "/bazar/info/all", h_all},
    {"GET", "/bazar/info/{id}", h_info},
    {"POST", "/bazar/purchase/{id}", h_purchase},
    {"GET", "/bazar/orders/{id}", h_order},
    {"GET", "/bazar/books", h_books},
    {"POST", "/bazar/books", h_add},
    {"GET", "/bazar/topics", h_topics},
    {"PUT", "/bazar/books/{id}/price", h_price},
    {"POST", "/bazar/books/{id}/restock", h_restock},
    {"GET", "/health", h_health},
    {"GET", "/status", front_status},
    {"GET", "/metrics", front_metrics}, /* internal listener only (nginx) */
    {"GET", "/bazar/status", front_status}, /* the same, public: the storefront's cluster panel */
};
const size_t front_nroutes = sizeof front_routes / sizeof front_routes[0];
