"""The checker: what a correct history of Bazar looks like, decided from the
outside, from the clients' records and the final state alone.

check(start, ops, final) -> list of violations (dicts with "rule", "book"
or "key", a message and the operations involved). Its inputs are plain data:
  start  {book: {"quantity", "version", "price", "title"}} read before the run
  ops    every operation record (workload.py), run and resolution phases
  final  {"catalog": [{book: {"quantity", "version", ...}} per replica],
          "orders":  [{key: order} per replica],
          "purchases": [{key: book} per replica] (the catalog's copy records),
          "converged_s": seconds until every replica agreed, or None}

The rules, and why each must hold:
  order-changed     one key, two different orders in answers (a purchase
                    applied twice or its answer invented)
  order-id-reused   two keys, one order id
  order-lost        an acknowledged purchase's order missing (or different)
                    at some order replica after healing
  order-phantom     an order at some replica for a key no client sent, or
                    for a key whose purchase was refused for certain
  copy-without-order / order-without-copy
                    the catalog's purchase records and the orders differ
  order-read-stale  GET /bazar/orders/{id} answered 404 (or another order)
                    after that order's purchase was acknowledged
  stock             at every catalog replica, final quantity = start +
                    applied restocks - orders of the book
  oversell          a quantity below zero, anywhere
  version-values    one version of a book shows two values of a field
  read-went-back    a read returned a version older than one a completed
                    operation (read or write) had returned before it began
  read-missed-purchase / read-missed-restock
                    a read's quantity is above what it can be once every
                    purchase acknowledged before it began is counted, or
                    below what it can be once every restock acknowledged
                    before it began is counted (the bounds count every
                    operation that may have been applied by then)
  search-missed     a search for a topic left out a book added to it (and
                    acknowledged) before the search began
  unresolved        an unknown write whose retry with its key never got a
                    definite answer, so nothing can be decided about it
  not-converged     replicas did not agree within the bound after healing"""

from collections import defaultdict

CONVERGE_BOUND_S = 60.0


def v(rule, msg, ops=(), **kw):
    out = {"rule": rule, "msg": msg, "ops": [o["i"] for o in ops if "i" in o]}
    out.update(kw)
    return out


def resolutions(ops):
    """key -> "ok" | "fail" | "unknown": the definite outcome of every keyed
    write (any ok answer wins; a fail is definite only with no ok)."""
    out = {}
    for o in ops:
        if not o.get("key"):
            continue
        prev = out.get(o["key"], "unknown")
        if prev == "ok" or o["outcome"] == "ok":
            out[o["key"]] = "ok"
        elif o["outcome"] == "fail":
            out[o["key"]] = "fail"
        else:
            out[o["key"]] = prev
    return out


def check(start, ops, final, converge_bound=CONVERGE_BOUND_S):
    out = []
    res = resolutions(ops)
    by_key = defaultdict(list)
    for o in ops:
        if o.get("key"):
            by_key[o["key"]].append(o)
    for key, r in res.items():
        if r == "unknown":
            out.append(v("unresolved", "%s %s: no definite answer" % (by_key[key][0]["f"], key),
                         by_key[key], key=key))
    starts = book_starts(start, ops, res)
    out += check_orders(ops, final, res, by_key)
    out += check_stock(starts, ops, final, res)
    out += check_reads(starts, ops)
    out += check_searches(ops)
    c = final.get("converged_s")
    if c is None or c > converge_bound:
        out.append(v("not-converged", "replicas did not agree within %.0f s after healing (%s)"
                     % (converge_bound, c)))
    return out


def book_starts(start, ops, res):
    """book -> its state before its first operation: the run's start, or the
    answer of the add that created it."""
    starts = {b: dict(s) for b, s in start.items()}
    for o in ops:
        if o["f"] == "add" and o["outcome"] == "ok" and res.get(o["key"]) == "ok":
            b = o["value"]["id"]
            starts.setdefault(b, {"quantity": o["arg"]["quantity"], "version": o["value"]["version"],
                                  "price": o["value"]["price"], "title": o["value"]["title"],
                                  "added": True})
    return starts


# ---------------------------------------------------------------- orders

