#!/usr/bin/python3
"""Bench client for the seed tables and the hit-vs-miss rounds (stdlib only).

Talks to one Bazar public listener on 127.0.0.1 over keep-alive HTTP/1.1; every
loop is bounded in count and in time (--max-seconds). Per-tier times come from
the Server-Timing headers (frontend;dur=, catalog;dur=, order;dur=, cache;desc=).

    client.py seed    --port P --op lookup|search|buy --clients N --requests R
                      --cache on|off --csv FILE
    client.py hitmiss --port P --rounds R --csv FILE
    client.py restock --port P --token-file F --quantity Q [--books 7]
    client.py writes  --port P --token-file F --count N --clients C

`writes` sends exactly N admin writes (restock by one copy, books in turn) from C
concurrent clients, for the catch-up measurement (the writes a stopped replica misses).

Each concurrent client is its own process (no GIL between them), with its own
connection, doing R requests one after the other. CSV rows are appended.
Exit status 1 when any request failed (non-2xx or no answer).
"""

import argparse
import csv
import http.client
import json
import multiprocessing
import os
import random
import sys
import time

HOST = "127.0.0.1"
TIMEOUT = 10.0
SEED_TOPICS = ["distributed systems", "undergraduate school", "new"]
TIERS = ["client", "frontend", "catalog", "order"]


def parse_timing(values):
    """Server-Timing header values -> ({name: ms}, cache desc or None)."""
    durs, desc = {}, None
    for value in values:
        for part in value.split(","):
            part = part.strip()
            if not part:
                continue
            fields = [f.strip() for f in part.split(";")]
            name = fields[0]
            for f in fields[1:]:
                if f.startswith("dur="):
                    try:
                        durs[name] = durs.get(name, 0.0) + float(f[4:])
                    except ValueError:
                        pass
                elif f.startswith("desc=") and name == "cache":
                    desc = f[5:].strip('"')
    return durs, desc


class Conn:
    """One keep-alive connection; reconnects once if the server closed it."""

    def __init__(self, port):
        self.port = port
        self.c = http.client.HTTPConnection(HOST, port, timeout=TIMEOUT)

    def request(self, method, path, body=None, headers=None):
        """-> (status, Server-Timing values, body bytes, client ms)."""
        hdrs = dict(headers or {})
        for attempt in range(2):
            t0 = time.perf_counter()
            try:
                self.c.request(method, path, body=body, headers=hdrs)
                r = self.c.getresponse()
                data = r.read()
                ms = (time.perf_counter() - t0) * 1000.0
                st = r.msg.get_all("Server-Timing") or []
                return r.status, st, data, ms
            except (http.client.HTTPException, OSError):
                self.c.close()
                self.c = http.client.HTTPConnection(HOST, self.port, timeout=TIMEOUT)
                if attempt == 1 or method != "GET":
                    return 0, [], b"", (time.perf_counter() - t0) * 1000.0
        return 0, [], b"", 0.0

    def close(self):
        self.c.close()


def pct(sorted_vals, p):
    """Nearest-rank percentile of an ascending list (None when empty)."""
    if not sorted_vals:
        return None
    k = max(0, min(len(sorted_vals) - 1, int(round(p / 100.0 * len(sorted_vals) + 0.5)) - 1))
    return sorted_vals[k]


def stats(vals):
    vals = sorted(vals)
    if not vals:
        return {"n": 0, "mean": None, "p50": None, "p99": None}
    return {"n": len(vals), "mean": sum(vals) / len(vals), "p50": pct(vals, 50),
            "p99": pct(vals, 99)}


def fmt(v):
    return "" if v is None else "%.3f" % v


def op_request(op, rnd, nbooks):
    if op == "lookup":
        return "GET", "/bazar/info/%d" % rnd.randrange(nbooks)
    if op == "search":
        return "GET", "/bazar/search/" + rnd.choice(SEED_TOPICS).replace(" ", "%20")
    if op == "buy":
        return "POST", "/bazar/purchase/%d" % rnd.randrange(nbooks)
    raise ValueError(op)


