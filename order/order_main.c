/* order_main.c - the order replica program: start-up and the request loop. */
#include "fcgi_service.h"
#include "order_db.h"
#include "order_routes.h"
#include "order_sweep.h"

int main(int argc, char **argv)
{
    fcgi_service svc;
    char err[512];
    if (fcgi_service_open(&svc, argc, argv, "order", 1, order_schema_sql, err, sizeof err) != 0) {
        return fcgi_service_fail(&svc, err);
    }
    if (order_db_init(svc.db, err, sizeof err) != 0) {
        return fcgi_service_fail(&svc, err);
    }
    repl_machine machine = {.service = "order", .apply = order_apply, .hash = order_hash,
                            .dump = order_dump, .load = order_load};
    if (fcgi_service_start_repl(&svc, &machine, err, sizeof err) != 0) {
        return fcgi_service_fail(&svc, err);
    }
    order_routes_init(svc.repl, &svc.cfg, svc.http);
    if (!svc.peer_pool) { /* the peer pool never waits on anyone: no sweep there */
        svc.idle = order_sweep_idle;
        svc.idle_ms = 1000;
    }
    int rc = fcgi_service_run(&svc, order_routes, order_nroutes, NULL);
    fcgi_service_close(&svc);
    return rc == 0 ? 0 : 1;
}
