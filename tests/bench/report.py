#!/usr/bin/python3
"""Turns the CSV files of one bench run (tests/bench/bench.sh) into report.md and
PNG plots (gnuplot, when installed), and prints the summary table.

    report.py OUT_DIR
"""

import csv
import os
import shutil
import subprocess
import sys

OUT = sys.argv[1] if len(sys.argv) > 1 else "var/bench"


def read_csv(name):
    path = os.path.join(OUT, name)
    if not os.path.exists(path):
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def read_meta():
    meta = {}
    path = os.path.join(OUT, "meta.env")
    if os.path.exists(path):
        with open(path) as f:
            for line in f:
                if "=" in line:
                    k, v = line.rstrip("\n").split("=", 1)
                    meta[k] = v
    return meta


def num(v):
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def f2(v, unit=""):
    v = num(v)
    if v is None:
        return "-"
    if abs(v) >= 1000:
        return "{:,.0f}{}".format(v, unit)
    if abs(v) >= 100:
        return "%.0f%s" % (v, unit)
    if abs(v) >= 10:
        return "%.1f%s" % (v, unit)
    return "%.2f%s" % (v, unit)


def table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


meta = read_meta()
seed = read_csv("seed.csv")
thr = read_csv("throughput.csv")
hm = read_csv("hitmiss.csv")
mem = read_csv("memory.csv")
pages = read_csv("pages.csv")


