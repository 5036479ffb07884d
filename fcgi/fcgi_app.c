/* fcgi_app.c - the FastCGI accept loop, request accessors and JSON responses. */
#include "fcgi_app.h"
#include "fcgi_log.h"
#include "fcgi_metrics.h"
#include "fcgi_secret.h"

#include <assert.h>
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include <poll.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>

#include <fcgiapp.h>

#define JSON_MAX_DEPTH 16

/* Everything one request owns; reset after each request. */
struct fcgi_request_impl {
    FCGX_Request fcgx;
    long body_limit;
    char *uri;          /* malloc'd copy of REQUEST_URI, split into path and query */
    int body_state;     /* 0 unread, 1 read, else the HTTP status of the failure */
    const char *body_err; /* why body_state is a failure */
    char *body;
    size_t body_len;
    json_object *json;  /* parsed body, put after the response */
    char headers[FCGI_MAX_RESP_HEADERS];
    size_t headers_len;
    int sent;           /* the status sent, 0 while none */
    const char *timing; /* Server-Timing name of this program, or NULL */
    const char *secret; /* cluster secret every request must carry, or NULL */
    double start_ms;    /* when the request was accepted */
};

static struct fcgi_request_impl g_impl;
static volatile sig_atomic_t g_stop;

double fcgi_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

static const char *reason_phrase(int status)
{
    switch (status) {
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 412: return "Precondition Failed";
    case 413: return "Payload Too Large";
    case 415: return "Unsupported Media Type";
    case 421: return "Misdirected Request";
    case 422: return "Unprocessable Entity";
    case 425: return "Too Early";
    case 429: return "Too Many Requests";
    case 500: return "Internal Server Error";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default: return "Unknown";
    }
}

static void set_why(char *why, size_t whylen, const char *msg)
{
    if (why != NULL && whylen > 0)
        snprintf(why, whylen, "%s", msg);
}

/* ---- request accessors ------------------------------------------------ */

const char *fcgi_req_param(fcgi_request *req, const char *name)
{
    if (req == NULL || req->impl == NULL || req->impl->fcgx.envp == NULL)
        return NULL;
    return FCGX_GetParam(name, req->impl->fcgx.envp);
}

const char *fcgi_req_header(fcgi_request *req, const char *name)
{
    char cgi[128] = "HTTP_";
    size_t n = strlen(name);
    if (n == 0 || n + 5 >= sizeof cgi)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        char ch = name[i];
        if (ch == '-')
            ch = '_';
        else if (ch >= 'a' && ch <= 'z')
            ch = (char)(ch - 'a' + 'A');
        cgi[5 + i] = ch;
    }
    cgi[5 + n] = '\0';
    /* nginx passes these two without the HTTP_ prefix. */
    if (strcmp(cgi, "HTTP_CONTENT_TYPE") == 0 || strcmp(cgi, "HTTP_CONTENT_LENGTH") == 0) {
        const char *v = fcgi_req_param(req, cgi + 5);
        if (v != NULL)
            return v;
    }
    return fcgi_req_param(req, cgi);
}

