"""The clients: threads that use the public API the way shoppers and admins
do, on a few books at once, and record every operation in a History.

Each operation is one record: what was asked (f, book, key, arg), when it was
invoked and when it completed (t0, t1: seconds on this process's monotonic
clock since the run began), and its outcome:
  ok       the answer says it happened (2xx), with the body as value
  fail     it certainly did not happen (a 4xx: 404, 409 out of stock, ...)
  unknown  no answer or a 5xx: a write may or may not have been applied,
           now or later; the checker resolves it after the run by sending
           it again with its Idempotency-Key
Reads that fail are recorded as fail (a read changes nothing)."""

import json
import random
import threading
import time
import uuid

# Operation mix: (name, weight).
MIX = [("read", 34), ("buy", 30), ("restock", 8), ("price", 8), ("order", 10),
       ("search", 6), ("add", 2), ("read-new", 2)]
READ_TIMEOUT = 10.0
WRITE_TIMEOUT = 15.0  # above the front end's write_deadline_ms (5 s) plus a slow answer


class History:
    """Every operation and fault of a run, in completion order, thread-safe."""

    def __init__(self, t_zero):
        self.t_zero = t_zero
        self.lock = threading.Lock()
        self.ops = []
        self.faults = []

    def now(self):
        return round(time.monotonic() - self.t_zero, 6)

    def op(self, rec):
        with self.lock:
            rec["i"] = len(self.ops)
            self.ops.append(rec)
        return rec

    def fault(self, rec):
        with self.lock:
            self.faults.append(rec)
        return rec

    def write(self, path):
        with self.lock, open(path, "w") as f:
            for rec in self.faults:
                f.write(json.dumps(dict(rec, type="fault"), sort_keys=True) + "\n")
            for rec in self.ops:
                f.write(json.dumps(dict(rec, type="op"), sort_keys=True) + "\n")


def outcome(f, status):
    if status is None or status >= 500:
        return "unknown" if f in WRITES else "fail"
    if 200 <= status < 300:
        return "ok"
    return "fail"


WRITES = ("buy", "restock", "price", "add")


def call(sut, f, method, path, body=None, key=None, admin=False, timeout=READ_TIMEOUT):
    """One request -> (status or None, body or error text)."""
    headers = {"Idempotency-Key": key} if key else None
    try:
        r = (sut.admin if admin else sut.pub)(method, path, body, headers, timeout=timeout)
        return r.status, r.body
    except Exception as e:  # noqa: BLE001 - a timeout or a reset is an outcome
        return None, "%s: %s" % (type(e).__name__, e)


def request_of(f, book, key, arg):
    """(method, path, body, admin, timeout) of an operation."""
    if f == "read":
        return "GET", "/bazar/info/%d" % book, None, False, READ_TIMEOUT
    if f == "search":
        return "GET", "/bazar/search/%s" % arg.replace(" ", "%20"), None, False, READ_TIMEOUT
    if f == "order":
        return "GET", "/bazar/orders/%d" % arg, None, False, READ_TIMEOUT
    if f == "buy":
        return "POST", "/bazar/purchase/%d" % book, None, False, WRITE_TIMEOUT
    if f == "restock":
        return "POST", "/bazar/books/%d/restock" % book, {"count": arg}, True, WRITE_TIMEOUT
    if f == "price":
        return "PUT", "/bazar/books/%d/price" % book, {"price": arg}, True, WRITE_TIMEOUT
    if f == "add":
        return "POST", "/bazar/books", arg, True, WRITE_TIMEOUT
    raise ValueError(f)


def perform(sut, hist, proc, f, book=None, key=None, arg=None, phase="run"):
    """Sends one operation and records it; returns the record."""
    method, path, body, admin, timeout = request_of(f, book, key, arg)
    t0 = hist.now()
    status, value = call(sut, f, method, path, body, key, admin, timeout)
    t1 = hist.now()
    rec = {"proc": proc, "f": f, "book": book, "key": key, "arg": arg, "t0": t0, "t1": t1,
           "status": status, "outcome": outcome(f, status), "phase": phase}
    if status is None or status >= 300:
        rec["error"] = value if isinstance(value, str) else json.dumps(value)[:300]
    else:
        rec["value"] = value
    return hist.op(rec)


class Workload:
    """`clients` threads of seeded random operations until stop() or the deadline."""

    def __init__(self, sut, hist, seed, books, clients=6, max_ops=20000):
        self.sut = sut
        self.hist = hist
        self.seed = seed
        self.books = list(books)       # the books every client works on
        self.added = []                # ids of books added during the run
        self.acked_orders = []         # order ids acknowledged so far
        self.lock = threading.Lock()
        self.halt = threading.Event()
        self.max_ops = max_ops
        self.threads = [threading.Thread(target=self._run, args=(p,), daemon=True)
                        for p in range(clients)]

    def start(self):
        for t in self.threads:
            t.start()

    def stop(self, timeout=60):
        self.halt.set()
        for t in self.threads:
            t.join(timeout)
        return not any(t.is_alive() for t in self.threads)

    def _pick(self, rng):
        total = sum(w for _, w in MIX)
        x = rng.uniform(0, total)
        for name, w in MIX:
            x -= w
            if x <= 0:
                return name
        return MIX[-1][0]

    def _run(self, proc):
        rng = random.Random(self.seed * 1000 + proc)
        n = 0
        while not self.halt.is_set() and n < self.max_ops:
            n += 1
            rec = self.one(rng, proc)
            # A client that got an error waits a little before its next
            # request, as a person or a polite program would.
            failed = rec is not None and rec["outcome"] != "ok" and rec["status"] != 409
            time.sleep(rng.uniform(0.05, 0.15) if failed else rng.uniform(0, 0.01))

    def one(self, rng, proc):
        f = self._pick(rng)
        book = rng.choice(self.books)
        key = "j%d-%d-%s" % (self.seed, proc, uuid.uuid4().hex[:12]) if f in WRITES else None
        arg = None
        if f == "read-new":
            with self.lock:
                if not self.added:
                    return
                book = rng.choice(self.added)
            f = "read"
        elif f == "order":
            with self.lock:
                if not self.acked_orders:
                    return
                arg = rng.choice(self.acked_orders[-50:])
        elif f == "search":
            arg = rng.choice(["distributed systems", "undergraduate school", "jepsen"])
        elif f == "restock":
            arg = rng.randint(1, 5)
        elif f == "price":
            arg = rng.randint(100, 99999) / 100.0
        elif f == "add":
            book = None
            arg = {"title": "Jepsen %d-%d-%d" % (self.seed, proc, rng.randint(0, 10 ** 9)),
                   "topic": "jepsen", "price": rng.randint(100, 9999) / 100.0,
                   "quantity": rng.randint(0, 20)}
        rec = perform(self.sut, self.hist, proc, f, book, key, arg)
        if rec["outcome"] == "ok":
            with self.lock:
                if f == "buy":
                    self.acked_orders.append(rec["value"]["order_id"])
                elif f == "add":
                    self.added.append(rec["value"]["id"])
        return rec
