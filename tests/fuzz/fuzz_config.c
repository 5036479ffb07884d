/* fuzz_config.c - libFuzzer target: bazar.conf parsing (fcgi_config_parse). */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "fcgi_config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static fcgi_config c;
    char err[256];
    fcgi_config_defaults(&c);
    if (fcgi_config_parse(&c, (const char *)data, size, "fuzz.conf", err, sizeof err) == 0) {
        /* Every string stays terminated within its field. */
        if (memchr(c.var_dir, '\0', sizeof c.var_dir) == NULL ||
            memchr(c.internal_url, '\0', sizeof c.internal_url) == NULL ||
            memchr(c.redis, '\0', sizeof c.redis) == NULL ||
            memchr(c.admin_token, '\0', sizeof c.admin_token) == NULL ||
            memchr(c.seed_file, '\0', sizeof c.seed_file) == NULL)
            __builtin_trap();
        if (c.catalog_replicas < 1 || c.catalog_replicas > 7 || c.body_limit < 1)
            __builtin_trap();
    } else if (strchr(err, ':') == NULL) {
        __builtin_trap(); /* every failure names the file and the line */
    }
    return 0;
}
