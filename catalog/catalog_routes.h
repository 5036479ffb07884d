/* catalog_routes.h - the catalog replica's HTTP route table. */
#ifndef CATALOG_ROUTES_H
#define CATALOG_ROUTES_H

#include <stddef.h>

#include "fcgi_router.h"
#include "repl.h"

/* Gives the handlers their replication state (not owned). */
void catalog_routes_init(repl_t *repl);

extern const fcgi_route catalog_routes[];
extern const size_t catalog_nroutes;

#endif
