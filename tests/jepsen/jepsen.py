#!/usr/bin/env python3
"""Bazar's Jepsen-style suite: real processes, random faults, a history,
a checker. One run:

  1. deploy (sut.py: one host on loopback, or four network-namespace hosts);
  2. read the starting state; start the clients (workload.py) and the
     nemesis (nemesis.py) with the run's seed;
  3. after the run's seconds, heal every fault and restart what is dead;
  4. wait until the replicas agree, then resolve every write whose outcome
     is unknown by sending it again with its Idempotency-Key;
  5. read every book through the API, stop the deployment cleanly and read
     every replica's database file (the final state);
  6. check the history (checker.py); write history.jsonl, report.txt and
     report.json under the run's directory.

A suite is several runs (seeds x topologies) for a given time. Exit status
1 when any run has a violation, 2 when a run could not be set up.

  jepsen.py [--minutes M | --runs N] [--seconds S] [--seed N]
            [--topology single|hosts|both] [--clients C] [--out DIR]"""

import argparse
import os
import sqlite3
import sys
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import checker  # noqa: E402
import nemesis  # noqa: E402
import sut as sutmod  # noqa: E402
import workload  # noqa: E402
from report import write_report, write_suite_summary  # noqa: E402

BOOKS = [0, 1, 2, 3]      # seed books every client works on (book 2 has only 8 copies)
RESOLVE_SECONDS = 90.0    # bound on resolving unknown writes
CONVERGE_WAIT = 60.0


def log(msg):
    print(msg, flush=True)


def wait_health(s, seconds):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        status, _ = workload.call(s, "read", "GET", "/health", timeout=3)
        if status == 200:
            return True
        time.sleep(0.2)
    return False


def wait_converged(s, seconds):
    """Seconds until every replica of both services is up and serving at one
    position with one hash and one primary, or None."""
    t = time.monotonic()
    while time.monotonic() - t < seconds:
        try:
            r = s.internal("GET", "/status", timeout=5)
            st = r.body if r.status == 200 else None
        except Exception:  # noqa: BLE001
            st = None
        if st and all(
                all(x["up"] and x.get("serving") for x in st[svc]["replicas"])
                and len({x["hash"] for x in st[svc]["replicas"]}) == 1
                and len({x["applied"] for x in st[svc]["replicas"]}) == 1
                and [x["role"] for x in st[svc]["replicas"]].count("primary") == 1
                for svc in ("catalog", "order")):
            return round(time.monotonic() - t, 3)
        time.sleep(0.25)
    return None


def read_start(s, hist):
    start = {}
    for b in BOOKS:
        for _ in range(50):
            rec = workload.perform(s, hist, "setup", "read", b, phase="start")
            if rec["outcome"] == "ok":
                start[b] = {k: rec["value"][k] for k in ("quantity", "version", "price", "title")}
                break
            time.sleep(0.2)
        else:
            raise RuntimeError("cannot read book %d before the run: %s" % (b, rec))
    return start


def resolve(s, hist):
    """Sends every unknown write again with its key until a definite answer."""
    deadline = time.monotonic() + RESOLVE_SECONDS
    pending = {}
    for o in hist.ops:
        if o.get("key"):
            pending.setdefault(o["key"], o)
    res = checker.resolutions(hist.ops)
    todo = [o for k, o in pending.items() if res[k] == "unknown"]
    for o in todo:
        while time.monotonic() < deadline:
            rec = workload.perform(s, hist, "resolve", o["f"], o["book"], o["key"], o["arg"],
                                   phase="resolve")
            if rec["outcome"] != "unknown":
                break
            time.sleep(0.5)
    return len(todo)


def final_reads(s, hist, books):
    for b in books:
        for _ in range(20):
            if workload.perform(s, hist, "final", "read", b, phase="final")["outcome"] == "ok":
                break
            time.sleep(0.3)


def read_db(path, query):
    con = sqlite3.connect("file:%s?mode=ro" % path, uri=True, timeout=10)
    try:
        return con.execute(query).fetchall()
    finally:
        con.close()


def final_state(files):
    cat, orders, purchases = [], [], []
    for p in files["catalog"]:
        cat.append({r[0]: {"quantity": r[1], "price": r[2] / 100.0, "version": r[3]}
                    for r in read_db(p, "SELECT id, quantity, price_cents, version FROM books")})
        purchases.append({r[0]: r[1] for r in read_db(p, "SELECT key, book_id FROM purchases")})
    for p in files["order"]:
        orders.append({r[0]: {"order_id": r[1], "book_id": r[2], "title": r[3], "price": r[4] / 100.0,
                              "created_at": r[5]}
                       for r in read_db(p, "SELECT key, order_id, book_id, title, price_cents, "
                                           "created_at FROM orders")})
    return {"catalog": cat, "orders": orders, "purchases": purchases}


