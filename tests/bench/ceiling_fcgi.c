/* ceiling_fcgi.c - benchmark ceiling (b): the least a Bazar cached lookup can do, a
 * libfcgi program that answers every request with one Redis GET and a fixed JSON body.
 *
 * Usage (under spawn-fcgi, which passes the listening socket as fd 0):
 *     ceiling_fcgi /path/to/redis.sock
 * The Redis connection is opened once per process and reused, as the front end does. */
#include <stdio.h>
#include <string.h>

#include <fcgiapp.h>
#include <hiredis/hiredis.h>

static const char BODY[] = "{\"id\":2,\"title\":\"Xen and the Art of Surviving Undergraduate "
                           "School.\",\"topic\":\"undergraduate school\",\"price\":50.00,"
                           "\"quantity\":8,\"version\":0}";

/* Connects (or reconnects) to Redis; NULL on failure, with a message on stderr. */
static redisContext *redis_connect(const char *path)
{
    struct timeval tv = {.tv_sec = 0, .tv_usec = 200000};
    redisContext *c = redisConnectUnixWithTimeout(path, tv);
    if (!c || c->err) {
        fprintf(stderr, "ceiling_fcgi: redis %s: %s\n", path, c ? c->errstr : "out of memory");
        if (c)
            redisFree(c);
        return NULL;
    }
    if (redisSetTimeout(c, tv) != REDIS_OK) {
        redisFree(c);
        return NULL;
    }
    return c;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s REDIS_UNIX_SOCKET\n", argv[0]);
        return 2;
    }
    if (FCGX_Init() != 0) {
        fprintf(stderr, "ceiling_fcgi: FCGX_Init failed\n");
        return 1;
    }
    FCGX_Request req;
    if (FCGX_InitRequest(&req, 0, 0) != 0) {
        fprintf(stderr, "ceiling_fcgi: FCGX_InitRequest failed\n");
        return 1;
    }
    redisContext *redis = redis_connect(argv[1]);
    char head[160];
    int headlen = snprintf(head, sizeof head,
                           "Status: 200 OK\r\nContent-Type: application/json\r\n"
                           "Content-Length: %zu\r\n\r\n",
                           sizeof BODY - 1);
    if (headlen < 0 || (size_t)headlen >= sizeof head)
        return 1;
    while (FCGX_Accept_r(&req) >= 0) {
        int ok = 0;
        if (!redis)
            redis = redis_connect(argv[1]);
        if (redis) {
            redisReply *r = redisCommand(redis, "GET %s", "bazar:ceiling");
            if (r) {
                ok = r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_NIL;
                freeReplyObject(r);
            } else { /* connection broken: drop it, reconnect on the next request */
                redisFree(redis);
                redis = NULL;
            }
        }
        if (ok) {
            if (FCGX_PutStr(head, headlen, req.out) < 0 ||
                FCGX_PutStr(BODY, (int)sizeof BODY - 1, req.out) < 0)
                fprintf(stderr, "ceiling_fcgi: client went away\n");
        } else {
            static const char err[] = "Status: 503 Service Unavailable\r\n"
                                      "Content-Type: application/json\r\n"
                                      "Content-Length: 26\r\n\r\n"
                                      "{\"error\":\"redis is down\"}\n";
            if (FCGX_PutStr(err, (int)sizeof err - 1, req.out) < 0)
                fprintf(stderr, "ceiling_fcgi: client went away\n");
        }
        FCGX_Finish_r(&req);
    }
    if (redis)
        redisFree(redis);
    return 0;
}
