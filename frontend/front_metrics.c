/* front_metrics.c - GET /metrics on the internal listener: Prometheus text
 * summed from every process's counter file (fcgi_metrics.h) plus each
 * replica's log position, lag and epoch from the replicas' /state. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fcgi_metrics.h"
#include "front.h"

#define MAX_REPLICAS FRONT_MAX_REPLICAS
#define MAX_SERIES 4096
#define MAX_TIERS 8

typedef struct series { /* one bazar_requests_total line */
    char program[40], method[16], route[64]; /* roomier than the file's fields */
    int code_slot;
    uint64_t n;
} series;

typedef struct tier_hist {
    char tier[24];
    uint64_t buckets[FCGI_METRICS_BUCKETS + 1], sum_us;
} tier_hist;

typedef struct agg {
    series *s;
    size_t ns;
    tier_hist t[MAX_TIERS];
    size_t nt;
    uint64_t cache[FCGI_METRICS_CACHE_N];
    int files;
} agg;

/* A growable text buffer; `failed` set on allocation failure. */
typedef struct out {
    char *p;
    size_t len, cap;
    int failed;
} out;

static void outf(out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void outf(out *o, const char *fmt, ...)
{
    for (int attempt = 0; attempt < 2 && !o->failed; attempt++) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(o->p ? o->p + o->len : NULL, o->p ? o->cap - o->len : 0, fmt, ap);
        va_end(ap);
        if (n < 0) {
            o->failed = 1;
            return;
        }
        if (o->p && o->len + (size_t)n < o->cap) {
            o->len += (size_t)n;
            return;
        }
        size_t cap = o->cap ? o->cap : 8192;
        while (cap < o->len + (size_t)n + 1)
            cap *= 2;
        char *p = realloc(o->p, cap);
        if (!p) {
            o->failed = 1;
            return;
        }
        o->p = p;
        o->cap = cap;
    }
}

/* A label value with \, " and newlines escaped (our own names: short). */
static const char *esc(const char *s, char *buf, size_t cap)
{
    size_t o = 0;
    for (; *s && o + 3 < cap; s++) {
        if (*s == '\\' || *s == '"' || *s == '\n') {
            buf[o++] = '\\';
            buf[o++] = *s == '\n' ? 'n' : *s;
        } else {
            buf[o++] = *s;
        }
    }
    buf[o] = 0;
    return buf;
}

static void add_series(agg *a, const char *program, const char *method, const char *route,
                       int slot, uint64_t n)
{
    for (size_t i = 0; i < a->ns; i++) {
        series *s = &a->s[i];
        if (s->code_slot == slot && strcmp(s->program, program) == 0 &&
            strcmp(s->method, method) == 0 && strcmp(s->route, route) == 0) {
            s->n += n;
            return;
        }
    }
    if (a->ns >= MAX_SERIES)
        return;
    series *s = &a->s[a->ns++];
    snprintf(s->program, sizeof s->program, "%s", program);
    snprintf(s->method, sizeof s->method, "%s", method);
    snprintf(s->route, sizeof s->route, "%s", route);
    s->code_slot = slot;
    s->n = n;
}

static void add_file(agg *a, const fcgi_metrics_file *f)
{
    char name[sizeof f->name + 1], tier[sizeof f->tier + 1];
    memcpy(name, f->name, sizeof f->name);
    name[sizeof f->name] = 0;
    memcpy(tier, f->tier, sizeof f->tier);
    tier[sizeof f->tier] = 0;
    int nr = f->nroutes < 0 ? 0 : f->nroutes > FCGI_METRICS_ROUTES ? FCGI_METRICS_ROUTES : f->nroutes;
    for (int r = 0; r <= FCGI_METRICS_ROUTES; r++) {
        if (r >= nr && r != FCGI_METRICS_ROUTES)
            continue;
        char method[sizeof f->method[0] + 1] = "", route[sizeof f->pattern[0] + 1] = "(unmatched)";
        if (r < nr) {
            memcpy(method, f->method[r], sizeof f->method[r]);
            method[sizeof f->method[r]] = 0;
            memcpy(route, f->pattern[r], sizeof f->pattern[r]);
            route[sizeof f->pattern[r]] = 0;
        }
        for (int c = 0; c < FCGI_METRICS_CODES; c++)
            if (f->requests[r][c])
                add_series(a, name, method, route, c, f->requests[r][c]);
    }
    tier_hist *t = NULL;
    for (size_t i = 0; i < a->nt && !t; i++)
        if (strcmp(a->t[i].tier, tier) == 0)
            t = &a->t[i];
    if (!t && a->nt < MAX_TIERS) {
        t = &a->t[a->nt++];
        snprintf(t->tier, sizeof t->tier, "%s", tier);
    }
    if (t) {
        for (int b = 0; b <= FCGI_METRICS_BUCKETS; b++)
            t->buckets[b] += f->buckets[b];
        t->sum_us += f->sum_us;
    }
    for (int c = 0; c < FCGI_METRICS_CACHE_N; c++)
        a->cache[c] += f->cache[c];
    a->files++;
}

