/* test_http.c - unit tests of the libcurl client against a tiny HTTP/1.1 server on loopback. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memmem; `make unit-asan` replaces CFLAGS and drops -D_GNU_SOURCE */
#endif
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../fcgi/fcgi_app.h" /* the asan build drops -Ifcgi */
#include "../../fcgi/fcgi_http.h" /* the asan build drops -Ifcgi */

/* ---- a minimal keep-alive HTTP server --------------------------------- */

static int g_port;
static int g_connections; /* accepted so far; guarded by g_mu */
static int g_countdown;   /* /countdown answers 503 while it is above 0; guarded by g_mu */
static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Finds a header value in the raw head (case-insensitive name); copies it. */
static void head_value(const char *head, const char *name, char *out, size_t cap)
{
    out[0] = '\0';
    size_t nl = strlen(name);
    for (const char *p = strstr(head, "\r\n"); p != NULL; p = strstr(p + 2, "\r\n")) {
        const char *line = p + 2;
        if (strncasecmp(line, name, nl) == 0 && line[nl] == ':') {
            const char *v = line + nl + 1;
            while (*v == ' ')
                v++;
            const char *e = strstr(v, "\r\n");
            size_t n = e != NULL ? (size_t)(e - v) : strlen(v);
            if (n >= cap)
                n = cap - 1;
            memcpy(out, v, n);
            out[n] = '\0';
            return;
        }
    }
}

static int has_head(const char *head, const char *name)
{
    size_t nl = strlen(name);
    for (const char *p = strstr(head, "\r\n"); p != NULL; p = strstr(p + 2, "\r\n"))
        if (strncasecmp(p + 2, name, nl) == 0 && p[2 + nl] == ':')
            return 1;
    return 0;
}

static void *serve_conn(void *arg)
{
    int fd = (int)(intptr_t)arg;
    char buf[65536];
    size_t have = 0;
    for (;;) {
        char *end;
        while ((end = memmem(buf, have, "\r\n\r\n", 4)) == NULL) {
            ssize_t r = read(fd, buf + have, sizeof buf - 1 - have);
            if (r <= 0)
                goto out;
            have += (size_t)r;
        }
        size_t headlen = (size_t)(end - buf) + 4;
        char head[8192];
        size_t hl = headlen < sizeof head ? headlen : sizeof head - 1;
        memcpy(head, buf, hl);
        head[hl] = '\0';
        char cl[32], ct[128];
        head_value(head, "Content-Length", cl, sizeof cl);
        head_value(head, "Content-Type", ct, sizeof ct);
        size_t blen = (size_t)atol(cl);
        while (have < headlen + blen) {
            ssize_t r = read(fd, buf + have, sizeof buf - 1 - have);
            if (r <= 0)
                goto out;
            have += (size_t)r;
        }
        char method[16] = "", target[256] = "";
        if (sscanf(head, "%15s %255s", method, target) != 2)
            goto out;

        int status = 200;
        if (strcmp(target, "/slow") == 0)
            sleep_ms(400);
        if (strcmp(target, "/slow20") == 0)
            sleep_ms(20);
        if (strcmp(target, "/missing") == 0)
            status = 404;
        if (strcmp(target, "/unavailable") == 0)
            status = 503;
        if (strcmp(target, "/countdown") == 0) { /* 503 while the countdown lasts */
            pthread_mutex_lock(&g_mu);
            status = g_countdown > 0 ? 503 : 200;
            g_countdown -= g_countdown > 0;
            pthread_mutex_unlock(&g_mu);
        }
        char body[1024];
        int bn = snprintf(body, sizeof body, "%s|%s|expect=%d|%.*s", method, ct,
                          has_head(head, "Expect"), (int)(blen < 200 ? blen : 200), buf + headlen);
        char resp[2048];
        int rn = snprintf(resp, sizeof resp,
                          "HTTP/1.1 %d X\r\nContent-Length: %d\r\nServer-Timing: t;dur=1.5\r\n"
                          "server-timing: u;desc=x\r\n\r\n%s",
                          status, bn, body);
        if (send(fd, resp, (size_t)rn, MSG_NOSIGNAL) != rn) /* the client may have timed out */
            goto out;
        memmove(buf, buf + headlen + blen, have - headlen - blen);
        have -= headlen + blen;
    }
out:
    close(fd);
    return NULL;
}

