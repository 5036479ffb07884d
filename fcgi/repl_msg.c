/* repl_msg.c - parsing and validation of replication append messages. */
#include "repl_msg.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fcgi_app.h"

/* An integer member >= min, or -1 with *ok cleared. */
static int64_t member_int(json_object *o, const char *name, int64_t min, int *ok)
{
    json_object *v;
    if (!json_object_object_get_ex(o, name, &v) || !json_object_is_type(v, json_type_int)) {
        *ok = 0;
        return -1;
    }
    errno = 0;
    int64_t n = json_object_get_int64(v);
    if (errno != 0 || n < min) {
        *ok = 0;
        return -1;
    }
    return n;
}

int repl_msg_from_json(json_object *root, repl_msg *m, char *why, size_t whylen)
{
    memset(m, 0, sizeof *m);
    json_object *service, *entries;
    if (root == NULL || !json_object_is_type(root, json_type_object)) {
        snprintf(why, whylen, "append message must be a JSON object");
        return -1;
    }
    if (!json_object_object_get_ex(root, "service", &service) ||
        !json_object_is_type(service, json_type_string) ||
        json_object_get_string_len(service) < 1 ||
        json_object_get_string_len(service) >= REPL_MSG_SERVICE_MAX ||
        strlen(json_object_get_string(service)) != (size_t)json_object_get_string_len(service)) {
        snprintf(why, whylen, "append message without a valid 'service'");
        return -1;
    }
    int ok = 1;
    int64_t epoch = member_int(root, "epoch", 1, &ok);
    int64_t leader = member_int(root, "leader", 1, &ok);
    int64_t from = member_int(root, "from", 1, &ok);
    int64_t prev = member_int(root, "prev_epoch", 0, &ok);
    int64_t head = member_int(root, "head", 0, &ok);
    int64_t sent = member_int(root, "sent_ms", 0, &ok);
    int64_t commit = member_int(root, "commit", 0, &ok);
    int64_t safe = member_int(root, "safe", 0, &ok);
    int64_t lease = member_int(root, "lease", 0, &ok);
    if (!ok || prev > epoch || (from == 1 && prev != 0)) {
        snprintf(why, whylen, "malformed append message: epoch, leader and from must be "
                              "integers >= 1, prev_epoch 0..epoch (0 when from is 1), head, "
                              "sent_ms, commit, safe and lease >= 0");
        return -1;
    }
    json_object *snap;
    int snapshot = 0;
    if (json_object_object_get_ex(root, "snapshot", &snap)) {
        if (!json_object_is_type(snap, json_type_boolean)) {
            snprintf(why, whylen, "'snapshot' must be a boolean");
            return -1;
        }
        snapshot = json_object_get_boolean(snap);
    }
    if (!json_object_object_get_ex(root, "entries", &entries) ||
        !json_object_is_type(entries, json_type_array)) {
        snprintf(why, whylen, "append without an entries array");
        return -1;
    }
    size_t n = json_object_array_length(entries);
    repl_msg_entry *es = NULL;
    if (n > 0) {
        es = calloc(n, sizeof *es);
        if (es == NULL) {
            snprintf(why, whylen, "out of memory");
            return -1;
        }
    }
    for (size_t i = 0; i < n; i++) {
        json_object *e = json_object_array_get_idx(entries, i), *op;
        int eok = 1;
        int64_t pos = -1, ep = -1;
        if (json_object_is_type(e, json_type_object)) {
            pos = member_int(e, "pos", 1, &eok);
            ep = member_int(e, "epoch", 1, &eok);
        } else {
            eok = 0;
        }
        if (!eok || ep > epoch || !json_object_object_get_ex(e, "op", &op) ||
            !json_object_is_type(op, json_type_object)) {
            free(es);
            snprintf(why, whylen, "malformed entry %zu: needs integer pos >= 1, epoch 1..%" PRId64
                                  " and an op object", i, epoch);
            return -1;
        }
        if (from > INT64_MAX - (int64_t)i || pos != from + (int64_t)i) {
            free(es);
            snprintf(why, whylen, "entry %zu: positions must be consecutive from 'from'", i);
            return -1;
        }
        es[i] = (repl_msg_entry){.pos = pos, .epoch = ep, .op = op};
    }
    snprintf(m->service, sizeof m->service, "%s", json_object_get_string(service));
    m->root = root;
    m->epoch = epoch;
    m->leader = leader;
    m->from = from;
    m->prev_epoch = prev;
    m->head = head;
    m->sent_ms = sent;
    m->commit = commit;
    m->safe = safe;
    m->lease = lease;
    m->snapshot = snapshot;
    m->n = n;
    m->entries = es;
    return 0;
}

int repl_msg_parse(const char *buf, size_t len, repl_msg *m, char *why, size_t whylen)
{
    memset(m, 0, sizeof *m);
    json_object *root = fcgi_json_parse_object(buf, len, why, whylen);
    if (root == NULL)
        return -1;
    if (repl_msg_from_json(root, m, why, whylen) != 0) {
        json_object_put(root);
        return -1;
    }
    m->owns_root = 1;
    return 0;
}

void repl_msg_free(repl_msg *m)
{
    if (m->owns_root)
        json_object_put(m->root);
    free(m->entries);
    memset(m, 0, sizeof *m);
}
