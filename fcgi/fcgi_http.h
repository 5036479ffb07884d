/* fcgi_http.h - the libcurl client every service-to-service call goes through.
 *
 * One fcgi_http per process. It keeps one CURL easy handle per peer key, so
 * each peer gets a kept-alive connection that is reused across requests, and
 * it runs several calls in parallel through a curl multi handle. */
#ifndef FCGI_HTTP_H
#define FCGI_HTTP_H

#include <stddef.h>

typedef struct fcgi_http fcgi_http;

typedef struct fcgi_http_resp {
    long status;      /* HTTP status, 0 when there was no response */
    char *body;       /* NUL-terminated, malloc'd; freed by fcgi_http_resp_clear */
    size_t len;
    double ms;        /* wall time of the call */
    char server_timing[256]; /* the response's Server-Timing header, or "" */
    int primary;      /* X-Bazar-Primary: the replica id a replicated service named as
                       * its primary (a hint for the next write), 0 when absent */
    char err[128];    /* transport error text when status == 0 */
} fcgi_http_resp;

typedef struct fcgi_http_call {
    const char *peer;    /* handle key, e.g. "catalog" or "catalog-2"; NULL: "default" */
    const char *method;  /* "GET", "POST", "PUT" */
    const char *url;
    const char *const *headers; /* NULL-terminated "Name: value" list, or NULL */
    const char *body;    /* may be NULL */
    size_t len;
    int timeout_ms;      /* 0: the client's default */
    fcgi_http_resp resp; /* filled by the call */
    int rc;              /* 0 a response arrived, -1 transport error */
    int attempts;        /* fcgi_http_do_patient: the attempts it made */
    /* Optional (fcgi_http_do, fcgi_http_do_all): asked every 10 ms while the
     * call runs; when it returns 0 the call is abandoned (rc -1, resp.err
     * "abandoned: ..."), e.g. a forward to a primary that has since gone
     * silent. */
    int (*still_wanted)(void *arg);
    void *wanted_arg;
} fcgi_http_call;

/* Creates a client whose calls time out after timeout_ms by default.
 * Returns NULL on allocation or libcurl failure. Free with fcgi_http_free. */
fcgi_http *fcgi_http_new(int timeout_ms);
void fcgi_http_free(fcgi_http *h);

/* Every later call of `h` carries "X-Bazar-Secret: <secret>" (the cluster
 * secret internal routes require); NULL or "" stops it. Returns -1 when the
 * secret is too long or contains a line break. */
int fcgi_http_set_secret(fcgi_http *h, const char *secret);

/* Performs one call synchronously. Returns 0 when a response arrived (any
 * status), -1 on a transport failure (call->resp.err says why). */
/* (Both fcgi_http_do and fcgi_http_do_all first release call->resp with
 * fcgi_http_resp_clear, so a call must start zero-initialised; it may then
 * be reused. On rc 0 resp.body is never NULL. A call with a method other
 * than GET/HEAD and no Content-Type in `headers` is sent as
 * "Content-Type: application/json"; "Expect:" is always suppressed.) */
int fcgi_http_do(fcgi_http *h, fcgi_http_call *call);

/* Performs n calls in parallel (curl multi) and returns when all finished or
 * timed out. Each call gets its own rc and resp. Two calls must not share a
 * peer key (each key owns one handle). Returns the number that got a response. */
int fcgi_http_do_all(fcgi_http *h, fcgi_http_call *calls, size_t n);

/* A patient call: one request as a series of attempts that waits out a
 * failover instead of failing (the schedule is described in fcgi_http.c).
 * Attempts overlap: a new one starts hedge_ms after the latest while none
 * has answered, so an attempt held by a stopped process does not hold the
 * request; after a failed one (a transport error or a 5xx) the next starts
 * after a back-off of 25 ms doubling to 400 ms. An abandoned attempt may
 * still have been served. For reads, and for writes with an
 * Idempotency-Key whose first decision the peer keeps, refusals included:
 * while two attempts overlap, one could otherwise be refused and the other
 * applied later (docs/REPLICATION.md, "Refusals are final"). A write whose
 * peer does not keep its refusals must use slots = 1 (one attempt at a
 * time). */
#define FCGI_HTTP_PATIENT_SLOTS 8
typedef struct fcgi_http_patience {
    const char *first_url; /* the first attempt's URL (e.g. a known primary), or NULL */
    int hedge_ms;          /* a new attempt after this long without an answer */
    int deadline_ms;       /* no attempt starts after this, and none is waited for */
    int slots;             /* attempts in flight at once, 1..FCGI_HTTP_PATIENT_SLOTS
                            * (0: all) */
} fcgi_http_patience;

/* Performs `call` (its url: every attempt but a first_url one) patiently.
 * call->resp is the first good answer (status below 500), else the most
 * telling failure (a 5xx over a transport error, then the latest), with
 * resp.ms the whole time and call->attempts the attempts made. Each attempt
 * uses its own peer key ("<peer>#<slot>"). Returns call->rc. */
int fcgi_http_do_patient(fcgi_http *h, fcgi_http_call *call, const fcgi_http_patience *p);

/* Frees the body of a response and zeroes it. Safe on a zeroed resp. */
void fcgi_http_resp_clear(fcgi_http_resp *r);

#endif
