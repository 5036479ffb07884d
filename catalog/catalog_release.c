/* catalog_release.c - the catalog's release callback (repl_machine.release):
 * once no replica serves the state before a batch of entries, and before
 * any read may see them, DEL the cached lookups of the books they change,
 * in one command. If the DEL fails the replication layer waits out the
 * cached values' life instead (fcgi/fcgi_cache.c says why both are safe). */
#include "catalog_release.h"

#include <stdio.h>
#include <string.h>

#include "fcgi_json.h"
#include "fcgi_log.h"

#define KEY_LEN 40

void *catalog_release_open(void *ctx)
{
    return fcgi_cache_clone(ctx);
}

int catalog_release(void *ctx, json_object *const *ops, int n)
{
    fcgi_cache *cache = ctx;
    char keys[CATALOG_RELEASE_MAX][KEY_LEN];
    const char *list[CATALOG_RELEASE_MAX];
    int k = 0;
    for (int i = 0; i < n; i++) {
        int64_t id = fcgi_json_int(ops[i], "id", -1);
        const char *kind = fcgi_json_str(ops[i], "op");
        if (id < 0 || (kind && strcmp(kind, "refuse") == 0)) /* nothing cached changes */
            continue;
        if (k == CATALOG_RELEASE_MAX) {
            if (fcgi_cache_invalidate(cache, list, k) != 0)
                return -1;
            k = 0;
        }
        fcgi_cache_book_key(id, keys[k], KEY_LEN);
        list[k] = keys[k];
        k++;
    }
    if (fcgi_cache_invalidate(cache, list, k) != 0) {
        LOG_WARN("cache DEL of %d book(s) failed: reads of them wait out the cached values' life",
                 k);
        return -1;
    }
    return 0;
}
