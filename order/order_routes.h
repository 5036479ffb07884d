/* order_routes.h - the order replica's HTTP route table. */
#ifndef ORDER_ROUTES_H
#define ORDER_ROUTES_H

#include <stddef.h>

#include "fcgi_config.h"
#include "fcgi_http.h"
#include "fcgi_router.h"
#include "repl.h"

/* Gives the handlers their replication state, config and HTTP client (none owned). */
void order_routes_init(repl_t *repl, const fcgi_config *cfg, fcgi_http *http);

extern const fcgi_route order_routes[];
extern const size_t order_nroutes;

#endif
