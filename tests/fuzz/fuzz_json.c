/* fuzz_json.c - libFuzzer target: JSON request bodies (fcgi_json_parse_object)
 * and the Content-Type check. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fcgi_app.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char why[128];
    json_object *o = fcgi_json_parse_object((const char *)data, size, why, sizeof why);
    if (o != NULL) {
        if (!json_object_is_type(o, json_type_object))
            __builtin_trap();
        /* What handlers do next: serialize the object back. */
        const char *s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
        if (s == NULL)
            __builtin_trap();
        json_object_put(o);
    } else if (why[0] == '\0') {
        __builtin_trap(); /* every refusal says why */
    }
    char *ct = malloc(size + 1);
    if (ct != NULL) {
        memcpy(ct, data, size);
        ct[size] = '\0';
        (void)fcgi_content_type_is_json(ct);
        free(ct);
    }
    return 0;
}
