/* fcgi_http.c - libcurl client: one reused easy handle per peer, parallel calls via curl multi. */
#include "fcgi_http.h"
#include "fcgi_secret.h"
#include "fcgi_app.h"
#include "fcgi_log.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#define HTTP_MAX_PEERS 32
#define HTTP_PEER_KEY 64
#define HTTP_BODY_MAX (64u << 20) /* a peer's answer larger than this is an error */
#define HTTP_MAX_CONNECTS 64      /* kept-alive connections in the multi's pool */
/* The hedge budget (see "the patient call" below), in credits: a patient
 * call earns one, a hedge costs HEDGE_COST, at most HEDGE_SAVED are kept. */
#define HEDGE_COST 10
#define HEDGE_SAVED (50 * HEDGE_COST)

/* One easy handle per peer key. The connections themselves live in the
 * multi handle's pool (every call, single or parallel, runs through it), so
 * a connection opened for one call is reused by the next. */
typedef struct http_peer {
    char key[HTTP_PEER_KEY];
    CURL *easy;
    char errbuf[CURL_ERROR_SIZE];
} http_peer;

struct fcgi_http {
    int timeout_ms;
    int hedge_credit; /* the hedge budget (fcgi_http_do_patient) */
    CURLM *multi;
    char secret_header[FCGI_SECRET_MAX + 32]; /* "X-Bazar-Secret: ..." or "" */
    size_t npeers;
    http_peer peers[HTTP_MAX_PEERS];
};

/* Per-call state while the transfer runs. */
typedef struct http_xfer {
    fcgi_http_call *call;
    http_peer *peer;
    struct curl_slist *headers;
    size_t cap;       /* of call->resp.body */
    int too_big;
    int added;        /* to the multi handle */
    int done;
    double t0;
} http_xfer;

static int g_curl_ready;

void fcgi_http_resp_clear(fcgi_http_resp *r)
{
    if (r == NULL)
        return;
    free(r->body);
    memset(r, 0, sizeof *r);
}

fcgi_http *fcgi_http_new(int timeout_ms)
{
    if (!g_curl_ready) {
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
            return NULL;
        g_curl_ready = 1;
    }
    fcgi_http *h = calloc(1, sizeof *h);
    if (h == NULL)
        return NULL;
    h->timeout_ms = timeout_ms > 0 ? timeout_ms : 2000;
    h->hedge_credit = HEDGE_SAVED;
    h->multi = curl_multi_init();
    if (h->multi == NULL ||
        curl_multi_setopt(h->multi, CURLMOPT_MAXCONNECTS, (long)HTTP_MAX_CONNECTS) != CURLM_OK) {
        if (h->multi != NULL)
            curl_multi_cleanup(h->multi);
        free(h);
        return NULL;
    }
    return h;
}

int fcgi_http_set_secret(fcgi_http *h, const char *secret)
{
    if (secret == NULL || secret[0] == '\0') {
        h->secret_header[0] = '\0';
        return 0;
    }
    if (strlen(secret) >= FCGI_SECRET_MAX || strpbrk(secret, "\r\n") != NULL)
        return -1;
    snprintf(h->secret_header, sizeof h->secret_header, "%s: %s", FCGI_SECRET_HEADER, secret);
    return 0;
}

void fcgi_http_free(fcgi_http *h)
{
    if (h == NULL)
        return;
    for (size_t i = 0; i < h->npeers; i++)
        curl_easy_cleanup(h->peers[i].easy);
    curl_multi_cleanup(h->multi);
    free(h);
}

/* Copies msg into r->err, truncating. */
static void set_err(fcgi_http_resp *r, const char *msg)
{
    size_t n = strnlen(msg, sizeof r->err - 1);
    memcpy(r->err, msg, n);
    r->err[n] = '\0';
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *userdata)
{
    http_xfer *x = userdata;
    fcgi_http_resp *r = &x->call->resp;
    size_t n = size * nmemb;
    if (n > HTTP_BODY_MAX - r->len) {
        x->too_big = 1;
        return 0; /* aborts the transfer with CURLE_WRITE_ERROR */
    }
    if (r->len + n + 1 > x->cap) {
        size_t cap = x->cap != 0 ? x->cap : 4096;
        while (cap < r->len + n + 1)
            cap *= 2;
        char *nb = realloc(r->body, cap);
        if (nb == NULL)
            return 0;
        r->body = nb;
        x->cap = cap;
    }
    memcpy(r->body + r->len, data, n);
    r->len += n;
    r->body[r->len] = '\0';
    return n;
}

