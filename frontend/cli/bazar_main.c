/* bazar_main.c - the bazar command-line client: parses the command line, calls
 * the public API (README.md, "The API") and prints tables or raw JSON. */
#include <curl/curl.h>
#include <errno.h>
#include <json-c/json.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bazar.h"

#define DEFAULT_SERVER "http://127.0.0.1:8080"
#define MAX_POS 4

enum { O_KEY = 1, O_ALL = 2, O_BOOK = 4, O_TOKEN = 8 };

typedef struct opts {
    char server[1024];
    const char *token, *key, *title, *topic, *price, *quantity;
    int json, help, all;
    const char *pos[MAX_POS]; /* after the command name */
    int npos;
} opts;

typedef struct command {
    const char *name;
    const char *synopsis;
    const char *help;
    unsigned allowed;
    int min_pos, max_pos;
    int (*run)(opts *o);
} command;

static const command *find_command(const char *name);

/* ---- errors and answers ------------------------------------------------------------ */

/* Prints "bazar: <message> (see 'bazar CMD --help')" and returns BAZAR_USAGE. */
__attribute__((format(printf, 2, 3))) static int usage_error(const char *cmd, const char *fmt,
                                                             ...)
{
    va_list ap;
    fprintf(stderr, "bazar: ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, " (see 'bazar %s%s--help')\n", cmd ? cmd : "", cmd ? " " : "");
    return BAZAR_USAGE;
}

/* The "error" string of a JSON error body, else a cleaned prefix of the body. */
static void error_text(const bazar_resp *r, char *out, size_t outlen)
{
    json_object *o = r->body ? json_tokener_parse(r->body) : NULL, *e;
    if (o && json_object_is_type(o, json_type_object) &&
        json_object_object_get_ex(o, "error", &e) && json_object_is_type(e, json_type_string))
        snprintf(out, outlen, "%s", json_object_get_string(e));
    else
        snprintf(out, outlen, "%.120s", r->body && r->body[0] ? r->body : "no details");
    json_object_put(o);
    for (char *p = out; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = ' ';
}

/* Prints the one-line error for a failed call and returns its exit code. */
static int fail(const opts *o, const bazar_resp *r)
{
    char why[512];
    if (r->status == 0) {
        fprintf(stderr, "bazar: cannot reach the server: %s\n", r->err);
        return BAZAR_UNAVAILABLE;
    }
    error_text(r, why, sizeof why);
    if (r->status >= 500) {
        fprintf(stderr, "bazar: server error %ld: %s\n", r->status, why);
        return BAZAR_UNAVAILABLE;
    }
    if (r->status == 401)
        fprintf(stderr, "bazar: admin token rejected (HTTP 401): %s\n", why);
    else if (r->status == 409)
        fprintf(stderr, "bazar: out of stock (HTTP 409): %s\n", why);
    else if (r->status == 404)
        fprintf(stderr, "bazar: not found (HTTP 404): %s\n", why);
    else if (r->status >= 400)
        fprintf(stderr, "bazar: rejected (HTTP %ld): %s\n", r->status, why);
    else {
        fprintf(stderr, "bazar: unexpected answer HTTP %ld from %s\n", r->status, o->server);
        return BAZAR_UNAVAILABLE;
    }
    return BAZAR_REJECTED;
}

/* Calls the API; on a 2xx answer parses it into *json (unless --json, which
 * prints it as received) and returns BAZAR_OK; otherwise reports and returns
 * the exit code. *json is NULL with --json. */
static int call(const opts *o, const char *method, const char *path, const char *body,
                const char *const *headers, bazar_resp *r, json_object **json)
{
    *json = NULL;
    if (bazar_http(o->server, method, path, body, headers, r) != 0 || r->status < 200 ||
        r->status > 299) {
        int code = fail(o, r);
        bazar_resp_free(r);
        return code;
    }
    if (o->json) {
        fwrite(r->body, 1, r->len, stdout);
        if (r->len == 0 || r->body[r->len - 1] != '\n')
            putchar('\n');
        return BAZAR_OK;
    }
    *json = json_tokener_parse(r->body);
    if (!*json) {
        fprintf(stderr, "bazar: the server's answer is not JSON (HTTP %ld)\n", r->status);
        bazar_resp_free(r);
        return BAZAR_UNAVAILABLE;
    }
    return BAZAR_OK;
}

/* ---- formatting ---------------------------------------------------------------------- */

/* One JSON value as table text; prices with two decimals. */
static const char *cell(json_object *parent, const char *key, char *buf, size_t len)
{
    json_object *v;
    if (!json_object_object_get_ex(parent, key, &v) || !v)
        return "-";
    switch (json_object_get_type(v)) {
    case json_type_double:
        snprintf(buf, len, "%.2f", json_object_get_double(v));
        return buf;
    case json_type_int:
        if (strcmp(key, "price") == 0)
            snprintf(buf, len, "%.2f", (double)json_object_get_int64(v));
        else
            snprintf(buf, len, "%lld", (long long)json_object_get_int64(v));
        return buf;
    case json_type_boolean:
        return json_object_get_boolean(v) ? "yes" : "no";
    case json_type_string:
        return json_object_get_string(v);
    default:
        return json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN);
    }
}

/* Prints the named fields of an object as "name  value" lines; extra (may be
 * NULL) is one more {name, value} row. */
static int print_record(json_object *o, const char *const *fields, const char *const *extra)
{
    bazar_table *t = bazar_table_new(2);
    if (!t)
        return -1;
    char buf[64];
    int rc = 0;
    for (size_t i = 0; fields[i] && rc == 0; i++) {
        const char *row[2] = {fields[i], cell(o, fields[i], buf, sizeof buf)};
        rc = bazar_table_add(t, row);
    }
    if (extra && rc == 0)
        rc = bazar_table_add(t, extra);
    if (rc == 0)
        bazar_table_print(t);
    bazar_table_free(t);
    return rc;
}

static const char *const book_fields[] = {"id", "title", "topic", "price", "quantity", NULL};
static const char *const order_fields[] = {"order_id", "book_id", "title", "price",
                                           "created_at", NULL};

/* Prints an array of objects as a table with a header row. */
static int print_list(json_object *arr, const char *const *fields, const char *const *heads,
                      size_t n)
{
    if (!json_object_is_type(arr, json_type_array))
        return -1;
    bazar_table *t = bazar_table_new(n);
    if (!t)
        return -1;
    int rc = bazar_table_add(t, heads);
    char bufs[8][64];
    const char *row[8];
    for (size_t i = 0; rc == 0 && i < json_object_array_length(arr); i++) {
        json_object *b = json_object_array_get_idx(arr, i);
        for (size_t c = 0; c < n && c < 8; c++)
            row[c] = cell(b, fields[c], bufs[c], sizeof bufs[c]);
        rc = bazar_table_add(t, row);
    }
    if (rc == 0)
        bazar_table_print(t);
    bazar_table_free(t);
    return rc;
}

/* Finishes a command: prints nothing more on --json, reports a formatting failure. */
static int done(bazar_resp *r, json_object *j, int print_rc)
{
    json_object_put(j);
    bazar_resp_free(r);
    if (print_rc != 0) {
        fprintf(stderr, "bazar: unexpected answer shape or out of memory\n");
        return BAZAR_UNAVAILABLE;
    }
    return BAZAR_OK;
}

/* ---- argument checks ----------------------------------------------------------------- */

static int parse_id(const char *cmd, const char *what, const char *s, long long *out)
{
    size_t n = strlen(s);
    if (n == 0 || n > 18 || strspn(s, "0123456789") != n)
        return usage_error(cmd, "%s '%s' is not a non-negative integer", what, s);
    *out = strtoll(s, NULL, 10);
    return BAZAR_OK;
}

/* A decimal number in JSON form, re-printed with %.15g (so 22.35 stays 22.35). */
static int parse_number(const char *cmd, const char *s, char *out, size_t outlen)
{
    char *end;
    size_t n = strlen(s);
    errno = 0;
    double d = strtod(s, &end);
    if (n == 0 || *end || errno || !isfinite(d) || strspn(s, "0123456789.eE+-") != n)
        return usage_error(cmd, "'%s' is not a decimal number", s);
    snprintf(out, outlen, "%.15g", d);
    return BAZAR_OK;
}

static int parse_int(const char *cmd, const char *s, long long *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (!*s || *end || errno)
        return usage_error(cmd, "'%s' is not an integer", s);
    *out = v;
    return BAZAR_OK;
}

/* The admin token: --token, BAZAR_TOKEN, $BAZAR_VAR/admin.token, else
 * var/admin.token in the current directory, then in the repo of this bin/bazar. */
static int load_token(opts *o, const char *cmd, char *buf, size_t len)
{
    if (o->token && o->token[0])
        return BAZAR_OK;
    const char *env = getenv("BAZAR_TOKEN");
    if (env && env[0]) {
        o->token = env;
        return BAZAR_OK;
    }
    char paths[2][PATH_MAX + 32];
    int np = 0;
    const char *var = getenv("BAZAR_VAR");
    if (var && var[0]) {
        snprintf(paths[np++], sizeof paths[0], "%s/admin.token", var);
    } else {
        snprintf(paths[np++], sizeof paths[0], "var/admin.token");
        char exe[PATH_MAX];
        ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
        if (n > 0) {
            exe[n] = 0;
            char *slash = strrchr(exe, '/');
            if (slash) {
                *slash = 0; /* .../bin */
                slash = strrchr(exe, '/');
                if (slash) {
                    *slash = 0;
                    snprintf(paths[np++], sizeof paths[0], "%s/var/admin.token", exe);
                }
            }
        }
    }
    for (int i = 0; i < np; i++) {
        FILE *f = fopen(paths[i], "r");
        if (!f)
            continue;
        size_t n = fread(buf, 1, len - 1, f);
        fclose(f);
        buf[n] = 0;
        while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' '))
            buf[--n] = 0;
        if (n) {
            o->token = buf;
            return BAZAR_OK;
        }
    }
    fprintf(stderr, "bazar: %s needs the admin token: use --token, BAZAR_TOKEN or %s\n", cmd,
            var && var[0] ? paths[0] : "var/admin.token");
    return BAZAR_USAGE;
}