static void *serve(void *arg)
{
    int ls = (int)(intptr_t)arg;
    for (;;) {
        int fd = accept(ls, NULL, NULL);
        if (fd < 0)
            continue;
        pthread_mutex_lock(&g_mu);
        g_connections++;
        pthread_mutex_unlock(&g_mu);
        pthread_t t;
        if (pthread_create(&t, NULL, serve_conn, (void *)(intptr_t)fd) != 0) {
            close(fd);
            continue;
        }
        pthread_detach(t);
    }
    return NULL;
}

static int connections(void)
{
    pthread_mutex_lock(&g_mu);
    int n = g_connections;
    pthread_mutex_unlock(&g_mu);
    return n;
}

/* Binds 127.0.0.1:0; returns the socket and its port. */
static int loopback_socket(int *port)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    if (s < 0)
        return -1;
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t al = sizeof a;
    if (bind(s, (struct sockaddr *)&a, sizeof a) != 0 ||
        getsockname(s, (struct sockaddr *)&a, &al) != 0) {
        close(s);
        return -1;
    }
    *port = ntohs(a.sin_port);
    return s;
}

static int setup(void **state)
{
    (void)state;
    int ls = loopback_socket(&g_port);
    if (ls < 0 || listen(ls, 64) != 0)
        return -1;
    pthread_t t;
    if (pthread_create(&t, NULL, serve, (void *)(intptr_t)ls) != 0)
        return -1;
    pthread_detach(t);
    return 0;
}

static void url(char *out, size_t cap, const char *path)
{
    snprintf(out, cap, "http://127.0.0.1:%d%s", g_port, path);
}

/* ---- tests ------------------------------------------------------------- */

static void test_closed_port(void **state)
{
    (void)state;
    int port;
    int s = loopback_socket(&port);
    assert_true(s >= 0);
    close(s); /* bound, never listened: the port is closed */
    char u[64];
    snprintf(u, sizeof u, "http://127.0.0.1:%d/x", port);
    fcgi_http *h = fcgi_http_new(500);
    assert_non_null(h);
    fcgi_http_call c = {.peer = "closed", .method = "GET", .url = u};
    assert_int_equal(fcgi_http_do(h, &c), -1);
    assert_int_equal(c.rc, -1);
    assert_int_equal(c.resp.status, 0);
    assert_null(c.resp.body);
    assert_true(c.resp.err[0] != '\0');
    fcgi_http_resp_clear(&c.resp);
    fcgi_http_free(h);
}

static void test_get_reuses_connection(void **state)
{
    (void)state;
    char u[64];
    url(u, sizeof u, "/echo");
    fcgi_http *h = fcgi_http_new(2000);
    assert_non_null(h);
    int before = connections();
    for (int i = 0; i < 3; i++) {
        fcgi_http_call c = {.peer = "p", .method = "GET", .url = u};
        assert_int_equal(fcgi_http_do(h, &c), 0);
        assert_int_equal(c.resp.status, 200);
        assert_string_equal(c.resp.body, "GET||expect=0|");
        assert_int_equal(c.resp.len, strlen("GET||expect=0|"));
        assert_string_equal(c.resp.server_timing, "t;dur=1.5, u;desc=x");
        assert_true(c.resp.ms >= 0);
        fcgi_http_resp_clear(&c.resp);
    }
    assert_int_equal(connections() - before, 1);
    fcgi_http_free(h);
}