static size_t on_header(char *data, size_t size, size_t nitems, void *userdata)
{
    static const char name[] = "Server-Timing:", hint[] = "X-Bazar-Primary:";
    http_xfer *x = userdata;
    fcgi_http_resp *r = &x->call->resp;
    size_t n = size * nitems, nl = sizeof name - 1, hl = sizeof hint - 1;
    if (n > hl && strncasecmp(data, hint, hl) == 0) {
        int id = 0;
        size_t i = hl;
        while (i < n && data[i] == ' ')
            i++;
        for (; i < n && data[i] >= '0' && data[i] <= '9' && id < 1000; i++)
            id = id * 10 + (data[i] - '0');
        r->primary = id < 1000 ? id : 0;
    } else if (n > nl && strncasecmp(data, name, nl) == 0) {
        const char *v = data + nl;
        size_t vl = n - nl;
        while (vl > 0 && (*v == ' ' || *v == '\t'))
            v++, vl--;
        while (vl > 0 && (v[vl - 1] == '\r' || v[vl - 1] == '\n' || v[vl - 1] == ' '))
            vl--;
        size_t have = strlen(r->server_timing);
        size_t room = sizeof r->server_timing - 1 - have;
        if (have > 0 && vl > 0 && room >= 2) { /* several headers join like one list */
            memcpy(r->server_timing + have, ", ", 2);
            have += 2;
            room -= 2;
        }
        if (vl > room)
            vl = room;
        memcpy(r->server_timing + have, v, vl);
        r->server_timing[have + vl] = '\0';
    }
    return n;
}

