/* bazar_http.c - the bazar CLI's one HTTP call (libcurl easy interface). */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "bazar.h"

#define BODY_MAX (64u << 20) /* refuse answers over 64 MiB */

static size_t on_body(char *data, size_t size, size_t n, void *ud)
{
    bazar_resp *r = ud;
    size_t add = size * n;
    if (r->len + add > BODY_MAX)
        return 0; /* makes curl fail with CURLE_WRITE_ERROR */
    char *p = realloc(r->body, r->len + add + 1);
    if (!p)
        return 0;
    memcpy(p + r->len, data, add);
    r->body = p;
    r->len += add;
    r->body[r->len] = 0;
    return add;
}

static size_t on_header(char *data, size_t size, size_t n, void *ud)
{
    bazar_resp *r = ud;
    size_t len = size * n;
    static const char name[] = "Idempotency-Key:";
    if (len > sizeof name - 1 && strncasecmp(data, name, sizeof name - 1) == 0) {
        const char *v = data + sizeof name - 1;
        size_t vlen = len - (sizeof name - 1);
        while (vlen && (*v == ' ' || *v == '\t'))
            v++, vlen--;
        while (vlen && (v[vlen - 1] == '\r' || v[vlen - 1] == '\n' || v[vlen - 1] == ' '))
            vlen--;
        if (vlen < sizeof r->idem_key) {
            memcpy(r->idem_key, v, vlen);
            r->idem_key[vlen] = 0;
        }
    }
    return len;
}

#define SETOPT(h, opt, val)                                                                   \
    do {                                                                                      \
        if (curl_easy_setopt(h, opt, val) != CURLE_OK) {                                      \
            snprintf(resp->err, sizeof resp->err, "libcurl refused option %s", #opt);         \
            goto done;                                                                        \
        }                                                                                     \
    } while (0)

int bazar_http(const char *server, const char *method, const char *path, const char *body,
               const char *const *headers, bazar_resp *resp)
{
    memset(resp, 0, sizeof *resp);
    int rc = -1;
    struct curl_slist *hl = NULL;
    size_t ulen = strlen(server) + strlen(path) + 1;
    char *url = malloc(ulen);
    CURL *h = curl_easy_init();
    if (!url || !h) {
        snprintf(resp->err, sizeof resp->err, "out of memory");
        goto done;
    }
    snprintf(url, ulen, "%s%s", server, path);
    const char *fixed[] = {"Accept: application/json", "Expect:",
                           body ? "Content-Type: application/json" : NULL};
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++) {
        struct curl_slist *n = fixed[i] ? curl_slist_append(hl, fixed[i]) : hl;
        if (!n) {
            snprintf(resp->err, sizeof resp->err, "out of memory");
            goto done;
        }
        hl = n;
    }
    for (size_t i = 0; headers && headers[i]; i++) {
        struct curl_slist *n = curl_slist_append(hl, headers[i]);
        if (!n) {
            snprintf(resp->err, sizeof resp->err, "out of memory");
            goto done;
        }
        hl = n;
    }
    SETOPT(h, CURLOPT_URL, url);
    SETOPT(h, CURLOPT_CUSTOMREQUEST, method);
    SETOPT(h, CURLOPT_HTTPHEADER, hl);
    SETOPT(h, CURLOPT_WRITEFUNCTION, on_body);
    SETOPT(h, CURLOPT_WRITEDATA, resp);
    SETOPT(h, CURLOPT_HEADERFUNCTION, on_header);
    SETOPT(h, CURLOPT_HEADERDATA, resp);
    SETOPT(h, CURLOPT_CONNECTTIMEOUT_MS, 3000L);
    SETOPT(h, CURLOPT_TIMEOUT_MS, 30000L);
    SETOPT(h, CURLOPT_NOSIGNAL, 1L);
    SETOPT(h, CURLOPT_USERAGENT, "bazar-cli/1");
    if (body) {
        SETOPT(h, CURLOPT_POSTFIELDS, body);
        SETOPT(h, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    } else if (strcmp(method, "POST") == 0) {
        SETOPT(h, CURLOPT_POSTFIELDS, "");
        SETOPT(h, CURLOPT_POSTFIELDSIZE, 0L);
    }
    CURLcode cc = curl_easy_perform(h);
    if (cc != CURLE_OK) {
        snprintf(resp->err, sizeof resp->err, "%s: %s", server, curl_easy_strerror(cc));
        goto done;
    }
    if (curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &resp->status) != CURLE_OK ||
        resp->status == 0) {
        snprintf(resp->err, sizeof resp->err, "%s: no HTTP status", server);
        resp->status = 0;
        goto done;
    }
    if (!resp->body) {
        resp->body = calloc(1, 1);
        if (!resp->body) {
            snprintf(resp->err, sizeof resp->err, "out of memory");
            resp->status = 0;
            goto done;
        }
    }
    rc = 0;
done:
    if (rc != 0) {
        free(resp->body);
        resp->body = NULL;
        resp->len = 0;
    }
    curl_slist_free_all(hl);
    if (h)
        curl_easy_cleanup(h);
    free(url);
    return rc;
}

void bazar_resp_free(bazar_resp *resp)
{
    free(resp->body);
    resp->body = NULL;
    resp->len = 0;
}