def check_orders(ops, final, res, by_key):
    out = []
    first = {}  # key -> the first ok order answer
    owner = {}  # order id -> key
    for o in ops:
        if o["f"] != "buy" or o["outcome"] != "ok":
            continue
        order = o["value"]
        k = o["key"]
        if k in first and first[k] != order:
            out.append(v("order-changed", "key %s answered %s, then %s" % (k, first[k], order),
                         by_key[k], key=k))
        first.setdefault(k, order)
        oid = order["order_id"]
        if owner.setdefault(oid, k) != k:
            out.append(v("order-id-reused", "order %d answered to keys %s and %s" % (oid, owner[oid], k),
                         by_key[k] + by_key[owner[oid]], key=k))
    sent = {o["key"] for o in ops if o["f"] == "buy"}
    for n, orders in enumerate(final.get("orders", []), 1):
        for k, order in first.items():
            if orders.get(k) != order:
                out.append(v("order-lost", "order-%d: acknowledged %s, holds %s" % (n, order, orders.get(k)),
                             by_key[k], key=k))
        for k, order in orders.items():
            if k not in sent or res.get(k) == "fail":
                out.append(v("order-phantom", "order-%d holds %s for key %s (%s)"
                             % (n, order, k, "never sent" if k not in sent else "refused"),
                             by_key.get(k, []), key=k))
    for n, copies in enumerate(final.get("purchases", []), 1):
        orders = final["orders"][0] if final.get("orders") else {}
        for k in set(copies) - set(orders):
            out.append(v("copy-without-order", "catalog-%d took a copy of book %s for %s, no order"
                         % (n, copies[k], k), by_key.get(k, []), key=k))
        for k in set(orders) - set(copies):
            out.append(v("order-without-copy", "order %s has no copy taken at catalog-%d" % (orders[k], n),
                         by_key.get(k, []), key=k))
    # Order reads: an order acknowledged before the read began must be readable, as answered.
    acked = {}  # order id -> (completion time, order, op)
    for o in ops:
        if o["f"] == "buy" and o["outcome"] == "ok":
            oid = o["value"]["order_id"]
            if oid not in acked or o["t1"] < acked[oid][0]:
                acked[oid] = (o["t1"], o["value"], o)
    for o in ops:
        if o["f"] != "order" or o["arg"] not in acked:
            continue
        t1, order, w = acked[o["arg"]]
        if o["outcome"] == "ok" and o["value"] != order:
            out.append(v("order-read-stale", "order %d read as %s, acknowledged as %s"
                         % (o["arg"], o["value"], order), [w, o]))
        elif o["status"] == 404 and o["t0"] > t1:
            out.append(v("order-read-stale", "order %d answered 404 %.3f s after it was acknowledged"
                         % (o["arg"], o["t0"] - t1), [w, o]))
    return out


# ---------------------------------------------------------------- stock

def restock_counts(ops, res):
    """book -> total count of restocks applied (each key once)."""
    seen, out = set(), defaultdict(int)
    for o in ops:
        if o["f"] == "restock" and res.get(o["key"]) == "ok" and o["key"] not in seen:
            seen.add(o["key"])
            out[o["book"]] += o["arg"]
    return out


def check_stock(starts, ops, final, res):
    out = []
    restocked = restock_counts(ops, res)
    orders = final["orders"][0] if final.get("orders") else {}
    sold = defaultdict(int)
    for order in orders.values():
        sold[order["book_id"]] += 1
    for n, books in enumerate(final.get("catalog", []), 1):
        for b, s in starts.items():
            got = books.get(b)
            want = s["quantity"] + restocked[b] - sold[b]
            if got is None or got["quantity"] != want:
                out.append(v("stock", "catalog-%d book %s: quantity %s, expected %d = %d start + %d "
                             "restocked - %d ordered" % (n, b, got and got["quantity"], want,
                                                         s["quantity"], restocked[b], sold[b]), book=b))
            if got is not None and got["quantity"] < 0:
                out.append(v("oversell", "catalog-%d book %s: quantity %d" % (n, b, got["quantity"]), book=b))
    return out


# ---------------------------------------------------------------- reads

def observations(ops):
    """book -> [(op, book record)] for every ok answer that shows a book."""
    obs = defaultdict(list)
    for o in ops:
        if o["outcome"] != "ok" or o["f"] not in ("read", "restock", "price", "add"):
            continue
        rec = o["value"]
        obs[rec["id"]].append((o, rec))
    return obs


def check_reads(starts, ops):
    out = []
    for b, seen in observations(ops).items():
        out += check_book_versions(b, seen)
        if b in starts:
            out += check_book_bounds(b, starts[b], seen, [o for o in ops if o.get("book") == b])
    return out


