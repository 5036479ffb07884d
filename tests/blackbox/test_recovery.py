"""A replica that comes back (issue 4's recovery half): catch-up of exactly
what it missed, a snapshot when the log was trimmed, a lost disk that must
not vote until caught up, the crash windows between a copy taken and its
order recorded, and an order database of an older format. The helpers and
the invariants are test_faults.py's."""
import glob
import os
import signal
import sqlite3
import threading
import time

from conftest import describe
from test_faults import (N, Ledger, backup_of, buy, check_invariants, primary_of,
                         replica_quantity, restart, set_stock, signal_replica, wait_converged)


def test_replica_that_lost_its_disk_does_not_vote_until_caught_up(make_cluster):
    """An acknowledged write lives on the primary P and backup A only (B is
    stopped). A loses its database and restarts while P is stopped; B
    resumes. Were A to vote at once, B (without the write) could be elected
    with A's vote and the write would be lost. A stays "recovering" instead:
    B is not elected, and once P is back everyone converges with the write."""
    c = make_cluster()
    p = primary_of(c, "catalog")
    a, b = [i for i in range(1, N + 1) if i != p]
    before = c.book(1)["quantity"]
    signal_replica(c, "catalog", b, signal.SIGSTOP)
    try:
        r = c.admin("POST", "/bazar/books/1/restock", {"count": 7},
                    headers={"Idempotency-Key": "lost-disk-write"})
        assert r.status == 200 and r.body["quantity"] == before + 7, describe(r)
        signal_replica(c, "catalog", a, signal.SIGKILL)
        for path in glob.glob(os.path.join(c.var, "data", "catalog-%d.db*" % a)):
            os.unlink(path)
        signal_replica(c, "catalog", p, signal.SIGSTOP)
        c.env["BAZAR_START_WAIT"] = "none"
        try:
            rc, out = c.start_script()
        finally:
            del c.env["BAZAR_START_WAIT"]
        assert rc == 0, out
    finally:
        signal_replica(c, "catalog", b, signal.SIGCONT)
    try:
        # A and B alone for more than three election periods: B must not win.
        t0, seen = time.monotonic(), None
        while time.monotonic() - t0 < 6:
            rb = c.internal("GET", "/peer/catalog/%d/state" % b)
            assert not (rb.status == 200 and rb.body["role"] == "primary"), \
                "B was elected without the write: %s" % rb.body
            ra = c.internal("GET", "/peer/catalog/%d/state" % a)
            if ra.status == 200:
                seen = ra.body
            time.sleep(0.1)
        assert seen and seen["recovering"] is True, "A votes again before catching up: %s" % seen
    finally:
        signal_replica(c, "catalog", p, signal.SIGCONT)
    wait_converged(c, timeout=30)
    for i in range(1, N + 1):
        st = c.internal("GET", "/peer/catalog/%d/state" % i).body
        assert st["recovering"] is False, st
        assert replica_quantity(c, i, 1) == before + 7, "replica %d lost the write" % i


def test_restarted_replica_replays_exactly_what_it_missed(make_cluster):
    """A catalog backup is down while 500 writes happen; restarted, it replays
    exactly those 500 entries from the primary's log and rejoins."""
    c = make_cluster()
    victim = backup_of(c, "catalog")
    before = wait_converged(c)["catalog"]["replicas"][victim - 1]["applied"]
    signal_replica(c, "catalog", victim, signal.SIGKILL)
    for _ in range(500):
        r = c.admin("POST", "/bazar/books/5/restock", {"count": 1})
        assert r.status == 200, describe(r)
    restart(c)
    st = wait_converged(c)
    rep = st["catalog"]["replicas"][victim - 1]
    assert rep["applied"] == before + 500
    assert rep["replayed"] == 500, "replica reports %s replayed entries" % rep["replayed"]
    assert rep["snapshots"] == 0


def test_order_replica_catches_up_a_gap_bigger_than_one_message(make_cluster):
    """An order backup is down during 400 purchases with long idempotency keys
    (400 order entries of about 270 bytes, so a full batch of entries is more
    than one append message may carry within a peer's body limit); restarted,
    it replays all of them and rejoins."""
    c = make_cluster()
    set_stock(c, 4, 400)
    victim = backup_of(c, "order")
    before = wait_converged(c)["order"]["replicas"][victim - 1]["applied"]
    signal_replica(c, "order", victim, signal.SIGKILL)
    for k in range(400):
        r = buy(c, 4, "gap-%04d-%s" % (k, "k" * 110))
        assert r.status == 200, describe(r)
    restart(c)
    st = wait_converged(c)
    rep = st["order"]["replicas"][victim - 1]
    assert rep["applied"] >= before + 400
    assert rep["replayed"] == rep["applied"] - before, rep
    assert rep["snapshots"] == 0


