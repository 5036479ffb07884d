/* front_main.c - the front-end program: start-up and the request loop. */
#include "fcgi_service.h"
#include "front.h"

extern const fcgi_route front_routes[];
extern const size_t front_nroutes;

int main(int argc, char **argv)
{
    fcgi_service svc;
    char err[512];
    if (fcgi_service_open(&svc, argc, argv, "frontend", 0, NULL, err, sizeof err) != 0) {
        return fcgi_service_fail(&svc, err);
    }
    front_ctx.cfg = &svc.cfg;
    front_ctx.http = svc.http;
    if (front_auth_init(&front_ctx, err, sizeof err) != 0) {
        return fcgi_service_fail(&svc, err);
    }
    front_ctx.cache = fcgi_service_cache(&svc);
    int rc = fcgi_service_run(&svc, front_routes, front_nroutes, NULL);
    fcgi_cache_free(front_ctx.cache);
    fcgi_service_close(&svc);
    return rc == 0 ? 0 : 1;
}
