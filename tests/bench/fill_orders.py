#!/usr/bin/python3
"""Writes N purchases straight into a stopped cluster's databases, as if they had been made
through the API (the bench's 1,000,000-order measurement; stdlib only).

    fill_orders.py VAR N [--retention R] [--books 7] [--short ID:K ...]

For every order replica (VAR/data/order-*.db) and catalog replica (catalog-*.db) it does,
in one transaction per database, what applying the purchases' log entries would do:

  order:   purchase i = entry {"op":"order",...} at A+i (A = the replica's position):
           orders row order_id = max+i, the book's title and price, a random 32-hex key
           (the front end's format) and a created_at in the past; then one
           {"op":"swept","catalog_pos":C+N} at A+N+1 (the sweep has seen every record);
  catalog: purchase i = entry {"op":"decrement","id":B,"key":K} at C+i: purchases row
           (K, B, title, price, C+i), books.quantity - 1, books.version = C+i;

then appends those entries to repl_log and trims it to the last R positions (log_retention,
what the ticker would have left), and moves applied / last_epoch. Every replica gets the
same rows from one generated set, so hashes agree. --short ID:K leaves backup ID K purchases
short (of both services): on start it must replay them from the primary's log, which shows
that the written log entries are what the rows say (bench.sh checks replayed == K or K+1
and equal hashes). Refuses unless all replicas of a service are at the same position and
epoch, and unless every book has stock for its share of the purchases.
"""

import argparse
import glob
import json
import os
import random
import re
import sqlite3
import sys
import tempfile
import time

ORDER_COLS = "order_id, book_id, key, title, price_cents, created_at"


def die(msg):
    sys.exit("fill_orders: " + msg)


def dumps(o):
    return json.dumps(o, separators=(",", ":"), ensure_ascii=False)


def meta(db):
    return dict(db.execute("SELECT key, value FROM repl_meta").fetchall())


def replicas(var, service):
    paths = sorted(glob.glob(os.path.join(var, "data", "%s-*.db" % service)),
                   key=lambda p: int(re.search(r"-(\d+)\.db$", p).group(1)))
    if not paths:
        die("no %s databases under %s/data" % (service, var))
    return {int(re.search(r"-(\d+)\.db$", p).group(1)): p for p in paths}


def open_db(path):
    db = sqlite3.connect(path, isolation_level=None, timeout=10)
    db.execute("PRAGMA cache_size = -262144")  # 256 MiB: the fill is index-bound
    db.execute("PRAGMA synchronous = NORMAL")
    return db


def same_start(service, dbs, probe):
    """Every replica at the same position, epoch and last entry epoch, with the same probe."""
    seen = {}
    for n, db in dbs.items():
        m = meta(db)
        seen[n] = (m["applied"], m["epoch"], m["last_epoch"]) + tuple(db.execute(probe).fetchone())
    if len(set(seen.values())) != 1:
        die("%s replicas differ before the fill (stop the cluster after it converged): %s"
            % (service, seen))
    return next(iter(seen.values()))