def test_restarted_replica_installs_snapshot_when_log_is_trimmed(make_cluster):
    """With a log retention shorter than the gap, the returning replica installs
    a snapshot instead, then follows the log again."""
    c = make_cluster(conf_extra={"log_retention": 50})
    victim = backup_of(c, "catalog")
    signal_replica(c, "catalog", victim, signal.SIGKILL)
    r = c.admin("POST", "/bazar/books", {"title": "Snapshot Survivor", "topic": "snapshots",
                                         "price": 3.5, "quantity": 1})
    assert r.status == 201, describe(r)
    for _ in range(200):
        r = c.admin("POST", "/bazar/books/6/restock", {"count": 1})
        assert r.status == 200, describe(r)
    time.sleep(1.5)  # the primary trims its log every second
    restart(c)
    st = wait_converged(c)
    assert st["catalog"]["replicas"][victim - 1]["snapshots"] >= 1
    r = c.admin("POST", "/bazar/books/6/restock", {"count": 1})  # and the log flows again
    assert r.status == 200
    st = wait_converged(c)
    assert replica_quantity(c, victim, 6) == r.body["quantity"]
    # the installed state's title index (catalog pages' q): the book added while it was
    # down, and a seed book
    for q, book in (("survivor", "Snapshot Survivor"), ("rpcs+for", "RPCs for Noobs.")):
        r = c.internal("GET", "/replica/catalog/%d/browse?q=%s" % (victim, q))
        assert r.status == 200 and [b["title"] for b in r.body["books"]] == [book], describe(r)


def kill_order_primary_in_crash_window(c, ledger, key, taken_quantity):
    """On a cluster with test_record_delay_ms = 1500: buys ledger.book with key
    at the order primary and kill -9s it 0.8 s later, after the catalog took
    the copy (stock at taken_quantity) and before the order was recorded.
    The purchase must fail. Returns the killed primary's id."""
    primary = primary_of(c, "order")
    res = {}
    t = threading.Thread(target=lambda: res.update(r=ledger.record(
        key, buy(c, ledger.book, key, "/replica/order/%d/purchase/%%d" % primary))))
    t.start()
    time.sleep(0.8)  # inside the 1.5 s window
    assert c.book(ledger.book)["quantity"] == taken_quantity, "the copy should be taken by now"
    signal_replica(c, "order", primary, signal.SIGKILL)
    t.join(30)
    assert res["r"].status >= 500, "the killed request must fail: %s" % describe(res["r"])
    return primary


def test_idempotent_retry_across_replicas_and_crash(make_cluster):
    """The same Idempotency-Key at different replicas gives one order and takes
    one copy, also when the order primary is killed after taking the copy and
    before recording the order."""
    c = make_cluster(conf_extra={"test_record_delay_ms": 1500})
    book, S = 2, 50
    set_stock(c, book, S)
    ledger = Ledger(book)
    key = ledger.new_key("same")
    first = ledger.record(key, buy(c, book, key, "/replica/order/2/purchase/%d"))
    assert first.status == 200, describe(first)
    for path in ("/replica/order/3/purchase/%d", "/order/purchase/%d", None):
        r = ledger.record(key, buy(c, book, key, path))
        assert r.status == 200 and r.body == first.body, describe(r)
    assert c.book(book)["quantity"] == S - 1

    # The crash window: the copy is taken, the order not yet recorded.
    crash_key = ledger.new_key("crash")
    primary = kill_order_primary_in_crash_window(c, ledger, crash_key, S - 2)
    other = next(i for i in range(1, N + 1) if i != primary)
    r = None
    for _ in range(40):  # bounded: until the order service has a new primary
        r = ledger.record(crash_key, buy(c, book, crash_key, "/replica/order/%d/purchase/%%d" % other))
        if r.status == 200:
            break
        time.sleep(0.25)
    assert r.status == 200, describe(r)
    assert c.book(book)["quantity"] == S - 2, "the retry took a second copy"
    restart(c)
    check_invariants(c, ledger, S)