def seed_worker(args, idx, queue):
    """One client: args.requests sequential requests; puts its samples on queue."""
    rnd = random.Random(1000 + idx)
    conn = Conn(args.port)
    samples, errors, deadline = [], 0, time.monotonic() + args.max_seconds
    for _ in range(args.requests):
        if time.monotonic() > deadline:
            break
        method, path = op_request(args.op, rnd, args.books)
        status, st, _, ms = conn.request(method, path)
        if status != 200:
            errors += 1
            continue
        durs, desc = parse_timing(st)
        samples.append((ms, durs.get("frontend"), durs.get("catalog"), durs.get("order"), desc))
    conn.close()
    queue.put((samples, errors))


def run_clients(target, args, n):
    ctx = multiprocessing.get_context("fork")
    q = ctx.Queue()
    procs = [ctx.Process(target=target, args=(args, i, q)) for i in range(n)]
    t0 = time.perf_counter()
    for p in procs:
        p.start()
    results = [q.get(timeout=args.max_seconds + 60) for _ in procs]
    wall = time.perf_counter() - t0
    for p in procs:
        p.join(10)
    return results, wall


def append_csv(path, header, rows):
    new = not os.path.exists(path) or os.path.getsize(path) == 0
    with open(path, "a", newline="") as f:
        w = csv.writer(f)
        if new:
            w.writerow(header)
        w.writerows(rows)


def cmd_seed(args):
    results, wall = run_clients(seed_worker, args, args.clients)
    samples = [s for r in results for s in r[0]]
    errors = sum(r[1] for r in results)
    descs = {}
    for s in samples:
        descs[s[4] or "-"] = descs.get(s[4] or "-", 0) + 1
    rows = []
    for i, tier in enumerate(TIERS):
        st = stats([s[i] for s in samples if s[i] is not None])
        if st["n"] == 0:
            continue
        rows.append([args.op, args.cache, args.clients, tier, st["n"], fmt(st["mean"]),
                     fmt(st["p50"]), fmt(st["p99"]), errors, "%.3f" % wall,
                     "%.1f" % (len(samples) / wall if wall > 0 else 0),
                     " ".join("%s=%d" % kv for kv in sorted(descs.items()))])
    append_csv(args.csv, ["op", "cache", "clients", "tier", "n", "mean_ms", "p50_ms", "p99_ms",
                          "errors", "wall_s", "req_per_s", "cache_desc"], rows)
    c = [r for r in rows if r[3] == "client"]
    print("seed %-6s cache=%-3s clients=%-2d n=%-6d mean=%s p50=%s p99=%s ms errors=%d (%s)" % (
        args.op, args.cache, args.clients, len(samples), c[0][5] if c else "-",
        c[0][6] if c else "-", c[0][7] if c else "-", errors, rows[0][11] if rows else ""))
    return 1 if errors or not samples else 0


def read_token(path):
    with open(path) as f:
        return f.read().strip()


def cmd_hitmiss(args):
    """fill, hit, buy (invalidates), miss; per round; one book after another."""
    conn = Conn(args.port)
    hit, miss, hit_fe, miss_fe, miss_cat = [], [], [], [], []
    wrong, errors = 0, 0
    deadline = time.monotonic() + args.max_seconds
    rounds = 0
    for r in range(args.rounds):
        if time.monotonic() > deadline:
            break
        path = "/bazar/info/%d" % (r % args.books)
        s1, _, _, _ = conn.request("GET", path)  # fill (or hit if still cached)
        s2, st2, _, ms2 = conn.request("GET", path)  # hit
        s3, _, _, _ = conn.request("POST", "/bazar/purchase/%d" % (r % args.books))
        s4, st4, _, ms4 = conn.request("GET", path)  # miss: the buy deleted the entry
        if s1 != 200 or s2 != 200 or s3 != 200 or s4 != 200:
            errors += 1
            continue
        d2, c2 = parse_timing(st2)
        d4, c4 = parse_timing(st4)
        if c2 != "hit" or c4 != "miss":
            wrong += 1
        hit.append(ms2)
        miss.append(ms4)
        if "frontend" in d2:
            hit_fe.append(d2["frontend"])
        if "frontend" in d4:
            miss_fe.append(d4["frontend"])
        if "catalog" in d4:
            miss_cat.append(d4["catalog"])
        rounds += 1
    conn.close()
    rows = []
    for name, vals in (("hit", hit), ("miss", miss)):
        for tier, tv in (("client", vals), ("frontend", hit_fe if name == "hit" else miss_fe),
                         ("catalog", [] if name == "hit" else miss_cat)):
            st = stats(tv)
            if st["n"]:
                rows.append([name, tier, st["n"], fmt(st["mean"]), fmt(st["p50"]),
                             fmt(st["p99"]), wrong, errors])
    append_csv(args.csv, ["kind", "tier", "n", "mean_ms", "p50_ms", "p99_ms", "wrong_desc",
                          "errors"], rows)
    h, m = stats(hit), stats(miss)
    print("hitmiss rounds=%d hit p50=%s miss p50=%s ms (wrong cache desc %d, errors %d)" % (
        rounds, fmt(h["p50"]), fmt(m["p50"]), wrong, errors))
    return 1 if errors or wrong or rounds == 0 else 0


