#!/usr/bin/env python3
"""tests/bench/faults.py - `make bench-faults`: what clients see while replicas
die. A constant-rate load (lookups and keyed purchases at a fixed rate, so a
request that waits counts as a slow request, never as a request not sent)
runs while a fault loop kills -9, SIGSTOPs and (on the namespace hosts)
partitions one replica of each service at a time, the primary every other
time. It prints:
  - failed requests by kind (anything but 2xx, 404 and 409), target 0;
  - purchase and lookup latency p50 / p99 / max, during faults and outside
    them (latency counts from the moment the request was due, not sent);
    target purchase p99 under 2 s during faults;
  - failover times: from a primary's fault to the moment a replica says it
    is the primary of a later epoch (each asked directly, every 20 ms; the
    old primary too, which runit may have restarted in time to win), target
    p99 under 1 s;
  - the restarts the supervisors did (runit's run scripts started again): a
    killed replica is never restarted by the fault loop, only by them.

The deployments and the faults are the Jepsen-style suite's (tests/jepsen/
sut.py, nemesis.py). Figures in var/bench/faults/report.txt, every request in requests.csv, the
hosts' logs in logs/.

  faults.py [--seconds 120] [--rate 200] [--topology hosts|single] [--seed N]
            [--timing HB/LEASE/ELECTION]"""

import argparse
import glob
import os
import random
import shutil
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "jepsen"))

import nemesis as nem  # noqa: E402
import sut as sutmod  # noqa: E402

BOOK = 6          # the purchases' book, restocked so it never runs out
LOOKUP_SHARE = 0.7
# Threads per kind of request: enough that none waits for a thread even when
# every answer takes the front end's whole deadline (5 s) at the rate's share,
# and one kind waiting out a fault never delays the other's requests.
DEADLINE_S = 6.0
FAULT_EVERY = 8.0  # seconds from one fault's start to the next
FAULT_FOR = (2.0, 4.0)


def pct(xs, p):
    if not xs:
        return float("nan")
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p / 100.0 * len(xs)))]


def primary(s, svc):
    try:
        r = s.internal("GET", "/status", timeout=2)
        return r.body[svc]["primary"] if r.status == 200 else None
    except Exception:  # noqa: BLE001
        return None


def replica_state(s, svc, i):
    """Replica i's own /peer/<svc>/<i>/state (0.5 s timeout), or None: asked
    directly, since /status would wait out its call to a stopped or cut-off
    replica and blur the time by a second or two."""
    try:
        r = s.internal("GET", "/peer/%s/%d/state" % (svc, i), timeout=0.5)
        return r.body if r.status == 200 else None
    except Exception:  # noqa: BLE001
        return None


def epoch_of(s, svc, i):
    st = replica_state(s, svc, i)
    return st.get("epoch", 0) if st else 0


def new_primary(s, svc, old_epoch, skip):
    """A replica that says it is the primary of an epoch after old_epoch. The
    old primary is asked too after a kill (runit may restart it in time to
    win the election), not while it is stopped or cut off (`skip`): each
    question would wait out the timeout."""
    for i in (1, 2, 3):
        if i == skip:
            continue
        st = replica_state(s, svc, i)
        if st and st.get("role") == "primary" and st.get("epoch", 0) > old_epoch:
            return i
    return None


class Load:
    """Requests due at a fixed rate, each run on the pool; results kept."""

    def __init__(self, s, rate, seconds):
        self.s, self.rate, self.seconds = s, rate, seconds
        self.results = []  # (due, done, kind, status)
        self.t0 = time.monotonic()  # the first request's due time, once started
        self.lock = threading.Lock()
        threading.stack_size(256 * 1024)
        self.pools = {k: ThreadPoolExecutor(max_workers=max(8, int(rate * share * DEADLINE_S)))
                      for k, share in (("lookup", LOOKUP_SHARE), ("purchase", 1 - LOOKUP_SHARE))}
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _one(self, due, kind):
        try:
            if kind == "lookup":
                r = self.s.pub("GET", "/bazar/info/%d" % random.randint(0, 6), timeout=20)
            else:
                r = self.s.pub("POST", "/bazar/purchase/%d" % BOOK, None,
                               {"Idempotency-Key": "bf-" + uuid.uuid4().hex[:20]}, timeout=20)
            st = r.status
        except Exception:  # noqa: BLE001 - no answer is a failure too
            st = None
        with self.lock:
            self.results.append((due, time.monotonic(), kind, st))

    def _run(self):
        t0 = self.t0 = time.monotonic()
        n = 0
        while True:
            due = t0 + n / self.rate
            if due - t0 >= self.seconds:
                break
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            kind = "lookup" if random.random() < LOOKUP_SHARE else "purchase"
            self.pools[kind].submit(self._one, due, kind)
            n += 1

    def start(self):
        self.thread.start()

    def join(self):
        self.thread.join()
        for pool in self.pools.values():
            pool.shutdown(wait=True)