/* Reads every counter file under var_dir/run/metrics into a. */
static void read_files(agg *a, const char *var_dir)
{
    char dir[FCGI_CONFIG_STR + 32];
    snprintf(dir, sizeof dir, "%s/run/metrics", var_dir);
    DIR *d = opendir(dir);
    if (!d)
        return;
    static fcgi_metrics_file f; /* large: off the stack */
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t n = strlen(e->d_name);
        if (n < 5 || strcmp(e->d_name + n - 4, ".bin") != 0)
            continue;
        int fd = openat(dirfd(d), e->d_name, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            continue;
        ssize_t got = pread(fd, &f, sizeof f, 0);
        close(fd);
        if (got == (ssize_t)sizeof f && f.magic == FCGI_METRICS_MAGIC &&
            f.version == FCGI_METRICS_VERSION)
            add_file(a, &f);
    }
    closedir(d);
}

static void code_label(int slot, char *buf, size_t cap)
{
    if (slot < FCGI_METRICS_CODES - 1)
        snprintf(buf, cap, "%d", fcgi_metrics_codes[slot]);
    else
        snprintf(buf, cap, "other");
}

static void write_requests(out *o, const agg *a)
{
    char e1[80], e2[80], e3[80], code[8];
    outf(o, "# HELP bazar_requests_total Requests answered, by program, method, route pattern "
            "and status.\n# TYPE bazar_requests_total counter\n");
    for (size_t i = 0; i < a->ns; i++) {
        const series *s = &a->s[i];
        code_label(s->code_slot, code, sizeof code);
        outf(o, "bazar_requests_total{program=\"%s\",method=\"%s\",route=\"%s\",status=\"%s\"} %" PRIu64 "\n",
             esc(s->program, e1, sizeof e1), esc(s->method, e2, sizeof e2),
             esc(s->route, e3, sizeof e3), code, s->n);
    }
    outf(o, "# HELP bazar_request_duration_seconds Time to answer a request, per tier.\n"
            "# TYPE bazar_request_duration_seconds histogram\n");
    for (size_t i = 0; i < a->nt; i++) {
        const tier_hist *t = &a->t[i];
        uint64_t cum = 0;
        esc(t->tier, e1, sizeof e1);
        for (int b = 0; b < FCGI_METRICS_BUCKETS; b++) {
            cum += t->buckets[b];
            outf(o, "bazar_request_duration_seconds_bucket{tier=\"%s\",le=\"%g\"} %" PRIu64 "\n", e1,
                 fcgi_metrics_bounds_ms[b] / 1000.0, cum);
        }
        cum += t->buckets[FCGI_METRICS_BUCKETS];
        outf(o, "bazar_request_duration_seconds_bucket{tier=\"%s\",le=\"+Inf\"} %" PRIu64 "\n", e1, cum);
        outf(o, "bazar_request_duration_seconds_sum{tier=\"%s\"} %.6f\n", e1, (double)t->sum_us / 1e6);
        outf(o, "bazar_request_duration_seconds_count{tier=\"%s\"} %" PRIu64 "\n", e1, cum);
    }
    static const char *const names[FCGI_METRICS_CACHE_N] = {"hit", "miss", "bypass"};
    outf(o, "# HELP bazar_cache_lookups_total Front-end cache lookups by result.\n"
            "# TYPE bazar_cache_lookups_total counter\n");
    for (int c = 0; c < FCGI_METRICS_CACHE_N; c++)
        outf(o, "bazar_cache_lookups_total{result=\"%s\"} %" PRIu64 "\n", names[c], a->cache[c]);
    outf(o, "# HELP bazar_metrics_files Counter files summed (one per process ever started).\n"
            "# TYPE bazar_metrics_files gauge\nbazar_metrics_files %d\n", a->files);
}