static http_peer *peer_get(fcgi_http *h, const char *key, char *err, size_t errlen)
{
    for (size_t i = 0; i < h->npeers; i++)
        if (strcmp(h->peers[i].key, key) == 0)
            return &h->peers[i];
    if (strlen(key) >= HTTP_PEER_KEY) {
        snprintf(err, errlen, "peer key too long");
        return NULL;
    }
    if (h->npeers == HTTP_MAX_PEERS) {
        snprintf(err, errlen, "too many peers (max %d)", HTTP_MAX_PEERS);
        return NULL;
    }
    http_peer *p = &h->peers[h->npeers];
    p->easy = curl_easy_init();
    if (p->easy == NULL) {
        snprintf(err, errlen, "curl_easy_init failed");
        return NULL;
    }
    if (curl_easy_setopt(p->easy, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
        curl_easy_setopt(p->easy, CURLOPT_TCP_KEEPALIVE, 1L) != CURLE_OK ||
        curl_easy_setopt(p->easy, CURLOPT_TCP_NODELAY, 1L) != CURLE_OK ||
        curl_easy_setopt(p->easy, CURLOPT_ERRORBUFFER, p->errbuf) != CURLE_OK) {
        curl_easy_cleanup(p->easy);
        p->easy = NULL;
        snprintf(err, errlen, "cannot configure a curl handle");
        return NULL;
    }
    snprintf(p->key, sizeof p->key, "%s", key);
    h->npeers++;
    return p;
}

static int has_header(const char *const *headers, const char *name)
{
    size_t n = strlen(name);
    for (; headers != NULL && *headers != NULL; headers++)
        if (strncasecmp(*headers, name, n) == 0 && (*headers)[n] == ':')
            return 1;
    return 0;
}

/* Configures the peer's handle for one call. Returns 0 or -1 with resp.err set. */
static int xfer_prepare(fcgi_http *h, http_xfer *x)
{
    fcgi_http_call *c = x->call;
    const char *method = c->method != NULL ? c->method : "GET";
    x->peer = peer_get(h, c->peer != NULL ? c->peer : "default", c->resp.err, sizeof c->resp.err);
    if (x->peer == NULL)
        return -1;
    if (c->url == NULL) {
        set_err(&c->resp, "no URL");
        return -1;
    }
    CURL *e = x->peer->easy;
    x->peer->errbuf[0] = '\0';

    struct curl_slist *hl = NULL;
    for (const char *const *p = c->headers; p != NULL && *p != NULL; p++) {
        struct curl_slist *t = curl_slist_append(hl, *p);
        if (t == NULL)
            goto oom;
        hl = t;
    }
    int is_get = strcmp(method, "GET") == 0, is_head = strcmp(method, "HEAD") == 0;
    /* Peers answer 415 to a body that is not labelled JSON; libcurl would
     * label it application/x-www-form-urlencoded. */
    const char *extra[] = {"Expect:", h->secret_header[0] ? h->secret_header : NULL,
                           !is_get && !is_head && !has_header(c->headers, "Content-Type")
                               ? "Content-Type: application/json"
                               : NULL};
    for (size_t i = 0; i < sizeof extra / sizeof extra[0]; i++) {
        if (extra[i] == NULL)
            continue;
        struct curl_slist *t = curl_slist_append(hl, extra[i]);
        if (t == NULL)
            goto oom;
        hl = t;
    }
    x->headers = hl;

    long timeout = c->timeout_ms > 0 ? c->timeout_ms : h->timeout_ms;
    CURLcode rc = CURLE_OK;
#define SET(opt, val)                                                                              \
    do {                                                                                           \
        if (rc == CURLE_OK)                                                                        \
            rc = curl_easy_setopt(e, opt, val);                                                    \
    } while (0)
    SET(CURLOPT_URL, c->url);
    SET(CURLOPT_HTTPHEADER, hl);
    SET(CURLOPT_TIMEOUT_MS, timeout);
    SET(CURLOPT_CONNECTTIMEOUT_MS, timeout < 1000 ? timeout : 1000L);
    SET(CURLOPT_WRITEFUNCTION, on_body);
    SET(CURLOPT_WRITEDATA, x);
    SET(CURLOPT_HEADERFUNCTION, on_header);
    SET(CURLOPT_HEADERDATA, x);
    SET(CURLOPT_PRIVATE, x);
    if (is_get) {
        SET(CURLOPT_HTTPGET, 1L);
        SET(CURLOPT_CUSTOMREQUEST, (char *)NULL);
    } else if (is_head) {
        SET(CURLOPT_NOBODY, 1L);
        SET(CURLOPT_CUSTOMREQUEST, (char *)NULL);
    } else {
        SET(CURLOPT_POST, 1L);
        SET(CURLOPT_POSTFIELDS, c->body != NULL ? c->body : "");
        SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(c->body != NULL ? c->len : 0));
        SET(CURLOPT_CUSTOMREQUEST, strcmp(method, "POST") == 0 ? NULL : method);
    }
#undef SET
    if (rc != CURLE_OK) {
        snprintf(c->resp.err, sizeof c->resp.err, "curl_easy_setopt: %s", curl_easy_strerror(rc));
        return -1;
    }
    return 0;
oom:
    curl_slist_free_all(hl);
    set_err(&c->resp, "out of memory");
    return -1;
}

/* Records the outcome of a finished transfer. */
static void xfer_finish(http_xfer *x, CURLcode result)
{
    fcgi_http_call *c = x->call;
    fcgi_http_resp *r = &c->resp;
    x->done = 1;
    r->ms = fcgi_now_ms() - x->t0;
    long status = 0;
    if (result == CURLE_OK &&
        curl_easy_getinfo(x->peer->easy, CURLINFO_RESPONSE_CODE, &status) != CURLE_OK)
        status = 0;
    if (result != CURLE_OK || status == 0) {
        if (x->too_big)
            set_err(r, "response larger than 64 MiB");
        else if (result != CURLE_OK)
            set_err(r, x->peer->errbuf[0] != '\0' ? x->peer->errbuf : curl_easy_strerror(result));
        else
            set_err(r, "no HTTP status");
        free(r->body);
        r->body = NULL;
        r->len = 0;
        r->status = 0;
        c->rc = -1;
        return;
    }
    if (r->body == NULL) {
        r->body = calloc(1, 1);
        if (r->body == NULL) {
            set_err(r, "out of memory");
            r->status = 0;
            c->rc = -1;
            return;
        }
    }
    r->status = status;
    c->rc = 0;
}