def fault_loop(s, kinds, seconds, rng, windows, failovers, nemesis):
    """One fault at a time, alternating the services, the primary every other time."""
    end = time.monotonic() + seconds
    k = 0
    while time.monotonic() + FAULT_FOR[1] + 1 < end:
        start = time.monotonic()
        svc = ("catalog", "order")[k % 2]
        p = primary(s, svc)
        victim = p if (k // 2) % 2 == 0 and p else rng.choice([i for i in (1, 2, 3) if i != p])
        kind = rng.choice(kinds)
        old_epoch = epoch_of(s, svc, p) if victim == p else 0
        target = {"svc": svc, "replica": victim}
        if kind == "partition":
            target = {"host": s.host_of(svc, victim), "replica": victim}
        heal = nemesis.apply(kind, target)
        t0 = time.monotonic()
        print("bench-faults: %s %s %s-%d%s" % (time.strftime("%H:%M:%S", time.gmtime()), kind, svc,
                                              victim, " (primary)" if victim == p else ""))
        if victim == p:
            while time.monotonic() - t0 < 15:
                if new_primary(s, svc, old_epoch, None if kind == "kill" else p):
                    failovers.append((svc, kind, time.monotonic() - t0))
                    break
                time.sleep(0.02)
        dur = rng.uniform(*FAULT_FOR)
        time.sleep(max(0.0, t0 + dur - time.monotonic()))
        heal()
        windows.append((t0, time.monotonic() + 1.0, "%s %s-%d%s" % (kind, svc, victim,
                                                                     " (primary)" if victim == p else "")))
        k += 1
        time.sleep(max(0.0, start + FAULT_EVERY - time.monotonic()))


def report(load, windows, failovers, restarts, args, out):
    """restarts: (by the fault loop, by the supervisors)."""
    def in_fault(t):
        return any(a <= t <= b for a, b, _ in windows)

    lines = ["Bazar under faults: %s, %d requests/s for %d s (%.0f%% lookups), %d faults (%s)" % (
        args.topology, args.rate, args.seconds, LOOKUP_SHARE * 100, len(windows),
        ", ".join(sorted({w[2].split()[0] for w in windows})))]
    res = load.results
    failed = {}
    for due, done, kind, st in res:
        if st is None or not (200 <= st < 300 or st in (404, 409)):
            failed.setdefault((kind, st), 0)
            failed[(kind, st)] += 1
    lines.append("requests: %d sent, %d failed%s" % (
        len(res), sum(failed.values()),
        "".join("; %s %s: %d" % (k, s if s is not None else "no answer", n)
                for (k, s), n in sorted(failed.items(), key=str))))
    lines.append("%-9s %-15s %8s %8s %8s %7s" % ("", "", "p50 s", "p99 s", "max s", "n"))
    p99_purchase_fault = None
    for kind in ("purchase", "lookup"):
        for name, sel in (("during faults", True), ("outside faults", False)):
            lat = [done - due for due, done, k, st in res if k == kind and in_fault(due) == sel]
            lines.append("%-9s %-15s %8.3f %8.3f %8.3f %7d" % (
                kind, name, pct(lat, 50), pct(lat, 99), max(lat) if lat else float("nan"), len(lat)))
            if kind == "purchase" and sel:
                p99_purchase_fault = pct(lat, 99)
    lines.append("per fault (p99 / max s, requests due in its window):")
    for a, b, label in windows:
        cells = []
        for kind in ("purchase", "lookup"):
            lat = [done - due for due, done, k, st in res if k == kind and a <= due <= b]
            cells.append("%s %.3f / %.3f" % (kind, pct(lat, 99), max(lat) if lat else float("nan")))
        lines.append("  %6.1f s  %-30s %s" % (a - load.t0, label, ", ".join(cells)))
    fo = [x[2] for x in failovers]
    lines.append("failovers: %d, p50 %.2f s, p99 %.2f s, max %.2f s (%s)" % (
        len(fo), pct(fo, 50), pct(fo, 99), max(fo) if fo else float("nan"),
        ", ".join("%s %s %.2f" % x for x in failovers)))
    lines.append("restarts: %d by runit (a component's run script started again), %d by the fault "
                 "loop itself" % (restarts[1], restarts[0]))
    lines.append("targets: failed requests 0: %s; purchase p99 during faults < 2 s: %s; "
                 "failover p99 < 1 s: %s" % (
                     "met" if not failed else "NOT met",
                     "met" if p99_purchase_fault is not None and p99_purchase_fault < 2 else "NOT met",
                     "met" if fo and pct(fo, 99) < 1 else "NOT met"))
    text = "\n".join(lines) + "\n"
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "report.txt"), "w") as f:
        f.write(text)
    with open(os.path.join(out, "requests.csv"), "w") as f:  # every request, for a closer look
        f.write("due_s,latency_s,kind,status\n")
        for due, done, kind, st in sorted(res):
            f.write("%.3f,%.3f,%s,%s\n" % (due - load.t0, done - due, kind, st))
    print(text, end="")


