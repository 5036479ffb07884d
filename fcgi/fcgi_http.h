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

/* A hedged request: the same request as n calls (each with its own peer
 * key, as for fcgi_http_do_all). Call 0 starts now; call k starts when
 * k * after_ms have passed without a good answer (a response below 500),
 * or at once when every call started so far has failed. Returns as soon as
 * one call got a good answer, abandoning the others (their rc is -1), with
 * that call's index; without one, the index of the call whose answer says
 * most (the latest with a response, else 0). For reads only: an abandoned
 * call may still have been served. */
int fcgi_http_do_hedged(fcgi_http *h, fcgi_http_call *calls, size_t n, int after_ms);

/* Frees the body of a response and zeroes it. Safe on a zeroed resp. */
void fcgi_http_resp_clear(fcgi_http_resp *r);

#endif
