/* fcgi_service.c - start-up shared by every program: arguments, config,
 * log, and for replicas their database, HTTP client and replication. */
#include "fcgi_service.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fcgiapp.h>

#include "fcgi_app.h"
#include "fcgi_db.h"
#include "fcgi_log.h"
#include "fcgi_router.h"
#include "fcgi_secret.h"

static int service_open(fcgi_service *s, int argc, char **argv, const char *program,
                        int want_replica, const char *schema, char *err, size_t errlen)
{
    s->program = program;
    const char *conf = NULL, *rep = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-c") == 0 && i + 1 < argc)
            conf = argv[++i];
        else if (strcmp(argv[i], "-r") == 0 && i + 1 < argc)
            rep = argv[++i];
        else if (strcmp(argv[i], "-p") == 0 && i + 1 < argc &&
                 (strcmp(argv[i + 1], "peer") == 0 || strcmp(argv[i + 1], "client") == 0))
            s->peer_pool = strcmp(argv[++i], "peer") == 0;
        else {
            snprintf(err, errlen, "usage: %s -c CONFIG%s", program,
                     want_replica ? " -r N [-p client|peer]" : "");
            return -1;
        }
    }
    if (!conf || (want_replica && !rep)) {
        snprintf(err, errlen, "usage: %s -c CONFIG%s", program, want_replica ? " -r N" : "");
        return -1;
    }
    if (fcgi_config_load(&s->cfg, conf, err, errlen) != 0)
        return -1;
    if (want_replica) {
        long long id;
        int max = strcmp(program, "catalog") == 0 ? s->cfg.catalog_replicas
                                                  : s->cfg.order_replicas;
        if (fcgi_parse_id(rep, strlen(rep), &id) != 0 || id < 1 || id > max) {
            snprintf(err, errlen, "%s: -r %s: replica must be 1..%d", program, rep, max);
            return -1;
        }
        s->replica = (int)id;
    }
    char path[FCGI_CONFIG_STR + 64];
    if (s->replica)
        snprintf(path, sizeof path, "%s/log/%s-%d.log", s->cfg.var_dir, program, s->replica);
    else
        snprintf(path, sizeof path, "%s/log/%s.log", s->cfg.var_dir, program);
    if (fcgi_log_open(program, path, s->cfg.log_level) != 0)
        fprintf(stderr, "%s: cannot open %s; logging to stderr\n", program, path);
    /* From here on cfg.cluster_secret holds the secret itself, whichever
     * way it was given: every HTTP client of this process sends it. */
    snprintf(path, sizeof path, "%s/cluster.secret", s->cfg.var_dir);
    char secret[FCGI_CONFIG_STR];
    if (fcgi_secret_load(s->cfg.cluster_secret, path, 0, secret, sizeof secret, err, errlen) != 0)
        return -1;
    memcpy(s->cfg.cluster_secret, secret, sizeof secret);
    s->http = fcgi_http_new(s->cfg.peer_timeout_ms);
    if (!s->http || fcgi_http_set_secret(s->http, s->cfg.cluster_secret) != 0) {
        snprintf(err, errlen, "cannot create the HTTP client");
        return -1;
    }
    if (want_replica) {
        snprintf(path, sizeof path, "%s/data", s->cfg.var_dir);
        mkdir(path, 0755);
        snprintf(path, sizeof path, "%s/data/%s-%d.db", s->cfg.var_dir, program, s->replica);
        s->db = fcgi_db_open(path, s->cfg.sync_full, schema, err, errlen);
        if (!s->db)
            return -1;
    }
    return 0;
}

int fcgi_service_open(fcgi_service *s, int argc, char **argv, const char *program,
                      int want_replica, const char *schema, char *err, size_t errlen)
{
    memset(s, 0, sizeof *s);
    if (service_open(s, argc, argv, program, want_replica, schema, err, errlen) == 0)
        return 0;
    /* A start-up that fails (say the database stays locked) is retried by
     * the supervisor: free what was made, the log stays open for the error. */
    fcgi_http_free(s->http);
    s->http = NULL;
    if (s->db)
        sqlite3_close_v2(s->db);
    s->db = NULL;
    return -1;
}

