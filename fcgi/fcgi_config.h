/* fcgi_config.h - the one configuration file every program reads at start-up.
 *
 * Format: `key = value` lines, `#` comments, blank lines ignored. Every key is
 * declared once in a table (type, bounds, default) in fcgi_config.c; an
 * unknown key, a value out of bounds or a malformed line fails the load with
 * "file:line: reason". */
#ifndef FCGI_CONFIG_H
#define FCGI_CONFIG_H

#include <stddef.h>

#define FCGI_CONFIG_STR 256

typedef struct fcgi_config {
    char var_dir[FCGI_CONFIG_STR];      /* runtime state root (absolute) */
    char internal_url[FCGI_CONFIG_STR]; /* nginx internal listener, e.g. http://127.0.0.1:8081 */
    int catalog_replicas;               /* 1..7 */
    int order_replicas;                 /* 1..7 */
    int catalog_primary;                /* 1..catalog_replicas */
    int order_primary;                  /* 1..order_replicas */
    char redis[FCGI_CONFIG_STR];        /* "unix:/path/redis.sock" or "host:port" */
    int cache;                          /* bool: front-end lookup cache on/off */
    int cache_guard;                    /* bool: lease guard against stale fills */
    int cache_ttl_s;                    /* Redis keeps a cached lookup at most this, 1..86400 */
    int cache_lease_ms;                 /* a cached lookup is served at most this long after
                                         * the catalog read it, 100..60000 */
    int redis_timeout_ms;               /* connect/command timeout, 1..10000 */
    int redis_auth;                     /* bool: AUTH with the cluster secret (TCP Redis) */
    char admin_token[FCGI_CONFIG_STR];  /* empty: read var_dir/admin.token */
    char cluster_secret[FCGI_CONFIG_STR]; /* empty: read var_dir/cluster.secret; sent on and
                                           * required by every internal call */
    long body_limit;                    /* max request body bytes, 1..16 MiB */
    char seed_file[FCGI_CONFIG_STR];    /* catalog seed data (TSV) */
    int log_level;                      /* enum fcgi_log_level */
    int peer_timeout_ms;                /* libcurl timeout to peers, 10..60000 */
    int sync_full;                      /* bool: SQLite synchronous=FULL (else NORMAL) */
    int test_fill_delay_ms;             /* test hook: delay before a cache fill, 0..10000 */
    int test_record_delay_ms;           /* test hook: order waits between taking the copy and
                                         * recording the order (the crash window), 0..10000 */
    int lease_ms;                       /* read lease a replica gets from the primary */
    int heartbeat_ms;                   /* primary's heartbeat period */
    int election_ms;                    /* silence after which backups elect a new primary */
    int clock_drift_ms;                 /* bound on the clock offset between two hosts */
    long log_retention;                 /* log entries kept behind the applied position */
    int write_deadline_ms;              /* the front end retries a keyed write that meets a
                                         * failover until this long after it began */
    int read_deadline_ms;               /* ... and a read, until this long */
} fcgi_config;

/* Fills every field with its default from the table. */
void fcgi_config_defaults(fcgi_config *c);

/* Parses `len` bytes of config text named `name` (for messages) over the
 * current values of `c`. Returns 0, or -1 with "name:line: reason" in err. */
int fcgi_config_parse(fcgi_config *c, const char *text, size_t len, const char *name,
                      char *err, size_t errlen);

/* Defaults, then the file at `path`. Returns 0 or -1 with the reason in err. */
int fcgi_config_load(fcgi_config *c, const char *path, char *err, size_t errlen);

#endif
