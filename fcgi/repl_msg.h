/* repl_msg.h - parsing and validation of a replication append message
 * (the body of POST /repl/append, built by repl.c's build_append):
 *
 *   {"service":"catalog","epoch":E,"leader":L,"from":F,"prev_epoch":PE,
 *    "head":H,"sent_ms":T,"commit":C,"safe":S,"lease":LL,
 *    "entries":[{"pos":F,"epoch":E1,"op":{...}}, ...],"snapshot":false}
 *
 * Pure functions (no I/O), so they can be unit tested and fuzzed. */
#ifndef REPL_MSG_H
#define REPL_MSG_H

#include <stddef.h>
#include <stdint.h>
#include <json-c/json.h>

#define REPL_MSG_SERVICE_MAX 16

typedef struct repl_msg_entry {
    int64_t pos;      /* entries are consecutive from the message's `from` */
    int64_t epoch;    /* 1..the message's epoch */
    json_object *op;  /* an object; borrowed from the message's root */
} repl_msg_entry;

typedef struct repl_msg {
    json_object *root;          /* the parsed body (owned only after repl_msg_parse) */
    int owns_root;
    char service[REPL_MSG_SERVICE_MAX];
    int64_t epoch;              /* >= 1 (staleness is the receiver's decision) */
    int64_t leader;             /* >= 1 */
    int64_t from;               /* >= 1: position of the first entry */
    int64_t prev_epoch;         /* >= 0: epoch of entry from-1 (0 for position 0) */
    int64_t head;               /* >= 0: the sender's last position */
    int64_t sent_ms;            /* >= 0: the sender's wall clock */
    int64_t commit, safe;       /* >= 0: the sender's commit and safe positions */
    int64_t lease;              /* >= 0: the sender's own lease end; 0: grants none */
    int snapshot;               /* bool: the sender's log no longer reaches `from` */
    size_t n;                   /* number of entries */
    repl_msg_entry *entries;    /* malloc'd array of n (NULL when n == 0) */
} repl_msg;

/* Validates an already parsed message `root` (borrowed: it must outlive m).
 * Returns 0 with m filled, or -1 with a reason in why (m is then empty and
 * needs no repl_msg_free). On success free with repl_msg_free. */
int repl_msg_from_json(json_object *root, repl_msg *m, char *why, size_t whylen);

/* Parses `len` bytes (strict JSON, see fcgi_json_parse_object) and
 * validates them. Returns 0 with m filled (m owns the parsed tree), or -1
 * with a reason in why. On success free with repl_msg_free. */
int repl_msg_parse(const char *buf, size_t len, repl_msg *m, char *why, size_t whylen);

/* Frees what m owns; m may be zeroed or freed twice. */
void repl_msg_free(repl_msg *m);

#endif