/* Sends an admin write with the Bearer token and prints the book it returns. */
static int admin_write(opts *o, const char *cmd, const char *method, const char *path,
                       json_object *body)
{
    char tok[512], auth[600];
    int rc = load_token(o, cmd, tok, sizeof tok);
    if (rc != BAZAR_OK) {
        json_object_put(body);
        return rc;
    }
    if (!body)
        return done(&(bazar_resp){0}, NULL, -1);
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", o->token);
    const char *hdrs[] = {auth, NULL};
    bazar_resp r;
    json_object *j;
    rc = call(o, method, path, json_object_to_json_string_ext(body, JSON_C_TO_STRING_PLAIN),
              hdrs, &r, &j);
    json_object_put(body);
    if (rc != BAZAR_OK || o->json) {
        bazar_resp_free(&r);
        return rc;
    }
    return done(&r, j, print_record(j, book_fields, NULL));
}

/* ---- subcommands --------------------------------------------------------------------- */

static int cmd_search(opts *o)
{
    const char *topic = o->pos[0];
    if (!topic[0])
        return usage_error("search", "the topic is empty");
    char *enc = curl_easy_escape(NULL, topic, (int)strlen(topic));
    if (!enc) {
        fprintf(stderr, "bazar: out of memory\n");
        return BAZAR_UNAVAILABLE;
    }
    size_t plen = strlen(enc) + 32;
    char *path = malloc(plen);
    if (!path) {
        curl_free(enc);
        fprintf(stderr, "bazar: out of memory\n");
        return BAZAR_UNAVAILABLE;
    }
    snprintf(path, plen, "/bazar/search/%s", enc);
    curl_free(enc);
    bazar_resp r;
    json_object *j;
    int rc = call(o, "GET", path, NULL, NULL, &r, &j);
    free(path);
    if (rc != BAZAR_OK || o->json) {
        bazar_resp_free(&r);
        return rc;
    }
    if (json_object_is_type(j, json_type_array) && json_object_array_length(j) == 0) {
        printf("no books on topic \"%s\"\n", topic);
        return done(&r, j, 0);
    }
    static const char *const f[] = {"id", "title"}, *const h[] = {"ID", "TITLE"};
    return done(&r, j, print_list(j, f, h, 2));
}

