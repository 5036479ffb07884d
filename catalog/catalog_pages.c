/* catalog_pages.c - the catalog's pages (GET /browse: a page of the books a
 * topic and a title search select, in one of eight orders, with their
 * total) and its topics (GET /topics), read from the replica's connection
 * inside the caller's read transaction. */
#include "catalog_pages.h"

#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "catalog_db.h"
#include "fcgi_db.h"
#include "fcgi_json.h"
#include "fcgi_log.h"
#include "fcgi_page.h"

/* ---- pages and topics (GET /browse, GET /topics) ---- */

/* The ORDER BY of each fcgi_page_sorts entry: the field, then the id as a
 * tiebreak, so that pages never overlap; a '-' sort is the exact reverse.
 * schema.sql has an index for each (books_title, books_price, ...). */
static_assert(FCGI_SORT_ID_DESC == (FCGI_SORT_ID ^ 1) &&
                  FCGI_SORT_QUANTITY_DESC == (FCGI_SORT_QUANTITY ^ 1),
              "each sort's reverse is its index ^ 1");
static const char *const page_order[FCGI_SORT_COUNT] = {
    "id", "id DESC", "title, id", "title DESC, id DESC", "price_cents, id",
    "price_cents DESC, id DESC", "quantity, id", "quantity DESC, id DESC",
};

/* The number of UTF-8 characters in s. */
static size_t utf8_chars(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += ((unsigned char)*s & 0xc0) != 0x80;
    return n;
}

/* q as a LIKE pattern matching it anywhere in the title: '%', '_' and the
 * escape character (a backslash) taken literally. out holds 2 * len + 3 bytes. */
static void like_pattern(const char *q, char *out)
{
    *out++ = '%';
    for (; *q; q++) {
        if (*q == '%' || *q == '_' || *q == '\\')
            *out++ = '\\';
        *out++ = *q;
    }
    *out++ = '%';
    *out = 0;
}

/* q as an FTS5 phrase: its trigrams in a row, so every title holding q in
 * any case (and a few more, as the index folds non-ASCII letters too). In
 * double quotes, each one inside doubled. out holds 2 * len + 3 bytes. */
static void match_phrase(const char *q, char *out)
{
    *out++ = '"';
    for (; *q; q++) {
        if (*q == '"')
            *out++ = '"';
        *out++ = *q;
    }
    *out++ = '"';
    *out = 0;
}

/* Binds to a named parameter when the statement has it: 0, or -1. */
static int bind_text(sqlite3_stmt *st, const char *name, const char *text)
{
    int i = sqlite3_bind_parameter_index(st, name);
    return i == 0 || sqlite3_bind_text(st, i, text, -1, SQLITE_TRANSIENT) == SQLITE_OK ? 0 : -1;
}

static int bind_int(sqlite3_stmt *st, const char *name, int64_t v)
{
    int i = sqlite3_bind_parameter_index(st, name);
    return i == 0 || sqlite3_bind_int64(st, i, v) == SQLITE_OK ? 0 : -1;
}

/* One page query as SQL: its WHERE clause and the values to bind. */
typedef struct page_plan {
    const fcgi_page_query *pq;
    char where[128];
    char like[FCGI_PAGE_TEXT_MAX * 2 + 3], match[FCGI_PAGE_TEXT_MAX * 2 + 3];
} page_plan;

/* The plan that reads the books in the page's order: the filters as a
 * WHERE clause ("" without any); q matches as LIKE does (a substring, ASCII
 * letters in any case). */
static void page_plan_make(page_plan *p, const fcgi_page_query *pq)
{
    p->pq = pq;
    like_pattern(pq->q, p->like);
    match_phrase(pq->q, p->match);
    snprintf(p->where, sizeof p->where, "%s%s%s%s", pq->topic[0] || pq->q[0] ? " WHERE " : "",
             pq->topic[0] ? "topic = :topic" : "", pq->topic[0] && pq->q[0] ? " AND " : "",
             pq->q[0] ? "title LIKE :like ESCAPE '\\'" : "");
}

/* Prepares `sql` of the plan with every value it names bound (:limit and
 * :offset as given). NULL on error (logged); the caller finalizes it. */
