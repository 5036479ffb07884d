/* fcgi_text.h - validation of untrusted text: UTF-8, names, keys. */
#ifndef FCGI_TEXT_H
#define FCGI_TEXT_H

#include <stddef.h>

/* 1 when `len` bytes are well-formed UTF-8 (no overlongs, no surrogates,
 * nothing above U+10FFFF) and contain no control character; else 0. */
int fcgi_text_valid(const char *s, size_t len);

/* 1 when s is a usable idempotency key: 1..128 bytes of [A-Za-z0-9._:-]. */
int fcgi_key_valid(const char *s);

/* Percent-encodes len bytes of s for one URL path segment into out.
 * Returns 0, or -1 if it does not fit. */
int fcgi_url_encode(const char *s, size_t len, char *out, size_t outcap);

#endif
