/* catalog_input.c - validation of the JSON bodies of catalog writes. */
#include "catalog_input.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "catalog_db.h"
#include "fcgi_text.h"

int catalog_input_text(json_object *body, const char *name, const char **out, char *why,
                       size_t whylen)
{
    json_object *v;
    if (!json_object_object_get_ex(body, name, &v) || !json_object_is_type(v, json_type_string)) {
        snprintf(why, whylen, "'%s' must be a string", name);
        return -1;
    }
    const char *s = json_object_get_string(v);
    size_t len = (size_t)json_object_get_string_len(v);
    if (len == 0 || len > CATALOG_TEXT_MAX || strlen(s) != len || !fcgi_text_valid(s, len)) {
        snprintf(why, whylen, "'%s' must be 1 to %d bytes of printable UTF-8", name,
                 CATALOG_TEXT_MAX);
        return -1;
    }
    *out = s;
    return 0;
}

int catalog_input_price(json_object *body, int64_t *cents, char *why, size_t whylen)
{
    json_object *v;
    if (!json_object_object_get_ex(body, "price", &v) ||
        !(json_object_is_type(v, json_type_double) || json_object_is_type(v, json_type_int))) {
        snprintf(why, whylen, "'price' must be a number");
        return -1;
    }
    double p = json_object_get_double(v);
    double c = p * 100.0;
    if (!isfinite(p) || p <= 0 || c > (double)CATALOG_PRICE_MAX || fabs(c - round(c)) > 1e-6) {
        snprintf(why, whylen, "'price' must be a positive amount of at most 1000000.00 with "
                              "at most two decimals");
        return -1;
    }
    *cents = (int64_t)llround(c);
    if (*cents < 1) {
        snprintf(why, whylen, "'price' must be at least 0.01");
        return -1;
    }
    return 0;
}

int catalog_input_int(json_object *body, const char *name, int64_t min, int64_t max,
                      int64_t *out, char *why, size_t whylen)
{
    json_object *v;
    if (!json_object_object_get_ex(body, name, &v) || !json_object_is_type(v, json_type_int)) {
        snprintf(why, whylen, "'%s' must be an integer", name);
        return -1;
    }
    errno = 0;
    int64_t n = json_object_get_int64(v);
    if (errno || n < min || n > max) {
        snprintf(why, whylen, "'%s' must be between %" PRId64 " and %" PRId64, name, min, max);
        return -1;
    }
    *out = n;
    return 0;
}