static sqlite3_stmt *plan_stmt(const page_plan *p, const char *sql, int64_t limit, int64_t offset)
{
    sqlite3_stmt *st = NULL;
    sqlite3 *db = catalog_db_handle();
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK ||
        bind_text(st, ":topic", p->pq->topic) != 0 || bind_text(st, ":like", p->like) != 0 ||
        bind_text(st, ":match", p->match) != 0 || bind_int(st, ":limit", limit) != 0 ||
        bind_int(st, ":offset", offset) != 0) {
        LOG_ERROR("page query: %s", sqlite3_errmsg(db));
        sqlite3_finalize(st);
        return NULL;
    }
    return st;
}

/* How many books the plan's filters select: 0 with *total, or -1. */
static int plan_total(const page_plan *p, int64_t *total)
{
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT COUNT(*) FROM books%s", p->where);
    sqlite3_stmt *st = plan_stmt(p, sql, 0, 0);
    if (!st)
        return -1;
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        *total = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return rc == SQLITE_ROW ? 0 : -1;
}

/* Candidates (titles the trigram index may hold q in) up to which q is
 * looked up there; beyond, reading the titles in the page's order finds a
 * page sooner. */
#define PAGE_INDEXED_MAX 5000

/* q of 3 characters or more, looked up in the trigram index of the titles
 * (books_title_fts): its candidates, read in the page's order and checked
 * here against q as LIKE has it (the index also folds non-ASCII letters)
 * and the topic, are counted and the page kept. One query, a few rows when
 * q is rare. 1 when answered (*total, *books), 0 when q has more than
 * PAGE_INDEXED_MAX candidates, -1 on an error. */
static int page_by_title_index(const page_plan *p, int64_t *total, json_object **books)
{
    const fcgi_page_query *pq = p->pq;
    char sql[512];
    snprintf(sql, sizeof sql,
             "SELECT " CATALOG_BOOK_COLS ", title LIKE :like ESCAPE '\\' AND (:topic = '' OR topic = "
             ":topic) FROM books WHERE id IN (SELECT rowid FROM books_title_fts WHERE "
             "books_title_fts MATCH :match LIMIT :limit) ORDER BY %s",
             page_order[pq->sort]);
    sqlite3_stmt *st = plan_stmt(p, sql, PAGE_INDEXED_MAX + 1, 0);
    json_object *arr = json_object_new_array();
    int64_t first = (pq->page - 1) * pq->per_page, seen = 0, hits = 0;
    int rc = st && arr ? SQLITE_OK : SQLITE_NOMEM;
    while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        rc = SQLITE_OK;
        seen++;
        if (!sqlite3_column_int(st, 6)) /* not q as LIKE has it, or another topic */
            continue;
        if (hits >= first && hits < first + pq->per_page && catalog_db_append_book(arr, st) != 0)
            rc = SQLITE_NOMEM;
        hits++;
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE || seen > PAGE_INDEXED_MAX) {
        json_object_put(arr);
        return rc == SQLITE_DONE ? 0 : -1;
    }
    *total = hits;
    *books = arr;
    return 1;
}

/* A new array of arr's elements in reverse order (arr is released), or NULL. */
static json_object *reversed(json_object *arr)
{
    size_t n = arr ? json_object_array_length(arr) : 0;
    json_object *out = arr ? json_object_new_array_ext((int)n) : NULL;
    for (size_t i = n; out && i-- > 0;) {
        json_object *o = json_object_get(json_object_array_get_idx(arr, i));
        if (json_object_array_add(out, o) != 0) {
            json_object_put(o);
            json_object_put(out);
            out = NULL;
        }
    }
    json_object_put(arr);
    return out;
}

/* The page's books; none (without a query) when it starts past the end.
 * An index walk skips the rows before the page, so a page in the second
 * half is read from the far end: in the reverse order (each sort's '-'
 * twin, the exact reverse since ids break ties), skipping the rows after
 * it, then turned around. total was counted in the same read transaction. */
