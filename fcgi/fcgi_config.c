/* fcgi_config.c - bazar.conf: a table of typed, bounded, defaulted keys and its parser. */
#include "fcgi_config.h"
#include "fcgi_log.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define CONFIG_FILE_MAX (1L << 20) /* a config file is small; refuse anything huge */

enum opt_type { OPT_INT, OPT_LONG, OPT_BOOL, OPT_STR, OPT_LOGLEVEL };

typedef struct config_opt {
    const char *name;
    enum opt_type type;
    size_t off;
    long min, max;    /* OPT_INT / OPT_LONG */
    long def;         /* numeric default (INT, LONG, BOOL, LOGLEVEL) */
    const char *sdef; /* OPT_STR default */
} config_opt;

#define F(field) offsetof(fcgi_config, field)

static const config_opt opts[] = {
    {"var_dir", OPT_STR, F(var_dir), 0, 0, 0, "var"},
    {"internal_url", OPT_STR, F(internal_url), 0, 0, 0, "http://127.0.0.1:8081"},
    {"catalog_replicas", OPT_INT, F(catalog_replicas), 1, 7, 3, NULL},
    {"order_replicas", OPT_INT, F(order_replicas), 1, 7, 3, NULL},
    {"catalog_primary", OPT_INT, F(catalog_primary), 1, 7, 1, NULL},
    {"order_primary", OPT_INT, F(order_primary), 1, 7, 1, NULL},
    {"redis", OPT_STR, F(redis), 0, 0, 0, "unix:var/run/redis.sock"},
    {"cache", OPT_BOOL, F(cache), 0, 1, 1, NULL},
    {"cache_guard", OPT_BOOL, F(cache_guard), 0, 1, 1, NULL},
    {"cache_ttl_s", OPT_INT, F(cache_ttl_s), 1, 86400, 300, NULL},
    {"cache_lease_ms", OPT_INT, F(cache_lease_ms), 100, 60000, 1000, NULL},
    {"redis_auth", OPT_BOOL, F(redis_auth), 0, 1, 0, NULL},
    {"redis_timeout_ms", OPT_INT, F(redis_timeout_ms), 1, 10000, 200, NULL},
    {"admin_token", OPT_STR, F(admin_token), 0, 0, 0, ""},
    {"cluster_secret", OPT_STR, F(cluster_secret), 0, 0, 0, ""},
    {"body_limit", OPT_LONG, F(body_limit), 1, 16777216, 65536, NULL},
    {"seed_file", OPT_STR, F(seed_file), 0, 0, 0, "catalog/books.tsv"},
    {"log_level", OPT_LOGLEVEL, F(log_level), 0, 0, FCGI_LOG_INFO, NULL},
    {"peer_timeout_ms", OPT_INT, F(peer_timeout_ms), 10, 60000, 2000, NULL},
    {"sync_full", OPT_BOOL, F(sync_full), 0, 1, 1, NULL},
    {"test_fill_delay_ms", OPT_INT, F(test_fill_delay_ms), 0, 10000, 0, NULL},
    {"test_record_delay_ms", OPT_INT, F(test_record_delay_ms), 0, 10000, 0, NULL},
    {"lease_ms", OPT_INT, F(lease_ms), 50, 10000, 500, NULL},
    {"heartbeat_ms", OPT_INT, F(heartbeat_ms), 10, 5000, 100, NULL},
    {"election_ms", OPT_INT, F(election_ms), 100, 60000, 700, NULL},
    {"clock_drift_ms", OPT_INT, F(clock_drift_ms), 0, 10000, 100, NULL},
    {"log_retention", OPT_LONG, F(log_retention), 10, 1000000000, 50000, NULL},
    {"write_deadline_ms", OPT_INT, F(write_deadline_ms), 0, 60000, 5000, NULL},
    {"read_deadline_ms", OPT_INT, F(read_deadline_ms), 0, 60000, 5000, NULL},
};

#undef F

#define NOPTS (sizeof opts / sizeof opts[0])

static void set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
    if (err == NULL || errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    if (n < 0)
        err[0] = '\0';
}