/* Drains the multi's finished-transfer messages; returns how many finished. */
static int collect_done(fcgi_http *h)
{
    CURLMsg *m;
    int left, finished = 0;
    while ((m = curl_multi_info_read(h->multi, &left)) != NULL) {
        if (m->msg != CURLMSG_DONE)
            continue;
        char *priv = NULL;
        if (curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, &priv) != CURLE_OK ||
            priv == NULL)
            continue;
        http_xfer *x = (http_xfer *)(void *)priv;
        if (!x->done) {
            xfer_finish(x, m->data.result);
            finished++;
        }
    }
    return finished;
}

/* Prepares call i and adds it to the multi handle. */
static void xfer_start(fcgi_http *h, http_xfer *x, fcgi_http_call *call)
{
    x->call = call;
    x->t0 = fcgi_now_ms();
    fcgi_http_resp_clear(&call->resp);
    call->rc = -1;
    if (xfer_prepare(h, x) != 0) {
        x->done = 1;
        return;
    }
    CURLMcode mc = curl_multi_add_handle(h->multi, x->peer->easy);
    if (mc != CURLM_OK) {
        snprintf(call->resp.err, sizeof call->resp.err, "curl_multi_add_handle: %s",
                 curl_multi_strerror(mc));
        x->done = 1;
        return;
    }
    x->added = 1;
}

/* A call that got an answer a caller can use (not a transport error, not a 5xx). */
static int xfer_good(const http_xfer *x)
{
    return x->done && x->call->rc == 0 && x->call->resp.status < 500;
}

/* Takes a transfer out of the multi handle and frees its header list; a
 * transfer still running is abandoned (its connection closed), with
 * `why` as its error. */
static void xfer_release(fcgi_http *h, http_xfer *x, const char *why)
{
    fcgi_http_call *c = x->call;
    if (x->added) {
        if (!x->done) {
            if (c->resp.err[0] == '\0')
                set_err(&c->resp, why);
            free(c->resp.body);
            c->resp.body = NULL;
            c->resp.len = 0;
            c->resp.ms = fcgi_now_ms() - x->t0;
            c->rc = -1;
            x->done = 1;
        }
        CURLMcode mc = curl_multi_remove_handle(h->multi, x->peer->easy);
        if (mc != CURLM_OK)
            LOG_WARN("curl_multi_remove_handle: %s", curl_multi_strerror(mc));
        x->added = 0;
    }
    if (x->peer != NULL) {
        /* The list is freed below: the handle must not keep pointing at it. */
        CURLcode ec = curl_easy_setopt(x->peer->easy, CURLOPT_HTTPHEADER, (struct curl_slist *)NULL);
        if (ec != CURLE_OK)
            LOG_WARN("curl_easy_setopt(HTTPHEADER): %s", curl_easy_strerror(ec));
    }
    curl_slist_free_all(x->headers);
    x->headers = NULL;
}

/* One round of the multi handle: performs what can be done and, unless
 * something finished, waits up to wait_ms for activity. 0, or -1 with the
 * error in *err. */
static int multi_round(fcgi_http *h, int wait_ms, const char **err, CURLMcode *code)
{
    int running = 0;
    CURLMcode mc = curl_multi_perform(h->multi, &running);
    if (mc == CURLM_OK && collect_done(h) > 0) {
        *code = mc;
        return 0;
    }
    if (mc == CURLM_OK) {
        mc = curl_multi_poll(h->multi, NULL, 0, wait_ms > 0 ? wait_ms : 1, NULL);
        if (mc == CURLM_OK) {
            mc = curl_multi_perform(h->multi, &running);
            *err = "curl_multi_perform";
        } else {
            *err = "curl_multi_poll";
        }
    } else {
        *err = "curl_multi_perform";
    }
    if (mc == CURLM_OK)
        collect_done(h);
    *code = mc;
    return mc == CURLM_OK ? 0 : -1;
}

#define WANTED_POLL_MS 10 /* how often a call's still_wanted is asked */