static json_object *page_books(const page_plan *p, int64_t total)
{
    const fcgi_page_query *pq = p->pq;
    int64_t offset = (pq->page - 1) * pq->per_page, limit = pq->per_page;
    if (offset >= total)
        return json_object_new_array();
    int from_end = offset > total / 2;
    if (from_end) {
        int64_t end = offset + limit < total ? offset + limit : total;
        limit = end - offset;
        offset = total - end;
    }
    char sql[512];
    snprintf(sql, sizeof sql,
             "SELECT " CATALOG_BOOK_COLS " FROM books%s ORDER BY %s LIMIT :limit OFFSET :offset",
             p->where, page_order[from_end ? pq->sort ^ 1 : pq->sort]);
    sqlite3_stmt *st = plan_stmt(p, sql, limit, offset);
    json_object *books = st ? catalog_db_books_array(st) : NULL;
    sqlite3_finalize(st);
    return from_end ? reversed(books) : books;
}

/* ---- kept orders ----
 *
 * A query whose order depends only on which books exist and on their
 * titles (no topic; sorted by id or by title, either way; any q) has its
 * ids, in ascending order, kept by the process with the book-set generation
 * they were read at (catalog_db_book_set). A page of it is then a slice:
 * per_page books read by id, whatever the page number. Without it, an
 * index walk steps over every row before the page (a quarter of the
 * catalog on average: 25,000 title keys, about 3 ms on 100,000 books), and
 * a q too common for the title index tests every title twice, the count
 * and then the page (about 30 ms). Purchases, restocks and price changes
 * move no book in these orders, so they keep it; an added book, a snapshot
 * installed or the seed change the generation, and the next page reads the
 * order anew in the same read transaction. Memory: 8 bytes a book per
 * order kept, KEPT_SLOTS orders (the latest used). */
#define KEPT_SLOTS 4 /* id and title order, without q and with the latest q */

typedef struct kept_order {
    int64_t gen;
    int by_title;
    char q[FCGI_PAGE_TEXT_MAX + 1];
    int64_t *ids; /* NULL: the slot is empty */
    size_t n;
    uint64_t used; /* when last used (kept_clock), for replacing the oldest */
} kept_order;

static _Thread_local kept_order kept[KEPT_SLOTS];
static _Thread_local uint64_t kept_clock;

/* Reads the plan's order into k (ids in ascending id or title order). 0, or -1. */
static int kept_read(kept_order *k, const page_plan *p, int by_title, int64_t gen)
{
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT id FROM books%s ORDER BY %s", p->where,
             by_title ? "title, id" : "id");
    sqlite3_stmt *st = plan_stmt(p, sql, 0, 0);
    size_t cap = 0;
    int rc = st ? SQLITE_OK : SQLITE_ERROR;
    free(k->ids);
    *k = (kept_order){.gen = gen, .by_title = by_title};
    while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        rc = SQLITE_OK;
        if (k->n == cap) {
            cap = cap ? cap * 2 : 1024;
            int64_t *grown = realloc(k->ids, cap * sizeof *grown);
            if (!grown) {
                rc = SQLITE_NOMEM;
                break;
            }
            k->ids = grown;
        }
        k->ids[k->n++] = sqlite3_column_int64(st, 0);
    }
    sqlite3_finalize(st);
    if (rc == SQLITE_DONE && !k->ids)
        k->ids = malloc(sizeof *k->ids); /* an empty order is kept too */
    if (rc != SQLITE_DONE || !k->ids) {
        free(k->ids);
        *k = (kept_order){0};
        return -1;
    }
    snprintf(k->q, sizeof k->q, "%s", p->pq->q);
    return 0;
}

/* The kept order of the plan, with *desc set for a descending sort: the
 * one kept at the current generation, else (with `read`) read anew, else
 * NULL. NULL too when the plan's order is not of that kind, or on an error
 * (logged; the caller then reads the page the other way). */
static const kept_order *kept_for(const page_plan *p, int read, int *desc)
{
    const fcgi_page_query *pq = p->pq;
    int s = pq->sort, by_title = s == FCGI_SORT_TITLE || s == FCGI_SORT_TITLE_DESC;
    if (pq->topic[0] || !(by_title || s == FCGI_SORT_ID || s == FCGI_SORT_ID_DESC))
        return NULL;
    *desc = s == FCGI_SORT_ID_DESC || s == FCGI_SORT_TITLE_DESC;
    int64_t gen;
    if (catalog_db_book_set(&gen) != 0)
        return NULL;
    kept_order *oldest = &kept[0];
    for (int i = 0; i < KEPT_SLOTS; i++) {
        kept_order *k = &kept[i];
        if (k->ids && k->gen == gen && k->by_title == by_title && strcmp(k->q, pq->q) == 0) {
            k->used = ++kept_clock;
            return k;
        }
        if (k->used < oldest->used)
            oldest = k;
    }
    if (!read)
        return NULL;
    if (kept_read(oldest, p, by_title, gen) != 0) {
        LOG_WARN("page query: cannot keep the order: %s", sqlite3_errmsg(catalog_db_handle()));
        return NULL;
    }
    oldest->used = ++kept_clock;
    return oldest;
}