void fcgi_config_defaults(fcgi_config *c)
{
    memset(c, 0, sizeof *c);
    for (size_t i = 0; i < NOPTS; i++) {
        const config_opt *o = &opts[i];
        char *field = (char *)c + o->off;
        switch (o->type) {
        case OPT_STR: {
            size_t n = strlen(o->sdef);
            memcpy(field, o->sdef, n + 1);
            break;
        }
        case OPT_LONG: {
            long v = o->def;
            memcpy(field, &v, sizeof v);
            break;
        }
        case OPT_INT:
        case OPT_BOOL:
        case OPT_LOGLEVEL: {
            int v = (int)o->def;
            memcpy(field, &v, sizeof v);
            break;
        }
        }
    }
}

static int is_space(char ch)
{
    return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\v' || ch == '\f';
}

/* Trims spaces from both ends of (*p, *len). */
static void trim(const char **p, size_t *len)
{
    while (*len > 0 && is_space(**p))
        (*p)++, (*len)--;
    while (*len > 0 && is_space((*p)[*len - 1]))
        (*len)--;
}

static const config_opt *find_opt(const char *key, size_t len)
{
    for (size_t i = 0; i < NOPTS; i++)
        if (strlen(opts[i].name) == len && memcmp(opts[i].name, key, len) == 0)
            return &opts[i];
    return NULL;
}

/* Strict decimal: optional '-', digits only, fits in long. */
static int parse_long(const char *v, size_t len, long *out)
{
    char buf[32];
    if (len == 0 || len >= sizeof buf)
        return -1;
    memcpy(buf, v, len);
    buf[len] = '\0';
    size_t i = buf[0] == '-' ? 1 : 0;
    if (buf[i] == '\0')
        return -1;
    for (; buf[i] != '\0'; i++)
        if (buf[i] < '0' || buf[i] > '9')
            return -1;
    errno = 0;
    char *end;
    long r = strtol(buf, &end, 10);
    if (errno != 0 || *end != '\0')
        return -1;
    *out = r;
    return 0;
}

static int parse_bool(const char *v, size_t len)
{
    static const char *const yes[] = {"on", "true", "yes", "1"};
    static const char *const no[] = {"off", "false", "no", "0"};
    for (size_t i = 0; i < 4; i++) {
        if (strlen(yes[i]) == len && strncasecmp(v, yes[i], len) == 0)
            return 1;
        if (strlen(no[i]) == len && strncasecmp(v, no[i], len) == 0)
            return 0;
    }
    return -1;
}

/* Applies one value to its field. Returns 0 or -1 with the reason (no prefix). */
static int apply(fcgi_config *c, const config_opt *o, const char *v, size_t len, char *err,
                 size_t errlen)
{
    char *field = (char *)c + o->off;
    switch (o->type) {
    case OPT_STR:
        if (len > FCGI_CONFIG_STR - 1) {
            set_err(err, errlen, "%s is too long (at most %d bytes)", o->name, FCGI_CONFIG_STR - 1);
            return -1;
        }
        if (memchr(v, '\0', len) != NULL) {
            set_err(err, errlen, "%s contains a NUL byte", o->name);
            return -1;
        }
        memcpy(field, v, len);
        field[len] = '\0';
        return 0;
    case OPT_INT:
    case OPT_LONG: {
        long n;
        if (parse_long(v, len, &n) != 0) {
            set_err(err, errlen, "%s must be an integer", o->name);
            return -1;
        }
        if (n < o->min || n > o->max) {
            set_err(err, errlen, "%s must be between %ld and %ld", o->name, o->min, o->max);
            return -1;
        }
        if (o->type == OPT_LONG) {
            memcpy(field, &n, sizeof n);
        } else {
            int i = (int)n;
            memcpy(field, &i, sizeof i);
        }
        return 0;
    }
    case OPT_BOOL: {
        int b = parse_bool(v, len);
        if (b < 0) {
            set_err(err, errlen, "%s must be on/off, true/false, yes/no or 1/0", o->name);
            return -1;
        }
        memcpy(field, &b, sizeof b);
        return 0;
    }
    case OPT_LOGLEVEL: {
        char buf[16];
        int lv = -1;
        if (len < sizeof buf) {
            memcpy(buf, v, len);
            buf[len] = '\0';
            lv = fcgi_log_level_parse(buf);
        }
        if (lv < 0) {
            set_err(err, errlen, "%s must be debug, info, warn or error", o->name);
            return -1;
        }
        memcpy(field, &lv, sizeof lv);
        return 0;
    }
    }
    set_err(err, errlen, "%s has an unknown type", o->name);
    return -1;
}

