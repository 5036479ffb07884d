/* fcgi_metrics.c - this process's request counters in a shared, mmap'd file. */
#include "fcgi_metrics.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fcgi_log.h"

const int fcgi_metrics_codes[FCGI_METRICS_CODES - 1] = {
    200, 201, 204, 400, 401, 404, 405, 409, 413, 414, 415, 422, 429, 500, 502, 503, 504};
const double fcgi_metrics_bounds_ms[FCGI_METRICS_BUCKETS] = {0.5, 1,   2.5, 5,    10,   25,
                                                              50,  100, 250, 1000, 2500, 10000};

static fcgi_metrics_file *g_file; /* NULL: metrics off */

#define ADD(field, n) __atomic_fetch_add(&(field), (n), __ATOMIC_RELAXED)

int fcgi_metrics_code_slot(int status)
{
    for (int i = 0; i < FCGI_METRICS_CODES - 1; i++)
        if (fcgi_metrics_codes[i] == status)
            return i;
    return FCGI_METRICS_CODES - 1;
}

int fcgi_metrics_open(const char *dir, const char *name, const char *tier,
                      const fcgi_route *routes, size_t nroutes)
{
    char path[512];
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
        LOG_WARN("metrics off: mkdir %s: %s", dir, strerror(errno));
        return -1;
    }
    int n = snprintf(path, sizeof path, "%s/%s-%d.bin", dir, name, (int)getpid());
    if (n < 0 || (size_t)n >= sizeof path)
        return -1;
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        LOG_WARN("metrics off: %s: %s", path, strerror(errno));
        return -1;
    }
    struct stat st;
    int fresh = fstat(fd, &st) != 0 || (size_t)st.st_size != sizeof(fcgi_metrics_file);
    if (fresh && ftruncate(fd, 0) != 0) {
        close(fd);
        return -1;
    }
    if (ftruncate(fd, sizeof(fcgi_metrics_file)) != 0) {
        LOG_WARN("metrics off: %s: %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    void *p = mmap(NULL, sizeof(fcgi_metrics_file), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    if (p == MAP_FAILED) {
        LOG_WARN("metrics off: mmap %s: %s", path, strerror(errno));
        return -1;
    }
    fcgi_metrics_file *f = p;
    if (f->magic != FCGI_METRICS_MAGIC || f->version != FCGI_METRICS_VERSION)
        memset(f, 0, sizeof *f); /* a new file, or a stale one of an older layout */
    f->pid = (int32_t)getpid();
    snprintf(f->name, sizeof f->name, "%s", name);
    snprintf(f->tier, sizeof f->tier, "%s", tier);
    size_t nr = nroutes < FCGI_METRICS_ROUTES ? nroutes : FCGI_METRICS_ROUTES;
    for (size_t i = 0; i < nr; i++) {
        snprintf(f->method[i], sizeof f->method[i], "%s", routes[i].method);
        snprintf(f->pattern[i], sizeof f->pattern[i], "%s", routes[i].pattern);
    }
    f->nroutes = (int32_t)nr;
    f->version = FCGI_METRICS_VERSION;
    __atomic_store_n(&f->magic, FCGI_METRICS_MAGIC, __ATOMIC_RELEASE); /* last: now readable */
    g_file = f;
    return 0;
}

void fcgi_metrics_request(long route, int status, double ms)
{
    fcgi_metrics_file *f = g_file;
    if (f == NULL)
        return;
    long slot = route >= 0 && route < f->nroutes ? route : FCGI_METRICS_ROUTES;
    ADD(f->requests[slot][fcgi_metrics_code_slot(status)], 1);
    int b = 0;
    while (b < FCGI_METRICS_BUCKETS && ms > fcgi_metrics_bounds_ms[b])
        b++;
    ADD(f->buckets[b], 1);
    ADD(f->sum_us, (uint64_t)(ms > 0 ? ms * 1000.0 : 0));
    ADD(f->count, 1); /* last: a reader sees count <= the sum of the buckets */
}

void fcgi_metrics_cache_event(enum fcgi_metrics_cache what)
{
    if (g_file != NULL && what >= 0 && what < FCGI_METRICS_CACHE_N)
        ADD(g_file->cache[what], 1);
}