int fcgi_http_do_all(fcgi_http *h, fcgi_http_call *calls, size_t n)
{
    assert(h != NULL);
    for (size_t i = 0; i < n; i++)
        for (size_t j = i + 1; j < n; j++) {
            assert(strcmp(calls[i].peer ? calls[i].peer : "default",
                          calls[j].peer ? calls[j].peer : "default") != 0 &&
                   "two parallel calls share a peer key");
        }
    http_xfer stackx[8];
    http_xfer *xs = n <= 8 ? stackx : calloc(n, sizeof *xs);
    if (xs == NULL) {
        for (size_t i = 0; i < n; i++) {
            fcgi_http_resp_clear(&calls[i].resp);
            set_err(&calls[i].resp, "out of memory");
            calls[i].rc = -1;
        }
        return 0;
    }
    memset(xs, 0, (n <= 8 ? 8 : n) * sizeof *xs);
    for (size_t i = 0; i < n; i++)
        xfer_start(h, &xs[i], &calls[i]);
    for (;;) {
        size_t pending = 0;
        int watched = 0;
        for (size_t i = 0; i < n; i++) {
            if (!xs[i].done && calls[i].still_wanted != NULL) {
                if (!calls[i].still_wanted(calls[i].wanted_arg))
                    xfer_release(h, &xs[i], "abandoned: no longer wanted by the caller");
                else
                    watched = 1;
            }
            pending += !xs[i].done;
        }
        if (pending == 0)
            break;
        const char *what;
        CURLMcode mc;
        if (multi_round(h, watched ? WANTED_POLL_MS : 1000, &what, &mc) != 0) {
            for (size_t i = 0; i < n; i++)
                if (!xs[i].done)
                    snprintf(calls[i].resp.err, sizeof calls[i].resp.err, "%s: %s", what,
                             curl_multi_strerror(mc));
            break;
        }
    }
    int ok = 0;
    for (size_t i = 0; i < n; i++) {
        xfer_release(h, &xs[i], "transfer did not complete");
        ok += calls[i].rc == 0;
    }
    if (xs != stackx)
        free(xs);
    return ok;
}

int fcgi_http_do(fcgi_http *h, fcgi_http_call *call)
{
    fcgi_http_do_all(h, call, 1);
    return call->rc;
}

/* ---- the patient call ----
 *
 * One request as a series of attempts, each a transfer of its own (in
 * slot s, peer key "<peer>#s", so that each has its own handle and
 * connection). The schedule:
 *   - the first attempt starts at once (to first_url when given);
 *   - a new one starts hedge_ms after the latest start while nothing has
 *     answered (its predecessors keep running: a stopped process or a
 *     request waiting on one holds its transfer until it times out, and the
 *     answer of whichever finishes first is taken);
 *   - after a failed attempt (transport error or 5xx) the next starts after
 *     a back-off of 25 ms doubling to 400 ms, or sooner if a hedge is due;
 *   - at most FCGI_HTTP_PATIENT_SLOTS run at once;
 *   - it ends at the first good answer (below 500), abandoning the rest,
 *     or at deadline_ms, or when the next attempt would start after it.
 *
 * Hedges are budgeted. A hedge is extra load, and under overload every
 * answer is slow, so unbudgeted hedges would add load exactly when there
 * is least room for it, and could keep the overload going after its cause
 * has passed. Each patient call earns a tenth of a hedge (up to 50
 * hedges saved) and each hedge spends one, so in the long run hedges add
 * at most a tenth to the load. A fault needs more for a while: with one
 * of three replicas stopped, a third of the reads land there (nginx gives
 * up on it only after fastcgi_read_timeout, 3 s) and each needs a hedge,
 * and the 50 saved cover those seconds. An attempt after a failure is not
 * a hedge: the back-off already paces those. */

#define PATIENT_BACKOFF_FIRST 25
#define PATIENT_BACKOFF_MAX 400

static_assert(FCGI_HTTP_PATIENT_SLOTS <= 10, "a slot's key ends in one digit");

typedef struct patient_slot {
    fcgi_http_call call;
    http_xfer x;
    char key[HTTP_PEER_KEY];
    int busy; /* an attempt in flight */
} patient_slot;

/* Keeps the more telling of two failed attempts in *last (a response, a
 * 5xx with its reason, says more than a transport error; then the later). */
static void keep_failure(fcgi_http_call *last, fcgi_http_call *c)
{
    if (c->rc == 0 || last->rc != 0) {
        fcgi_http_resp_clear(&last->resp);
        last->resp = c->resp;
        last->rc = c->rc;
        memset(&c->resp, 0, sizeof c->resp);
    } else {
        fcgi_http_resp_clear(&c->resp);
    }
}

