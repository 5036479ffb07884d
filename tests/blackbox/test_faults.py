"""Fault tolerance and crash recovery (issue 4), by injecting the faults:
kill -9, SIGSTOP, Redis down, a replica restarted mid-load, everything
killed at once. After each test: stock + successful purchases == S at every
catalog replica, every replica's hash equal, and every acknowledged order
present at every order replica."""
import os
import signal
import threading
import time
import uuid

import pytest

from conftest import describe, signal_pids

N = 3


# ---------------------------------------------------------------- helpers

def status(c):
    r = c.internal("GET", "/status")
    assert r.status == 200, describe(r)
    return r.body


def primary_of(c, svc):
    p = status(c)[svc]["primary"]
    assert p, "no %s primary: %s" % (svc, status(c)[svc])
    return p


def backup_of(c, svc):
    return next(i for i in range(N, 0, -1) if i != primary_of(c, svc))


def signal_replica(c, svc, i, sig):
    """Sends sig to every process of replica i (client and peer pool); a
    SIGKILL'd replica stays dead until restart(c) (Cluster.kill)."""
    pids = c.kill(["%s-%d" % (svc, i), "%s-%d.peer" % (svc, i)], sig)
    assert pids, "no pids for %s-%d" % (svc, i)
    return pids


def restart(c):
    rc, out = c.start_script()
    assert rc == 0, "start.sh failed:\n%s" % out


def wait_converged(c, timeout=20.0):
    """Polls /status until every replica is up, serving, at one position with
    one hash, per service. Returns the status."""
    deadline = time.monotonic() + timeout
    st = None
    while time.monotonic() < deadline:
        st = status(c)
        ok = True
        for svc in ("catalog", "order"):
            reps = st[svc]["replicas"]
            if not all(r["up"] and r.get("serving") for r in reps) or \
                    len({r["hash"] for r in reps}) != 1 or len({r["applied"] for r in reps}) != 1:
                ok = False
        if ok:
            return st
        time.sleep(0.2)
    raise AssertionError("replicas did not converge in %.0f s: %s" % (timeout, st))


def replica_quantity(c, i, book):
    r = c.internal("GET", "/replica/catalog/%d/books/%d" % (i, book))
    assert r.status == 200, describe(r)
    return r.body["quantity"]


def set_stock(c, book, target):
    q = c.book(book)["quantity"]
    assert q <= target
    if q < target:
        r = c.admin("POST", "/bazar/books/%d/restock" % book, {"count": target - q})
        assert r.status == 200 and r.body["quantity"] == target, describe(r)


def buy(c, book, key, path=None, timeout=20):
    hdr = {"Idempotency-Key": key}
    if path:
        return c.internal("POST", path % book, None, hdr, timeout=timeout)
    return c.pub("POST", "/bazar/purchase/%d" % book, None, hdr, timeout=timeout)


class Ledger:
    """Every purchase key a test used and what the client was told."""

    def __init__(self, book):
        self.book = book
        self.lock = threading.Lock()
        self.results = {}  # key -> list of (status, body)

    def new_key(self, tag="k"):
        return "%s-%s" % (tag, uuid.uuid4().hex[:16])

    def record(self, key, r):
        with self.lock:
            self.results.setdefault(key, []).append((r.status, r.body))
        return r

    def acked(self):
        """key -> order of every purchase acknowledged with 200 (all the same)."""
        out = {}
        for key, rs in self.results.items():
            orders = [b for s, b in rs if s == 200]
            for o in orders:
                assert o == orders[0], "key %s answered two orders: %s" % (key, orders)
            if orders:
                out[key] = orders[0]
        return out


