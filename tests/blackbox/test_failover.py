"""Failover under load, timed: a primary killed or its client pool hung while
purchases and reads stream. These assert bounds on time (a new primary within
FAILOVER_TARGET_S; no request past the 5 s deadlines), so `make test` runs
this file alone, after the black-box files that share the machine's two cores
(test_faults.py has the helpers and the untimed fault tests)."""
import os
import signal
import threading
import time
import uuid

from conftest import describe
from test_faults import (Ledger, buy, check_invariants, join, primary_of, restart, run_threads,
                         set_stock, signal_replica, status, wait_converged)

# With the default timing (heartbeat 100 ms, lease 500 ms, election 700 ms) a
# failover measures 0.9-1.3 s here; 3 s was the bound of the slower timing
# (150/1000/1500) that was the default before.
FAILOVER_TARGET_S = 2.0
# A primary whose client pool hangs hands over once its leases have run out
# (docs/REPLICATION.md, "Handover"): lease_ms + clock_drift_ms (0.6 s) after
# it notices, measured 0.59-0.66 s in all.
POOL_HANG_TARGET_S = 1.0


def measure_failover(c, svc, ledger):
    """Kills svc's primary during a stream of purchases; returns the seconds
    from the kill to the first acknowledged purchase after it."""
    old = primary_of(c, svc)
    stop_at = time.monotonic() + 30
    acks, killed = [], []

    def stream():
        while time.monotonic() < stop_at:
            key = ledger.new_key("fo-" + svc)
            started = time.monotonic()
            r = ledger.record(key, buy(c, ledger.book, key, timeout=20))
            if r.status == 200:
                # only a purchase started after the kill proves writes resumed:
                # one answered by the primary just before it died does not
                acks.append((started, time.monotonic()))
                if killed and started > killed[0]:
                    return

    t = threading.Thread(target=stream)
    t.start()
    time.sleep(0.5)
    # The clock starts once every kill is sent: before that (sv once takes a
    # few ms) the old primary may still answer.
    signal_replica(c, svc, old, signal.SIGKILL)
    killed.append(time.monotonic())
    t.join(40)
    assert not t.is_alive()
    after = [end for started, end in acks if started > killed[0]]
    assert after, "no purchase succeeded after killing the %s primary" % svc
    new = primary_of(c, svc)
    assert new != old, "%s primary did not change" % svc
    return after[0] - killed[0]


def test_kill_primaries_writes_resume_quickly(make_cluster):
    """kill -9 the catalog primary, then the order primary, during a stream of
    purchases: writes resume within FAILOVER_TARGET_S; nothing acknowledged is
    lost."""
    c = make_cluster()
    # The stream buys back to back (about 250/s) for 0.5 s before each kill and
    # through each failover: the stock must outlast both, or the first purchase
    # after the second kill is a 409, not an acknowledgement.
    book, S = 3, 1500
    set_stock(c, book, S)
    ledger = Ledger(book)
    t_catalog = measure_failover(c, "catalog", ledger)
    t_order = measure_failover(c, "order", ledger)
    print("failover: catalog %.2f s, order %.2f s" % (t_catalog, t_order))
    assert t_catalog < FAILOVER_TARGET_S, "catalog writes resumed after %.2f s" % t_catalog
    assert t_order < FAILOVER_TARGET_S, "order writes resumed after %.2f s" % t_order
    restart(c)  # the old primaries come back as backups and catch up
    st, _ = check_invariants(c, ledger, S)
    for svc in ("catalog", "order"):
        assert len({r["epoch"] for r in st[svc]["replicas"]}) == 1
        assert st[svc]["replicas"][0]["epoch"] >= 2


def test_purchases_through_primary_failovers_never_fail(make_cluster):
    """Writes wait instead of failing: kill -9 the order primary, then the
    catalog primary, under two streams of purchases. The front end retries
    each with its key through the failover (write_deadline_ms, 5 s), so every
    purchase is answered 200, none is applied twice, nothing is lost."""
    c = make_cluster()
    book, S = 6, 3000
    set_stock(c, book, S)
    ledger = Ledger(book)
    stop_at = time.monotonic() + 60
    done = threading.Event()
    answers = []  # (start, status), appended by both streams

    def stream(tag):
        while not done.is_set() and time.monotonic() < stop_at:
            key, t0 = ledger.new_key(tag), time.monotonic()
            st = ledger.record(key, buy(c, book, key, timeout=20)).status
            answers.append((t0, st, time.monotonic() - t0))

    threads = run_threads([(stream, ("a",)), (stream, ("b",))])
    try:
        for svc in ("order", "catalog"):
            time.sleep(1.0)
            old = primary_of(c, svc)
            signal_replica(c, svc, old, signal.SIGKILL)
            killed = time.monotonic()  # once every kill is sent
            # on until a purchase started after the kill is acknowledged
            deadline = killed + 15
            while time.monotonic() < deadline and not any(
                    t0 > killed and st == 200 for t0, st, _ in list(answers)):
                time.sleep(0.1)
            assert primary_of(c, svc) != old, "%s primary did not change" % svc
        time.sleep(1.0)
    finally:
        done.set()
        join(threads)
    failed = [(k, s) for k, rs in ledger.results.items() for s, _ in rs if s != 200]
    assert not failed, "%d of %d purchases failed through the failovers: %s" % (
        len(failed), len(ledger.results), failed[:5])
    waits = sorted(d for _, _, d in answers)
    print("%d purchases through two failovers, none failed; slowest %.2f s, p99 %.2f s" % (
        len(waits), waits[-1], waits[int(len(waits) * 0.99)]))
    restart(c)
    check_invariants(c, ledger, S)