/* CONTENT_LENGTH: absent or "" is 0; otherwise digits only. Returns -1 if malformed. */
static long long parse_content_length(const char *s)
{
    if (s == NULL || s[0] == '\0')
        return 0;
    long long v = 0;
    size_t i = 0;
    for (; s[i] != '\0'; i++) {
        if (s[i] < '0' || s[i] > '9' || i >= 18)
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

int fcgi_req_body(fcgi_request *req, const char **body, size_t *len)
{
    struct fcgi_request_impl *im = req->impl;
    if (im->body_state == 0) {
        long long cl = parse_content_length(fcgi_req_param(req, "CONTENT_LENGTH"));
        if (cl < 0) {
            im->body_state = 400;
            im->body_err = "malformed Content-Length";
        } else if (cl > im->body_limit) {
            im->body_state = 413; /* not read: nginx drops the connection after the answer */
            im->body_err = "request body too large";
        } else {
            im->body = malloc((size_t)cl + 1);
            if (im->body == NULL) {
                im->body_state = 500;
                im->body_err = "out of memory";
            } else {
                size_t got = 0;
                while (got < (size_t)cl) {
                    size_t want = (size_t)cl - got;
                    int chunk = want > (size_t)INT32_MAX ? INT32_MAX : (int)want;
                    int r = FCGX_GetStr(im->body + got, chunk, im->fcgx.in);
                    if (r <= 0)
                        break;
                    got += (size_t)r;
                }
                im->body[got] = '\0';
                im->body_len = got;
                im->body_state = got == (size_t)cl ? 1 : 400;
                im->body_err = "request body shorter than Content-Length";
            }
        }
    }
    if (im->body_state != 1)
        return im->body_state;
    *body = im->body;
    *len = im->body_len;
    return 0;
}

int fcgi_content_type_is_json(const char *ct)
{
    static const char want[] = "application/json";
    size_t n = sizeof want - 1;
    if (ct == NULL)
        return 1;
    while (*ct == ' ' || *ct == '\t')
        ct++;
    if (strncasecmp(ct, want, n) != 0)
        return 0;
    const char *rest = ct + n;
    while (*rest == ' ' || *rest == '\t')
        rest++;
    return *rest == '\0' || *rest == ';';
}

json_object *fcgi_json_parse_object(const char *buf, size_t len, char *why, size_t whylen)
{
    if (len == 0) {
        set_why(why, whylen, "empty body");
        return NULL;
    }
    if (memchr(buf, '\0', len) != NULL) {
        set_why(why, whylen, "body contains a NUL byte");
        return NULL;
    }
    if (len > INT32_MAX) {
        set_why(why, whylen, "body too large");
        return NULL;
    }
    json_tokener *tok = json_tokener_new_ex(JSON_MAX_DEPTH);
    if (tok == NULL) {
        set_why(why, whylen, "out of memory");
        return NULL;
    }
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_ALLOW_TRAILING_CHARS |
                                    JSON_TOKENER_VALIDATE_UTF8);
    json_object *obj = json_tokener_parse_ex(tok, buf, (int)len);
    enum json_tokener_error jerr = json_tokener_get_error(tok);
    size_t end = json_tokener_get_parse_end(tok);
    json_tokener_free(tok);
    if (jerr != json_tokener_success || obj == NULL) {
        json_object_put(obj);
        if (jerr == json_tokener_error_depth)
            set_why(why, whylen, "malformed JSON: nested too deeply");
        else if (jerr == json_tokener_continue)
            set_why(why, whylen, "malformed JSON: unexpected end of body");
        else if (why != NULL && whylen > 0)
            snprintf(why, whylen, "malformed JSON: %s", json_tokener_error_desc(jerr));
        return NULL;
    }
    for (size_t i = end; i < len; i++) {
        char ch = buf[i];
        if (ch != ' ' && ch != '\t' && ch != '\r' && ch != '\n') {
            json_object_put(obj);
            set_why(why, whylen, "malformed JSON: trailing data after the object");
            return NULL;
        }
    }
    if (!json_object_is_type(obj, json_type_object)) {
        json_object_put(obj);
        set_why(why, whylen, "body must be a JSON object");
        return NULL;
    }
    return obj;
}

json_object *fcgi_req_json(fcgi_request *req, int *status, char *why, size_t whylen)
{
    struct fcgi_request_impl *im = req->impl;
    if (im->json != NULL)
        return im->json;
    int dummy;
    if (status == NULL)
        status = &dummy;
    if (!fcgi_content_type_is_json(fcgi_req_param(req, "CONTENT_TYPE"))) {
        *status = 415;
        set_why(why, whylen, "Content-Type must be application/json");
        return NULL;
    }
    const char *body;
    size_t len;
    int st = fcgi_req_body(req, &body, &len);
    if (st != 0) {
        *status = st;
        set_why(why, whylen, im->body_err != NULL ? im->body_err : "cannot read the request body");
        return NULL;
    }
    im->json = fcgi_json_parse_object(body, len, why, whylen);
    if (im->json == NULL)
        *status = 400;
    return im->json;
}

/* ---- responses -------------------------------------------------------- */

/* A header name or value must not be able to start a new header line. */
static int header_safe(const char *s)
{
    for (; *s != '\0'; s++)
        if (*s == '\r' || *s == '\n')
            return 0;
    return 1;
}

void fcgi_resp_header(fcgi_request *req, const char *name, const char *fmt, ...)
{
    struct fcgi_request_impl *im = req->impl;
    char value[FCGI_MAX_RESP_HEADERS];
    va_list ap;
    va_start(ap, fmt);
    int vn = vsnprintf(value, sizeof value, fmt, ap);
    va_end(ap);
    if (vn < 0 || (size_t)vn >= sizeof value || !header_safe(name) || !header_safe(value) ||
        name[0] == '\0') {
        LOG_WARN("response header %s dropped (malformed or too long)", name);
        return;
    }
    size_t room = sizeof im->headers - im->headers_len;
    int n = snprintf(im->headers + im->headers_len, room, "%s: %s\r\n", name, value);
    if (n < 0 || (size_t)n >= room) {
        im->headers[im->headers_len] = '\0';
        LOG_WARN("response header %s dropped (headers exceed %d bytes)", name,
                 FCGI_MAX_RESP_HEADERS);
        return;
    }
    im->headers_len += (size_t)n;
}

int fcgi_resp_raw(fcgi_request *req, int status, const char *ctype, const char *body, size_t len)
{
    struct fcgi_request_impl *im = req->impl;
    if (im->sent != 0) {
        LOG_ERROR("second response (%d) to one request ignored; %d was sent", status, im->sent);
        return status;
    }
    if (status < 100 || status > 599)
        status = 500;
    if (body == NULL)
        len = 0;
    char head[384 + sizeof req->request_id], timing[96] = "";
    if (im->timing != NULL)
        snprintf(timing, sizeof timing, "Server-Timing: %s;dur=%.2f\r\n", im->timing,
                 fcgi_now_ms() - im->start_ms);
    int n = snprintf(head, sizeof head,
                     "Status: %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                     "X-Request-Id: %s\r\n%s",
                     status, reason_phrase(status),
                     ctype != NULL && header_safe(ctype) ? ctype : "application/octet-stream", len,
                     req->request_id, timing);
    if (n < 0 || (size_t)n >= sizeof head) {
        n = snprintf(head, sizeof head, "Status: 500 Internal Server Error\r\nContent-Length: 0\r\n");
        status = 500;
        len = 0;
        if (n < 0)
            n = 0;
    }
    im->sent = status;
    if (FCGX_PutStr(head, n, im->fcgx.out) < 0 ||
        FCGX_PutStr(im->headers, (int)im->headers_len, im->fcgx.out) < 0 ||
        FCGX_PutStr("\r\n", 2, im->fcgx.out) < 0) {
        LOG_WARN("client went away while sending the response headers");
        return status;
    }
    size_t off = 0;
    while (off < len) {
        size_t chunk = len - off > (size_t)INT32_MAX ? (size_t)INT32_MAX : len - off;
        if (FCGX_PutStr(body + off, (int)chunk, im->fcgx.out) < 0) {
            LOG_WARN("client went away while sending the response body");
            break;
        }
        off += chunk;
    }
    return status;
}

int fcgi_resp_json(fcgi_request *req, int status, json_object *obj)
{
    if (obj == NULL)
        return fcgi_resp_error(req, 500, "no response object");
    size_t len = 0;
    const char *s = json_object_to_json_string_length(
        obj, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &len);
    if (s == NULL) {
        json_object_put(obj);
        return fcgi_resp_error(req, 500, "cannot serialise the response");
    }
    int rc = fcgi_resp_raw(req, status, "application/json", s, len);
    json_object_put(obj);
    return rc;
}

int fcgi_resp_error(fcgi_request *req, int status, const char *fmt, ...)
{
    char reason[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(reason, sizeof reason, fmt, ap);
    va_end(ap);
    if (n < 0)
        snprintf(reason, sizeof reason, "%s", reason_phrase(status));
    json_object *o = json_object_new_object();
    json_object *s = o != NULL ? json_object_new_string(reason) : NULL;
    if (s == NULL || json_object_object_add(o, "error", s) != 0) {
        json_object_put(s);
        json_object_put(o);
        static const char oom[] = "{\"error\":\"out of memory\"}";
        return fcgi_resp_raw(req, status, "application/json", oom, sizeof oom - 1);
    }
    return fcgi_resp_json(req, status, o);
}

/* ---- the loop --------------------------------------------------------- */

static void on_stop_signal(int sig)
{
    (void)sig;
    g_stop = 1;
    FCGX_ShutdownPending(); /* makes a blocked accept give up */
}

static int install_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0; /* no SA_RESTART: a blocked accept returns EINTR */
    if (sigaction(SIGTERM, &sa, NULL) != 0 || sigaction(SIGINT, &sa, NULL) != 0)
        return -1;
    sa.sa_handler = SIG_IGN;
    if (sigaction(SIGPIPE, &sa, NULL) != 0)
        return -1;
    return 0;
}

static int request_id_ok(const char *s)
{
    size_t n = 0;
    for (; s[n] != '\0'; n++) {
        char ch = s[n];
        if (n >= 63 || !((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
                         (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' || ch == '-'))
            return 0;
    }
    return n > 0;
}

static uint64_t mix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

/* 16 hex chars, distinct per (process, request). */
static void generate_request_id(char *out, size_t cap)
{
    static uint64_t seed, counter;
    if (seed == 0) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        seed = mix64(((uint64_t)getpid() << 32) ^ (uint64_t)ts.tv_sec * 1000000000ULL ^
                     (uint64_t)ts.tv_nsec) | 1;
    }
    snprintf(out, cap, "%016llx", (unsigned long long)mix64(seed + counter++));
}

/* Fills the public request from the FastCGI params. Returns 0, or -1 when out of memory. */
static int request_setup(fcgi_request *req)
{
    struct fcgi_request_impl *im = req->impl;
    const char *method = fcgi_req_param(req, "REQUEST_METHOD");
    req->method = method != NULL ? method : "";

    const char *rid = fcgi_req_header(req, "X-Request-Id");
    if (rid != NULL && request_id_ok(rid))
        snprintf(req->request_id, sizeof req->request_id, "%s", rid);
    else
        generate_request_id(req->request_id, sizeof req->request_id);

    const char *uri = fcgi_req_param(req, "REQUEST_URI");
    if (uri == NULL)
        uri = "/";
    im->uri = strdup(uri);
    if (im->uri == NULL) {
        req->path = "/";
        req->path_len = 1;
        req->query = "";
        return -1;
    }
    char *q = strchr(im->uri, '?');
    if (q != NULL) {
        *q = '\0';
        req->query = q + 1;
    } else {
        req->query = "";
    }
    const char *path = im->uri;
    const char *prefix = fcgi_req_param(req, "BAZAR_PREFIX");
    if (prefix != NULL && prefix[0] != '\0') {
        size_t pl = strlen(prefix);
        if (strncmp(path, prefix, pl) == 0 && (path[pl] == '/' || path[pl] == '\0'))
            path += pl;
    }
    req->path = path;
    req->path_len = strlen(path);
    return 0;
}

static void request_reset(fcgi_request *req)
{
    struct fcgi_request_impl *im = req->impl;
    json_object_put(im->json);
    im->json = NULL;
    free(im->body);
    im->body = NULL;
    im->body_len = 0;
    im->body_state = 0;
    im->body_err = NULL;
    free(im->uri);
    im->uri = NULL;
    im->headers[0] = '\0';
    im->headers_len = 0;
    im->sent = 0;
}

/* Internal calls carry the cluster secret; GET /health stays open so that
 * nginx, deploy scripts and operators can probe a replica without it. */
static int secret_ok(fcgi_request *req, const fcgi_route *route)
{
    const char *want = req->impl->secret;
    if (want == NULL || (strcmp(route->method, "GET") == 0 && strcmp(route->pattern, "/health") == 0))
        return 1;
    return fcgi_secret_equal(want, fcgi_req_header(req, FCGI_SECRET_HEADER));
}

static void serve_one(fcgi_request *req, const fcgi_route *routes, size_t nroutes)
{
    double t0 = fcgi_now_ms();
    struct fcgi_request_impl *im = req->impl;
    int setup = request_setup(req);
    long route_index = -1; /* for the metrics: -1 when no route matched */
    fcgi_log_set_request_id(req->request_id);

    if (setup != 0) {
        fcgi_resp_error(req, 500, "out of memory");
    } else {
        char allow[128];
        const fcgi_route *route = NULL;
        switch (fcgi_route_match(routes, nroutes, req->method, req->path, req->path_len, &route,
                                 &req->caps, allow, sizeof allow)) {
        case FCGI_ROUTE_OK:
            route_index = (long)(route - routes);
            if (!secret_ok(req, route)) {
                fcgi_resp_error(req, 403, "missing or wrong cluster secret (%s header)",
                                FCGI_SECRET_HEADER);
                break;
            }
            route->handler(req);
            if (im->sent == 0) {
                LOG_ERROR("handler for %s %s sent no response", route->method, route->pattern);
                fcgi_resp_error(req, 500, "internal error: no response");
            }
            break;
        case FCGI_ROUTE_NOT_FOUND:
            fcgi_resp_error(req, 404, "no such route: %s", req->path_len ? req->path : "/");
            break;
        case FCGI_ROUTE_BAD_METHOD:
            fcgi_resp_header(req, "Allow", "%s", allow);
            fcgi_resp_error(req, 405, "method %s not allowed on %s", req->method, req->path);
            break;
        case FCGI_ROUTE_BAD_PATH:
            fcgi_resp_error(req, 400, "bad path: malformed escape, NUL byte or segment too long");
            break;
        }
    }
    double ms = fcgi_now_ms() - t0;
    LOG_INFO("%s %s -> %d in %.2fms", req->method, req->path_len ? req->path : "/", im->sent, ms);
    fcgi_metrics_request(route_index, im->sent, ms);
    request_reset(req);
    fcgi_log_set_request_id(NULL);
}

int fcgi_app_listen_address(char *buf, size_t len)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    if (getsockname(0, (struct sockaddr *)&ss, &sl) != 0)
        return -1;
    char host[INET6_ADDRSTRLEN];
    if (ss.ss_family == AF_UNIX) {
        const struct sockaddr_un *un = (const struct sockaddr_un *)&ss;
        snprintf(buf, len, "unix:%.*s", (int)sizeof un->sun_path, un->sun_path);
    } else if (ss.ss_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)&ss;
        if (!inet_ntop(AF_INET, &in->sin_addr, host, sizeof host))
            return -1;
        snprintf(buf, len, "%s:%u", host, (unsigned)ntohs(in->sin_port));
    } else if (ss.ss_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)&ss;
        if (!inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host))
            return -1;
        snprintf(buf, len, "[%s]:%u", host, (unsigned)ntohs(in6->sin6_port));
    } else {
        return -1;
    }
    return 0;
}

