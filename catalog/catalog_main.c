/* catalog_main.c - the catalog replica program: start-up and the request loop. */
#include "catalog_db.h"
#include "catalog_pages.h"
#include "catalog_release.h"
#include "catalog_routes.h"
#include "fcgi_cache.h"
#include "fcgi_service.h"

int main(int argc, char **argv)
{
    fcgi_service svc;
    char err[512];
    if (fcgi_service_open(&svc, argc, argv, "catalog", 1, catalog_schema_sql, err, sizeof err) !=
        0) {
        return fcgi_service_fail(&svc, err);
    }
    catalog_db_init(svc.db);
    /* Writes reach the front ends' cache through the release callback. */
    fcgi_cache *cache = fcgi_service_cache(&svc);
    repl_machine machine = {.service = "catalog", .apply = catalog_apply, .hash = catalog_hash,
                            .dump = catalog_dump, .load = catalog_load};
    if (cache) {
        machine.release = catalog_release;
        machine.release_ms = (int)fcgi_service_cache_life_ms(&svc.cfg) + svc.cfg.clock_drift_ms;
        machine.release_ctx = cache;
        machine.release_open = catalog_release_open;
    }
    if (catalog_db_seed(svc.cfg.seed_file, err, sizeof err) != 0 ||
        fcgi_service_start_repl(&svc, &machine, err, sizeof err) != 0) {
        fcgi_cache_free(cache);
        return fcgi_service_fail(&svc, err);
    }
    catalog_routes_init(svc.repl);
    int rc = fcgi_service_run(&svc, catalog_routes, catalog_nroutes, NULL);
    catalog_pages_free();
    fcgi_cache_free(cache);
    fcgi_service_close(&svc);
    return rc == 0 ? 0 : 1;
}
