/* bazar.h - the bazar command-line client: its HTTP call and table output. */
#ifndef BAZAR_H
#define BAZAR_H

#include <stddef.h>

/* Exit codes (README.md, "CLI"). */
enum bazar_exit {
    BAZAR_OK = 0,
    BAZAR_REJECTED = 1,    /* not found, out of stock, rejected (other 4xx) */
    BAZAR_USAGE = 2,       /* bad command line, no token */
    BAZAR_UNAVAILABLE = 3  /* server unreachable or 5xx */
};

typedef struct bazar_resp {
    long status;         /* HTTP status, 0 when no response arrived */
    char *body;          /* NUL-terminated, malloc'd (never NULL after a response) */
    size_t len;
    char idem_key[160];  /* the response's Idempotency-Key header, or "" */
    char err[256];       /* transport error when status == 0 */
} bazar_resp;

/* Performs method on server+path with an optional JSON body and extra
 * "Name: value" headers (NULL-terminated list, may be NULL). Returns 0 when
 * a response arrived (any status), -1 otherwise with resp->err set. Free the
 * response with bazar_resp_free. */
int bazar_http(const char *server, const char *method, const char *path, const char *body,
               const char *const *headers, bazar_resp *resp);
void bazar_resp_free(bazar_resp *resp);

/* A table of text cells printed with every column padded to its widest cell
 * (widths counted in UTF-8 code points). Cells are copied. */
typedef struct bazar_table bazar_table;
bazar_table *bazar_table_new(size_t ncols);
/* Appends a row of ncols cells (NULL prints as ""). Returns 0 or -1 (no memory). */
int bazar_table_add(bazar_table *t, const char *const *cells);
/* Prints the rows to stdout, columns separated by two spaces, no trailing blanks. */
void bazar_table_print(const bazar_table *t);
void bazar_table_free(bazar_table *t);

#endif
