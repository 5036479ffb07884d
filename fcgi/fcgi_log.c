/* fcgi_log.c - levelled one-line-per-event logging with a single write(2) per line. */
#include "fcgi_log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define LOG_LINE_MAX 4096 /* one event; longer messages are truncated */
#define LOG_MSG_MAX 2048  /* formatted message before escaping */

static struct {
    int fd; /* -1: stderr */
    int level;
    char program[64];
    char rid[64];
} g_log = {-1, FCGI_LOG_INFO, "bazar", "-"};

static const char *const level_names[] = {"DEBUG", "INFO", "WARN", "ERROR"};

static void copy_bounded(char *dst, size_t cap, const char *src)
{
    size_t n = strnlen(src, cap - 1);
    memcpy(dst, src, n);
    dst[n] = '\0';
}

int fcgi_log_open(const char *program, const char *path, int level)
{
    fcgi_log_close();
    copy_bounded(g_log.program, sizeof g_log.program, program != NULL ? program : "bazar");
    if (level >= FCGI_LOG_DEBUG && level <= FCGI_LOG_ERROR)
        g_log.level = level;
    if (path == NULL)
        return 0;
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        int e = errno;
        fcgi_log_write(FCGI_LOG_ERROR, "cannot open log %s: %s", path, strerror(e));
        return -1;
    }
    g_log.fd = fd;
    return 0;
}

void fcgi_log_close(void)
{
    if (g_log.fd >= 0)
        close(g_log.fd);
    g_log.fd = -1;
}

int fcgi_log_level_parse(const char *s)
{
    static const char *const names[] = {"debug", "info", "warn", "error"};
    if (s == NULL)
        return -1;
    for (int i = 0; i < 4; i++)
        if (strcasecmp(s, names[i]) == 0)
            return i;
    return -1;
}

void fcgi_log_set_request_id(const char *rid)
{
    copy_bounded(g_log.rid, sizeof g_log.rid, rid != NULL && rid[0] != '\0' ? rid : "-");
}

/* Appends `msg` to out[*pos..cap) with control bytes escaped, so that one event
 * stays one line whatever the message holds. Stops when full. */
static void append_escaped(char *out, size_t cap, size_t *pos, const char *msg)
{
    static const char hex[] = "0123456789abcdef";
    for (const unsigned char *p = (const unsigned char *)msg; *p != '\0'; p++) {
        char esc[4];
        size_t n;
        if (*p == '\n') {
            esc[0] = '\\', esc[1] = 'n', n = 2;
        } else if (*p == '\r') {
            esc[0] = '\\', esc[1] = 'r', n = 2;
        } else if (*p == '\t') {
            esc[0] = '\\', esc[1] = 't', n = 2;
        } else if (*p < 0x20 || *p == 0x7f) {
            esc[0] = '\\', esc[1] = 'x', esc[2] = hex[*p >> 4], esc[3] = hex[*p & 15], n = 4;
        } else {
            esc[0] = (char)*p, n = 1;
        }
        if (*pos + n > cap)
            return;
        memcpy(out + *pos, esc, n);
        *pos += n;
    }
}

void fcgi_log_write(int level, const char *fmt, ...)
{
    if (level < g_log.level)
        return;
    if (level < FCGI_LOG_DEBUG || level > FCGI_LOG_ERROR)
        level = FCGI_LOG_ERROR;
    int saved_errno = errno;

    char msg[LOG_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (m < 0)
        copy_bounded(msg, sizeof msg, "(unformattable log message)");

    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);

    char line[LOG_LINE_MAX];
    int h = snprintf(line, sizeof line, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s %s[%ld] %s ",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                     tm.tm_sec, ts.tv_nsec / 1000000L, level_names[level], g_log.program,
                     (long)getpid(), g_log.rid);
    if (h < 0 || (size_t)h >= sizeof line)
        h = 0;
    size_t pos = (size_t)h;
    append_escaped(line, sizeof line - 1, &pos, msg); /* keep room for '\n' */
    line[pos++] = '\n';

    int fd = g_log.fd >= 0 ? g_log.fd : STDERR_FILENO;
    ssize_t w;
    do {
        w = write(fd, line, pos);
    } while (w < 0 && errno == EINTR);
    errno = saved_errno;
}
