/* fcgi_secret.c - secrets in 0600 files: load, generate once, compare in constant time. */
#include "fcgi_secret.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

/* Reads the first line of `path` into out; 1 read, 0 absent, -1 error. */
static int read_secret(const char *path, char *out, size_t outlen, char *err, size_t errlen)
{
    FILE *fp = fopen(path, "r");
    if (!fp) {
        if (errno == ENOENT)
            return 0;
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    if (!fgets(out, (int)outlen, fp))
        out[0] = 0;
    fclose(fp);
    out[strcspn(out, " \t\r\n")] = 0;
    if (strlen(out) < FCGI_SECRET_MIN) {
        snprintf(err, errlen, "%s: secret shorter than %d characters", path, FCGI_SECRET_MIN);
        return -1;
    }
    return 1;
}

/* Creates `path` with a fresh random secret unless it exists already. */
static int generate_secret(const char *path, char *err, size_t errlen)
{
    unsigned char raw[24];
    char hex[sizeof raw * 2 + 2];
    if (getrandom(raw, sizeof raw, 0) != (ssize_t)sizeof raw) {
        snprintf(err, errlen, "getrandom failed");
        return -1;
    }
    for (size_t i = 0; i < sizeof raw; i++)
        snprintf(hex + 2 * i, 3, "%02x", raw[i]);
    hex[sizeof raw * 2] = '\n';
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
    if (fd < 0) {
        if (errno == EEXIST)
            return 0;
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    ssize_t w = write(fd, hex, sizeof raw * 2 + 1);
    if (close(fd) != 0 || w != (ssize_t)(sizeof raw * 2 + 1)) {
        snprintf(err, errlen, "%s: short write", path);
        return -1;
    }
    return 0;
}

int fcgi_secret_load(const char *configured, const char *path, int generate, char *out,
                     size_t outlen, char *err, size_t errlen)
{
    if (configured != NULL && configured[0]) {
        if (strlen(configured) < FCGI_SECRET_MIN || strlen(configured) >= outlen) {
            snprintf(err, errlen, "configured secret must be %d..%zu characters",
                     FCGI_SECRET_MIN, outlen - 1);
            return -1;
        }
        snprintf(out, outlen, "%s", configured);
        return 0;
    }
    int got = read_secret(path, out, outlen, err, errlen);
    if (got != 0)
        return got < 0 ? -1 : 0;
    if (!generate) {
        snprintf(err, errlen, "%s: missing (deploy/render.sh creates it; on a cluster, "
                              "deploy/cluster copies it to every host)", path);
        return -1;
    }
    if (generate_secret(path, err, errlen) != 0)
        return -1;
    return read_secret(path, out, outlen, err, errlen) == 1 ? 0 : -1;
}

int fcgi_secret_equal(const char *want, const char *got)
{
    if (got == NULL)
        return 0;
    size_t wlen = strlen(want), glen = strnlen(got, wlen + 1);
    unsigned char diff = (unsigned char)(glen != wlen);
    for (size_t i = 0; i < wlen; i++)
        diff |= (unsigned char)(want[i] ^ (i < glen ? got[i] : 0));
    return diff == 0;
}