int fcgi_service_start_repl(fcgi_service *s, const repl_machine *machine, char *err,
                            size_t errlen)
{
    int catalog = strcmp(machine->service, "catalog") == 0;
    char path[FCGI_CONFIG_STR + 64];
    snprintf(path, sizeof path, "%s/data/%s-%d.db", s->cfg.var_dir, machine->service, s->replica);
    /* The replica's ticker runs in its peer pool (repl.h says why). */
    s->repl = repl_new(&s->cfg, s->db, s->peer_pool ? path : NULL, s->replica,
                       catalog ? s->cfg.catalog_replicas : s->cfg.order_replicas,
                       catalog ? s->cfg.catalog_primary : s->cfg.order_primary, machine, s->http,
                       err, errlen);
    return s->repl ? 0 : -1;
}

int64_t fcgi_service_cache_life_ms(const fcgi_config *cfg)
{
    int64_t ttl = (int64_t)cfg->cache_ttl_s * 1000;
    return ttl < cfg->cache_lease_ms ? ttl : cfg->cache_lease_ms;
}

fcgi_cache *fcgi_service_cache(fcgi_service *s)
{
    if (!s->cfg.cache)
        return NULL;
    const char *password = s->cfg.redis_auth ? s->cfg.cluster_secret : "";
    fcgi_cache *c = fcgi_cache_new(s->cfg.redis, s->cfg.redis_timeout_ms, password,
                                   fcgi_service_cache_life_ms(&s->cfg), s->cfg.cache_guard);
    if (!c)
        LOG_ERROR("redis = %s: not unix:/path or host:port (or the cluster secret is too long "
                  "for AUTH); running without the cache",
                  s->cfg.redis);
    return c;
}

int fcgi_service_run(fcgi_service *s, const fcgi_route *routes, size_t n, void *ctx)
{
    /* The front end names its own tier in Server-Timing on every answer. */
    char mdir[FCGI_CONFIG_STR + 32], mname[64];
    snprintf(mdir, sizeof mdir, "%s/run/metrics", s->cfg.var_dir);
    if (s->replica)
        snprintf(mname, sizeof mname, "%s-%d", s->program, s->replica);
    else
        snprintf(mname, sizeof mname, "%s", s->program);
    fcgi_app_opts opts = {.program = s->program, .body_limit = s->cfg.body_limit,
                          .timing = s->replica ? NULL : s->program, .metrics_dir = mdir,
                          .metrics_name = mname,
                          /* Replicas serve only internal calls: each must carry the
                           * cluster secret (GET /health excepted). The front end
                           * serves the public API. */
                          .secret = s->replica ? s->cfg.cluster_secret : NULL,
                          .idle = s->idle, .idle_ctx = s->idle_ctx, .idle_ms = s->idle_ms};
    LOG_INFO("%s%s%.0d started (pid %d)", s->program, s->replica ? " replica " : "", s->replica,
             (int)getpid());
    return fcgi_app_run(&opts, routes, n, ctx);
}

void fcgi_service_close(fcgi_service *s)
{
    repl_free(s->repl);
    fcgi_http_free(s->http);
    if (s->db)
        sqlite3_close_v2(s->db);
    fcgi_log_close();
    memset(s, 0, sizeof *s);
}

int fcgi_service_fail(fcgi_service *s, const char *err)
{
    fprintf(stderr, "%s: %s\n", s->program, err);
    LOG_ERROR("start-up failed: %s", err);
    fcgi_service_close(s);
    /* Under spawn-fcgi (stdin is the listening socket) multiwatch restarts a
     * child that exits, but gives up one that died four times, each within
     * its retry timeout of being started, and the pool then runs short for
     * good. deploy/service.sh sets that timeout to 0.5 s, and this pause
     * makes every failed start outlast it: a passing fault (a database
     * locked or unreadable for a while) is retried once a second for as
     * long as it lasts, runit's pace for whole services. At a terminal the
     * program exits at once. */
    if (!FCGX_IsCGI())
        sleep(1);
    return 2;
}
