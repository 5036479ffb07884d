/* catalog_release.h - the catalog's release callback: DEL of the cached
 * lookups of the books a batch of log entries changes. */
#ifndef CATALOG_RELEASE_H
#define CATALOG_RELEASE_H

#include <json-c/json.h>

#include "fcgi_cache.h"

#define CATALOG_RELEASE_MAX 64 /* keys per DEL */

/* repl_machine.release with ctx = the fcgi_cache. 0 when every DEL was
 * confirmed, else -1. */
int catalog_release(void *ctx, json_object *const *ops, int n);

/* repl_machine.release_open: a second cache client, with the same
 * configuration, for the replication ticker's thread (NULL on failure). */
void *catalog_release_open(void *ctx);

#endif
