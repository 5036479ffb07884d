/* fcgi_json.h - typed reads of JSON object members and building objects,
 * shared by the state machines and the replication module. */
#ifndef FCGI_JSON_H
#define FCGI_JSON_H

#include <stddef.h>
#include <stdint.h>
#include <json-c/json.h>

/* The integer member `name` of o, or dflt when o is NULL, the member is
 * absent or it is not an integer. */
int64_t fcgi_json_int(json_object *o, const char *name, int64_t dflt);

/* The string member `name` of o (owned by o), or NULL. */
const char *fcgi_json_str(json_object *o, const char *name);

/* A new object of the n members names[i]: values[i], or NULL when a value
 * is NULL or memory runs out. Takes every value: into the object, or
 * released on failure. */
json_object *fcgi_json_object_of(size_t n, const char *const names[], json_object *values[]);

#endif
