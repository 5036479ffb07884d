/* fuzz_router.c - libFuzzer target: the router, the URL decoder and the id parser. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "fcgi_router.h"

static int h(fcgi_request *req)
{
    (void)req;
    return 200;
}

/* The shapes of every real table: literals, captures, nested captures. */
static const fcgi_route routes[] = {
    {"GET", "/bazar/search/{topic}", h},   {"GET", "/bazar/info/all", h},
    {"GET", "/bazar/info/{id}", h},        {"POST", "/bazar/purchase/{id}", h},
    {"PUT", "/bazar/books/{id}/price", h}, {"POST", "/bazar/books/{id}/restock", h},
    {"GET", "/a/{x}/{y}/{z}/{w}", h},      {"GET", "/health", h},
    {"POST", "/repl/append", h},           {"GET", "/", h},
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const methods[] = {"GET", "POST", "PUT", "DELETE", "", "get"};
    if (size < 1)
        return 0;
    const char *method = methods[data[0] % (sizeof methods / sizeof methods[0])];
    const char *path = (const char *)data + 1;
    size_t len = size - 1;

    static fcgi_captures caps; /* large: off the stack */
    const fcgi_route *found = NULL;
    char allow[128];
    enum fcgi_route_result r = fcgi_route_match(routes, sizeof routes / sizeof routes[0], method,
                                                path, len, &found, &caps, allow, sizeof allow);
    if (r == FCGI_ROUTE_OK) {
        if (found == NULL || caps.n < 0 || caps.n > FCGI_MAX_CAPTURES)
            __builtin_trap();
        for (int i = 0; i < caps.n; i++) {
            if (caps.len[i] > FCGI_CAPTURE_MAX || strlen(caps.value[i]) != caps.len[i])
                __builtin_trap();
            long long id;
            if (fcgi_parse_id(caps.value[i], caps.len[i], &id) == 0 && id < 0)
                __builtin_trap();
        }
    } else if (r == FCGI_ROUTE_BAD_METHOD && allow[0] == '\0') {
        __builtin_trap();
    }

    /* The decoder alone, with small and exact output buffers. */
    char out[64];
    size_t outlen = 0;
    for (size_t cap = 1; cap <= sizeof out; cap *= 4)
        if (fcgi_url_decode(path, len, out, cap, &outlen) == 0 &&
            (outlen >= cap || out[outlen] != '\0' || memchr(out, '\0', outlen) != NULL))
            __builtin_trap();

    long long id;
    if (fcgi_parse_id(path, len, &id) == 0 && (id < 0 || len > 18))
        __builtin_trap();
    return 0;
}