int fcgi_config_parse(fcgi_config *c, const char *text, size_t len, const char *name, char *err,
                      size_t errlen)
{
    const char *p = text, *end = text + len;
    unsigned line = 0;
    if (name == NULL)
        name = "config";
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *lend = nl != NULL ? nl : end;
        const char *s = p;
        size_t n = (size_t)(lend - p);
        p = nl != NULL ? nl + 1 : end;
        line++;

        trim(&s, &n);
        if (n == 0 || s[0] == '#')
            continue;
        const char *eq = memchr(s, '=', n);
        if (eq == NULL) {
            set_err(err, errlen, "%s:%u: expected 'key = value'", name, line);
            return -1;
        }
        const char *k = s, *v = eq + 1;
        size_t klen = (size_t)(eq - s), vlen = n - klen - 1;
        trim(&k, &klen);
        trim(&v, &vlen);
        if (klen == 0) {
            set_err(err, errlen, "%s:%u: missing key before '='", name, line);
            return -1;
        }
        const config_opt *o = find_opt(k, klen);
        if (o == NULL) {
            /* Show at most 64 bytes of the unknown key; it is user input. */
            int shown = klen > 64 ? 64 : (int)klen;
            set_err(err, errlen, "%s:%u: unknown key '%.*s'", name, line, shown, k);
            return -1;
        }
        char why[160];
        if (apply(c, o, v, vlen, why, sizeof why) != 0) {
            set_err(err, errlen, "%s:%u: %s", name, line, why);
            return -1;
        }
    }
    if (c->catalog_primary > c->catalog_replicas) {
        set_err(err, errlen, "%s: catalog_primary (%d) must not exceed catalog_replicas (%d)", name,
                c->catalog_primary, c->catalog_replicas);
        return -1;
    }
    if (c->order_primary > c->order_replicas) {
        set_err(err, errlen, "%s: order_primary (%d) must not exceed order_replicas (%d)", name,
                c->order_primary, c->order_replicas);
        return -1;
    }
    /* A write waits up to peer_timeout_ms for a silent peer; that peer's read
     * lease must have run out by then (docs/REPLICATION.md, read leases). And
     * a backup must not elect a new primary while the old one, or a lease it
     * gave, may still be serving, on any host's clock. */
    if (c->lease_ms > c->peer_timeout_ms || c->heartbeat_ms * 2 > c->lease_ms ||
        c->election_ms <= c->lease_ms + c->clock_drift_ms) {
        set_err(err, errlen,
                "%s: need heartbeat_ms * 2 <= lease_ms <= peer_timeout_ms and lease_ms + "
                "clock_drift_ms < election_ms (have %d, %d, %d, %d, %d)",
                name, c->heartbeat_ms, c->lease_ms, c->peer_timeout_ms, c->clock_drift_ms,
                c->election_ms);
        return -1;
    }
    return 0;
}

int fcgi_config_load(fcgi_config *c, const char *path, char *err, size_t errlen)
{
    fcgi_config_defaults(c);
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        int e = errno;
        set_err(err, errlen, "%s: %s", path, strerror(e));
        return -1;
    }
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    if (buf == NULL) {
        fclose(f);
        set_err(err, errlen, "%s: out of memory", path);
        return -1;
    }
    for (;;) {
        if (len == cap) {
            if (cap >= (size_t)CONFIG_FILE_MAX) {
                free(buf);
                fclose(f);
                set_err(err, errlen, "%s: file larger than %ld bytes", path, CONFIG_FILE_MAX);
                return -1;
            }
            char *nb = realloc(buf, cap * 2);
            if (nb == NULL) {
                free(buf);
                fclose(f);
                set_err(err, errlen, "%s: out of memory", path);
                return -1;
            }
            buf = nb;
            cap *= 2;
        }
        size_t r = fread(buf + len, 1, cap - len, f);
        len += r;
        if (r == 0)
            break;
    }
    int rerr = ferror(f);
    fclose(f);
    if (rerr) {
        free(buf);
        set_err(err, errlen, "%s: read error", path);
        return -1;
    }
    int rc = fcgi_config_parse(c, buf, len, path, err, errlen);
    free(buf);
    return rc;
}
