/* fcgi_metrics.h - per-process request counters in a small shared file, summed by /metrics.
 *
 * Every FastCGI process maps its own fixed-size file
 *   <var_dir>/run/metrics/<name>-<pid>.bin
 * (a struct fcgi_metrics_file) and the request loop adds each request to it:
 * a count per (route, status) and a latency histogram; the front end adds
 * its cache results. The front end's GET /metrics reads every file and sums
 * them (front_metrics.c). A process writes only its own file, with relaxed
 * atomic stores, so readers never block writers. */
#ifndef FCGI_METRICS_H
#define FCGI_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "fcgi_router.h"

#define FCGI_METRICS_MAGIC 0x4d5a4231u /* "1BZM" */
#define FCGI_METRICS_VERSION 1u
#define FCGI_METRICS_ROUTES 32     /* route slots; slot FCGI_METRICS_ROUTES: unmatched/other */
#define FCGI_METRICS_CODES 18      /* fcgi_metrics_codes[] plus "other" */
#define FCGI_METRICS_BUCKETS 12    /* finite latency buckets; one more for +Inf */

enum fcgi_metrics_cache { FCGI_METRICS_CACHE_HIT, FCGI_METRICS_CACHE_MISS,
                          FCGI_METRICS_CACHE_BYPASS, FCGI_METRICS_CACHE_N };

/* The statuses counted one by one (the last slot counts every other one). */
extern const int fcgi_metrics_codes[FCGI_METRICS_CODES - 1];
/* Upper bounds of the latency buckets, in milliseconds. */
extern const double fcgi_metrics_bounds_ms[FCGI_METRICS_BUCKETS];

typedef struct fcgi_metrics_file {
    uint32_t magic, version;
    int32_t pid, nroutes;
    char name[32];   /* "catalog-1", "frontend" */
    char tier[16];   /* "catalog", "order", "frontend" */
    char method[FCGI_METRICS_ROUTES][8];
    char pattern[FCGI_METRICS_ROUTES][56];
    uint64_t requests[FCGI_METRICS_ROUTES + 1][FCGI_METRICS_CODES];
    uint64_t buckets[FCGI_METRICS_BUCKETS + 1]; /* non-cumulative; last: above every bound */
    uint64_t count;
    uint64_t sum_us;  /* total latency in microseconds */
    uint64_t cache[FCGI_METRICS_CACHE_N];
} fcgi_metrics_file;

/* Creates (or reopens) <dir>/<name>-<pid>.bin for this process and records
 * the route table. Returns 0, or -1 (metrics then stay off; not fatal). */
int fcgi_metrics_open(const char *dir, const char *name, const char *tier,
                      const fcgi_route *routes, size_t nroutes);

/* Adds one request: route index (-1: no route matched), status, duration. No-op when closed. */
void fcgi_metrics_request(long route, int status, double ms);

/* Adds one cache lookup result. No-op when closed. */
void fcgi_metrics_cache_event(enum fcgi_metrics_cache what);

/* The slot of a status in requests[][] (FCGI_METRICS_CODES - 1: other). */
int fcgi_metrics_code_slot(int status);

#endif
