/* catalog_input.h - validation of the JSON bodies of catalog writes. */
#ifndef CATALOG_INPUT_H
#define CATALOG_INPUT_H

#include <stddef.h>
#include <stdint.h>
#include <json-c/json.h>

/* Each reads one member of `body`; returns 0 with the value, or -1 with a
 * human-readable reason in why. */
int catalog_input_text(json_object *body, const char *name, const char **out, char *why,
                       size_t whylen);
int catalog_input_price(json_object *body, int64_t *cents, char *why, size_t whylen);
int catalog_input_int(json_object *body, const char *name, int64_t min, int64_t max,
                      int64_t *out, char *why, size_t whylen);

#endif
