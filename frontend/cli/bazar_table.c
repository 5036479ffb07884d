/* bazar_table.c - aligned text tables for the bazar CLI's human-readable output. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bazar.h"

struct bazar_table {
    size_t ncols, nrows, cap;
    char **cells; /* nrows * ncols, row-major */
};

/* Display width: UTF-8 code points; control bytes are printed as '?'. */
static size_t width(const char *s)
{
    size_t w = 0;
    for (; *s; s++)
        if (((unsigned char)*s & 0xC0) != 0x80)
            w++;
    return w;
}

bazar_table *bazar_table_new(size_t ncols)
{
    bazar_table *t = calloc(1, sizeof *t);
    if (t)
        t->ncols = ncols;
    return t;
}

int bazar_table_add(bazar_table *t, const char *const *cells)
{
    if (t->nrows == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 8;
        char **p = realloc(t->cells, cap * t->ncols * sizeof *p);
        if (!p)
            return -1;
        t->cells = p;
        t->cap = cap;
    }
    char **row = t->cells + t->nrows * t->ncols;
    for (size_t c = 0; c < t->ncols; c++) {
        row[c] = strdup(cells[c] ? cells[c] : "");
        if (!row[c]) {
            while (c--)
                free(row[c]);
            return -1;
        }
        /* A terminal must not interpret bytes from the server. */
        for (char *p = row[c]; *p; p++)
            if ((unsigned char)*p < 0x20 || *p == 0x7f)
                *p = '?';
    }
    t->nrows++;
    return 0;
}

void bazar_table_print(const bazar_table *t)
{
    size_t w[16] = {0};
    size_t ncols = t->ncols < 16 ? t->ncols : 16;
    for (size_t r = 0; r < t->nrows; r++)
        for (size_t c = 0; c < ncols; c++) {
            size_t cw = width(t->cells[r * t->ncols + c]);
            if (cw > w[c])
                w[c] = cw;
        }
    for (size_t r = 0; r < t->nrows; r++) {
        size_t last = ncols;
        while (last > 0 && t->cells[r * t->ncols + last - 1][0] == 0)
            last--;
        for (size_t c = 0; c < last; c++) {
            const char *cell = t->cells[r * t->ncols + c];
            fputs(cell, stdout);
            if (c + 1 < last)
                printf("%*s", (int)(w[c] - width(cell) + 2), "");
        }
        putchar('\n');
    }
}

void bazar_table_free(bazar_table *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->nrows * t->ncols; i++)
        free(t->cells[i]);
    free(t->cells);
    free(t);
}