def fill_one(db, n, service, rows_sql, rows_table, limit, pos_of, new_log, retention,
             epoch, extra=None):
    """One replica: the first `limit` generated rows, their log tail, the meta."""
    applied = pos_of(limit)
    db.execute("BEGIN IMMEDIATE")
    db.execute(rows_sql, (limit,))
    if extra:
        extra(db, limit)
    db.execute("DELETE FROM repl_log WHERE pos <= ?", (applied - retention,))
    db.executemany("INSERT INTO repl_log (pos, epoch, op) VALUES (?, ?, ?)",
                   ((p, epoch, op) for p, op in new_log if applied - retention < p <= applied))
    db.execute("UPDATE repl_meta SET value = ? WHERE key = 'applied'", (applied,))
    db.execute("UPDATE repl_meta SET value = ? WHERE key = 'last_epoch'", (epoch,))
    db.execute("COMMIT")
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    got = db.execute("SELECT count(*) FROM %s" % rows_table).fetchone()[0]
    print("fill_orders: %s-%d at position %d, %d %s rows, log %d entries" % (
        service, n, applied, got, rows_table,
        db.execute("SELECT count(*) FROM repl_log").fetchone()[0]))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("var")
    ap.add_argument("n", type=int)
    ap.add_argument("--retention", type=int, default=50000, help="log_retention of the cluster")
    ap.add_argument("--books", type=int, default=7, help="purchases cycle over books 0..books-1")
    ap.add_argument("--short", action="append", default=[], metavar="ID:K")
    args = ap.parse_args()
    t0 = time.monotonic()
    short = {}
    for spec in args.short:
        i, k = (int(x) for x in spec.split(":"))
        short[i] = k
    N = args.n
    odbs = {n: open_db(p) for n, p in replicas(args.var, "order").items()}
    cdbs = {n: open_db(p) for n, p in replicas(args.var, "catalog").items()}
    for dbs in (odbs, cdbs):
        prims = {meta(db).get("primary") for db in dbs.values()}
        for i in short:
            if i not in dbs or i in prims or short[i] > N:
                die("--short %d: not a backup of every service, or K > N" % i)

    oa, oe, ol, _, max_id = same_start(
        "order", odbs, "SELECT count(*), COALESCE(MAX(order_id), 0) FROM orders")
    ca, ce, cl, _ = same_start("catalog", cdbs, "SELECT count(*) FROM purchases")
    if (oe != ol and oa) or (ce != cl and ca):
        # New entries belong to the current epoch. A log whose last entry is of an older
        # epoch than the replicas' (an election without its no-op yet) is not a state to
        # extend; an empty log (a fresh cluster: last entry epoch 0) is.
        die("epoch and last entry epoch differ (order %d/%d, catalog %d/%d)" % (oe, ol, ce, cl))
    books = next(iter(cdbs.values())).execute(
        "SELECT id, title, price_cents, quantity FROM books WHERE id < ? ORDER BY id",
        (args.books,)).fetchall()
    if not books:
        die("no books with id < %d" % args.books)
    for b, _, _, q in books:
        need = (N + len(books) - 1) // len(books)
        if q <= need:
            die("book %d has %d copies, %d purchases would take them all: restock first"
                % (b, q, need))

    # --- one generated set for every replica ---------------------------------------------------
    rnd = random.Random(N)
    now = time.time()
    tmp = tempfile.NamedTemporaryFile(prefix="fill-", suffix=".db", dir=args.var, delete=False)
    tmp.close()
    gen = sqlite3.connect(tmp.name, isolation_level=None)
    gen.execute("PRAGMA journal_mode = OFF")
    gen.execute("PRAGMA synchronous = OFF")
    gen.execute("CREATE TABLE orders (i INTEGER PRIMARY KEY, order_id, book_id, key, title, "
                "price_cents, created_at)")
    gen.execute("CREATE TABLE purchases (i INTEGER PRIMARY KEY, key, book_id, title, "
                "price_cents, pos)")
    order_log, catalog_log = [], []
    keep = args.retention + max(short.values(), default=0) + 1  # the tails any replica needs
    gen.execute("BEGIN")
    orows, prows = [], []
    for i in range(1, N + 1):
        b, title, cents, _ = books[i % len(books)]
        key = "%032x" % rnd.getrandbits(128)
        t = now - (N - i) * 0.003  # ~300 purchases/s, the last one just now
        at = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + ".%03dZ" % (int(t * 1000) % 1000)
        oid = max_id + i
        orows.append((i, oid, b, key, title, cents, at))
        prows.append((i, key, b, title, cents, ca + i))
        if N - i < keep:
            order_log.append((oa + i, dumps({"op": "order", "order_id": oid, "book_id": b,
                                             "key": key, "title": title, "cents": cents,
                                             "created_at": at})))
        if N - i < keep:
            catalog_log.append((ca + i, dumps({"op": "decrement", "id": b, "key": key})))
        if len(orows) >= 50000:
            gen.executemany("INSERT INTO orders VALUES (?,?,?,?,?,?,?)", orows)
            gen.executemany("INSERT INTO purchases VALUES (?,?,?,?,?,?)", prows)
            orows, prows = [], []
    gen.executemany("INSERT INTO orders VALUES (?,?,?,?,?,?,?)", orows)
    gen.executemany("INSERT INTO purchases VALUES (?,?,?,?,?,?)", prows)
    order_log.append((oa + N + 1, dumps({"op": "swept", "catalog_pos": ca + N})))
    gen.execute("COMMIT")
    gen.close()
    t_gen = time.monotonic() - t0

    def books_after(db, limit):
        """quantity - the book's purchases among the first `limit`; version = its last one."""
        for j, (b, _, _, _) in enumerate(books):
            # purchase i buys books[i % len(books)]: those i in 1..limit with i % len == j
            count = (limit - j) // len(books) + (1 if j else 0) if limit >= j else 0
            if count:
                last = limit - ((limit - j) % len(books))
                db.execute("UPDATE books SET quantity = quantity - ?, version = ? WHERE id = ?",
                           (count, ca + last, b))

    def swept(db, limit):
        """The full replicas also applied the closing swept entry."""
        if limit == N:
            db.execute("UPDATE sweep SET catalog_pos = MAX(catalog_pos, ?)", (ca + N,))

    try:
        for n, db in odbs.items():
            db.execute("ATTACH ? AS f", (tmp.name,))
            fill_one(db, n, "order",
                     "INSERT INTO orders (%s) SELECT %s FROM f.orders WHERE i <= ? ORDER BY i"
                     % (ORDER_COLS, ORDER_COLS), "orders", N - short.get(n, 0),
                     lambda k: oa + k + (k == N), order_log, args.retention, oe, swept)
            db.execute("DETACH f")
            db.close()
        for n, db in cdbs.items():
            db.execute("ATTACH ? AS f", (tmp.name,))
            fill_one(db, n, "catalog",
                     "INSERT INTO purchases (key, book_id, title, price_cents, pos) "
                     "SELECT key, book_id, title, price_cents, pos FROM f.purchases "
                     "WHERE i <= ? ORDER BY i", "purchases", N - short.get(n, 0),
                     lambda k: ca + k, catalog_log, args.retention, ce, books_after)
            db.execute("DETACH f")
            db.close()
    finally:
        os.unlink(tmp.name)
    print("fill_orders: %d purchases written to %d order and %d catalog replicas in %.1f s "
          "(generation %.1f s)" % (N, len(odbs), len(cdbs), time.monotonic() - t0, t_gen))
    return 0


if __name__ == "__main__":
    sys.exit(main())