static int64_t state_int(json_object *st, const char *name, int64_t dflt)
{
    json_object *v;
    if (st && json_object_object_get_ex(st, name, &v) && json_object_is_type(v, json_type_int))
        return json_object_get_int64(v);
    return dflt;
}

/* Replica gauges from the answers of /peer/<svc>/<n>/state. */
static void write_replicas(out *o, const char *svc, int n, fcgi_http_call *calls)
{
    json_object *st[MAX_REPLICAS] = {0};
    int64_t primary_applied = -1, epoch = 0;
    for (int i = 0; i < n; i++) {
        if (calls[i].rc == 0 && calls[i].resp.status == 200 && calls[i].resp.body)
            st[i] = json_tokener_parse(calls[i].resp.body);
        json_object *v;
        if (st[i] && json_object_object_get_ex(st[i], "role", &v) &&
            strcmp(json_object_get_string(v), "primary") == 0)
            primary_applied = state_int(st[i], "applied", -1);
        int64_t ep = state_int(st[i], "epoch", 0);
        if (ep > epoch)
            epoch = ep;
    }
    for (int i = 0; i < n; i++) {
        json_object *v;
        int is_primary = st[i] && json_object_object_get_ex(st[i], "role", &v) &&
                         strcmp(json_object_get_string(v), "primary") == 0;
        int64_t applied = state_int(st[i], "applied", -1);
        outf(o, "bazar_replica_up{service=\"%s\",replica=\"%d\"} %d\n", svc, i + 1, st[i] != NULL);
        outf(o, "bazar_replica_primary{service=\"%s\",replica=\"%d\"} %d\n", svc, i + 1, is_primary);
        if (applied >= 0)
            outf(o, "bazar_replica_applied{service=\"%s\",replica=\"%d\"} %" PRId64 "\n", svc, i + 1,
                 applied);
        if (applied >= 0 && primary_applied >= 0)
            outf(o, "bazar_replica_lag{service=\"%s\",replica=\"%d\"} %" PRId64 "\n", svc, i + 1,
                 primary_applied > applied ? primary_applied - applied : 0);
        json_object_put(st[i]);
    }
    /* Epochs start at 1 and each failover starts a new one. */
    outf(o, "bazar_service_epoch{service=\"%s\"} %" PRId64 "\n", svc, epoch);
    outf(o, "bazar_failovers{service=\"%s\"} %" PRId64 "\n", svc, epoch > 1 ? epoch - 1 : 0);
}

int front_metrics(fcgi_request *req)
{
    const fcgi_config *cfg = front_ctx.cfg;
    agg a;
    memset(&a, 0, sizeof a);
    a.s = calloc(MAX_SERIES, sizeof *a.s);
    if (!a.s)
        return fcgi_resp_error(req, 500, "out of memory");
    read_files(&a, cfg->var_dir);

    static front_states st; /* large: off the stack */
    front_states_fetch(&st);

    out o = {0};
    write_requests(&o, &a);
    outf(&o, "# HELP bazar_replica_up 1 when the replica's peer pool answered /state.\n"
             "# TYPE bazar_replica_up gauge\n"
             "# HELP bazar_replica_primary 1 for the replica that is its service's primary.\n"
             "# TYPE bazar_replica_primary gauge\n"
             "# HELP bazar_replica_applied Last replication log position applied.\n"
             "# TYPE bazar_replica_applied gauge\n"
             "# HELP bazar_replica_lag Log positions behind the primary.\n"
             "# TYPE bazar_replica_lag gauge\n"
             "# HELP bazar_service_epoch Current replication epoch (1 + failovers).\n"
             "# TYPE bazar_service_epoch gauge\n"
             "# HELP bazar_failovers Failovers since the cluster was created (epoch - 1).\n"
             "# TYPE bazar_failovers gauge\n");
    write_replicas(&o, "catalog", st.ncatalog, st.calls);
    write_replicas(&o, "order", st.norder, st.calls + st.ncatalog);
    front_states_clear(&st);
    free(a.s);
    int status = o.failed ? fcgi_resp_error(req, 500, "out of memory")
                          : fcgi_resp_raw(req, 200, "text/plain; version=0.0.4", o.p, o.len);
    free(o.p);
    return status;
}