def cmd_restock(args):
    """Brings every book 0..books-1 to at least --quantity copies."""
    conn = Conn(args.port)
    token = read_token(args.token_file)
    rc = 0
    for b in range(args.books):
        status, _, data, _ = conn.request("GET", "/bazar/info/%d" % b)
        if status != 200:
            print("restock: GET book %d -> %d" % (b, status), file=sys.stderr)
            rc = 1
            continue
        need = args.quantity - json.loads(data)["quantity"]
        deadline = time.monotonic() + 20  # writes may 503 until the primary has its peers
        while need > 0:
            count = min(need, 1000000)
            status, _, data, _ = conn.request(
                "POST", "/bazar/books/%d/restock" % b, body=json.dumps({"count": count}),
                headers={"Authorization": "Bearer " + token,
                         "Content-Type": "application/json"})
            if status == 503 and time.monotonic() < deadline:
                time.sleep(0.2)
                continue
            if status != 200:
                print("restock: book %d -> %d %s" % (b, status, data[:200]), file=sys.stderr)
                rc = 1
                break
            need -= count
    conn.close()
    return rc


def writes_worker(args, idx, queue):
    """One writer: its share of args.count restocks of one copy, one after the other."""
    token = read_token(args.token_file)
    share = args.count // args.clients + (1 if idx < args.count % args.clients else 0)
    hdrs = {"Authorization": "Bearer " + token, "Content-Type": "application/json"}
    conn = Conn(args.port)
    ok, errors, deadline = 0, 0, time.monotonic() + args.max_seconds
    for i in range(share):
        if time.monotonic() > deadline:
            break
        book = (idx + i * args.clients) % args.books
        status, _, _, _ = conn.request("POST", "/bazar/books/%d/restock" % book,
                                       body=b'{"count":1}', headers=hdrs)
        if status == 200:
            ok += 1
        else:
            errors += 1
    conn.close()
    queue.put(([ok], errors))


def cmd_writes(args):
    results, wall = run_clients(writes_worker, args, args.clients)
    ok = sum(r[0][0] for r in results)
    errors = sum(r[1] for r in results)
    print("writes n=%d ok=%d errors=%d wall_s=%.3f rate=%.1f/s" % (
        args.count, ok, errors, wall, ok / wall if wall > 0 else 0))
    return 1 if errors or ok == 0 else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    for name in ("seed", "hitmiss", "restock", "writes"):
        p = sub.add_parser(name)
        p.add_argument("--port", type=int, required=True)
        p.add_argument("--books", type=int, default=7, help="book ids 0..books-1")
        p.add_argument("--max-seconds", type=float, default=120.0)
        if name == "seed":
            p.add_argument("--op", choices=["lookup", "search", "buy"], required=True)
            p.add_argument("--clients", type=int, default=1)
            p.add_argument("--requests", type=int, default=1000, help="per client")
            p.add_argument("--cache", default="on")
            p.add_argument("--csv", required=True)
        if name == "hitmiss":
            p.add_argument("--rounds", type=int, default=1000)
            p.add_argument("--csv", required=True)
        if name in ("restock", "writes"):
            p.add_argument("--token-file", required=True)
        if name == "restock":
            p.add_argument("--quantity", type=int, required=True)
        if name == "writes":
            p.add_argument("--count", type=int, required=True, help="writes in all")
            p.add_argument("--clients", type=int, default=8)
    args = ap.parse_args()
    return {"seed": cmd_seed, "hitmiss": cmd_hitmiss, "restock": cmd_restock,
            "writes": cmd_writes}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