static int cmd_info(opts *o)
{
    bazar_resp r;
    json_object *j;
    int rc;
    if (o->all) {
        if (o->npos != 0)
            return usage_error("info", "give either ID or --all");
        rc = call(o, "GET", "/bazar/info/all", NULL, NULL, &r, &j);
        if (rc != BAZAR_OK || o->json) {
            bazar_resp_free(&r);
            return rc;
        }
        static const char *const f[] = {"id", "title", "topic", "price", "quantity"};
        static const char *const h[] = {"ID", "TITLE", "TOPIC", "PRICE", "STOCK"};
        return done(&r, j, print_list(j, f, h, 5));
    }
    if (o->npos != 1)
        return usage_error("info", "info needs a book ID or --all");
    long long id;
    if ((rc = parse_id("info", "book ID", o->pos[0], &id)))
        return rc;
    char path[64];
    snprintf(path, sizeof path, "/bazar/info/%lld", id);
    rc = call(o, "GET", path, NULL, NULL, &r, &j);
    if (rc != BAZAR_OK || o->json) {
        bazar_resp_free(&r);
        return rc;
    }
    return done(&r, j, print_record(j, book_fields, NULL));
}

static int cmd_buy(opts *o)
{
    long long id;
    int rc = parse_id("buy", "book ID", o->pos[0], &id);
    if (rc)
        return rc;
    char path[64], hdr[200];
    const char *hdrs[] = {hdr, NULL};
    if (o->key) {
        size_t n = strlen(o->key);
        if (n == 0 || n > 128 ||
            strspn(o->key, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._:-") != n)
            return usage_error("buy", "--key '%s' must be 1 to 128 of [A-Za-z0-9._:-]", o->key);
        snprintf(hdr, sizeof hdr, "Idempotency-Key: %s", o->key);
    }
    snprintf(path, sizeof path, "/bazar/purchase/%lld", id);
    bazar_resp r;
    json_object *j;
    rc = call(o, "POST", path, NULL, o->key ? hdrs : NULL, &r, &j);
    if (rc != BAZAR_OK || o->json) {
        bazar_resp_free(&r);
        return rc;
    }
    const char *extra[2] = {"key", r.idem_key};
    return done(&r, j, print_record(j, order_fields, r.idem_key[0] ? extra : NULL));
}

static int cmd_order(opts *o)
{
    long long id;
    int rc = parse_id("order", "order ID", o->pos[0], &id);
    if (rc)
        return rc;
    char path[64];
    snprintf(path, sizeof path, "/bazar/orders/%lld", id);
    bazar_resp r;
    json_object *j;
    rc = call(o, "GET", path, NULL, NULL, &r, &j);
    if (rc != BAZAR_OK || o->json) {
        bazar_resp_free(&r);
        return rc;
    }
    return done(&r, j, print_record(j, order_fields, NULL));
}

static int cmd_add(opts *o)
{
    static const char *const names[] = {"--title", "--topic", "--price", "--quantity"};
    const char *vals[] = {o->title, o->topic, o->price, o->quantity};
    for (size_t i = 0; i < 4; i++)
        if (!vals[i])
            return usage_error("add", "add needs %s", names[i]);
    char price[64];
    long long qty;
    int rc = parse_number("add", o->price, price, sizeof price);
    if (rc || (rc = parse_int("add", o->quantity, &qty)))
        return rc;
    json_object *b = json_object_new_object();
    if (b && (json_object_object_add(b, "title", json_object_new_string(o->title)) ||
              json_object_object_add(b, "topic", json_object_new_string(o->topic)) ||
              json_object_object_add(b, "price",
                                     json_object_new_double_s(strtod(price, NULL), price)) ||
              json_object_object_add(b, "quantity", json_object_new_int64(qty)))) {
        json_object_put(b);
        b = NULL;
    }
    return admin_write(o, "add", "POST", "/bazar/books", b);
}

static int cmd_price(opts *o)
{
    long long id;
    char price[64], path[96];
    int rc = parse_id("price", "book ID", o->pos[0], &id);
    if (rc || (rc = parse_number("price", o->pos[1], price, sizeof price)))
        return rc;
    snprintf(path, sizeof path, "/bazar/books/%lld/price", id);
    json_object *b = json_object_new_object();
    if (b && json_object_object_add(b, "price",
                                    json_object_new_double_s(strtod(price, NULL), price))) {
        json_object_put(b);
        b = NULL;
    }
    return admin_write(o, "price", "PUT", path, b);
}

static int cmd_restock(opts *o)
{
    long long id, count;
    char path[96];
    int rc = parse_id("restock", "book ID", o->pos[0], &id);
    if (rc || (rc = parse_int("restock", o->pos[1], &count)))
        return rc;
    snprintf(path, sizeof path, "/bazar/books/%lld/restock", id);
    json_object *b = json_object_new_object();
    if (b && json_object_object_add(b, "count", json_object_new_int64(count))) {
        json_object_put(b);
        b = NULL;
    }
    return admin_write(o, "restock", "POST", path, b);
}

/* One service's replicas as a table, after a summary line. */
static int print_service(json_object *st, const char *name)
{
    json_object *svc, *reps, *v;
    if (!json_object_object_get_ex(st, name, &svc) ||
        !json_object_object_get_ex(svc, "replicas", &reps) ||
        !json_object_is_type(reps, json_type_array))
        return -1;
    size_t n = json_object_array_length(reps);
    char buf[64], buf2[64];
    int agree = json_object_object_get_ex(svc, "hashes_agree", &v) && json_object_get_boolean(v);
    const char *primary = cell(svc, "primary", buf, sizeof buf);
    const char *nup = cell(svc, "up", buf2, sizeof buf2);
    printf("%s: primary %s, %s of %zu up, state hashes %s\n", name, primary, nup, n,
           strcmp(nup, "0") == 0 || strcmp(nup, "-") == 0 ? "unknown" : agree ? "agree" : "DIFFER");
    bazar_table *t = bazar_table_new(6);
    static const char *const head[] = {"REPLICA", "STATE", "ROLE", "APPLIED", "HASH", "PIDS"};
    int rc = t ? bazar_table_add(t, head) : -1;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        json_object *r = json_object_array_get_idx(reps, i), *pids;
        char b[4][64], hash[16], plist[256] = "";
        int up = json_object_object_get_ex(r, "up", &v) && json_object_get_boolean(v);
        snprintf(hash, sizeof hash, "%.12s", cell(r, "hash", b[3], sizeof b[3]));
        if (json_object_object_get_ex(r, "pids", &pids) &&
            json_object_is_type(pids, json_type_array))
            for (size_t k = 0; k < json_object_array_length(pids); k++) {
                size_t used = strlen(plist);
                snprintf(plist + used, sizeof plist - used, "%s%lld", k ? "," : "",
                         (long long)json_object_get_int64(json_object_array_get_idx(pids, k)));
            }
        const char *row[6] = {cell(r, "id", b[0], sizeof b[0]), up ? "up" : "DOWN",
                              cell(r, "role", b[1], sizeof b[1]),
                              cell(r, "applied", b[2], sizeof b[2]), hash, plist};
        rc = bazar_table_add(t, row);
    }
    if (rc == 0)
        bazar_table_print(t);
    bazar_table_free(t);
    return rc;
}

static int cmd_status(opts *o)
{
    bazar_resp r;
    json_object *j, *cache, *v;
    int rc = call(o, "GET", "/bazar/status", NULL, NULL, &r, &j);
    if (rc != BAZAR_OK || o->json) {
        bazar_resp_free(&r);
        return rc;
    }
    rc = print_service(j, "catalog");
    putchar('\n');
    if (rc == 0)
        rc = print_service(j, "order");
    if (rc == 0 && json_object_object_get_ex(j, "cache", &cache)) {
        int on = json_object_object_get_ex(cache, "enabled", &v) && json_object_get_boolean(v);
        char hbuf[32], mbuf[32];
        const char *h = cell(cache, "hits", hbuf, sizeof hbuf);
        const char *m = cell(cache, "misses", mbuf, sizeof mbuf);
        putchar('\n');
        if (!on)
            printf("cache: off\n");
        else if (json_object_object_get_ex(cache, "hit_ratio", &v) && v)
            printf("cache: on, %s hits, %s misses, hit ratio %.1f%%\n", h, m,
                   100.0 * json_object_get_double(v));
        else
            printf("cache: on, %s hits, %s misses, hit ratio -\n", h, m);
    }
    return done(&r, j, rc);
}

static int cmd_help(opts *o);

static const command commands[] = {
    {"search", "search TOPIC", "Lists the books on TOPIC (id and title).", 0, 1, 1, cmd_search},
    {"info", "info (ID | --all)",
     "Shows one book (title, topic, price, stock), or every book with --all.", O_ALL, 0, 1,
     cmd_info},
    {"buy", "buy ID [--key IDEMPOTENCY_KEY]",
     "Buys one copy and prints the order. Repeating a purchase with the same --key returns the "
     "same order instead of buying again.",
     O_KEY, 1, 1, cmd_buy},
    {"order", "order ORDER_ID", "Shows one order.", 0, 1, 1, cmd_order},
    {"add", "add --title T --topic T --price P --quantity Q",
     "Adds a book (admin) and prints it with its new id.", O_BOOK | O_TOKEN, 0, 0, cmd_add},
    {"price", "price ID PRICE", "Sets a book's price (admin).", O_TOKEN, 2, 2, cmd_price},
    {"restock", "restock ID COUNT", "Adds COUNT copies to a book's stock (admin).", O_TOKEN, 2,
     2, cmd_restock},
    {"status", "status",
     "Shows every replica (up/down, role, log position, state hash), the primaries, whether the "
     "replicas' state hashes agree, and the cache hit ratio.",
     0, 0, 0, cmd_status},
    {"help", "help [COMMAND]", "Shows this help, or one command's.", 0, 0, 1, cmd_help},
};
#define NCOMMANDS (sizeof commands / sizeof commands[0])

static const command *find_command(const char *name)
{
    for (size_t i = 0; i < NCOMMANDS; i++)
        if (strcmp(commands[i].name, name) == 0)
            return &commands[i];
    return NULL;
}

static void print_help(const command *c)
{
    if (c) {
        printf("usage: bazar %s [--server URL] [--json]%s\n\n%s\n", c->synopsis,
               c->allowed & O_TOKEN ? " [--token TOKEN]" : "", c->help);
        if (c->allowed & O_TOKEN)
            printf("\nThe admin token comes from --token, BAZAR_TOKEN, or $BAZAR_VAR/admin.token "
                   "(default var/admin.token).\n");
        printf("\nExit codes: 0 ok; 1 not found, out of stock or rejected; 2 usage error; "
               "3 server unreachable or 5xx.\n");
        return;
    }
    printf("usage: bazar COMMAND [ARGS] [--server URL] [--json] [--token TOKEN]\n\n"
           "The Bazar bookstore from the command line.\n\ncommands:\n");
    for (size_t i = 0; i < NCOMMANDS; i++)
        printf("  %-48s %s\n", commands[i].synopsis,
               strcmp(commands[i].name, "search") == 0    ? "list the books on a topic"
               : strcmp(commands[i].name, "info") == 0    ? "one book, or all books"
               : strcmp(commands[i].name, "buy") == 0     ? "buy one copy"
               : strcmp(commands[i].name, "order") == 0   ? "show an order"
               : strcmp(commands[i].name, "add") == 0     ? "add a book (admin)"
               : strcmp(commands[i].name, "price") == 0   ? "change a price (admin)"
               : strcmp(commands[i].name, "restock") == 0 ? "add stock (admin)"
               : strcmp(commands[i].name, "status") == 0  ? "the cluster's replicas and cache"
                                                          : "help on a command");
    printf("\noptions:\n"
           "  --server URL   the store (default $BAZAR_SERVER or " DEFAULT_SERVER ")\n"
           "  --json         print the server's JSON answer as is\n"
           "  --token TOKEN  admin token (default $BAZAR_TOKEN or var/admin.token)\n"
           "  --help         help; 'bazar COMMAND --help' for one command\n"
           "\nExit codes: 0 ok; 1 not found, out of stock or rejected; 2 usage error; "
           "3 server unreachable or 5xx.\n");
}

static int cmd_help(opts *o)
{
    const command *c = NULL;
    if (o->npos == 1 && !(c = find_command(o->pos[0])))
        return usage_error(NULL, "unknown command '%s'", o->pos[0]);
    print_help(c);
    return BAZAR_OK;
}

/* ---- command line -------------------------------------------------------------------- */

/* "-5" and "-.5" are values, not options. */
static int is_option(const char *a)
{
    return a[0] == '-' && a[1] && !(a[1] >= '0' && a[1] <= '9') && a[1] != '.';
}

static int parse_args(int argc, char **argv, opts *o, const command **cmd)
{
    static const struct {
        const char *name;
        unsigned bit; /* 0: allowed for every command */
        size_t off;
    } valued[] = {
        {"server", 0, 0},
        {"token", 0, offsetof(opts, token)},
        {"key", O_KEY, offsetof(opts, key)},
        {"title", O_BOOK, offsetof(opts, title)},
        {"topic", O_BOOK, offsetof(opts, topic)},
        {"price", O_BOOK, offsetof(opts, price)},
        {"quantity", O_BOOK, offsetof(opts, quantity)},
    };
    const char *server = NULL, *cmdname = NULL;
    unsigned used = 0;
    int only_pos = 0;
    const char *pos[MAX_POS + 1];
    int npos = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!only_pos && strcmp(a, "--") == 0) {
            only_pos = 1;
            continue;
        }
        if (only_pos || !is_option(a)) {
            if (!cmdname)
                cmdname = a;
            else if (npos < MAX_POS + 1)
                pos[npos++] = a;
            else
                return usage_error(cmdname, "too many arguments: '%s'", a);
            continue;
        }
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            o->help = 1;
            continue;
        }
        if (strcmp(a, "--json") == 0) {
            o->json = 1;
            continue;
        }
        if (strcmp(a, "--all") == 0) {
            o->all = 1;
            used |= O_ALL;
            continue;
        }
        if (strncmp(a, "--", 2) != 0)
            return usage_error(cmdname, "unknown option '%s'", a);
        const char *name = a + 2, *eq = strchr(name, '='), *val = NULL;
        size_t nlen = eq ? (size_t)(eq - name) : strlen(name);
        size_t k;
        for (k = 0; k < sizeof valued / sizeof valued[0]; k++)
            if (strlen(valued[k].name) == nlen && strncmp(valued[k].name, name, nlen) == 0)
                break;
        if (k == sizeof valued / sizeof valued[0])
            return usage_error(cmdname, "unknown option '%s'", a);
        if (eq)
            val = eq + 1;
        else if (i + 1 < argc)
            val = argv[++i];
        else
            return usage_error(cmdname, "option '%s' needs a value", a);
        used |= valued[k].bit;
        if (k == 0)
            server = val;
        else
            *(const char **)((char *)o + valued[k].off) = val;
    }
    if (!cmdname) {
        if (o->help) {
            print_help(NULL);
            return -1;
        }
        fprintf(stderr, "bazar: no command given (see 'bazar --help')\n");
        return BAZAR_USAGE;
    }
    *cmd = find_command(cmdname);
    if (!*cmd)
        return usage_error(NULL, "unknown command '%s'", cmdname);
    if (o->help) {
        print_help(*cmd);
        return -1;
    }
    if (used & ~(*cmd)->allowed) {
        for (size_t k = 0; k < sizeof valued / sizeof valued[0]; k++)
            if (valued[k].bit & used & ~(*cmd)->allowed)
                return usage_error(cmdname, "option '--%s' does not apply here",
                                   valued[k].name);
        return usage_error(cmdname, "option '%s' does not apply here", "--all");
    }
    if (npos < (*cmd)->min_pos)
        return usage_error(cmdname, "missing argument: usage: bazar %s", (*cmd)->synopsis);
    if (npos > (*cmd)->max_pos)
        return usage_error(cmdname, "unexpected argument '%s'", pos[(*cmd)->max_pos]);
    for (int i = 0; i < npos; i++)
        o->pos[i] = pos[i];
    o->npos = npos;
    if (!server)
        server = getenv("BAZAR_SERVER");
    if (!server || !server[0])
        server = DEFAULT_SERVER;
    size_t slen = strlen(server);
    while (slen > 0 && server[slen - 1] == '/')
        slen--;
    if ((strncmp(server, "http://", 7) != 0 && strncmp(server, "https://", 8) != 0) ||
        slen >= sizeof o->server)
        return usage_error(cmdname, "--server '%s' must be an http:// or https:// URL", server);
    memcpy(o->server, server, slen);
    o->server[slen] = 0;
    return BAZAR_OK;
}

int main(int argc, char **argv)
{
    opts o;
    const command *cmd = NULL;
    memset(&o, 0, sizeof o);
    int rc = parse_args(argc, argv, &o, &cmd);
    if (rc == -1)
        return fflush(stdout) == 0 ? BAZAR_OK : BAZAR_USAGE;
    if (rc != BAZAR_OK)
        return rc;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fprintf(stderr, "bazar: libcurl failed to initialise\n");
        return BAZAR_UNAVAILABLE;
    }
    rc = cmd->run(&o);
    curl_global_cleanup();
    if (fflush(stdout) != 0) {
        fprintf(stderr, "bazar: cannot write the output: %s\n", strerror(errno));
        return rc ? rc : BAZAR_UNAVAILABLE;
    }
    return rc;
}
