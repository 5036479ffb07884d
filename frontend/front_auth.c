/* front_auth.c - the admin token: loaded or generated once, checked in constant time. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "front.h"

/* Reads the token file into f->token; 1 read, 0 absent, -1 error. */
static int read_token(front *f, const char *path, char *err, size_t errlen)
{
    FILE *fp = fopen(path, "r");
    if (!fp) {
        if (errno == ENOENT)
            return 0;
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    if (!fgets(f->token, sizeof f->token, fp))
        f->token[0] = 0;
    fclose(fp);
    f->token[strcspn(f->token, " \t\r\n")] = 0;
    if (strlen(f->token) < 16) {
        snprintf(err, errlen, "%s: token shorter than 16 characters", path);
        return -1;
    }
    return 1;
}

int front_auth_init(front *f, char *err, size_t errlen)
{
    if (f->cfg->admin_token[0]) {
        snprintf(f->token, sizeof f->token, "%s", f->cfg->admin_token);
        return 0;
    }
    char path[FCGI_CONFIG_STR + 32];
    snprintf(path, sizeof path, "%s/admin.token", f->cfg->var_dir);
    int got = read_token(f, path, err, errlen);
    if (got != 0)
        return got < 0 ? -1 : 0;
    /* First run: create it; O_EXCL makes concurrent starters agree. */
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
    if (fd >= 0) {
        ssize_t w = write(fd, hex, sizeof raw * 2 + 1);
        close(fd);
        if (w != (ssize_t)(sizeof raw * 2 + 1)) {
            snprintf(err, errlen, "%s: short write", path);
            return -1;
        }
    } else if (errno != EEXIST) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    return read_token(f, path, err, errlen) == 1 ? 0 : -1;
}

int front_auth_check(fcgi_request *req)
{
    const char *h = fcgi_req_header(req, "Authorization");
    const char *want = front_ctx.token;
    size_t wlen = strlen(want);
    if (!h || strncmp(h, "Bearer ", 7) != 0) {
        fcgi_resp_header(req, "WWW-Authenticate", "Bearer");
        fcgi_resp_error(req, 401, "admin token required: Authorization: Bearer <token>");
        return 0;
    }
    const char *got = h + 7;
    size_t glen = strlen(got);
    /* Constant time in the token's length: every byte is compared. */
    unsigned char diff = (unsigned char)(glen != wlen);
    for (size_t i = 0; i < wlen; i++)
        diff |= (unsigned char)(want[i] ^ (i < glen ? got[i] : 0));
    if (diff) {
        fcgi_resp_header(req, "WWW-Authenticate", "Bearer error=\"invalid_token\"");
        fcgi_resp_error(req, 401, "wrong admin token");
        return 0;
    }
    return 1;
}