def check_invariants(c, ledger, S):
    """Settles every key (a retry with the same key finishes what a crash left
    pending), then checks stock + orders == S everywhere and that no
    acknowledged order was lost or doubled."""
    acked_before = ledger.acked()
    for s, _ in [x for rs in ledger.results.values() for x in rs]:
        assert s in (200, 409) or s >= 500, "unexpected purchase status %d" % s
    orders = {}
    for key in list(ledger.results):
        for _ in range(10):  # bounded: a retry may land during a failover
            r = ledger.record(key, buy(c, ledger.book, key))
            if r.status < 500:
                break
            time.sleep(0.3)
        assert r.status in (200, 409), "settling %s: %s" % (key, describe(r))
        if r.status == 200:
            orders[key] = r.body
    for key, o in acked_before.items():
        assert orders.get(key) == o, "acknowledged order for %s lost or changed: %s -> %s" % (
            key, o, orders.get(key))
    assert len({o["order_id"] for o in orders.values()}) == len(orders), "an order id repeats"
    st = wait_converged(c)
    for i in range(1, N + 1):
        q = replica_quantity(c, i, ledger.book)
        assert q + len(orders) == S, "catalog-%d: stock %d + %d orders != %d" % (i, q, len(orders), S)
    for o in list(orders.values())[::5]:
        for i in range(1, N + 1):
            r = c.internal("GET", "/replica/order/%d/orders/%d" % (i, o["order_id"]))
            assert r.status == 200 and r.body == o, "order-%d lacks %s: %s" % (i, o, describe(r))
    return st, orders


def lookup_load(c, count, failures, stop_at):
    for k in range(count):
        if time.monotonic() > stop_at:
            break
        r = c.pub("GET", "/bazar/info/%d" % (k % 7), timeout=20)
        if r.status != 200:
            failures.append(describe(r))


def purchase_load(c, ledger, count, stop_at, tag):
    for _ in range(count):
        if time.monotonic() > stop_at:
            break
        key = ledger.new_key(tag)
        ledger.record(key, buy(c, ledger.book, key))


def run_threads(targets):
    threads = [threading.Thread(target=f, args=a) for f, a in targets]
    for t in threads:
        t.start()
    return threads


def join(threads, timeout=120):
    for t in threads:
        t.join(timeout)
    assert not any(t.is_alive() for t in threads), "load threads did not finish"


# ---------------------------------------------------------------- tests

def test_kill_catalog_backup_during_lookups_and_purchases(make_cluster):
    """kill -9 a catalog backup during 1,000 lookups and 200 purchases: zero
    failed lookups; every purchase acknowledged once or failed with 5xx."""
    c = make_cluster(cache="off")
    book, S = 1, 300
    set_stock(c, book, S)
    ledger, failures = Ledger(book), []
    stop_at = time.monotonic() + 90
    threads = run_threads([(lookup_load, (c, 250, failures, stop_at)) for _ in range(4)] +
                          [(purchase_load, (c, ledger, 100, stop_at, "kb%d" % k)) for k in range(2)])
    time.sleep(0.4)
    victim = backup_of(c, "catalog")
    signal_replica(c, "catalog", victim, signal.SIGKILL)
    join(threads)
    assert not failures, "%d lookups failed, e.g. %s" % (len(failures), failures[:3])
    assert len(ledger.results) == 200
    restart(c)
    st, _ = check_invariants(c, ledger, S)
    assert st["catalog"]["replicas"][victim - 1]["up"]


def test_sigstop_replica_is_routed_around_then_catches_up(make_cluster):
    """SIGSTOP a catalog backup for 10 s under load, then SIGCONT: no lookup
    fails meanwhile, and it catches up afterwards."""
    c = make_cluster(cache="off")
    book, S = 4, 300
    set_stock(c, book, S)
    ledger, failures = Ledger(book), []
    victim = backup_of(c, "catalog")
    stop_at = time.monotonic() + 10
    signal_replica(c, "catalog", victim, signal.SIGSTOP)
    try:
        threads = run_threads([(lookup_load, (c, 400, failures, stop_at)) for _ in range(2)] +
                              [(purchase_load, (c, ledger, 60, stop_at, "ss"))])
        join(threads)
    finally:
        signal_replica(c, "catalog", victim, signal.SIGCONT)
    assert not failures, "%d lookups failed while a replica was stopped: %s" % (
        len(failures), failures[:3])
    assert ledger.acked(), "no purchase succeeded while a backup was stopped"
    check_invariants(c, ledger, S)


