#!/usr/bin/python3
"""Bench client for the catalog pages (GET /bazar/books, GET /bazar/topics) on a
catalog made by gen_books.py N SEED PER_TOPIC (stdlib only).

    pages.py --port P --books N --per-topic K --requests R --csv FILE

One keep-alive connection, requests one after the other; the kinds below take
turns (so that other load on the machine hits them alike), R requests each, all
with per_page=20 at a random page of what they select (q: the first):

    first          page 1, sort=id
    title          sort=title
    -price         sort=-price
    quantity       sort=quantity
    topic          one topic (K books), sort=price
    q              q="number <random id>": the few titles holding it, sort=id
    q-broad        q="volume": a substring of every generated title, sort=title
    topics         GET /bazar/topics (every topic with its count)

Each answer is checked (200, the total the generated catalog implies). Per kind:
client time and the catalog's Server-Timing, n, mean, p50, p99 (CSV rows
appended). Exit status 1 when any request failed or answered wrongly.
"""

import argparse
import json
import random
import sys
import time

from client import Conn, append_csv, fmt, parse_timing, stats

PER_PAGE = 20
KINDS = ["first", "title", "-price", "quantity", "topic", "q", "q-broad", "topics"]


def request_for(kind, rnd, args):
    """-> (path, expected total or None)."""
    n, per = args.books, args.per_topic
    pages = (n + PER_PAGE - 1) // PER_PAGE
    if kind == "first":
        return "/bazar/books?per_page=%d" % PER_PAGE, n
    if kind in ("title", "-price", "quantity"):
        return "/bazar/books?sort=%s&page=%d&per_page=%d" % (
            kind, rnd.randint(1, pages), PER_PAGE), n
    if kind == "topic":
        t = rnd.randint(1, n // per - 1)  # a whole generated topic (0 holds the seed books)
        return "/bazar/books?topic=topic-%05d&sort=price&page=%d&per_page=%d" % (
            t, rnd.randint(1, (per + PER_PAGE - 1) // PER_PAGE), PER_PAGE), per
    if kind == "q":
        return "/bazar/books?q=number+%d&per_page=%d" % (rnd.randrange(7, n), PER_PAGE), None
    if kind == "q-broad":
        return "/bazar/books?q=volume&sort=title&page=%d&per_page=%d" % (
            rnd.randint(1, pages), PER_PAGE), n - 7
    if kind == "topics":
        return "/bazar/topics", None
    raise ValueError(kind)


def check(kind, body, total):
    """None when the answer is what the generated catalog implies, else why not."""
    doc = json.loads(body)
    if kind == "topics":
        return None if isinstance(doc, list) and doc and "count" in doc[0] else "no topics"
    if total is not None and doc.get("total") != total:
        return "total %r, expected %d" % (doc.get("total"), total)
    if kind == "q" and not doc.get("total"):  # at least the book whose number it is
        return "q total %r" % doc.get("total")
    return None


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--books", type=int, required=True)
    ap.add_argument("--per-topic", type=int, required=True)
    ap.add_argument("--requests", type=int, default=300, help="per kind")
    ap.add_argument("--max-seconds", type=float, default=300.0)
    ap.add_argument("--csv", required=True)
    args = ap.parse_args()
    rnd = random.Random(16)
    conn = Conn(args.port)
    client = {k: [] for k in KINDS}
    catalog = {k: [] for k in KINDS}
    errors, deadline = 0, time.monotonic() + args.max_seconds
    for kind in KINDS:  # warm: one of each
        conn.request("GET", request_for(kind, rnd, args)[0])
    for _ in range(args.requests):
        if time.monotonic() > deadline:
            break
        for kind in KINDS:
            path, total = request_for(kind, rnd, args)
            status, st, body, ms = conn.request("GET", path)
            why = check(kind, body, total) if status == 200 else "status %d" % status
            if why:
                errors += 1
                print("pages: %s %s: %s" % (kind, path, why), file=sys.stderr)
                continue
            client[kind].append(ms)
            durs, _ = parse_timing(st)
            if "catalog" in durs:
                catalog[kind].append(durs["catalog"])
    conn.close()
    rows = []
    for kind in KINDS:
        c, k = stats(client[kind]), stats(catalog[kind])
        rows.append([kind, c["n"], fmt(c["mean"]), fmt(c["p50"]), fmt(c["p99"]), fmt(k["p50"]),
                     fmt(k["p99"]), args.books, errors])
        print("pages %-9s n=%-5d client p50 %7s ms  p99 %8s ms  (catalog p50 %7s  p99 %8s)" % (
            kind, c["n"], fmt(c["p50"]), fmt(c["p99"]), fmt(k["p50"]), fmt(k["p99"])))
    append_csv(args.csv, ["kind", "n", "mean_ms", "p50_ms", "p99_ms", "catalog_p50_ms",
                          "catalog_p99_ms", "books", "errors"], rows)
    return 1 if errors or not client["first"] else 0


if __name__ == "__main__":
    sys.exit(main())