def wrk(setup, op, conns):
    """The run of (setup, op, conns); the median by req/s when it was repeated."""
    rows = [r for r in thr if r["setup"] == setup and r["op"] == op and int(r["conns"]) == conns]
    if not rows:
        return None
    rows.sort(key=lambda r: num(r["rps"]) or 0)
    return rows[(len(rows) - 1) // 2]


def wrkv(setup, op, conns, key):
    r = wrk(setup, op, conns)
    return num(r[key]) if r else None


def hitmiss(kind, tier, key):
    for r in hm:
        if r["kind"] == kind and r["tier"] == tier:
            return num(r[key])
    return None


# --- targets -------------------------------------------------------------------------------
targets = []  # (what, measured text, target text, verdict)


def verdict(ok, by):
    if ok is None:
        return "not measured"
    return "met" if ok else "MISSED (%s)" % by


def add_min(what, value, goal, unit, fmt="%.2f", note=""):
    """A 'value >= goal' target."""
    if value is None:
        targets.append((what, "-", ">= " + fmt % goal + unit, "not measured"))
        return
    ok = value >= goal
    by = "%.0f%% short" % ((1 - value / goal) * 100) if goal else ""
    targets.append((what, fmt % value + unit + note, ">= " + fmt % goal + unit,
                    verdict(ok, by)))


def add_max(what, value, goal, unit, fmt="%.2f", note=""):
    """A 'value <= goal' target."""
    if value is None:
        targets.append((what, "-", "<= " + fmt % goal + unit, "not measured"))
        return
    ok = value <= goal
    by = "%.1fx the target" % (value / goal) if goal else ""
    targets.append((what, fmt % value + unit + note, "<= " + fmt % goal + unit,
                    verdict(ok, by)))


hit16 = wrkv("3+3", "lookup-hit", 16, "rps")
ceilb16 = wrkv("ceiling", "ceiling-b-fcgi-redis", 16, "rps")
ceila16 = wrkv("ceiling", "ceiling-a-return200", 16, "rps")
if hit16 and ceilb16:
    add_min("lookup hit req/s at 16 conns / ceiling (b)", 100 * hit16 / ceilb16, 75, "%",
            "%.0f", " (%s / %s req/s; %.0f%% of (a))" % (
                f2(hit16), f2(ceilb16), 100 * hit16 / ceila16 if ceila16 else 0))
cb1 = wrkv("ceiling", "ceiling-b-fcgi-redis", 1, "p50_ms")
add_max("lookup hit p50 at 1 conn (wrk)", wrkv("3+3", "lookup-hit", 1, "p50_ms"), 0.15, " ms",
        "%.3f", " (ceiling (b): %.3f ms)" % cb1 if cb1 else "")
hp, mp = hitmiss("hit", "client", "p50_ms"), hitmiss("miss", "client", "p50_ms")
if hp and mp:
    add_max("lookup miss p50 / hit p50 (client, after a buy)", mp / hp, 2.0, "x", "%.2f",
            " (%.3f / %.3f ms)" % (mp, hp))
nc1, h1 = wrkv("3+3", "lookup-nocache", 1, "p50_ms"), wrkv("3+3", "lookup-hit", 1, "p50_ms")
if nc1 and h1:
    add_max("lookup cache-off p50 / hit p50 at 1 conn (wrk)", nc1 / h1, 2.0, "x", "%.2f",
            " (%.3f / %.3f ms)" % (nc1, h1))
add_max("buy p50 at 1 conn, 3+3 (wrk)", wrkv("3+3", "buy", 1, "p50_ms"), 2.0, " ms", "%.2f",
        " (1+1: %s ms)" % f2(wrkv("1+1", "buy", 1, "p50_ms")))
add_min("buys/s at 10 conns, 3+3", wrkv("3+3", "buy-c10", 10, "rps"), 1000, "", "%.0f",
        " (1+1: %s)" % f2(wrkv("1+1", "buy-c10", 10, "rps")))
scale = meta.get("scale_books")
if scale:
    for op, label in (("lookup-nocache-rand", "lookup"), ("search-nocache", "search")):
        small = wrkv("7books", op, 16, "rps")
        big = wrkv(scale + "books", op, 16, "rps")
        if small and big:
            add_min("%s req/s, %s books / 7 books (cache off, 16 conns)" % (label, scale),
                    100 * big / small, 80, "%", "%.0f")
for r in pages:
    if r["kind"] in ("first", "title", "-price", "topic", "q"):
        add_max("catalog page p50 (GET /bazar/books, %s, %s books)" % (
            r["kind"], "{:,}".format(int(r["books"]))), num(r["p50_ms"]), 5.0, " ms", "%.2f",
            " (p99 %s ms)" % r["p99_ms"])
cu_s, cu_n = num(meta.get("catchup_s")), meta.get("catchup_writes")
if cu_s is not None and cu_n:
    # "< 2 s": a strict bound, so not add_max's "<=".
    targets.append((
        "catch-up of %s missed writes (catalog backup, kill -9, restart)" % "{:,}".format(int(cu_n)),
        "%.2f s (process up %s s + log replay %s s; %s entries replayed, %s snapshots)" % (
            cu_s, meta.get("catchup_up_s", "?"), meta.get("catchup_replay_s", "?"),
            meta.get("catchup_replayed", "?"), meta.get("catchup_snapshots", "?")),
        "< 2 s", verdict(cu_s < 2.0, "%.1fx the target, %.2f s over" % (cu_s / 2.0, cu_s - 2.0))))
else:
    targets.append(("catch-up of 10,000 missed writes", "-", "< 2 s", "not measured"))
e0, e1 = wrkv("3+3", "buy-emptylog", 10, "rps"), wrkv("3+3", "buy-c10", 10, "rps")
if e0 and e1:
    add_min("buys/s with %s order-log entries / empty log (10 conns)"
            % meta.get("order_log_entries_after", "?"), 100 * e1 / e0, 80, "%", "%.0f")
big = meta.get("big_orders")
b0, b1 = wrkv("emptylog", "buy-c10", 10, "rps"), wrkv("bigorders", "buy-c10", 10, "rps")
if big and b0 and b1:
    add_min("buys/s with %s orders / empty log (10 conns, median of 3 alternating runs)"
            % "{:,}".format(int(big)), 100 * b1 / b0, 80, "%", "%.0f",
            " (%s / %s buys/s)" % (f2(b1), f2(b0)))
elif meta.get("mode") == "full":
    targets.append(("buys/s with 1,000,000 orders / empty log", "-", ">= 80%", "not measured"))

# Memory: growth of the whole cluster between the two halves of the mixed load.
mem_tot = {}
for r in mem:
    mem_tot[r["phase"]] = mem_tot.get(r["phase"], 0) + int(r["rss_kb"] or 0)
mixed_reqs = sum(int(r["requests"]) for r in thr if r["op"].startswith("mixed"))
if "half" in mem_tot and "after" in mem_tot:
    grow = (mem_tot["after"] - mem_tot["half"]) / 1024.0
    targets.append(("RSS growth, all processes, part 2 of %s mixed requests" % "{:,}".format(
        mixed_reqs), "%+.1f MiB (%+.1f MiB over all)" % (
            grow, (mem_tot["after"] - mem_tot["before"]) / 1024.0), "small constant (<= 2 MiB)",
        verdict(grow <= 2.0, "%.1f MiB" % grow)))

summary = table(["target", "measured", "goal", "verdict"], targets)

# --- report ----------------------------------------------------------------------------------
md = []
md.append("# Bazar benchmark report\n")
md.append("Generated by `make bench%s` (tests/bench/bench.sh) on %s, commit %s. %s x %s, "
          "kernel %s; nginx %s, Redis %s, SQLite %s, wrk %s. Load average at start %s, at end "
          "%s; run took %s s. wrk runs last %s s each; every client and wrk shares the 2 cores "
          "with the servers, and other work on the machine adds noise: compare rows of one "
          "report, not across reports.\n" % (
              "-smoke" if meta.get("mode") == "smoke" else "", meta.get("date", "?"),
              meta.get("commit", "?"), meta.get("cpus", "?"), meta.get("cpu", "?"),
              meta.get("kernel", "?"), meta.get("nginx", "?"), meta.get("redis", "?"),
              meta.get("sqlite", "?"), meta.get("wrk", "?"), meta.get("loadavg_start", "?"),
              meta.get("loadavg_end", "?"), meta.get("elapsed_s", "?"), meta.get("dur", "?")))
md.append("## Summary against the targets\n")
md.append(summary + "\n")

# Seed tables: one per operation; rows clients x tier; cache on | cache off side by side.
md.append("## Seed tables: response time per tier (ms)\n")
md.append("Each client is a process with one keep-alive connection doing sequential requests "
          "(%s per client for lookup and search, %s per client for buy; random book 0-6, random "
          "seed topic). `client` is measured by the bench client (Python, includes its own "
          "overhead of roughly 0.1 ms); `frontend`, `catalog` and `order` come from the "
          "Server-Timing header (front-end handler time; time the front end waited for the "
          "catalog / order call, nginx hop included). Lookups with the cache on are hits "
          "after the first fill of each book, so their `catalog` row counts only the misses.\n"
          % (meta.get("requests", "?"), meta.get("buy_requests", "?")))
ops = ["lookup", "search", "buy"]
clients = sorted({int(r["clients"]) for r in seed})
for op in ops:
    rows = []
    for n in clients:
        for tier in ("client", "frontend", "catalog", "order"):
            cells = []
            have = False
            for cache in ("on", "off"):
                r = next((x for x in seed if x["op"] == op and x["cache"] == cache and
                          int(x["clients"]) == n and x["tier"] == tier), None)
                if r:
                    have = True
                    cells += [f2(r["mean_ms"]), f2(r["p50_ms"]), f2(r["p99_ms"]), r["n"]]
                else:
                    cells += ["-", "-", "-", "-"]
            if have:
                rows.append([n, tier] + cells)
    if rows:
        md.append("### %s\n" % op)
        md.append(table(["clients", "tier", "on mean", "on p50", "on p99", "on n", "off mean",
                         "off p50", "off p99", "off n"], rows) + "\n")
cd = [(r["op"], r["cache"], r["clients"], r["cache_desc"], r["errors"], r["req_per_s"])
      for r in seed if r["tier"] == "client"]
if cd:
    md.append("Cache outcomes and client throughput per run (`req/s` = requests / wall time "
              "of the run, all clients together):\n")
    md.append(table(["op", "cache", "clients", "Server-Timing cache;desc", "errors", "req/s"],
                    cd) + "\n")

md.append("## Cache hit vs miss right after an invalidating buy (ms)\n")
md.append("Per round: lookup (fill), lookup (hit), buy the book (the write deletes the cache "
          "entry), lookup (miss). %s rounds, books 0-6 in turn.\n" % meta.get("rounds", "?"))
rows = [[r["kind"], r["tier"], r["n"], f2(r["mean_ms"]), f2(r["p50_ms"]), f2(r["p99_ms"]),
         r["wrong_desc"], r["errors"]] for r in hm]
md.append(table(["lookup", "tier", "n", "mean", "p50", "p99", "wrong cache;desc", "errors"],
                rows) + "\n")

md.append("## Throughput (wrk, loopback)\n")
md.append("wrk -t2 (-t1 at one connection), %s s per run. Lookup-hit and the ceilings run back "
          "to back at each connection count. Ceiling (a): nginx `return 200`; ceiling (b): "
          "tests/bench/ceiling_fcgi.c under spawn-fcgi -F 2, one Redis GET and a fixed JSON "
          "body, behind nginx (no access log). Buys cycle over books 0-6 after a restock.\n"
          % meta.get("dur", "?"))
rows = []
for r in thr:
    if r["op"].startswith("mixed"):
        continue
    rps = num(r["rps"])
    extra = ""
    if r["op"] in ("lookup-hit", "lookup-nocache") and rps:
        b = wrkv("ceiling", "ceiling-b-fcgi-redis", int(r["conns"]), "rps")
        a = wrkv("ceiling", "ceiling-a-return200", int(r["conns"]), "rps")
        extra = "%s of (b), %s of (a)" % ("%.0f%%" % (100 * rps / b) if b else "-",
                                          "%.0f%%" % (100 * rps / a) if a else "-")
    rows.append([r["setup"], r["op"], r["conns"], f2(r["rps"]), f2(r["p50_ms"]),
                 f2(r["p99_ms"]), r["requests"], r["non2xx"], r["sock_errors"], extra])
md.append(table(["setup", "operation", "conns", "req/s", "p50 ms", "p99 ms", "requests",
                 "non-2xx", "socket errors", "vs ceilings"], rows) + "\n")

b11, b33 = wrk("1+1", "buy-c10", 10), wrk("3+3", "buy-c10", 10)
if b11 or b33:
    md.append("## Purchases: 1+1 against 3+3 replicas (10 connections)\n")
    rows = []
    for name, r, r1 in (("1 catalog + 1 order", b11, wrk("1+1", "buy", 1)),
                        ("3 catalog + 3 order", b33, wrk("3+3", "buy", 1))):
        if r:
            rows.append([name, f2(r["rps"]), f2(r["p50_ms"]), f2(r["p99_ms"]),
                         f2(r1["p50_ms"]) if r1 else "-"])
    md.append(table(["replicas", "buys/s", "p50 ms", "p99 ms", "p50 ms at 1 conn"], rows) + "\n")

if e0 and e1:
    md.append("## Order log size\n")
    md.append("Buys/s at 10 connections on the fresh 3+3 cluster (empty log) and again after "
              "the seed tables, the hit/miss rounds and the wrk runs on it, when the order "
              "log holds %s entries (two per purchase: open and close). The 1,000,000-order "
              "comparison, on a pre-filled log, is the next section (full mode).\n"
              % meta.get("order_log_entries_after", "?"))
    md.append(table(["order log", "buys/s", "p50 ms", "p99 ms"],
                    [["empty", f2(e0), f2(wrkv("3+3", "buy-emptylog", 10, "p50_ms")),
                      f2(wrkv("3+3", "buy-emptylog", 10, "p99_ms"))],
                     [meta.get("order_log_entries_after", "?") + " entries", f2(e1),
                      f2(wrkv("3+3", "buy-c10", 10, "p50_ms")),
                      f2(wrkv("3+3", "buy-c10", 10, "p99_ms"))]]) + "\n")

if big and b0 and b1:
    n = int(big)
    md.append("## %s orders in the order log\n" % "{:,}".format(n))
    md.append("%s purchases written by tests/bench/fill_orders.py straight into every replica "
              "of a stopped 3+3 cluster, exactly as applying their log entries would have "
              "left them: %s orders rows (done) and the order log's last log_retention "
              "entries (open and close, two per purchase; position %s), the catalog's "
              "purchase records, stock and versions and its log tail. One backup of each "
              "service was left %s purchases short and replayed them from the primary's "
              "log on start; all hashes agreed (verified: %s). Writing took %s s; the "
              "order database is %s MB per replica. The filled cluster and a fresh one "
              "(empty log) then ran at once, buys at 10 connections alternating, %s s each, "
              "three rounds; medians.\n" % (
                  "{:,}".format(n), "{:,}".format(n), meta.get("bigorders_order_applied", "?"),
                  meta.get("bigorders_short", "?"), meta.get("bigorders_verified", "?"), meta.get("bigorders_fill_s", "?"),
                  f2(num(meta.get("bigorders_order_db_bytes", 0)) / 1e6), meta.get("dur", "?")))
    rows = []
    for setup, label in (("emptylog", "empty (fresh cluster)"),
                         ("bigorders", "{:,}".format(n) + " orders")):
        runs = [r for r in thr if r["setup"] == setup and r["op"] == "buy-c10"]
        m = wrk(setup, "buy-c10", 10)
        rows.append([label, f2(m["rps"]), f2(m["p50_ms"]), f2(m["p99_ms"]),
                     " / ".join(f2(r["rps"]) for r in runs)])
    rows.append(["ratio", "%.0f%%" % (100 * b1 / b0), "", "", ""])
    md.append(table(["order log", "buys/s (median)", "p50 ms", "p99 ms", "each run buys/s"],
                    rows) + "\n")

if cu_s is not None and cu_n:
    md.append("## Catch-up after a crash\n")
    md.append("A fresh 3+3 cluster; catalog backup %s killed (SIGKILL to both of its pools, by "
              "pid file) at log position %s; %s restocks of one copy through the public API "
              "from %s concurrent clients (%s writes/s with the backup down); then "
              "`deploy/start.sh` (respawns the dead pools) and the backup's /state polled "
              "every 20 ms until its position equals the primary's. Log retention %s entries, "
              "heartbeat %s ms.\n" % (
                  meta.get("catchup_victim", "?"), meta.get("catchup_before", "?"),
                  "{:,}".format(int(cu_n)), meta.get("catchup_clients", "?"),
                  meta.get("catchup_write_rate", "?"), meta.get("catchup_retention", "?"),
                  meta.get("catchup_heartbeat_ms", "?")))
    md.append(table(["missed entries", "restart to /state answering", "then to caught up",
                     "restart to caught up", "replayed", "snapshots", "hashes agree"],
                    [["{:,}".format(int(cu_n)), meta.get("catchup_up_s", "-") + " s",
                      meta.get("catchup_replay_s", "-") + " s", "%.3f s" % cu_s,
                      meta.get("catchup_replayed", "-"), meta.get("catchup_snapshots", "-"),
                      meta.get("catchup_hashes_agree", "-")]]) + "\n")

if scale:
    md.append("## Scale: %s books\n" % "{:,}".format(int(scale)))
    imp = None
    if num(meta.get("import_s_big")) is not None and num(meta.get("import_s_7")) is not None:
        imp = num(meta["import_s_big"]) - num(meta["import_s_7"])
    md.append("A generated catalog (tests/bench/gen_books.py: the 7 seed books, then books on "
              "topics of 4 books each) imported by the catalog on first start through "
              "`seed_file` (each of the 3 replicas imports into its own database, in "
              "parallel; %s MB each). Catalog process start-up (process start to its "
              "\"started\" log line, slowest process): %s s with 7 books, %s s with %s books, "
              "so the import takes about **%s s**. Both clusters run at once with the cache "
              "off; the runs alternate, 3 s each, three rounds, median shown; 16 connections; "
              "lookups pick a random id over the whole catalog; the search topic returns the "
              "same 2 books in both catalogs.\n" % (
                  f2(num(meta.get("scale_db_bytes", 0)) / 1e6), meta.get("import_s_7", "-"),
                  meta.get("import_s_big", "-"), "{:,}".format(int(scale)), f2(imp)))
    rows = []
    for op in ("lookup-nocache-rand", "search-nocache"):
        s, b = wrk("7books", op, 16), wrk(scale + "books", op, 16)
        if s and b:
            rows.append([op, f2(s["rps"]), f2(b["rps"]),
                         "%.0f%%" % (100 * num(b["rps"]) / num(s["rps"])), f2(s["p50_ms"]),
                         f2(b["p50_ms"])])
    md.append(table(["operation", "7 books req/s", scale + " books req/s", "ratio",
                     "7 books p50 ms", scale + " books p50 ms"], rows) + "\n")

if pages:
    md.append("## Catalog pages: %s books\n" % "{:,}".format(int(meta.get("pages_books", 0))))
    md.append("GET /bazar/books and GET /bazar/topics (tests/bench/pages.py) on a generated "
              "catalog of topics of %s books (%s MB per catalog replica), imported on first "
              "start; the 3+3 cluster, one connection, the kinds in turn, per_page=20 at a "
              "random page of what each selects. first: page 1 by id; title, -price, "
              "quantity: those sorts; topic: one topic by price; q: \"number <random id>\" "
              "(from one title to 11,111); q-broad: \"volume\", in every title, by title; "
              "topics: every topic with its count. Client time, and the catalog's share "
              "(Server-Timing).\n" % (meta.get("pages_per_topic", "-"),
                                       f2(num(meta.get("pages_db_bytes", 0)) / 1e6)))
    md.append(table(["kind", "requests", "p50 ms", "p99 ms", "mean ms", "catalog p50 ms",
                     "catalog p99 ms"],
                    [[r["kind"], r["n"], r["p50_ms"], r["p99_ms"], r["mean_ms"],
                      r["catalog_p50_ms"], r["catalog_p99_ms"]] for r in pages]) + "\n")

if mem:
    md.append("## Memory (RSS of every process of the 3+3 cluster)\n")
    parts = [r["requests"] for r in thr if r["op"].startswith("mixed")]
    md.append("A bounded mixed load (75%% lookups, 23%% searches, 2%% buys, 16 connections) in "
              "two parts (%s requests), %s requests in all; RSS summed per pool (KiB). Growth "
              "during the first part is warm-up (SQLite page cache, Redis entries, libcurl "
              "connection caches); the second part shows whether anything keeps growing.\n"
              % (" + ".join("{:,}".format(int(p)) for p in parts), "{:,}".format(mixed_reqs)))
    groups = {}
    for r in mem:
        g = groups.setdefault(r["process"], {})
        g[r["phase"]] = g.get(r["phase"], 0) + int(r["rss_kb"] or 0)
        g.setdefault("n_" + r["phase"], 0)
        g["n_" + r["phase"]] += 1
    rows = []
    for name in sorted(groups):
        g = groups[name]
        rows.append([name, g.get("n_before", 0), g.get("before", "-"), g.get("half", "-"),
                     g.get("after", "-"),
                     "%+d" % (g["after"] - g["half"]) if "after" in g and "half" in g else "-"])
    rows.append(["**total**", "", mem_tot.get("before", "-"), mem_tot.get("half", "-"),
                 mem_tot.get("after", "-"),
                 "%+d" % (mem_tot["after"] - mem_tot["half"]) if "after" in mem_tot and
                 "half" in mem_tot else "-"])
    md.append(table(["pool", "processes", "before", "after part 1", "after all",
                     "part-2 growth"], rows) + "\n")

# --- plots ------------------------------------------------------------------------------------
plots = []
gnuplot = shutil.which("gnuplot")


def write_dat(name, lines):
    with open(os.path.join(OUT, name), "w") as f:
        f.write("\n".join(lines) + "\n")


lat = ["# clients " + " ".join("%s_%s" % (o, c) for o in ops for c in ("on", "off"))]
for n in clients:
    vals = []
    for o in ops:
        for c in ("on", "off"):
            r = next((x for x in seed if x["op"] == o and x["cache"] == c and
                      int(x["clients"]) == n and x["tier"] == "client"), None)
            vals.append(r["mean_ms"] if r and r["mean_ms"] else "NaN")
    lat.append("%d %s" % (n, " ".join(vals)))
write_dat("latency_vs_clients.dat", lat)

thr_ops = [("ceiling (a) nginx return 200", "ceiling", "ceiling-a-return200"),
           ("ceiling (b) fcgi + Redis GET", "ceiling", "ceiling-b-fcgi-redis"),
           ("lookup, cache hit", "3+3", "lookup-hit"),
           ("lookup, cache off", "3+3", "lookup-nocache"),
           ("search", "3+3", "search"),
           ("buy (3+3)", "3+3", "buy")]
conns = sorted({int(r["conns"]) for r in thr if r["setup"] in ("ceiling", "3+3") and
                r["op"] in [t[2] for t in thr_ops]})
tl = ["# operation " + " ".join("c%d" % c for c in conns)]
for label, setup, op in thr_ops:
    vals = [wrkv(setup, op, c, "rps") for c in conns]
    tl.append('"%s" %s' % (label, " ".join("%.1f" % v if v else "NaN" for v in vals)))
write_dat("throughput.dat", tl)

lat_plot = ", \\\n     ".join(
    '"latency_vs_clients.dat" using 1:%d with linespoints lw 2 lc %d dt %d pt %d '
    'title "%s, cache %s"' % (2 + 2 * i + j, i + 1, 1 + j, 7 - j, o, c)
    for i, o in enumerate(ops) for j, c in enumerate(("on", "off")))
if gnuplot and seed and thr:
    gp = """set terminal pngcairo size 800,480 font ",10"
set output "latency_vs_clients.png"
set title "Bazar: mean client response time vs concurrent clients"
set xlabel "concurrent clients"
set ylabel "mean response time (ms, log scale)"
set logscale y
set grid
set key outside right
set xtics (%s)
plot %s
set output "throughput.png"
set title "Bazar: throughput per operation against the ceilings (wrk)"
set xlabel ""
set ylabel "requests/s (log scale)"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set boxwidth 0.9
set xtics autofreq rotate by -25 nomirror
set yrange [10:*]
set key outside right title "connections"
plot for [i=2:%d] "throughput.dat" using i:xtic(1) title columnhead(i)
""" % (", ".join(str(n) for n in clients), lat_plot, len(conns) + 1)
    # gnuplot's columnhead reads the first line; give it a plain header line.
    write_dat("throughput.dat", ["operation " + " ".join("%d" % c for c in conns)] + tl[1:])
    with open(os.path.join(OUT, "plots.gp"), "w") as f:
        f.write(gp)
    r = subprocess.run([gnuplot, "plots.gp"], cwd=OUT, capture_output=True, text=True)
    if r.returncode == 0:
        plots = ["latency_vs_clients.png", "throughput.png"]
    else:
        md.append("gnuplot failed: %s\n" % r.stderr.strip()[:500])
md.append("## Plots\n")
if plots:
    md.append("![latency vs clients](latency_vs_clients.png)\n")
    md.append("![throughput against the ceilings](throughput.png)\n")
else:
    md.append("No plots: gnuplot is not installed (`make bench` installs gnuplot-nox; "
              "`make bench-smoke` does not). The data is in latency_vs_clients.dat and "
              "throughput.dat.\n")

notes_path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "NOTES.md")
if os.path.exists(notes_path):
    with open(notes_path) as f:
        md.append(f.read())

with open(os.path.join(OUT, "report.md"), "w") as f:
    f.write("\n".join(md))
with open(os.path.join(OUT, "summary.md"), "w") as f:
    f.write(summary + "\n")

print()
print("Bazar benchmark summary (%s; full report: %s)" % (
    meta.get("mode", "?"), os.path.join(OUT, "report.md")))
print(summary)