def test_reads_meeting_a_stopped_replica_are_answered_by_another_at_once(make_cluster):
    """SIGSTOP a catalog backup's client pool: nginx's round robin keeps
    sending it reads (it counts as failed only after fastcgi_read_timeout,
    3 s), but the front end hedges each read after 100 ms, so no read
    waits for the stopped replica: every one is answered within 1 s."""
    c = make_cluster(cache="off")
    victim = backup_of(c, "catalog")
    stopped = c.pids("catalog-%d" % victim)
    signal_pids(stopped, signal.SIGSTOP)
    slowest, n = 0.0, 30
    try:
        for k in range(n):
            t0 = time.monotonic()
            r = c.pub("GET", "/bazar/search/distributed%20systems" if k % 2 else "/bazar/info/%d" % (k % 7))
            took = time.monotonic() - t0
            assert r.status == 200, describe(r)
            slowest = max(slowest, took)
    finally:
        signal_pids(stopped, signal.SIGCONT)
    assert slowest < 1.0, "a read took %.2f s with catalog-%d stopped" % (slowest, victim)
    with open(os.path.join(c.var, "log", "frontend.log")) as f:
        hedged = sum(1 for line in f if " GET " in line and " answered after " in line)
    assert hedged >= n // 6, "only %d of %d reads met the stopped replica" % (hedged, n)


@pytest.mark.parametrize("svc", ["order", "catalog"])
def test_purchases_meeting_a_stopped_primary_wait_for_the_failover_not_the_stop(make_cluster, svc):
    """SIGSTOP a whole primary (both pools) for 7 s while purchases run. A
    purchase sent to it (straight to the primary, as the front end and the
    order primary do once they know it) would wait for the whole stop; one
    forwarded to it by a backup would hold that backup's worker as long.
    Instead the front end and the order primary hedge the keyed attempt
    through the balanced upstream after 250 ms, a backup answers 503 at once
    while its primary is silent (and drops a forward already under way), and
    the repeats reach the new primary: every purchase is answered within
    the failover (about 2 s with the default timing) plus a second, long
    before the stop ends, and the ledger holds (one order, one copy each)."""
    c = make_cluster(cache="off")
    ledger, S = Ledger(3), 2000
    set_stock(c, 3, S)
    for _ in range(3):  # the front end and the order primary learn the primaries
        key = ledger.new_key("warm")
        assert ledger.record(key, buy(c, 3, key)).status == 200
    victim = primary_of(c, svc)
    slowest, failures, stop_for = [0.0], [], 7.0
    stop_at = time.monotonic() + stop_for

    def timed_purchases(tag):
        while time.monotonic() < stop_at - 1.0:
            key = ledger.new_key(tag)
            t0 = time.monotonic()
            r = ledger.record(key, buy(c, 3, key))
            slowest[0] = max(slowest[0], time.monotonic() - t0)
            if r.status != 200:
                failures.append(describe(r))
            time.sleep(0.02)  # paced: a few hundred purchases, settled one by one below

    stopped = signal_replica(c, svc, victim, signal.SIGSTOP)
    try:
        threads = run_threads([(timed_purchases, ("sp%d" % k,)) for k in range(3)])
        join(threads, timeout=30)
    finally:
        signal_pids(stopped, signal.SIGCONT)
    assert not failures, failures[:3]
    print("%s-%d stopped for %.0f s: slowest purchase %.2f s" % (svc, victim, stop_for, slowest[0]))
    # The bound is a release-build time; the sanitizer build (make test-asan)
    # runs the same fault for its memory checks and the ledger below.
    if "asan" not in os.environ.get("BAZAR_TEST_BIN", ""):
        assert slowest[0] < 3.5, "a purchase took %.2f s with %s-%d stopped for %.0f s" % (
            slowest[0], svc, victim, stop_for)
    check_invariants(c, ledger, S)


