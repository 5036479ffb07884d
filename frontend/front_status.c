/* front_status.c - GET /status (internal) and GET /bazar/status (public): for
 * each service, each replica's role, liveness, log position and state hash,
 * gathered in parallel from the replicas' peer pools (the internal view also
 * has where each replica listens and its pids), plus Redis's hit ratio. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "front.h"

/* Builds one service's object from the answers to its /state calls. */
static json_object *service_json(int n, fcgi_http_call *calls, int public_view)
{
    json_object *o = json_object_new_object(), *arr = json_object_new_array();
    const char *first_hash = NULL;
    int agree = 1, primary = 0, up = 0;
    for (int i = 0; i < n; i++) {
        json_object *rep = json_object_new_object(), *state = NULL, *v;
        json_object_object_add(rep, "id", json_object_new_int(i + 1));
        if (calls[i].rc == 0 && calls[i].resp.status == 200 && calls[i].resp.body)
            state = json_tokener_parse(calls[i].resp.body);
        json_object_object_add(rep, "up", json_object_new_boolean(state != NULL));
        if (state) {
            up++;
            /* Where a replica runs (its listener, its pids) is for operators:
             * the internal /status has it, the public /bazar/status not. */
            static const char *const copy[] = {"role",      "applied",   "hash",
                                               "epoch",     "primary",   "serving",
                                               "replayed",  "snapshots", "last_epoch",
                                               "heard_ms_ago", "listen", "pids"};
            size_t ncopy = sizeof copy / sizeof copy[0] - (public_view ? 2 : 0);
            for (size_t k = 0; k < ncopy; k++)
                if (json_object_object_get_ex(state, copy[k], &v))
                    json_object_object_add(rep, copy[k], json_object_get(v));
            if (json_object_object_get_ex(state, "hash", &v)) {
                if (!first_hash)
                    first_hash = json_object_get_string(v);
                else if (strcmp(first_hash, json_object_get_string(v)) != 0)
                    agree = 0;
            }
            if (json_object_object_get_ex(state, "role", &v) &&
                strcmp(json_object_get_string(v), "primary") == 0)
                primary = i + 1;
        } else {
            json_object_object_add(rep, "role", NULL);
            json_object_object_add(rep, "applied", NULL);
            json_object_object_add(rep, "hash", NULL);
        }
        json_object_array_add(arr, rep);
        /* first_hash points into state: keep state alive until the end. */
        if (state)
            json_object_object_add(rep, "_state", state);
    }
    json_object_object_add(o, "replicas", arr);
    json_object_object_add(o, "primary", primary ? json_object_new_int(primary) : NULL);
    json_object_object_add(o, "up", json_object_new_int(up));
    json_object_object_add(o, "hashes_agree", json_object_new_boolean(up > 0 && agree));
    return o;
}

static void drop_state(json_object *svc)
{
    json_object *arr;
    if (!json_object_object_get_ex(svc, "replicas", &arr))
        return;
    for (size_t i = 0; i < json_object_array_length(arr); i++)
        json_object_object_del(json_object_array_get_idx(arr, i), "_state");
}

void front_states_fetch(front_states *s)
{
    const fcgi_config *cfg = front_ctx.cfg;
    static const char *const svcs[2] = {"catalog", "order"};
    int counts[2] = {cfg->catalog_replicas, cfg->order_replicas};
    size_t n = 0;
    memset(s, 0, sizeof *s);
    for (int k = 0; k < 2; k++) {
        if (counts[k] > FRONT_MAX_REPLICAS)
            counts[k] = FRONT_MAX_REPLICAS;
        for (int i = 1; i <= counts[k]; i++, n++) {
            snprintf(s->urls[n], sizeof s->urls[n], "%s/peer/%s/%d/state", cfg->internal_url,
                     svcs[k], i);
            snprintf(s->keys[n], sizeof s->keys[n], "state-%s-%d", svcs[k], i);
            s->calls[n] = (fcgi_http_call){.peer = s->keys[n], .method = "GET",
                                           .url = s->urls[n], .timeout_ms = 1000};
        }
    }
    s->ncatalog = counts[0];
    s->norder = counts[1];
    fcgi_http_do_all(front_ctx.http, s->calls, n);
}

void front_states_clear(front_states *s)
{
    for (int i = 0; i < s->ncatalog + s->norder; i++)
        fcgi_http_resp_clear(&s->calls[i].resp);
}

int front_status(fcgi_request *req)
{
    int public_view = strncmp(req->path, "/bazar/", 7) == 0;
    static front_states st; /* large: off the stack */
    front_states_fetch(&st);
    fcgi_http_call *calls = st.calls;
    json_object *o = json_object_new_object();
    json_object *cat = service_json(st.ncatalog, calls, public_view);
    json_object *ord = service_json(st.norder, calls + st.ncatalog, public_view);
    drop_state(cat);
    drop_state(ord);
    json_object_object_add(o, "catalog", cat);
    json_object_object_add(o, "order", ord);
    json_object *cache = json_object_new_object();
    json_object_object_add(cache, "enabled", json_object_new_boolean(front_ctx.cache != NULL));
    unsigned long long hits = 0, misses = 0;
    if (front_ctx.cache && fcgi_cache_server_stats(front_ctx.cache, &hits, &misses) == 0) {
        json_object_object_add(cache, "hits", json_object_new_uint64(hits));
        json_object_object_add(cache, "misses", json_object_new_uint64(misses));
        json_object_object_add(cache, "hit_ratio",
                               hits + misses ? json_object_new_double((double)hits /
                                                                      (double)(hits + misses))
                                             : NULL);
    } else { /* cache off or Redis unreachable */
        json_object_object_add(cache, "hits", NULL);
        json_object_object_add(cache, "misses", NULL);
        json_object_object_add(cache, "hit_ratio", NULL);
    }
    json_object_object_add(o, "cache", cache);
    front_states_clear(&st);
    return fcgi_resp_json(req, 200, o);
}