def check_book_versions(b, seen):
    out = []
    values = {}
    for o, rec in seen:
        if rec["quantity"] < 0:
            out.append(v("oversell", "book %s read with quantity %d" % (b, rec["quantity"]), [o], book=b))
        val = (rec["price"], rec["quantity"], rec["title"])
        first = values.setdefault(rec["version"], (val, o))
        if first[0] != val:
            out.append(v("version-values", "book %s version %d shows %s and %s"
                         % (b, rec["version"], first[0], val), [first[1], o], book=b))
    # Real time: sweep the reads by start, the completed observations by end.
    done = sorted(seen, key=lambda x: x[0]["t1"])
    reads = sorted((x for x in seen if x[0]["f"] == "read"), key=lambda x: x[0]["t0"])
    best, k = None, 0
    for o, rec in reads:
        while k < len(done) and done[k][0]["t1"] < o["t0"]:
            if best is None or done[k][1]["version"] > best[1]["version"]:
                best = done[k]
            k += 1
        if best is not None and rec["version"] < best[1]["version"]:
            out.append(v("read-went-back", "book %s read at %.3f s returned version %d; version %d "
                         "had been returned by %s ending at %.3f s"
                         % (b, o["t0"], rec["version"], best[1]["version"], best[0]["f"],
                            best[0]["t1"]), [best[0], o], book=b))
    return out


def check_book_bounds(b, start, seen, book_ops):
    """Quantity bounds from counting: for a read R,
        start + restocks acked before R began - buys maybe applied by R's end
     <= R.quantity <=
        start + restocks maybe applied by R's end - buys acked before R began."""
    out = []
    buys = [o for o in book_ops if o["f"] == "buy"]
    restocks = [o for o in book_ops if o["f"] == "restock"]
    for o, rec in seen:
        if o["f"] != "read":
            continue
        acked_buys = len({p["key"] for p in buys if p["outcome"] == "ok" and p["t1"] < o["t0"]})
        maybe_buys = len({p["key"] for p in buys if p["outcome"] != "fail" and p["t0"] < o["t1"]})
        acked_restock = sum(p["arg"] for p in _first_per_key(restocks)
                            if p["outcome"] == "ok" and p["t1"] < o["t0"])
        maybe_restock = sum(p["arg"] for p in _first_per_key(restocks)
                            if p["outcome"] != "fail" and p["t0"] < o["t1"])
        hi = start["quantity"] + maybe_restock - acked_buys
        lo = start["quantity"] + acked_restock - maybe_buys
        if rec["quantity"] > hi:
            out.append(v("read-missed-purchase", "book %s read at %.3f s: quantity %d > %d (start %d + %d "
                         "restock maybe applied - %d purchases acknowledged before)"
                         % (b, o["t0"], rec["quantity"], hi, start["quantity"], maybe_restock, acked_buys),
                         [o], book=b))
        if rec["quantity"] < lo:
            out.append(v("read-missed-restock", "book %s read at %.3f s: quantity %d < %d (start %d + %d "
                         "restocked before - %d purchases maybe applied)"
                         % (b, o["t0"], rec["quantity"], lo, start["quantity"], acked_restock, maybe_buys),
                         [o], book=b))
    return out


def _first_per_key(ops):
    """One record per key: its first invocation (t0), its best outcome, and
    as t1 the end of its first ok answer (an unknown answer says nothing
    about when the write took effect, even when a retry later says it did)."""
    by = {}
    for o in sorted(ops, key=lambda x: x["t0"]):
        k = o["key"]
        if k not in by:
            by[k] = dict(o, t1=o["t1"] if o["outcome"] == "ok" else float("inf"))
        elif o["outcome"] == "ok":
            by[k]["outcome"] = "ok"
            by[k]["t1"] = min(by[k]["t1"], o["t1"])
        elif o["outcome"] == "fail" and by[k]["outcome"] == "unknown":
            by[k]["outcome"] = "fail"
    return list(by.values())


def check_searches(ops):
    out = []
    adds = [o for o in ops if o["f"] == "add" and o["outcome"] == "ok"]
    for s in ops:
        if s["f"] != "search" or s["outcome"] != "ok":
            continue
        ids = {x["id"] for x in s["value"]}
        for a in adds:
            if a["arg"]["topic"] == s["arg"] and a["t1"] < s["t0"] and a["value"]["id"] not in ids:
                out.append(v("search-missed", "search %r at %.3f s lacks book %d added at %.3f s"
                             % (s["arg"], s["t0"], a["value"]["id"], a["t1"]), [a, s],
                             book=a["value"]["id"]))
    return out


# ---------------------------------------------------------------- availability

def unavailability(ops, faults, after=5.0):
    """For each fault: the longest stretch, from its start to `after` seconds
    past its healing, in which writes were sent but none was acknowledged."""
    oks = sorted(o["t1"] for o in ops if o["f"] in ("buy", "restock", "price", "add")
                 and o["outcome"] == "ok" and o.get("phase") == "run")
    out = []
    for f in faults:
        t0 = f["t0"]
        t1 = (f["t1"] if f["t1"] is not None else t0) + after
        inside = [t for t in oks if t0 <= t <= t1]
        marks = [t0] + inside + [t1]
        out.append((f, max(b - a for a, b in zip(marks, marks[1:]))))
    return out
