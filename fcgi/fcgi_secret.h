/* fcgi_secret.h - shared secrets kept in files: the admin token and the
 * cluster secret that every service-to-service call carries.
 *
 * A secret file holds one line of at least 16 printable characters; it is
 * created with mode 0600 (deploy/render.sh or the first program to need it)
 * and never committed. Comparisons take time that depends only on the
 * expected secret's length, never on where a guess first differs. */
#ifndef FCGI_SECRET_H
#define FCGI_SECRET_H

#include <stddef.h>

#define FCGI_SECRET_MAX 256
#define FCGI_SECRET_MIN 16

/* The header that carries the cluster secret on internal calls. */
#define FCGI_SECRET_HEADER "X-Bazar-Secret"

/* Fills out (outlen bytes) with `configured` when it is non-empty, else with
 * the first line of the file at `path`. When the file is absent and
 * `generate` is set, creates it first (48 random hex digits, 0600, O_EXCL so
 * concurrent starters agree). Returns 0, or -1 with the reason in err: the
 * file is missing (and not generated), unreadable, or its secret is shorter
 * than FCGI_SECRET_MIN characters. */
int fcgi_secret_load(const char *configured, const char *path, int generate, char *out,
                     size_t outlen, char *err, size_t errlen);

/* 1 when `got` (may be NULL) equals `want`, else 0; constant time in
 * strlen(want). */
int fcgi_secret_equal(const char *want, const char *got);

#endif
