/* fcgi_json.c - typed reads of JSON object members. */
#include "fcgi_json.h"

int64_t fcgi_json_int(json_object *o, const char *name, int64_t dflt)
{
    json_object *v;
    if (!o || !json_object_object_get_ex(o, name, &v) || !json_object_is_type(v, json_type_int))
        return dflt;
    return json_object_get_int64(v);
}

const char *fcgi_json_str(json_object *o, const char *name)
{
    json_object *v;
    if (!o || !json_object_object_get_ex(o, name, &v) || !json_object_is_type(v, json_type_string))
        return NULL;
    return json_object_get_string(v);
}