static void test_methods_and_headers(void **state)
{
    (void)state;
    char u[64];
    url(u, sizeof u, "/echo");
    fcgi_http *h = fcgi_http_new(2000);
    assert_non_null(h);

    static const char body[] = "{\"count\":25}";
    fcgi_http_call c = {.peer = "p", .method = "POST", .url = u, .body = body,
                        .len = sizeof body - 1};
    assert_int_equal(fcgi_http_do(h, &c), 0);
    assert_string_equal(c.resp.body, "POST|application/json|expect=0|{\"count\":25}");

    const char *const hdrs[] = {"Content-Type: text/plain", "X-Request-Id: abc", NULL};
    fcgi_http_call p = {.peer = "p", .method = "PUT", .url = u, .headers = hdrs, .body = "x",
                        .len = 1};
    assert_int_equal(fcgi_http_do(h, &p), 0);
    assert_string_equal(p.resp.body, "PUT|text/plain|expect=0|x");

    /* A GET on the handle that just did a PUT is a plain GET again. */
    fcgi_http_call g = {.peer = "p", .method = "GET", .url = u};
    assert_int_equal(fcgi_http_do(h, &g), 0);
    assert_string_equal(g.resp.body, "GET||expect=0|");

    /* A POST without a body. */
    fcgi_http_call e = {.peer = "p", .method = "POST", .url = u};
    assert_int_equal(fcgi_http_do(h, &e), 0);
    assert_string_equal(e.resp.body, "POST|application/json|expect=0|");

    /* A large body does not trigger 100-continue. */
    size_t big = 40000;
    char *bb = malloc(big);
    assert_non_null(bb);
    memset(bb, 'z', big);
    fcgi_http_call l = {.peer = "p", .method = "POST", .url = u, .body = bb, .len = big};
    assert_int_equal(fcgi_http_do(h, &l), 0);
    assert_int_equal(l.resp.status, 200);
    assert_non_null(strstr(l.resp.body, "expect=0|zzz"));
    free(bb);

    /* Reusing a call struct: the previous response is released first. */
    assert_int_equal(fcgi_http_do(h, &c), 0);

    fcgi_http_resp_clear(&c.resp);
    fcgi_http_resp_clear(&p.resp);
    fcgi_http_resp_clear(&g.resp);
    fcgi_http_resp_clear(&e.resp);
    fcgi_http_resp_clear(&l.resp);
    fcgi_http_resp_clear(&l.resp); /* twice is fine */
    fcgi_http_free(h);
}

static void test_status_is_not_an_error(void **state)
{
    (void)state;
    char u[64];
    url(u, sizeof u, "/missing");
    fcgi_http *h = fcgi_http_new(2000);
    assert_non_null(h);
    fcgi_http_call c = {.method = "GET", .url = u}; /* NULL peer: "default" */
    assert_int_equal(fcgi_http_do(h, &c), 0);
    assert_int_equal(c.resp.status, 404);
    fcgi_http_resp_clear(&c.resp);
    fcgi_http_free(h);
}

static void test_timeout(void **state)
{
    (void)state;
    char u[64];
    url(u, sizeof u, "/slow");
    fcgi_http *h = fcgi_http_new(2000);
    assert_non_null(h);
    fcgi_http_call c = {.peer = "p", .method = "GET", .url = u, .timeout_ms = 50};
    double t0 = fcgi_now_ms();
    assert_int_equal(fcgi_http_do(h, &c), -1);
    assert_true(fcgi_now_ms() - t0 < 350);
    assert_int_equal(c.resp.status, 0);
    assert_true(c.resp.err[0] != '\0');
    fcgi_http_resp_clear(&c.resp);
    /* The handle is usable again afterwards. */
    url(u, sizeof u, "/echo");
    fcgi_http_call d = {.peer = "p", .method = "GET", .url = u};
    assert_int_equal(fcgi_http_do(h, &d), 0);
    assert_int_equal(d.resp.status, 200);
    fcgi_http_resp_clear(&d.resp);
    fcgi_http_free(h);
}

/* A URL on a loopback port nothing listens on (connections are refused). */
static void dead_url(char *out, size_t cap)
{
    int port;
    int s = loopback_socket(&port);
    assert_true(s >= 0);
    close(s);
    snprintf(out, cap, "http://127.0.0.1:%d/x", port);
}