def keep_logs(s, dest):
    """Every host's logs, for a closer look at a slow request (its X-Request-Id)."""
    shutil.rmtree(dest, ignore_errors=True)
    for k, var in enumerate(s.var_dirs()):
        for path in glob.glob(os.path.join(var, "log", "*.log")):
            os.makedirs(dest, exist_ok=True)
            shutil.copy(path, os.path.join(dest, "h%d-%s" % (k + 1, os.path.basename(path))))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=int, default=120)
    ap.add_argument("--rate", type=int, default=200)
    ap.add_argument("--topology", choices=["hosts", "single"], default="hosts")
    ap.add_argument("--seed", type=int, default=int(time.time()) % 100000)
    ap.add_argument("--timing", default="", metavar="HB/LEASE/ELECTION",
                    help="replication timing in ms, e.g. 100/500/700 (default: the programs')")
    ap.add_argument("--out", default=os.path.join(HERE, "..", "..", "var", "bench", "faults"))
    a = ap.parse_args()
    if a.topology == "hosts":
        ok, why = sutmod.netns.can_create_namespaces()
        if not ok:
            print("bench-faults: one host instead of the namespace hosts: %s" % why)
            a.topology = "single"
    kinds = ["kill", "pause"] + (["partition"] if a.topology == "hosts" else [])
    rng = random.Random(a.seed)
    random.seed(a.seed)
    print("bench-faults: seed %d, %s, %d requests/s for %d s" % (a.seed, a.topology, a.rate, a.seconds))
    timing = ""
    if a.timing:
        hb, lease, election = (int(x) for x in a.timing.split("/"))
        timing = "heartbeat_ms = %d\nlease_ms = %d\nelection_ms = %d\n" % (hb, lease, election)
        print("bench-faults: timing heartbeat %d ms, lease %d ms, election %d ms" % (hb, lease, election))
    s = sutmod.Hosts(timing) if a.topology == "hosts" else sutmod.SingleHost(timing)
    try:
        r = s.admin("POST", "/bazar/books/%d/restock" % BOOK, {"count": 100000})
        if r.status != 200:
            raise RuntimeError("restock: %s %s" % (r.status, r.body))
        load = Load(s, a.rate, a.seconds)
        # Its faults only, not its schedule; a kill is a crash left to the supervisors.
        nemesis = nem.Nemesis(s, None, [], hold_kills=False)
        starts = s.service_starts()
        windows, failovers = [], []
        load.start()
        time.sleep(2.0)  # a quiet start: the "outside faults" figures
        fault_loop(s, kinds, a.seconds - 4, rng, windows, failovers, nemesis)
        load.join()
        report(load, windows, failovers, (nemesis.restarts, s.service_starts() - starts), a,
               os.path.abspath(a.out))
        keep_logs(s, os.path.join(os.path.abspath(a.out), "logs"))
    finally:
        s.close()


if __name__ == "__main__":
    main()