#define READ_TIMEOUT_MS 1000 /* a request's whole arrival, and an idle accept() */

int fcgi_app_run(const fcgi_app_opts *opts, const fcgi_route *routes, size_t nroutes, void *ctx)
{
    if (install_signals() != 0) {
        LOG_ERROR("cannot install signal handlers: %s", strerror(errno));
        return -1;
    }
    if (FCGX_Init() != 0) {
        LOG_ERROR("FCGX_Init failed");
        return -1;
    }
    struct fcgi_request_impl *im = &g_impl;
    memset(im, 0, sizeof *im);
    im->body_limit = opts != NULL && opts->body_limit > 0 ? opts->body_limit : 65536;
    const char *timing = opts != NULL ? opts->timing : NULL;
    if (FCGX_InitRequest(&im->fcgx, 0, 0) != 0) {
        LOG_ERROR("FCGX_InitRequest failed");
        return -1;
    }
    /* A request must arrive whole within READ_TIMEOUT_MS. A process serves
     * one connection at a time, and a connection from another host that a
     * partition cuts after it was accepted would otherwise hold the process
     * in a read until the partition heals: a backup's two peer workers were
     * seen held so for two seconds, so that the new primary's /state and a
     * new primary's appends could not reach it. The listener's receive
     * timeout is inherited by the connections it accepts (Linux), and bounds
     * accept() too, which then returns with nothing to serve (below). */
    struct timeval rcv = {READ_TIMEOUT_MS / 1000, (READ_TIMEOUT_MS % 1000) * 1000};
    if (setsockopt(0, SOL_SOCKET, SO_RCVTIMEO, &rcv, sizeof rcv) != 0 && errno != ENOTSOCK)
        LOG_WARN("cannot bound request reads: %s", strerror(errno));
    if (opts != NULL && opts->metrics_dir != NULL && opts->metrics_name != NULL)
        fcgi_metrics_open(opts->metrics_dir, opts->metrics_name,
                          opts->program != NULL ? opts->program : "bazar", routes, nroutes);
    LOG_INFO("%s: serving FastCGI on fd 0 (%zu routes)",
             opts != NULL && opts->program != NULL ? opts->program : "bazar", nroutes);

    static fcgi_request req; /* large (captures): keep it off the stack */
    int failures = 0;
    double next_idle = fcgi_now_ms();
    while (!g_stop) {
        if (opts != NULL && opts->idle != NULL) {
            double now = fcgi_now_ms();
            if (now >= next_idle) {
                opts->idle(opts->idle_ctx);
                next_idle = fcgi_now_ms() + opts->idle_ms;
            }
            /* Wait for a connection only until the next idle work is due. */
            struct pollfd pfd = {.fd = 0, .events = POLLIN};
            int wait = (int)(next_idle - fcgi_now_ms()) + 1;
            if (poll(&pfd, 1, wait > 0 ? wait : 0) <= 0)
                continue; /* due, or a signal: look at g_stop again */
        }
        int rc = FCGX_Accept_r(&im->fcgx);
        if (rc < 0) {
            if (g_stop)
                break;
            if (rc == -EAGAIN || rc == -EWOULDBLOCK)
                continue; /* no connection within READ_TIMEOUT_MS */
            LOG_ERROR("FCGX_Accept_r failed (%d)", rc);
            if (++failures >= 10) { /* not a transient error: fd 0 is not a listener */
                FCGX_Free(&im->fcgx, 1);
                return -1;
            }
            struct timespec pause = {0, 10 * 1000 * 1000};
            nanosleep(&pause, NULL);
            continue;
        }
        failures = 0;
        memset(&req, 0, sizeof req);
        im->timing = timing;
        im->secret = opts != NULL ? opts->secret : NULL;
        im->start_ms = fcgi_now_ms();
        req.ctx = ctx;
        req.impl = im;
        serve_one(&req, routes, nroutes);
        FCGX_Finish_r(&im->fcgx);
    }
    LOG_INFO("stopping on signal");
    FCGX_Free(&im->fcgx, 1);
    return 0;
}
