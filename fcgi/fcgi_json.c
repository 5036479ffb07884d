/* fcgi_json.c - typed reads of JSON object members and building objects. */
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

json_object *fcgi_json_object_of(size_t n, const char *const names[], json_object *values[])
{
    json_object *o = json_object_new_object();
    int ok = o != NULL;
    for (size_t i = 0; i < n; i++)
        ok = ok && values[i] != NULL;
    for (size_t i = 0; i < n; i++) {
        if (ok && json_object_object_add(o, names[i], values[i]) == 0)
            continue;
        ok = 0;
        json_object_put(values[i]);
    }
    if (!ok) {
        json_object_put(o);
        return NULL;
    }
    return o;
}
