/* fcgi_app.h - the FastCGI request loop, request accessors and JSON responses.
 *
 * A program builds a route table and calls fcgi_app_run(); for each accepted
 * request the router picks a handler, which reads what it needs through the
 * fcgi_req_* accessors and answers with exactly one fcgi_resp_* call. The
 * loop logs one line per request (route, status, duration, request id). */
#ifndef FCGI_APP_H
#define FCGI_APP_H

#include <stddef.h>
#include <json-c/json.h>

#include "fcgi_router.h"

#define FCGI_MAX_RESP_HEADERS 2048 /* bytes of extra response headers */

/* Opaque to handlers except through the functions below; `caps` and `ctx`
 * are public for convenience. */
struct fcgi_request {
    fcgi_captures caps;     /* the route's captures */
    void *ctx;              /* the program's context passed to fcgi_app_run */
    const char *method;     /* REQUEST_METHOD */
    const char *path;       /* REQUEST_URI without the prefix and query, raw */
    size_t path_len;
    const char *query;      /* after '?', or "" */
    char request_id[64];    /* X-Request-Id from the caller, or generated */
    struct fcgi_request_impl *impl;
};

/* A FastCGI param (e.g. "REQUEST_METHOD") or NULL. */
const char *fcgi_req_param(fcgi_request *req, const char *name);

/* An HTTP request header by its HTTP name ("Idempotency-Key"), or NULL.
 * Mapped to the CGI form HTTP_IDEMPOTENCY_KEY. */
const char *fcgi_req_header(fcgi_request *req, const char *name);

/* Reads the whole body once (later calls return the same bytes). Returns 0
 * with *body (NUL-terminated, owned by the request) and *len, or the HTTP
 * status to answer: 413 when CONTENT_LENGTH or the bytes exceed the
 * configured limit, 400 when the body is shorter than CONTENT_LENGTH. */
int fcgi_req_body(fcgi_request *req, const char **body, size_t *len);

/* Reads the body and parses it as one JSON object (nesting depth <= 16).
 * Returns the object (owned by the request, freed after the response) or
 * NULL with *status set (400 malformed/not an object/empty, 413 too large,
 * 415 when CONTENT_TYPE is present and not application/json) and the error
 * response NOT yet sent; `why` (may be NULL) gets a human-readable reason. */
json_object *fcgi_req_json(fcgi_request *req, int *status, char *why, size_t whylen);

/* Adds a response header line ("Server-Timing", "cache;desc=hit"). Bounded
 * by FCGI_MAX_RESP_HEADERS in total; extra headers are dropped and logged. */
void fcgi_resp_header(fcgi_request *req, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Sends `obj` as application/json with `status`; takes ownership of obj
 * (json_object_put). Returns status. */
int fcgi_resp_json(fcgi_request *req, int status, json_object *obj);

/* Sends `len` bytes of `body` with the content type. Returns status. */
int fcgi_resp_raw(fcgi_request *req, int status, const char *ctype, const char *body, size_t len);

/* Sends {"error": "<formatted reason>"} with `status`. Returns status. */
int fcgi_resp_error(fcgi_request *req, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Runtime options of the loop. */
typedef struct fcgi_app_opts {
    const char *program;  /* for logs */
    long body_limit;      /* bytes */
    const char *timing;   /* when set, every response carries
                           * "Server-Timing: <timing>;dur=<ms in this program>" */
    const char *metrics_dir;  /* when set, requests are counted in a file there
                               * (fcgi_metrics.h) named after metrics_name */
    const char *metrics_name; /* "catalog-1", "frontend" */
    const char *secret;       /* when set, every request but GET /health must carry it in
                               * the X-Bazar-Secret header, else 403 */
    /* Work between requests (the order primary's sweep): when set, called
     * with idle_ctx at most every idle_ms, after an answer has been sent or
     * when no request came for idle_ms, never while a request waits on it. */
    void (*idle)(void *idle_ctx);
    void *idle_ctx;
    int idle_ms;
} fcgi_app_opts;

/* Accepts requests on FastCGI fd 0 (spawn-fcgi) until SIGTERM/SIGINT, routes
 * each through `routes`, answers 404/405(Allow)/400 itself on a routing
 * failure, and calls the handler otherwise. The path routed is REQUEST_URI
 * minus the query string and minus the FastCGI param BAZAR_PREFIX when it is
 * a prefix of it. Returns 0 on a clean stop, -1 if the loop cannot start. */
int fcgi_app_run(const fcgi_app_opts *opts, const fcgi_route *routes, size_t nroutes, void *ctx);

/* Pure helpers behind fcgi_req_json, exported so they can be unit tested. */

/* 1 when a Content-Type value is acceptable for a JSON body: NULL (absent),
 * or "application/json" in any case, optionally followed by parameters
 * ("; charset=utf-8"). 0 otherwise. */
int fcgi_content_type_is_json(const char *ct);

/* Parses `len` bytes as exactly one JSON object: strict syntax, valid UTF-8,
 * nesting depth <= 16, no NUL bytes, only whitespace after the object.
 * Returns the object (the caller owns it: json_object_put) or NULL with a
 * human-readable reason in `why` (may be NULL). */
json_object *fcgi_json_parse_object(const char *buf, size_t len, char *why, size_t whylen);

/* Where this process's FastCGI listener (fd 0, from spawn-fcgi) is bound:
 * "unix:/path" or "addr:port". Returns 0, or -1 when fd 0 is not a socket. */
int fcgi_app_listen_address(char *buf, size_t len);

/* Milliseconds on a monotonic clock (for Server-Timing and timeouts). */
double fcgi_now_ms(void);

#endif