def test_reads_through_primary_failovers_never_fail(make_cluster):
    """Reads wait instead of failing: with the cache off (every lookup reaches
    a catalog replica), kill -9 the catalog primary, then the order primary,
    under lookups, searches and order reads. While no primary holds leases,
    no backup may answer a read; the front end tries again (read_deadline_ms,
    5 s) until one can, so every read is answered 200."""
    c = make_cluster(cache="off")
    r = c.pub("POST", "/bazar/purchase/1", headers={"Idempotency-Key": "rf-" + uuid.uuid4().hex})
    assert r.status == 200, describe(r)
    order_id = r.body["order_id"]
    stop_at = time.monotonic() + 60
    done = threading.Event()
    answers = []  # (start, path, status, seconds)

    def reader(paths):
        k = 0
        while not done.is_set() and time.monotonic() < stop_at:
            path, t0 = paths[k % len(paths)], time.monotonic()
            k += 1
            st = c.pub("GET", path, timeout=20).status
            answers.append((t0, path, st, time.monotonic() - t0))

    threads = run_threads([(reader, (["/bazar/info/%d" % b for b in range(7)],)),
                           (reader, (["/bazar/search/distributed%20systems",
                                      "/bazar/orders/%d" % order_id],))])
    try:
        for svc, path in (("catalog", "/bazar/info/"), ("order", "/bazar/orders/")):
            time.sleep(1.0)
            old = primary_of(c, svc)
            signal_replica(c, svc, old, signal.SIGKILL)
            killed = time.monotonic()  # once every kill is sent
            deadline = killed + 15
            while time.monotonic() < deadline and status(c)[svc]["primary"] in (old, None):
                time.sleep(0.1)
            assert primary_of(c, svc) != old, "%s primary did not change" % svc
            time.sleep(1.5)  # reads go on past the new primary's first leases
            assert any(t0 > killed and p.startswith(path) and st == 200 for t0, p, st, _ in answers)
    finally:
        done.set()
        join(threads)
    failed = [(p, st) for _, p, st, _ in answers if st != 200]
    assert not failed, "%d of %d reads failed through the failovers: %s" % (
        len(failed), len(answers), failed[:5])
    waits = sorted(d for _, _, _, d in answers)
    print("%d reads through two failovers, none failed; slowest %.2f s" % (len(waits), waits[-1]))


def test_sigstop_of_only_the_primary_client_pool_fails_over(make_cluster):
    """SIGSTOP only the catalog primary's client pool: its peer pool (and
    its ticker) still answers, but it can take no write. It steps down and
    hands over: a new primary within POOL_HANG_TARGET_S, writes go on, and
    after SIGCONT the old one rejoins as a backup."""
    c = make_cluster()
    old = primary_of(c, "catalog")
    old_epoch = status(c)["catalog"]["replicas"][old - 1]["epoch"]
    # The hard case: the replica's ticker (heartbeats) lives on in its peer
    # pool, which still answers: the ticker sees the pool stopped, the
    # primary steps down and hands over once its leases have run out.
    pids = c.pids("catalog-%d" % old)
    assert pids
    ticker = c.internal("GET", "/peer/catalog/%d/state" % old).body["ticker_pid"]
    assert ticker not in pids, "the ticker runs in the client pool (%d in %r)" % (ticker, pids)
    for pid in pids:
        os.kill(pid, signal.SIGSTOP)
    t0 = time.monotonic()
    try:
        new = None
        while new is None and time.monotonic() - t0 < 15:
            for rep in status(c)["catalog"]["replicas"]:
                if rep["id"] != old and rep.get("role") == "primary" and rep["epoch"] > old_epoch:
                    new = rep["id"]
            time.sleep(0.05)
        took = time.monotonic() - t0
        assert new, "no new catalog primary within 15 s: %s" % status(c)["catalog"]
        print("new catalog primary %d after %.2f s" % (new, took))
        assert took < POOL_HANG_TARGET_S, "new primary after %.2f s" % took
        r = c.admin("POST", "/bazar/books/2/restock", {"count": 1},
                    headers={"Idempotency-Key": "pool-stop-restock"})
        assert r.status == 200, describe(r)
    finally:
        for pid in pids:
            os.kill(pid, signal.SIGCONT)
    st = wait_converged(c)
    assert st["catalog"]["primary"] != old