static void test_do_all_parallel(void **state)
{
    (void)state;
    char slow[64], dead[64];
    url(slow, sizeof slow, "/slow");
    dead_url(dead, sizeof dead);

    fcgi_http *h = fcgi_http_new(2000);
    assert_non_null(h);
    fcgi_http_call calls[4] = {
        {.peer = "a", .method = "GET", .url = slow},
        {.peer = "b", .method = "POST", .url = slow, .body = "{}", .len = 2},
        {.peer = "c", .method = "GET", .url = slow},
        {.peer = "d", .method = "GET", .url = dead},
    };
    double t0 = fcgi_now_ms();
    assert_int_equal(fcgi_http_do_all(h, calls, 4), 3);
    double took = fcgi_now_ms() - t0;
    assert_true(took < 1000); /* three 400 ms answers in parallel, not 1200 ms in sequence */
    for (int i = 0; i < 3; i++) {
        assert_int_equal(calls[i].rc, 0);
        assert_int_equal(calls[i].resp.status, 200);
        assert_true(calls[i].resp.ms >= 350);
    }
    assert_string_equal(calls[1].resp.body, "POST|application/json|expect=0|{}");
    assert_int_equal(calls[3].rc, -1);
    assert_true(calls[3].resp.err[0] != '\0');
    assert_true(calls[3].resp.ms < 350);
    for (int i = 0; i < 4; i++)
        fcgi_http_resp_clear(&calls[i].resp);

    assert_int_equal(fcgi_http_do_all(h, calls, 0), 0);
    fcgi_http_free(h);
}

/* still_wanted of the test below: until the time in *arg (fcgi_now_ms). */
static int wanted_until(void *arg)
{
    return fcgi_now_ms() < *(double *)arg;
}

static void test_call_abandoned_when_no_longer_wanted(void **state)
{
    (void)state;
    char slow[64];
    url(slow, sizeof slow, "/slow");
    fcgi_http *h = fcgi_http_new(2000);
    assert_non_null(h);
    /* Wanted for 100 ms of the 400 ms answer, then wanted throughout. */
    const int wanted_ms[] = {100, 5000};
    for (int k = 0; k < 2; k++) {
        double t0 = fcgi_now_ms(), until = t0 + wanted_ms[k];
        fcgi_http_call c = {.peer = "w", .method = "GET", .url = slow,
                            .still_wanted = wanted_until, .wanted_arg = &until};
        int rc = fcgi_http_do(h, &c);
        double took = fcgi_now_ms() - t0;
        if (k == 0) {
            assert_int_equal(rc, -1);
            assert_non_null(strstr(c.resp.err, "abandoned"));
            assert_true(took >= 95 && took < 300);
        } else {
            assert_int_equal(rc, 0);
            assert_int_equal(c.resp.status, 200);
            assert_true(took >= 390);
        }
        fcgi_http_resp_clear(&c.resp);
    }
    fcgi_http_free(h);
}

/* One patient call (fcgi_http_do_patient) of url, with first as first_url. */
static int patient(fcgi_http *h, const char *first, const char *u, int hedge, int deadline,
                   int slots, fcgi_http_call *c, double *took)
{
    *c = (fcgi_http_call){.peer = "p", .method = "GET", .url = u};
    fcgi_http_patience p = {.first_url = first, .hedge_ms = hedge, .deadline_ms = deadline,
                            .slots = slots};
    double t0 = fcgi_now_ms();
    int rc = fcgi_http_do_patient(h, c, &p);
    *took = fcgi_now_ms() - t0;
    return rc;
}

