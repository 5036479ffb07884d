/* fcgi_router.c - matches raw request paths against {method, pattern, handler} tables. */
#include "fcgi_router.h"

#include <assert.h>
#include <stdio.h>
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

/* Percent-decoding; with plus_is_space a '+' is read as a space (query
 * strings in form encoding). */
static int decode(const char *in, size_t len, int plus_is_space, char *out, size_t outcap,
                  size_t *outlen)
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
        } else if (ch == '+' && plus_is_space) {
            ch = ' ';
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

int fcgi_url_decode(const char *in, size_t len, char *out, size_t outcap, size_t *outlen)
{
    return decode(in, len, 0, out, outcap, outlen);
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

/* Walks the '&'-separated parameters of a query string: the next non-empty
 * one from *p (advanced past it), its name (up to '=' or the end) and its
 * raw value (empty without '='; *has_value says whether there was a '=').
 * Returns 0 when there is none left. */
static int next_param(const char **p, const char **name, size_t *nlen, const char **val,
                      size_t *vlen, int *has_value)
{
    while (*p && **p == '&')
        (*p)++;
    if (!*p || !**p)
        return 0;
    const char *end = strchr(*p, '&');
    size_t len = end ? (size_t)(end - *p) : strlen(*p);
    const char *eq = memchr(*p, '=', len);
    *name = *p;
    *nlen = eq ? (size_t)(eq - *p) : len;
    *has_value = eq != NULL;
    *val = eq ? eq + 1 : *p + len;
    *vlen = eq ? len - *nlen - 1 : 0;
    *p = end ? end + 1 : NULL;
    return 1;
}

/* The raw value of the first parameter called `name`: 1 (with *has_value
 * as next_param's), 0 when absent. */
static int query_find(const char *query, const char *name, const char **val, size_t *vlen,
                      int *has_value)
{
    size_t want = strlen(name), nlen;
    const char *n;
    for (const char *p = query; next_param(&p, &n, &nlen, val, vlen, has_value);)
        if (nlen == want && memcmp(n, name, want) == 0)
            return 1;
    return 0;
}

int fcgi_query_id(const char *query, const char *name, long long *out)
{
    const char *val;
    size_t vlen;
    int has_value;
    if (!query_find(query, name, &val, &vlen, &has_value))
        return 0;
    return has_value && fcgi_parse_id(val, vlen, out) == 0 ? 1 : -1;
}

int fcgi_query_text(const char *query, const char *name, char *out, size_t outcap, size_t *outlen)
{
    const char *val;
    size_t vlen;
    int has_value;
    if (!query_find(query, name, &val, &vlen, &has_value))
        return 0;
    return decode(val, vlen, 1, out, outcap, outlen) == 0 ? 1 : -1;
}

int fcgi_query_names(const char *query, const char *const *known, char *bad, size_t badcap)
{
    const char *n, *val;
    size_t nlen, vlen;
    int has_value;
    for (const char *p = query; next_param(&p, &n, &nlen, &val, &vlen, &has_value);) {
        size_t k = 0;
        while (known[k] && !(strlen(known[k]) == nlen && memcmp(known[k], n, nlen) == 0))
            k++;
        const char *v2;
        size_t v2len;
        int h2;
        /* unknown, or not the first parameter of that name */
        if (!known[k] || (query_find(query, known[k], &v2, &v2len, &h2) && v2 != val)) {
            snprintf(bad, badcap, "%.*s", (int)(nlen < 64 ? nlen : 64), n);
            return -1;
        }
    }
    return 0;
}
