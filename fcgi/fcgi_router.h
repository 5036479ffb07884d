/* fcgi_router.h - table-driven routing: {method, pattern, handler} with
 * `{name}` captures of one path segment each, percent-decoded. */
#ifndef FCGI_ROUTER_H
#define FCGI_ROUTER_H

#include <stddef.h>

#define FCGI_MAX_CAPTURES 4
#define FCGI_CAPTURE_MAX 1024 /* decoded bytes per capture, NUL excluded */

typedef struct fcgi_request fcgi_request;
/* A handler writes the whole response and returns the HTTP status it sent. */
typedef int (*fcgi_handler)(fcgi_request *req);

typedef struct fcgi_route {
    const char *method;  /* "GET", "POST", "PUT", ... */
    const char *pattern; /* "/books/{id}/price": literal segments and {captures} */
    fcgi_handler handler;
} fcgi_route;

typedef struct fcgi_captures {
    int n;
    char value[FCGI_MAX_CAPTURES][FCGI_CAPTURE_MAX + 1]; /* decoded, NUL-terminated */
    size_t len[FCGI_MAX_CAPTURES];
} fcgi_captures;

enum fcgi_route_result {
    FCGI_ROUTE_OK = 0,
    FCGI_ROUTE_NOT_FOUND,  /* 404: no pattern matches the path */
    FCGI_ROUTE_BAD_METHOD, /* 405: a pattern matches, the method does not; `allow` filled */
    FCGI_ROUTE_BAD_PATH    /* 400: bad percent-escape, %00, or a capture too long */
};

/* Percent-decodes `len` bytes of `in` into `out` (NUL-terminated, at most
 * outcap-1 bytes). '+' is left as is (paths, not forms). Returns 0 with the
 * length in *outlen, or -1 for a malformed escape, an encoded NUL, or output
 * that does not fit. */
int fcgi_url_decode(const char *in, size_t len, char *out, size_t outcap, size_t *outlen);

/* Matches `path` (raw, still percent-encoded, no query string) against the
 * table in order; the first full match wins. On FCGI_ROUTE_OK *found and caps
 * are set. On FCGI_ROUTE_BAD_METHOD `allow` gets "GET, POST" (the methods of
 * every pattern that matched). */
enum fcgi_route_result fcgi_route_match(const fcgi_route *routes, size_t n, const char *method,
                                        const char *path, size_t pathlen, const fcgi_route **found,
                                        fcgi_captures *caps, char *allow, size_t allowcap);

/* Parses a capture as a non-negative decimal id (no sign, no leading '+',
 * at most 18 digits). Returns 0 with *out set, or -1. */
int fcgi_parse_id(const char *s, size_t len, long long *out);

/* The query-string parameter `name` ("a=1&b=2", no '?') as a non-negative
 * integer (fcgi_parse_id's rules): 1 with *out set, 0 when absent, -1 when
 * present but not such a number. */
int fcgi_query_id(const char *query, const char *name, long long *out);

/* The query-string parameter `name` as text, percent-decoded with '+' read
 * as a space (form encoding): 1 with out (NUL-terminated, at most outcap-1
 * bytes) and *outlen set, 0 when absent, -1 for a malformed escape, an
 * encoded NUL or a value that does not fit. A name without '=' is empty. */
int fcgi_query_text(const char *query, const char *name, char *out, size_t outcap,
                    size_t *outlen);

/* 0 when every parameter of the query is one of `known` (NULL-terminated)
 * and none is given twice; else -1 with the offending name (raw, at most 64
 * bytes) in bad. Empty parameters ("a=1&&b=2") are ignored. */
int fcgi_query_names(const char *query, const char *const *known, char *bad, size_t badcap);

#endif