int fcgi_http_do_patient(fcgi_http *h, fcgi_http_call *call, const fcgi_http_patience *p)
{
    assert(h != NULL && p != NULL);
    patient_slot slots[FCGI_HTTP_PATIENT_SLOTS];
    memset(slots, 0, sizeof slots);
    int nslots = p->slots > 0 && p->slots < FCGI_HTTP_PATIENT_SLOTS ? p->slots
                                                                  : FCGI_HTTP_PATIENT_SLOTS;
    const char *peer = call->peer != NULL ? call->peer : "default";
    for (int s = 0; s < nslots; s++)
        snprintf(slots[s].key, sizeof slots[s].key, "%.*s#%c", HTTP_PEER_KEY - 8, peer, '0' + s);
    fcgi_http_call last = {.rc = -1};
    set_err(&last.resp, "no attempt made");
    double t0 = fcgi_now_ms(), deadline = t0 + p->deadline_ms, next = t0;
    int backoff = PATIENT_BACKOFF_FIRST, winner = -1, attempts = 0;
    int retry = 1; /* the next attempt is the first or follows a failure: not a hedge */
    h->hedge_credit += h->hedge_credit < HEDGE_SAVED;
    for (;;) {
        double now = fcgi_now_ms();
        int busy = 0, free_slot = -1;
        for (int s = 0; s < nslots; s++) {
            patient_slot *sl = &slots[s];
            if (sl->busy && sl->x.done) { /* finished: kept, or released for the next attempt */
                if (xfer_good(&sl->x)) {
                    winner = s;
                    break;
                }
                xfer_release(h, &sl->x, "");
                keep_failure(&last, &sl->call);
                sl->busy = 0;
                if (!retry || now + backoff < next)
                    next = now + backoff;
                retry = 1;
                backoff = backoff * 2 > PATIENT_BACKOFF_MAX ? PATIENT_BACKOFF_MAX : backoff * 2;
            }
            busy += sl->busy;
            if (!sl->busy && free_slot < 0)
                free_slot = s;
        }
        if (winner >= 0 || now >= deadline || (busy == 0 && next >= deadline))
            break;
        if (free_slot >= 0 && now >= next && !retry && h->hedge_credit < HEDGE_COST) {
            next = deadline; /* no hedge: wait for an answer, or a failure to retry */
            continue;
        }
        if (free_slot >= 0 && now >= next) {
            if (!retry)
                h->hedge_credit -= HEDGE_COST;
            retry = 0;
            patient_slot *sl = &slots[free_slot];
            sl->call = *call;
            memset(&sl->call.resp, 0, sizeof sl->call.resp);
            sl->call.peer = sl->key;
            sl->call.url = attempts == 0 && p->first_url ? p->first_url : call->url;
            memset(&sl->x, 0, sizeof sl->x);
            sl->busy = 1;
            attempts++;
            xfer_start(h, &sl->x, &sl->call);
            next = now + p->hedge_ms;
            continue;
        }
        double until = free_slot >= 0 && next < deadline ? next : deadline;
        int wait = until - now > 1000 ? 1000 : (int)(until - now) + 1;
        const char *what;
        CURLMcode mc;
        if (multi_round(h, wait, &what, &mc) != 0) {
            LOG_WARN("%s: %s", what, curl_multi_strerror(mc));
            break;
        }
    }
    for (int s = 0; s < nslots; s++) {
        patient_slot *sl = &slots[s];
        if (!sl->busy || s == winner)
            continue;
        xfer_release(h, &sl->x, winner >= 0 ? "abandoned: another attempt answered first"
                                            : "no answer before the deadline");
        keep_failure(&last, &sl->call);
    }
    fcgi_http_resp_clear(&call->resp);
    if (winner >= 0) {
        xfer_release(h, &slots[winner].x, "");
        call->resp = slots[winner].call.resp;
        call->rc = 0;
        fcgi_http_resp_clear(&last.resp);
    } else {
        call->resp = last.resp;
        call->rc = last.rc;
    }
    call->resp.ms = fcgi_now_ms() - t0;
    call->attempts = attempts;
    return call->rc;
}
