/* fcgi_pool.c - a pool's serving processes from its pid file and /proc. */
#include "fcgi_pool.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int fcgi_pid_runs(pid_t pid)
{
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%ld/stat", (long)pid);
    FILE *s = fopen(path, "r");
    if (!s)
        return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, s);
    fclose(s);
    buf[n] = 0;
    const char *close = strrchr(buf, ')');
    return close && close[1] == ' ' && close[2] != '\0' && !strchr("TtZX", close[2]);
}

/* Appends the children of pid (from /proc/PID/task/PID/children) to out;
 * returns the new count, or -1 when the kernel does not list them. */
static int add_children(pid_t pid, pid_t *out, size_t cap, int n)
{
    char path[96];
    snprintf(path, sizeof path, "/proc/%ld/task/%ld/children", (long)pid, (long)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    long child;
    while ((size_t)n < cap && fscanf(f, "%ld", &child) == 1)
        if (child > 0)
            out[n++] = (pid_t)child;
    fclose(f);
    return n;
}

int fcgi_pool_pids(const char *path, pid_t *out, size_t cap)
{
    char line[32];
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    int n = 0;
    while ((size_t)n < cap && fgets(line, sizeof line, f)) {
        long pid = strtol(line, NULL, 10);
        if (pid <= 0)
            continue;
        int before = n;
        int got = add_children((pid_t)pid, out, cap, n);
        if (got > before)
            n = got;
        else
            out[n++] = (pid_t)pid; /* no children: it serves itself */
    }
    fclose(f);
    return n;
}
