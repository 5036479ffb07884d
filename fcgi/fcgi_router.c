/* fcgi_router.c - matches raw request paths against {method, pattern, handler} tables. */
#include "fcgi_router.h"

#include <assert.h>
#include <string.h>

static int hexval(unsigned char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

int fcgi_url_decode(const char *in, size_t len, char *out, size_t outcap, size_t *outlen)
{
    size_t o = 0;
    if (outcap == 0)
        return -1;
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)in[i];
        if (ch == '%') {
            if (len - i < 3)
                return -1;
            int hi = hexval((unsigned char)in[i + 1]), lo = hexval((unsigned char)in[i + 2]);
            if (hi < 0 || lo < 0)
                return -1;
            ch = (unsigned char)(hi * 16 + lo);
            i += 2;
        }
        if (ch == '\0' || o + 1 >= outcap) /* encoded or raw NUL; or no room for the NUL */
            return -1;
        out[o++] = (char)ch;
    }
    out[o] = '\0';
    if (outlen != NULL)
        *outlen = o;
    return 0;
}

/* One '/'-separated segment of (s, len) starting at *pos (just after a '/').
 * Sets *seg, *seglen and advances *pos past the segment and its '/'. Returns
 * 0 when there is no segment left. */
static int next_segment(const char *s, size_t len, size_t *pos, const char **seg, size_t *seglen)
{
    if (*pos > len)
        return 0;
    const char *start = s + *pos;
    const char *slash = memchr(start, '/', len - *pos);
    size_t n = slash != NULL ? (size_t)(slash - start) : len - *pos;
    *seg = start;
    *seglen = n;
    *pos += n + 1; /* past the '/', or past len when this was the last segment */
    return 1;
}

/* Matches the structure of `pattern` against `path`; records where each
 * capture's raw bytes are. Does not decode. */
static int match_pattern(const char *pattern, const char *path, size_t pathlen,
                         const char *raw[FCGI_MAX_CAPTURES], size_t rawlen[FCGI_MAX_CAPTURES],
                         int *ncap)
{
    size_t plen = strlen(pattern);
    assert(plen > 0 && pattern[0] == '/');
    if (pathlen == 0 || path[0] != '/')
        return 0;
    size_t pp = 1, qp = 1;
    const char *ps, *qs;
    size_t psl, qsl;
    *ncap = 0;
    for (;;) {
        int hp = next_segment(pattern, plen, &pp, &ps, &psl);
        int hq = next_segment(path, pathlen, &qp, &qs, &qsl);
        if (!hp || !hq)
            return hp == hq;
        if (psl >= 2 && ps[0] == '{' && ps[psl - 1] == '}') {
            if (qsl == 0)
                return 0;
            assert(*ncap < FCGI_MAX_CAPTURES);
            raw[*ncap] = qs;
            rawlen[*ncap] = qsl;
            (*ncap)++;
        } else if (psl != qsl || memcmp(ps, qs, psl) != 0) {
            return 0;
        }
    }
}

/* Adds `method` to the comma-separated list unless already there. */
static void allow_add(char *allow, size_t cap, const char *method)
{
    if (allow == NULL || cap == 0)
        return;
    size_t ml = strlen(method), al = strlen(allow);
    const char *p = allow;
    while (*p != '\0') {
        const char *comma = strchr(p, ',');
        size_t n = comma != NULL ? (size_t)(comma - p) : strlen(p);
        if (n == ml && memcmp(p, method, ml) == 0)
            return;
        if (comma == NULL)
            break;
        p = comma + 2; /* ", " */
    }
    size_t need = (al > 0 ? 2 : 0) + ml;
    if (al + need + 1 > cap)
        return;
    if (al > 0) {
        memcpy(allow + al, ", ", 2);
        al += 2;
    }
    memcpy(allow + al, method, ml);
    allow[al + ml] = '\0';
}

enum fcgi_route_result fcgi_route_match(const fcgi_route *routes, size_t n, const char *method,
                                        const char *path, size_t pathlen, const fcgi_route **found,
                                        fcgi_captures *caps, char *allow, size_t allowcap)
{
    if (allow != NULL && allowcap > 0)
        allow[0] = '\0';
    if (path == NULL || pathlen == 0) {
        path = "/";
        pathlen = 1;
    }
    if (method == NULL)
        method = "";
    int path_matched = 0;
    for (size_t i = 0; i < n; i++) {
        const char *raw[FCGI_MAX_CAPTURES];
        size_t rawlen[FCGI_MAX_CAPTURES];
        int ncap;
        if (!match_pattern(routes[i].pattern, path, pathlen, raw, rawlen, &ncap))
            continue;
        if (strcmp(routes[i].method, method) != 0) {
            path_matched = 1;
            allow_add(allow, allowcap, routes[i].method);
            continue;
        }
        caps->n = ncap;
        for (int c = 0; c < ncap; c++) {
            if (fcgi_url_decode(raw[c], rawlen[c], caps->value[c], sizeof caps->value[c],
                                &caps->len[c]) != 0)
                return FCGI_ROUTE_BAD_PATH;
        }
        if (found != NULL)
            *found = &routes[i];
        return FCGI_ROUTE_OK;
    }
    return path_matched ? FCGI_ROUTE_BAD_METHOD : FCGI_ROUTE_NOT_FOUND;
}

int fcgi_parse_id(const char *s, size_t len, long long *out)
{
    if (s == NULL || len == 0 || len > 18)
        return -1;
    long long v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

int fcgi_query_id(const char *query, const char *name, long long *out)
{
    size_t nlen = strlen(name);
    for (const char *p = query; p && *p;) {
        const char *end = strchr(p, '&');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len > nlen && strncmp(p, name, nlen) == 0 && p[nlen] == '=')
            return fcgi_parse_id(p + nlen + 1, len - nlen - 1, out) == 0 ? 1 : -1;
        if (len == nlen && strncmp(p, name, nlen) == 0)
            return -1; /* "name" without a value */
        p = end ? end + 1 : NULL;
    }
    return 0;
}