def one_run(topology, seed, seconds, clients, out_dir, majority=False):
    """Returns the run's summary (dict); raises when it could not be set up."""
    os.makedirs(out_dir, exist_ok=True)
    clocks, why = nemesis.clock_faults_possible()
    if not clocks:
        log("jepsen: no clock faults: %s" % why)
    plan = nemesis.schedule(seed, seconds, topology, majority, clocks)
    log("jepsen: run seed=%d topology=%s %d s, %d faults planned -> %s"
        % (seed, topology, seconds, len(plan), out_dir))
    s = sutmod.Hosts() if topology == "hosts" else sutmod.SingleHost()
    summary = {"seed": seed, "topology": topology, "seconds": seconds, "clients": clients,
               "majority": majority}
    hist = None
    try:
        hist = workload.History(time.monotonic())
        start = read_start(s, hist)
        wl = workload.Workload(s, hist, seed, BOOKS, clients)
        nem = nemesis.Nemesis(s, hist, plan, log=log)
        wl.start()
        nem.start()
        time.sleep(seconds)
        nem.stop()
        if not wl.stop():
            raise RuntimeError("clients did not stop")
        # Heal: whatever is dead starts again; then wait for agreement.
        rc, out = s.restart()
        if rc != 0:
            log("jepsen: restart after the run: %s" % out[-800:])
        wait_health(s, 30)
        t_heal = hist.now()
        summary["converged_s"] = wait_converged(s, CONVERGE_WAIT)
        summary["resolved"] = resolve(s, hist)
        final_reads(s, hist, sorted(set(BOOKS) | set(wl.added)))
        summary["converged_after_resolve_s"] = wait_converged(s, CONVERGE_WAIT)
        summary["heal_at"] = t_heal
        summary["restarts"] = nem.restarts
        summary["nemesis_errors"] = nem.errors
        s.stop()
        final = final_state(s.data_files())
        final["converged_s"] = summary["converged_s"]
        violations = checker.check(start, hist.ops, final)
        if summary["converged_after_resolve_s"] is None:
            violations.append(checker.v("not-converged", "replicas disagreed after resolving"))
        summary["violations"] = violations
        summary["unavailability"] = checker.unavailability(hist.ops, hist.faults)
        return summary
    except BaseException:
        summary["error"] = traceback.format_exc()
        summary["log_tails"] = s.log_tails()
        raise
    finally:
        if hist is not None:
            hist.write(os.path.join(out_dir, "history.jsonl"))
            summary["faults"] = hist.faults
            summary["ops"] = hist.ops
            write_report(out_dir, summary)
        s.close()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, help="keep starting runs until this many minutes passed")
    ap.add_argument("--runs", type=int, help="this many runs (default 1 without --minutes)")
    ap.add_argument("--seconds", type=int, default=60, help="length of each run's fault phase")
    ap.add_argument("--seed", type=int, default=int(os.environ.get("JEPSEN_SEED") or time.time() % 100000),
                    help="first seed (JEPSEN_SEED); run k uses seed+k")
    ap.add_argument("--topology", choices=["single", "hosts", "both"], default="both")
    ap.add_argument("--clients", type=int, default=6)
    ap.add_argument("--majority", action="store_true", help="let faults take two replicas of a service")
    ap.add_argument("--majority-every", type=int, default=0,
                    help="run k (from 0) takes majorities when k %% N == N-1")
    ap.add_argument("--out", default=os.path.join(HERE, "..", "..", "var", "jepsen"))
    a = ap.parse_args(argv)
    tops = ["single", "hosts"] if a.topology == "both" else [a.topology]
    if "hosts" in tops:
        ok, why = sutmod.netns.can_create_namespaces()
        if not ok:
            log("jepsen: skipping the namespace hosts: %s" % why)
            tops = [t for t in tops if t != "hosts"] or ["single"]
    runs = a.runs if a.runs else (None if a.minutes else 1)
    began = time.monotonic()
    out_root = os.path.abspath(a.out)
    results, summaries, k = [], [], 0
    while True:
        if runs is not None and k >= runs:
            break
        if a.minutes and time.monotonic() - began >= a.minutes * 60 and k >= len(tops):
            break
        seed, top = a.seed + k, tops[k % len(tops)]
        majority = bool(a.majority or (a.majority_every and k % a.majority_every == a.majority_every - 1))
        d = os.path.join(out_root, "%s-seed%d%s" % (top, seed, "-majority" if majority else ""))
        try:
            summary = one_run(top, seed, a.seconds, a.clients, d, majority)
        except BaseException as e:  # noqa: BLE001
            log("jepsen: run seed=%d topology=%s could not complete: %r (see %s/report.txt)"
                % (seed, top, e, d))
            return 2
        nviol = len(summary["violations"])
        log("jepsen: seed=%d topology=%s: %d ops, %d faults, %d violations -> %s/report.txt"
            % (seed, top, len(summary["ops"]), len(summary["faults"]), nviol, d))
        results.append((seed, top, nviol, d))
        summaries.append(summary)
        k += 1
    bad = [r for r in results if r[2]]
    log("jepsen: %d runs, %d with violations, %.1f min%s" % (
        len(results), len(bad), (time.monotonic() - began) / 60,
        "".join("\n  seed=%d topology=%s: %d violations (%s/report.txt)" % r for r in bad)))
    write_suite_summary(out_root, summaries, time.monotonic() - began)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