static _Thread_local json_object *kept_topics; /* see catalog_topics_json */

void catalog_pages_free(void)
{
    for (int i = 0; i < KEPT_SLOTS; i++) {
        free(kept[i].ids);
        kept[i] = (kept_order){0};
    }
    json_object_put(kept_topics);
    kept_topics = NULL;
}

/* The page as a slice of a kept order: 0 with *total and *books, or -1. */
static int page_from_kept(const kept_order *k, int desc, const fcgi_page_query *pq,
                          int64_t *total, json_object **books)
{
    json_object *arr = json_object_new_array();
    int64_t n = (int64_t)k->n, first = (pq->page - 1) * pq->per_page;
    for (int64_t i = first; arr && i < n && i < first + pq->per_page; i++) {
        catalog_book b;
        json_object *o = NULL;
        if (catalog_db_book(k->ids[desc ? n - 1 - i : i], &b) != 1 ||
            !(o = catalog_book_json(&b)) || json_object_array_add(arr, o) != 0) {
            json_object_put(o); /* a kept id without its book: the generation was wrong */
            json_object_put(arr);
            arr = NULL;
        }
    }
    if (!arr)
        return -1;
    *total = n;
    *books = arr;
    return 0;
}

/* The page and the total of the books the plan selects: 0, or -1. */
static int page_read(const page_plan *p, int64_t *total, json_object **books)
{
    /* A kept order first; then the title index for a q of 3 characters or
     * more (a rare q is found there at once, so its order is not kept); then
     * the order read and kept, or, for the orders that are not kept, read
     * from the index of the page's order. */
    int desc = 0;
    const kept_order *k = kept_for(p, 0, &desc);
    if (k)
        return page_from_kept(k, desc, p->pq, total, books);
    if (utf8_chars(p->pq->q) >= 3) {
        int rc = page_by_title_index(p, total, books);
        if (rc != 0)
            return rc > 0 ? 0 : -1;
    }
    k = kept_for(p, 1, &desc);
    if (k)
        return page_from_kept(k, desc, p->pq, total, books);
    if (plan_total(p, total) != 0)
        return -1;
    *books = page_books(p, *total);
    return *books ? 0 : -1;
}

json_object *catalog_pages_json(const fcgi_page_query *pq)
{
    page_plan p;
    int64_t total = 0;
    json_object *books = NULL;
    page_plan_make(&p, pq);
    if (page_read(&p, &total, &books) != 0)
        return NULL;
    static const char *const names[] = {"books", "total", "page", "per_page"};
    json_object *values[] = {books, json_object_new_int64(total), json_object_new_int64(pq->page),
                             json_object_new_int64(pq->per_page)};
    return fcgi_json_object_of(4, names, values);
}

/* The topic list, kept like the orders above: a topic's count changes only
 * when a book is added (a book's topic never changes), so the list read at
 * one book-set generation holds until the next. */
static _Thread_local int64_t kept_topics_gen;

json_object *catalog_topics_json(void)
{
    int64_t gen;
    int have_gen = catalog_db_book_set(&gen) == 0;
    if (have_gen && kept_topics && kept_topics_gen == gen)
        return json_object_get(kept_topics);
    sqlite3_stmt *st = NULL;
    sqlite3 *db = catalog_db_handle();
    if (sqlite3_prepare_v2(db,
                           "SELECT topic, COUNT(*) AS count FROM books GROUP BY topic "
                           "ORDER BY topic",
                           -1, &st, NULL) != SQLITE_OK) {
        LOG_ERROR("topics query: %s", sqlite3_errmsg(db));
        sqlite3_finalize(st);
        return NULL;
    }
    json_object *topics = fcgi_db_objects(st);
    sqlite3_finalize(st);
    if (topics && have_gen) {
        json_object_put(kept_topics);
        kept_topics = json_object_get(topics);
        kept_topics_gen = gen;
    }
    return topics;
}