def test_redis_killed_mid_load_then_restarted(make_cluster):
    c = make_cluster()
    book, S = 0, 300
    set_stock(c, book, S)
    ledger, failures = Ledger(book), []
    # 15 s of load with Redis dead: each purchase then waits out the cache lease
    # (about 1.1 s, README's failure table, "Redis dies") before it is acknowledged.
    stop_at = time.monotonic() + 15
    threads = run_threads([(lookup_load, (c, 300, failures, stop_at)) for _ in range(2)] +
                          [(purchase_load, (c, ledger, 60, stop_at, "rd"))])
    time.sleep(0.3)
    c.kill(["redis"])  # held down (sv once) until restart(c)
    join(threads)
    assert not failures, failures[:3]
    assert all(s < 500 for rs in ledger.results.values() for s, _ in rs), "a purchase got a 5xx"
    restart(c)
    # no stale read after: every lookup agrees with the catalog's replicas
    for _ in range(3):
        for b in range(7):
            got = c.book(b)
            truth = c.internal("GET", "/replica/catalog/1/books/%d" % b).body
            assert got["version"] >= truth["version"] and got["quantity"] == truth["quantity"]
    check_invariants(c, ledger, S)


def test_everything_killed_and_restarted_keeps_state(make_cluster):
    c = make_cluster()
    ledger = Ledger(1)
    for _ in range(20):
        key = ledger.new_key("all")
        ledger.record(key, buy(c, 1, key))
    c.admin("PUT", "/bazar/books/2/price", {"price": 51.25})
    before = wait_converged(c)
    books_before = c.books()
    # Every component, each process of it (held down by sv once until restart).
    assert c.kill([n for n in c.pid_files() if n != "runsvdir"])
    time.sleep(0.5)
    restart(c)
    after = wait_converged(c)
    for svc in ("catalog", "order"):
        assert [r["hash"] for r in after[svc]["replicas"]] == \
            [r["hash"] for r in before[svc]["replicas"]], svc
    assert c.books() == books_before
    for o in ledger.acked().values():
        assert c.pub("GET", "/bazar/orders/%d" % o["order_id"]).body == o


# The Pygmy lab report's five fault experiments, named as such.

def test_pygmy_1_catalog_replica_down_requests_rerouted(make_cluster):
    c = make_cluster(cache="off")
    signal_replica(c, "catalog", backup_of(c, "catalog"), signal.SIGKILL)
    for k in range(60):
        assert c.pub("GET", "/bazar/info/%d" % (k % 7)).status == 200
        assert c.pub("GET", "/bazar/search/new").status == 200


def test_pygmy_2_order_replica_down_requests_rerouted(make_cluster):
    c = make_cluster()
    signal_replica(c, "order", backup_of(c, "order"), signal.SIGKILL)
    for k in range(20):
        r = c.pub("POST", "/bazar/purchase/5")
        assert r.status == 200, describe(r)
        assert c.pub("GET", "/bazar/orders/%d" % r.body["order_id"]).status == 200


def pygmy_resync(c, svc):
    victim = backup_of(c, svc)
    signal_replica(c, svc, victim, signal.SIGKILL)
    for _ in range(30):
        assert c.pub("POST", "/bazar/purchase/6").status == 200
    restart(c)
    st = wait_converged(c)
    assert st[svc]["replicas"][victim - 1]["replayed"] > 0


def test_pygmy_3_recovered_catalog_replica_resyncs(make_cluster):
    pygmy_resync(make_cluster(), "catalog")


def test_pygmy_4_recovered_order_replica_resyncs(make_cluster):
    pygmy_resync(make_cluster(), "order")


def test_pygmy_5_periodic_health_checking(make_cluster):
    """Heartbeats are the periodic check: a dead replica shows as down in
    /status, its route's /health fails, and when it returns it is healthy
    again without any manual step but `make start`."""
    c = make_cluster()
    victim = backup_of(c, "order")
    signal_replica(c, "order", victim, signal.SIGKILL)
    rep = status(c)["order"]["replicas"][victim - 1]
    assert rep["up"] is False
    assert c.internal("GET", "/replica/order/%d/health" % victim).status >= 500
    restart(c)
    wait_converged(c)
    assert c.internal("GET", "/replica/order/%d/health" % victim).status == 200