def drive_sweep(c, ledger, S, seconds=30):
    """Buys ledger.book with new keys, one every 0.3 s, each purchase letting
    the order primary's sweep run, until stock + orders == S (order ids are
    dense, so the newest id is the number of orders). Returns that id, or
    None after `seconds`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        k = ledger.new_key("drive")
        r = ledger.record(k, buy(c, ledger.book, k))
        assert r.status == 200 or r.status >= 500, describe(r)  # 503 during a failover
        if r.status == 200 and c.book(ledger.book)["quantity"] == S - r.body["order_id"]:
            return r.body["order_id"]
        time.sleep(0.3)
    return None


def test_copy_taken_before_a_crash_gets_its_order_without_a_retry(make_cluster):
    """The order primary is killed after the catalog took the copy and before
    the order was recorded, and the client never retries: the new primary's
    sweep finds the catalog's purchase record without an order and records
    it, so stock + orders == S again with no help from the client."""
    c = make_cluster(conf_extra={"test_record_delay_ms": 1500})
    book, S = 4, 60
    set_stock(c, book, S)
    ledger = Ledger(book)
    key = ledger.new_key("orphan")
    kill_order_primary_in_crash_window(c, ledger, key, S - 1)
    # New purchases (other keys) drive the new primary's sweep. Order ids are
    # dense (max + 1), so the newest id is the number of orders.
    settled = drive_sweep(c, ledger, S)
    assert settled, "no order was recorded for the copy taken before the crash within 30 s"
    assert settled == len(ledger.acked()) + 1, "orders: %d, acknowledged purchases: %d" % (
        settled, len(ledger.acked()))
    restart(c)
    wait_converged(c)
    # The client's late retry finds the order the sweep recorded: nothing more taken.
    before = c.book(book)["quantity"]
    r = buy(c, book, key)
    assert r.status == 200 and r.body["order_id"] < settled, describe(r)
    assert c.book(book)["quantity"] == before


def test_copy_taken_before_a_crash_gets_its_order_with_no_purchase_arriving(make_cluster):
    """The sweep runs between requests, not inside purchases: after the order
    primary is killed in the crash window, the new primary records the
    orphaned copy's order while nobody buys anything (the test only reads)."""
    c = make_cluster(conf_extra={"test_record_delay_ms": 1500})
    book, S = 3, 100
    set_stock(c, book, S)
    ledger = Ledger(book)
    for k in range(2):
        key = ledger.new_key("before")
        r = ledger.record(key, buy(c, book, key))
        assert r.status == 200, describe(r)
    key = ledger.new_key("orphan")
    kill_order_primary_in_crash_window(c, ledger, key, S - 3)
    want = len(ledger.acked()) + 1  # order ids are dense: the orphan's order gets this one
    deadline, r = time.monotonic() + 40, None
    while time.monotonic() < deadline:
        r = c.pub("GET", "/bazar/orders/%d" % want)
        if r.status == 200:
            break
        time.sleep(0.5)
    assert r is not None and r.status == 200, "no order for the orphaned copy within 40 s: %s" % describe(r)
    assert r.body["book_id"] == book, describe(r)
    assert c.book(book)["quantity"] == S - want, "stock and orders disagree"
    restart(c)
    wait_converged(c)
    r = buy(c, book, key)  # the late retry finds the order the sweep recorded
    assert r.status == 200 and r.body["order_id"] == want, describe(r)
    assert c.book(book)["quantity"] == S - want


OLD_ORDERS = """CREATE TABLE orders (
    order_id INTEGER PRIMARY KEY, book_id INTEGER NOT NULL, key TEXT NOT NULL UNIQUE,
    status TEXT NOT NULL CHECK (status IN ('pending', 'done', 'failed')),
    title TEXT, price_cents INTEGER, fail_status INTEGER, created_at TEXT NOT NULL);
CREATE INDEX orders_pending ON orders (created_at) WHERE status = 'pending';"""


def test_order_database_of_the_three_write_format_is_migrated(make_cluster):
    """Databases written before a purchase became two writes (orders with a
    status; a pending order opened before the copy was taken) are migrated at
    start: done orders stay as they were, a failed one stays invisible, and
    the pending one whose copy the catalog took is recorded by the sweep, so
    stock + orders == S; the replicas agree afterwards."""
    c = make_cluster()
    book, S = 5, 100
    set_stock(c, book, S)
    done = [buy(c, book, "old-done-%d" % k) for k in range(2)]
    assert [r.status for r in done] == [200, 200], [describe(r) for r in done]
    # The copy of a purchase whose order was opened and never closed.
    r = c.internal("POST", "/catalog/books/%d/decrement" % book, {"key": "old-pending"})
    assert r.status == 200, describe(r)
    wait_converged(c)
    c.stop()
    for path in glob.glob(os.path.join(c.var, "data", "order-*.db")):
        db = sqlite3.connect(path)
        rows = db.execute("SELECT order_id, book_id, key, title, price_cents, created_at "
                          "FROM orders ORDER BY order_id").fetchall()
        db.executescript("DROP TABLE orders; DROP TABLE sweep;" + OLD_ORDERS)
        db.executemany("INSERT INTO orders VALUES (?, ?, ?, 'done', ?, ?, NULL, ?)", rows)
        db.execute("INSERT INTO orders VALUES (3, ?, 'old-pending', 'pending', NULL, NULL, NULL, "
                   "'2026-01-01T00:00:00.000Z')", (book,))
        db.execute("INSERT INTO orders VALUES (4, ?, 'old-failed', 'failed', NULL, NULL, 409, "
                   "'2026-01-01T00:00:00.000Z')", (book,))
        db.execute("UPDATE repl_log SET op = '{\"op\":\"open\",\"order_id\":1}'")
        db.commit()
        db.close()
    c.start()
    for r in done:
        got = c.pub("GET", "/bazar/orders/%d" % r.body["order_id"])
        assert got.status == 200 and got.body == r.body, describe(got)
    assert c.pub("GET", "/bazar/orders/4").status == 404
    # New purchases drive the sweep; ids are dense, so the newest id counts the orders.
    settled = drive_sweep(c, Ledger(book), S)
    assert settled, "the pending order's copy got no order within 30 s"
    r = buy(c, book, "old-pending")  # the old client's retry: the order, nothing more taken
    assert r.status == 200 and r.body["order_id"] <= settled, describe(r)
    assert c.book(book)["quantity"] == S - settled
    wait_converged(c)
    logs = "".join(open(p).read() for p in glob.glob(os.path.join(c.var, "log", "order-*.log")))
    assert "order database of the old format migrated" in logs