static void test_patient(void **state)
{
    (void)state;
    char slow[64], echo[64], dead[64], missing[64], unavailable[64], countdown[64];
    url(slow, sizeof slow, "/slow");
    url(echo, sizeof echo, "/echo");
    url(missing, sizeof missing, "/missing");
    url(unavailable, sizeof unavailable, "/unavailable");
    url(countdown, sizeof countdown, "/countdown");
    dead_url(dead, sizeof dead);
    fcgi_http *h = fcgi_http_new(2000);
    assert_non_null(h);

    /* (first, url, hedge, deadline, slots, countdown; rc, status, attempts,
     * at least / under ms). In turn: a slow first (400 ms) loses to the
     * hedge sent after 50 ms; a first that answers in time means no hedge;
     * a first refused at once is repeated after the 25 ms back-off; a 404
     * is a good answer; three 503s are repeated after 25, 50 and 100 ms; a
     * 503 to the end stops when the next attempt would start after the
     * deadline (attempts at 0, 25, 75 and 175 ms of 300), the 503 kept;
     * no answer at all gives the transport error; with one slot a slow
     * attempt is not hedged, with two it is (and both answer at 400 ms). */
    const struct {
        const char *first, *u;
        int hedge, deadline, slots, countdown, rc, status, attempts, min_ms, max_ms;
    } cases[] = {
        {slow, echo, 50, 2000, 0, 0, 0, 200, 2, 45, 350},
        {echo, slow, 200, 2000, 0, 0, 0, 200, 1, 0, 150},
        {dead, echo, 1000, 2000, 0, 0, 0, 200, 2, 20, 300},
        {missing, echo, 1000, 2000, 0, 0, 0, 404, 1, 0, 150},
        {NULL, countdown, 1000, 2000, 0, 3, 0, 200, 4, 170, 600},
        {NULL, unavailable, 1000, 300, 0, 0, 0, 503, 4, 170, 420},
        {NULL, dead, 1000, 300, 0, 0, -1, 0, 4, 170, 420},
        {NULL, slow, 10, 2000, 1, 0, 0, 200, 1, 390, 700},
        {NULL, slow, 10, 2000, 2, 0, 0, 200, 2, 390, 700},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        pthread_mutex_lock(&g_mu);
        g_countdown = cases[k].countdown;
        pthread_mutex_unlock(&g_mu);
        fcgi_http_call c;
        double took;
        int rc = patient(h, cases[k].first, cases[k].u, cases[k].hedge, cases[k].deadline,
                         cases[k].slots, &c, &took);
        print_message("patient case %zu: rc %d, status %ld, %d attempts, %.0f ms\n", k, rc,
                      c.resp.status, c.attempts, took);
        assert_int_equal(rc, cases[k].rc);
        assert_int_equal(c.resp.status, cases[k].status);
        assert_int_equal(c.attempts, cases[k].attempts);
        assert_true(took >= cases[k].min_ms && took < cases[k].max_ms);
        if (rc == 0)
            assert_non_null(c.resp.body);
        else
            assert_true(c.resp.err[0] != '\0');
        fcgi_http_resp_clear(&c.resp);
    }

    /* Hedges are budgeted: a fresh client has 50 saved and each call earns
     * a tenth of one (none while 50 are saved), so of 60 calls that each
     * want a hedge 55 get one. */
    fcgi_http_free(h);
    h = fcgi_http_new(2000);
    assert_non_null(h);
    char slow20[64];
    url(slow20, sizeof slow20, "/slow20");
    int hedges = 0;
    for (int k = 0; k < 60; k++) {
        fcgi_http_call c;
        double took;
        assert_int_equal(patient(h, NULL, slow20, 5, 2000, 2, &c, &took), 0);
        assert_int_equal(c.resp.status, 200);
        hedges += c.attempts - 1;
        fcgi_http_resp_clear(&c.resp);
    }
    assert_int_equal(hedges, 55);

    /* Afterwards the handles serve plain calls again. */
    fcgi_http_call f = {.peer = "p#0", .method = "GET", .url = echo};
    assert_int_equal(fcgi_http_do(h, &f), 0);
    assert_int_equal(f.resp.status, 200);
    fcgi_http_resp_clear(&f.resp);
    fcgi_http_free(h);
}

static void test_too_many_peers(void **state)
{
    (void)state;
    char u[64];
    url(u, sizeof u, "/echo");
    fcgi_http *h = fcgi_http_new(2000);
    assert_non_null(h);
    int ok = 0, failed = 0;
    for (int i = 0; i < 40; i++) {
        char key[32];
        snprintf(key, sizeof key, "peer-%d", i);
        fcgi_http_call c = {.peer = key, .method = "GET", .url = u};
        if (fcgi_http_do(h, &c) == 0)
            ok++;
        else
            failed++, assert_true(c.resp.err[0] != '\0');
        fcgi_http_resp_clear(&c.resp);
    }
    assert_int_equal(ok, 32);
    assert_int_equal(failed, 8);
    fcgi_http_free(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_closed_port),
        cmocka_unit_test(test_get_reuses_connection),
        cmocka_unit_test(test_methods_and_headers),
        cmocka_unit_test(test_status_is_not_an_error),
        cmocka_unit_test(test_timeout),
        cmocka_unit_test(test_do_all_parallel),
        cmocka_unit_test(test_patient),
        cmocka_unit_test(test_call_abandoned_when_no_longer_wanted),
        cmocka_unit_test(test_too_many_peers),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
