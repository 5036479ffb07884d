"""Hostile input: a table of bad requests against the public listener and the
internal routes (catalog, order, replica, peer, replication appends). Every
answer must be the expected JSON 4xx (never a 5xx), no service process may
die or be replaced (the pid files list the same live pids afterwards), and
every replica's state hash (internal GET /status) is unchanged."""

import json

import pytest

from conftest import describe, expect_error, pid_alive

TOKEN = object()          # placeholder: the cluster's real admin token
ALMOST = object()         # the token with its last hex digit changed
SHORT = object()          # the token minus its last character
LONG = object()           # the token plus one character


def _nested(depth):
    return '{"a":' * depth + "1" + "}" * depth


def _auth(value):
    return {"Authorization": value}


# (name, method, path, body, headers, expected status)
PUBLIC = [
    # ids
    ("id -1", "GET", "/bazar/info/-1", None, None, 400),
    ("id 2^63", "GET", "/bazar/info/9223372036854775808", None, None, 400),
    ("id 1e309", "GET", "/bazar/info/1e309", None, None, 400),
    ("id 0x10", "GET", "/bazar/info/0x10", None, None, 400),
    ("id %00", "GET", "/bazar/info/%00", None, None, 400),
    # nginx decodes %2f and resolves the dot segments: the path leaves /bazar/
    ("id traversal", "GET", "/bazar/info/..%2f..%2fetc%2fpasswd", None, None, 404),
    ("id bad escape", "GET", "/bazar/info/%zz", None, None, 400),
    ("id truncated escape", "GET", "/bazar/info/1%2", None, None, 400),
    ("id +5", "GET", "/bazar/info/+5", None, None, 400),
    ("id trailing space", "GET", "/bazar/info/1%20", None, None, 400),
    ("id sql", "GET", "/bazar/info/1'%20OR%201=1%20--", None, None, 400),
    ("id 19 digits", "GET", "/bazar/info/1000000000000000000", None, None, 400),
    ("id unknown", "GET", "/bazar/info/987654321", None, None, 404),
    ("info empty id", "GET", "/bazar/info/", None, None, 404),
    ("raw traversal above the root", "GET", "/bazar/../../etc/passwd", None, None, 400),
    ("dot segments to internal", "GET", "/bazar/../catalog/books", None, None, 404),
    # topics
    ("topic 1 MB", "GET", "/bazar/search/" + "a" * (1 << 20), None, None, 414),
    ("topic 201 bytes", "GET", "/bazar/search/" + "a" * 201, None, None, 400),
    ("topic invalid utf-8", "GET", "/bazar/search/%ff%fe", None, None, 400),
    ("topic overlong utf-8", "GET", "/bazar/search/%c0%af", None, None, 400),
    ("topic surrogate", "GET", "/bazar/search/%ed%a0%80", None, None, 400),
    ("topic NUL", "GET", "/bazar/search/a%00b", None, None, 400),
    ("topic newline", "GET", "/bazar/search/a%0ab", None, None, 400),
    # catalog pages
    ("page 2^63", "GET", "/bazar/books?page=9223372036854775808", None, None, 400),
    ("page sql", "GET", "/bazar/books?page=1;DROP%20TABLE%20books", None, None, 400),
    ("sort sql", "GET", "/bazar/books?sort=id;DROP%20TABLE%20books", None, None, 400),
    ("sort injection", "GET", "/bazar/books?sort=title%2C(SELECT%201)", None, None, 400),
    ("q 1 MB", "GET", "/bazar/books?q=" + "a" * (1 << 20), None, None, 414),
    ("q 201 bytes", "GET", "/bazar/books?q=" + "a" * 201, None, None, 400),
    ("q invalid utf-8", "GET", "/bazar/books?q=%ff%fe%fd", None, None, 400),
    ("q NUL", "GET", "/bazar/books?q=a%00b", None, None, 400),
    ("topic bad escape", "GET", "/bazar/books?topic=%zz", None, None, 400),
    ("pages unknown parameter", "GET", "/bazar/books?drop=1", None, None, 400),
    ("pages repeated parameter", "GET", "/bazar/books?page=1&page=1", None, None, 400),
    # purchases and orders
    ("purchase -1", "POST", "/bazar/purchase/-1", None, None, 400),
    ("purchase abc", "POST", "/bazar/purchase/abc", None, None, 400),
    ("purchase sql", "POST", "/bazar/purchase/1;DROP%20TABLE%20books", None, None, 400),
    # (no purchase of an unknown book here: its failed order is a legitimate write)
    ("purchase id 1e3", "POST", "/bazar/purchase/1e3", None, None, 400),
    ("purchase key with space", "POST", "/bazar/purchase/1", None, {"Idempotency-Key": "a b"}, 400),
    ("purchase key 129 chars", "POST", "/bazar/purchase/1", None, {"Idempotency-Key": "k" * 129}, 400),
    ("purchase key sql", "POST", "/bazar/purchase/1", None, {"Idempotency-Key": "' OR 1=1 --"}, 400),
    ("purchase GET", "GET", "/bazar/purchase/1", None, None, 405),
    ("info DELETE", "DELETE", "/bazar/info/1", None, None, 405),
    ("unknown method", "BREW", "/bazar/info/1", None, None, 405),
    ("order -1", "GET", "/bazar/orders/-1", None, None, 400),
    ("order unknown", "GET", "/bazar/orders/987654321", None, None, 404),
    # admin authentication
    ("add no token", "POST", "/bazar/books", {"title": "t", "topic": "x", "price": 1, "quantity": 1}, None, 401),
    ("add wrong token", "POST", "/bazar/books", {"title": "t", "topic": "x", "price": 1, "quantity": 1},
     _auth("Bearer " + "0" * 64), 401),
    ("add almost-right token", "POST", "/bazar/books", {"title": "t", "topic": "x", "price": 1, "quantity": 1},
     _auth(ALMOST), 401),
    ("add token prefix", "POST", "/bazar/books", {"title": "t", "topic": "x", "price": 1, "quantity": 1},
     _auth(SHORT), 401),
    ("add token plus a byte", "POST", "/bazar/books", {"title": "t", "topic": "x", "price": 1, "quantity": 1},
     _auth(LONG), 401),
    ("add Basic scheme", "POST", "/bazar/books", {"title": "t", "topic": "x", "price": 1, "quantity": 1},
     _auth("Basic YWRtaW46YWRtaW4="), 401),
    ("add empty bearer", "POST", "/bazar/books", {"title": "t", "topic": "x", "price": 1, "quantity": 1},
     _auth("Bearer "), 401),
    ("restock no token", "POST", "/bazar/books/1/restock", {"count": 5}, None, 401),
    ("price wrong token", "PUT", "/bazar/books/1/price", {"price": 1.5}, _auth("Bearer x"), 401),
    # admin bodies (right token)
    ("add malformed JSON", "POST", "/bazar/books", b'{"title": ', _auth(TOKEN), 400),
    ("add truncated JSON", "POST", "/bazar/books", b'{"title": "a", "topic": "b", "price": 1', _auth(TOKEN), 400),
    ("add deeply nested JSON", "POST", "/bazar/books", _nested(5000).encode(), _auth(TOKEN), 400),
    ("add JSON array", "POST", "/bazar/books", b"[1,2,3]", _auth(TOKEN), 400),
    ("add JSON trailing data", "POST", "/bazar/books", b'{"a":1} {"b":2}', _auth(TOKEN), 400),
    ("add empty body", "POST", "/bazar/books", b"", _auth(TOKEN), 400),
    ("add NUL in body", "POST", "/bazar/books", b'{"title":"a\x00b"}', _auth(TOKEN), 400),
    ("add invalid UTF-8", "POST", "/bazar/books",
     b'{"title":"\xff\xfe","topic":"x","price":1,"quantity":1}', _auth(TOKEN), 400),
    ("add huge body 2 MB", "POST", "/bazar/books", b'{"title":"' + b"a" * (2 << 20) + b'"}', _auth(TOKEN), 413),
    ("add body over fcgi limit", "POST", "/bazar/books", b'{"title":"' + b"a" * 100000 + b'"}', _auth(TOKEN), 413),
    ("add text/plain", "POST", "/bazar/books", b'{"title":"t","topic":"x","price":1,"quantity":1}',
     {"Authorization": TOKEN, "Content-Type": "text/plain"}, 415),
    ("add form content type", "POST", "/bazar/books", b"title=t&topic=x",
     {"Authorization": TOKEN, "Content-Type": "application/x-www-form-urlencoded"}, 415),
    ("add missing fields", "POST", "/bazar/books", {"title": "only"}, _auth(TOKEN), 400),
    ("add title 201 bytes", "POST", "/bazar/books", {"title": "t" * 201, "topic": "x", "price": 1, "quantity": 1},
     _auth(TOKEN), 400),
    ("add title control char", "POST", "/bazar/books", {"title": "a\u0007b", "topic": "x", "price": 1, "quantity": 1},
     _auth(TOKEN), 400),
    ("add price sql", "POST", "/bazar/books", {"title": "x", "topic": "x", "price": "1; DROP TABLE books", "quantity": 1},
     _auth(TOKEN), 400),
    ("add negative quantity", "POST", "/bazar/books", {"title": "t", "topic": "x", "price": 1, "quantity": -1},
     _auth(TOKEN), 400),
    ("restock zero", "POST", "/bazar/books/1/restock", {"count": 0}, _auth(TOKEN), 400),
    ("restock negative", "POST", "/bazar/books/1/restock", {"count": -5}, _auth(TOKEN), 400),
    ("restock huge", "POST", "/bazar/books/1/restock", {"count": 10 ** 12}, _auth(TOKEN), 400),
    ("restock 2^64", "POST", "/bazar/books/1/restock", b'{"count": 18446744073709551616}', _auth(TOKEN), 400),
    ("restock string", "POST", "/bazar/books/1/restock", {"count": "5"}, _auth(TOKEN), 400),
    ("restock float", "POST", "/bazar/books/1/restock", {"count": 1.5}, _auth(TOKEN), 400),
    ("restock unknown book", "POST", "/bazar/books/987654321/restock", {"count": 1}, _auth(TOKEN), 404),
    ("price NaN", "PUT", "/bazar/books/1/price", b'{"price": NaN}', _auth(TOKEN), 400),
    ("price Infinity", "PUT", "/bazar/books/1/price", b'{"price": Infinity}', _auth(TOKEN), 400),
    ("price 1e309", "PUT", "/bazar/books/1/price", b'{"price": 1e309}', _auth(TOKEN), 400),
    ("price negative", "PUT", "/bazar/books/1/price", {"price": -1}, _auth(TOKEN), 400),
    ("price zero", "PUT", "/bazar/books/1/price", {"price": 0}, _auth(TOKEN), 400),
    ("price huge", "PUT", "/bazar/books/1/price", {"price": 1e12}, _auth(TOKEN), 400),
    ("price three decimals", "PUT", "/bazar/books/1/price", {"price": 1.001}, _auth(TOKEN), 400),
    ("price string", "PUT", "/bazar/books/1/price", {"price": "12"}, _auth(TOKEN), 400),
    ("price null", "PUT", "/bazar/books/1/price", {"price": None}, _auth(TOKEN), 400),
    ("price bad id", "PUT", "/bazar/books/-1/price", {"price": 2}, _auth(TOKEN), 400),
    # the closed surface and nginx's own errors
    ("internal route via public", "GET", "/catalog/books", None, None, 404),
    ("purchase records via public", "GET", "/catalog/purchases?after=0", None, None, 404),
    ("status via public", "GET", "/status", None, None, 404),
    ("peer append via public", "POST", "/peer/catalog/1/repl/append", {"service": "catalog"}, None, 404),
]

# Raw requests nginx must refuse itself (duplicate/conflicting headers):
# (name, raw request bytes, expected status).
RAW = [
    ("conflicting Content-Length",
     b"POST /bazar/purchase/1 HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", 400),
    ("chunked plus Content-Length",
     b"POST /bazar/purchase/1 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n", 400),
    ("duplicate Host",
     b"GET /bazar/info/1 HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
    ("bad Content-Length",
     b"POST /bazar/purchase/1 HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n", 400),
    ("Content-Length 2^66",
     b"POST /bazar/purchase/1 HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999\r\n\r\n", 400),
    ("huge header",
     b"GET /bazar/info/1 HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20000 + b"\r\n\r\n", 400),
    ("HTTP/9.9", b"GET /bazar/info/1 HTTP/9.9\r\nHost: x\r\n\r\n", 505),
]

# Headers that are legal but duplicated/conflicting: the first value wins or
# the request is refused, but never accepted with the wrong meaning.
DUP_HEADERS = [
    ("duplicate Authorization right+wrong",
     b"POST /bazar/books/1/restock HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer WRONG\r\n"
     b"Authorization: Bearer @TOKEN@\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{\"count\":1}",
     (400, 401)),
    ("duplicate Idempotency-Key",
     b"POST /bazar/purchase/987654321 HTTP/1.1\r\nHost: x\r\nIdempotency-Key: a b\r\nIdempotency-Key: good\r\n\r\n",
     (400,)),
]


def _append(service="catalog", epoch="@EPOCH@", leader="@LEADER@", entries=None, **extra):
    """An append message as fcgi/repl_leader.c builds it; "from" defaults to
    the first entry's position (or the replica's next one), "prev_epoch" to
    the epoch of the entry before it. It grants no lease (lease 0) and moves
    no safe position (safe 0)."""
    msg = {"service": service, "epoch": epoch, "leader": leader, "from": "@FROM@",
           "prev_epoch": "@PREV@", "head": "@DUP@", "sent_ms": 0, "commit": 0, "safe": 0,
           "lease": 0, "snapshot": False,
           "entries": entries if entries is not None else []}
    msg.update(extra)
    return msg


BOGUS_OP = {"op": "restock", "id": 1, "count": 1000}  # never applied: every row is refused first
REAL_OP = {"op": "restock", "id": 1, "count": 1000}   # valid: only the secret stops it
# A valid order entry: it would record an order if a replica accepted it.
ORDER_OP = {"op": "order", "order_id": 999999, "book_id": 1, "key": "hostile-order", "title": "T",
            "cents": 100, "created_at": "2026-01-01T00:00:00.000Z"}
NOSECRET = object()       # placeholder: send no X-Bazar-Secret header at all

# (name, method, path, body, headers, expected status). "@NEXT@" in an
# entry's pos is replaced by the replica's applied position + 1, "@DUP@" by
# its applied position (a duplicate delivery), "@GAP@" by applied + 5,
# "@LEADER@" by the current primary, "@EPOCH@" by the replica's epoch,
# "@FUTURE@" by the one after, "@LAST@" by the epoch of its last entry (on
# these clusters every entry is of that epoch), "@PREV@" by the epoch of
# the entry before "from". Every row carries the right cluster
# secret unless its headers say otherwise, so no row may carry a valid
# message that changes anything - except the secret rows, where only the
# missing or wrong secret stops a message that would be adopted.
INTERNAL = [
    ("catalog id -1", "GET", "/catalog/books/-1", None, None, 400),
    ("catalog id 2^63", "GET", "/catalog/books/9223372036854775808", None, None, 400),
    ("catalog topic invalid utf-8", "GET", "/catalog/search/%ff", None, None, 400),
    ("catalog topic NUL", "GET", "/catalog/search/%00", None, None, 400),
    ("purchases after not a number", "GET", "/catalog/purchases?after=x", None, None, 400),
    ("purchases after negative", "GET", "/catalog/purchases?after=-1", None, None, 400),
    ("purchases upto empty", "GET", "/replica/catalog/2/purchases?upto=", None, None, 400),
    ("purchases limit 0", "GET", "/catalog/purchases?limit=0", None, None, 400),
    ("purchases limit too big", "GET", "/replica/catalog/1/purchases?limit=1001", None, None, 400),
    ("catalog decrement without key", "POST", "/catalog/books/1/decrement", {}, None, 400),
    ("catalog decrement bad key", "POST", "/catalog/books/1/decrement", {"key": "' OR 1=1 --"}, None, 400),
    ("catalog restock negative", "POST", "/catalog/books/1/restock", {"count": -1}, None, 400),
    ("catalog price string", "PUT", "/catalog/books/1/price", {"price": "abc"}, None, 400),
    ("catalog add malformed", "POST", "/catalog/books", b"{nope", None, 400),
    ("catalog add text/plain", "POST", "/catalog/books", b"{}", {"Content-Type": "text/plain"}, 415),
    ("order purchase without key", "POST", "/order/purchase/1", None, None, 400),
    ("order purchase id abc", "POST", "/order/purchase/abc", None, {"Idempotency-Key": "k1"}, 400),
    ("order purchase bad key", "POST", "/order/purchase/1", None, {"Idempotency-Key": "a/b"}, 400),
    ("order id -1", "GET", "/order/orders/-1", None, None, 400),
    ("replica id escape", "GET", "/replica/catalog/2/books/%zz", None, None, 400),
    ("replica 9 does not exist", "GET", "/replica/catalog/9/books/1", None, None, 404),
    ("peer unknown route", "GET", "/peer/catalog/1/nothing", None, None, 404),
    ("peer append GET", "GET", "/peer/catalog/1/repl/append", None, None, 405),
    # replication messages
    ("append empty body", "POST", "/peer/catalog/2/repl/append", b"", None, 400),
    ("append not JSON", "POST", "/peer/catalog/2/repl/append", b"append!", None, 400),
    ("append JSON array", "POST", "/peer/catalog/2/repl/append", b"[]", None, 400),
    ("append wrong content type", "POST", "/peer/catalog/2/repl/append", json.dumps(_append()).encode(),
     {"Content-Type": "text/plain"}, 415),
    ("append wrong service", "POST", "/peer/catalog/2/repl/append",
     _append(service="order", entries=[{"pos": "@NEXT@", "epoch": "@LAST@", "op": BOGUS_OP}]), None, 400),
    ("append service missing", "POST", "/peer/catalog/2/repl/append",
     {"epoch": 1, "leader": "@LEADER@", "entries": []}, None, 400),
    # Epochs start at 1, so on a cluster without failovers the only stale epoch is 0,
    # which is malformed.
    ("append stale epoch 0", "POST", "/peer/catalog/2/repl/append",
     _append(epoch=0, entries=[{"pos": "@NEXT@", "epoch": 0, "op": BOGUS_OP}]), None, 400),
    ("append entry from a future epoch", "POST", "/peer/catalog/2/repl/append",
     _append(entries=[{"pos": "@NEXT@", "epoch": "@FUTURE@", "op": BOGUS_OP}]), None, 400),
    ("append leader is the receiver", "POST", "/peer/catalog/2/repl/append",
     _append(leader=2, entries=[{"pos": "@GAP@", "epoch": "@LAST@", "op": BOGUS_OP}]), None, 400),
    ("append leader 0", "POST", "/peer/catalog/2/repl/append",
     _append(leader=0, entries=[{"pos": "@GAP@", "epoch": "@LAST@", "op": BOGUS_OP}]), None, 400),
    ("append snapshot not a boolean", "POST", "/peer/catalog/2/repl/append",
     _append(snapshot="yes", entries=[{"pos": "@GAP@", "epoch": "@LAST@", "op": BOGUS_OP}]), None, 400),
    ("append negative sent_ms", "POST", "/peer/catalog/2/repl/append",
     _append(sent_ms=-1, entries=[{"pos": "@GAP@", "epoch": "@LAST@", "op": BOGUS_OP}]), None, 400),
    ("append from does not match", "POST", "/peer/catalog/2/repl/append",
     _append(**{"from": 1, "entries": [{"pos": "@GAP@", "epoch": "@LAST@", "op": BOGUS_OP}]}), None, 400),
    ("append epoch not an integer", "POST", "/peer/catalog/2/repl/append",
     _append(epoch="1", entries=[{"pos": "@NEXT@", "epoch": "@LAST@", "op": BOGUS_OP}]), None, 400),
    ("append positions not consecutive", "POST", "/peer/catalog/2/repl/append",
     _append(entries=[{"pos": "@NEXT@", "epoch": "@LAST@", "op": BOGUS_OP}, {"pos": 1, "epoch": "@LAST@", "op": BOGUS_OP}]),
     None, 400),
    ("append gap", "POST", "/peer/catalog/2/repl/append",
     _append(entries=[{"pos": "@GAP@", "epoch": "@LAST@", "op": BOGUS_OP}]), None, 409),
    ("append duplicate (conflicting op)", "POST", "/peer/catalog/2/repl/append",
     _append(entries=[{"pos": "@DUP@", "epoch": "@LAST@", "op": BOGUS_OP}]), None, 200),
    ("append without entries", "POST", "/peer/catalog/2/repl/append",
     {"service": "catalog", "epoch": 1, "leader": "@LEADER@", "from": 1, "prev_epoch": -1, "head": 0,
      "sent_ms": 0}, None, 400),
    ("append entries not an array", "POST", "/peer/catalog/2/repl/append", _append(entries={"pos": 1}), None, 400),
    ("append entry not an object", "POST", "/peer/catalog/2/repl/append", _append(entries=[1, 2]), None, 400),
    ("append entry pos 0", "POST", "/peer/catalog/2/repl/append",
     _append(entries=[{"pos": 0, "epoch": "@LAST@", "op": BOGUS_OP}]), None, 400),
    ("append entry pos string", "POST", "/peer/catalog/2/repl/append",
     _append(entries=[{"pos": "1", "epoch": "@LAST@", "op": BOGUS_OP}]), None, 400),
    ("append entry without op", "POST", "/peer/catalog/2/repl/append",
     _append(entries=[{"pos": "@NEXT@", "epoch": "@LAST@"}]), None, 400),
    ("append entry op not an object", "POST", "/peer/catalog/2/repl/append",
     _append(entries=[{"pos": "@NEXT@", "epoch": "@LAST@", "op": "restock"}]), None, 400),
    ("append entry unknown op", "POST", "/peer/catalog/2/repl/append",
     _append(entries=[{"pos": "@NEXT@", "epoch": "@LAST@", "op": {"op": "explode", "id": 1}}]), None, 422),
    ("append entry op without id", "POST", "/peer/catalog/2/repl/append",
     _append(entries=[{"pos": "@NEXT@", "epoch": "@LAST@", "op": {"op": "restock", "count": 1}}]), None, 422),
    ("append entry restock of a missing book", "POST", "/peer/catalog/2/repl/append",
     _append(entries=[{"pos": "@NEXT@", "epoch": "@LAST@", "op": {"op": "restock", "id": 987654, "count": 1}}]),
     None, 422),
    ("append entry epoch 0", "POST", "/peer/catalog/2/repl/append",
     _append(entries=[{"pos": "@NEXT@", "epoch": 0, "op": BOGUS_OP}]), None, 400),
    ("append valid then malformed (rolled back)", "POST", "/peer/catalog/2/repl/append",
     _append(entries=[{"pos": "@DUP@", "epoch": "@LAST@", "op": BOGUS_OP}, {"pos": "@NEXT@", "epoch": 1}]), None, 400),
    ("append deeply nested", "POST", "/peer/catalog/2/repl/append", _nested(100).encode(), None, 400),
    ("order append wrong service", "POST", "/peer/order/2/repl/append",
     _append(service="catalog", entries=[{"pos": "@NEXT@", "epoch": "@LAST@", "op": ORDER_OP}]),
     None, 400),
    ("order append gap", "POST", "/peer/order/3/repl/append",
     _append(service="order", entries=[{"pos": "@GAP@", "epoch": "@LAST@", "op": ORDER_OP}]),
     None, 409),
    ("order append unknown op", "POST", "/peer/order/3/repl/append",
     _append(service="order", entries=[{"pos": "@NEXT@", "epoch": "@LAST@", "op": {"op": "explode"}}]), None, 422),
    # handovers (fcgi/repl/rc.h): only the primary of the receiver's epoch may
    # make it stand at once; anything else is refused and changes nothing
    ("handover GET", "GET", "/peer/catalog/2/repl/handover", None, None, 405),
    ("handover empty body", "POST", "/peer/catalog/2/repl/handover", b"", None, 400),
    ("handover not JSON", "POST", "/peer/catalog/2/repl/handover", b"stand!", None, 400),
    ("handover wrong service", "POST", "/peer/catalog/2/repl/handover",
     {"service": "order", "epoch": 1, "from": 1}, None, 400),
    ("handover from itself", "POST", "/peer/catalog/2/repl/handover",
     {"service": "catalog", "epoch": 1, "from": 2}, None, 400),
    ("handover from replica 9", "POST", "/peer/order/2/repl/handover",
     {"service": "order", "epoch": 1, "from": 9}, None, 400),
    ("handover epoch 0", "POST", "/peer/catalog/2/repl/handover",
     {"service": "catalog", "epoch": 0, "from": 1}, None, 400),
    ("handover epoch a string", "POST", "/peer/catalog/2/repl/handover",
     {"service": "catalog", "epoch": "1", "from": 1}, None, 400),
    ("handover from a backup", "POST", "/peer/catalog/2/repl/handover",
     {"service": "catalog", "epoch": 1, "from": 3}, None, 409),
    ("handover from an epoch to come", "POST", "/peer/order/3/repl/handover",
     {"service": "order", "epoch": 50, "from": 1}, None, 409),
    ("vote naming a handover by replica 9", "POST", "/peer/catalog/2/repl/vote",
     {"service": "catalog", "epoch": 2, "candidate": 3, "last_epoch": 1, "applied": 0,
      "handover": 9}, None, 400),
    ("vote naming a handover by replica -1", "POST", "/peer/catalog/2/repl/vote",
     {"service": "catalog", "epoch": 2, "candidate": 3, "last_epoch": 1, "applied": 0,
      "handover": -1}, None, 400),
    # The cluster secret (X-Bazar-Secret): valid messages that WOULD change state
    # if they were accepted - a newer epoch from another leader with a real op, a
    # vote that would bump the epoch, an admin write on the catalog's own route -
    # refused without the right secret. NOSECRET drops the header altogether.
    ("append missing secret (newer epoch, real op)", "POST", "/peer/catalog/2/repl/append",
     _append(epoch=7, leader=3, entries=[{"pos": "@NEXT@", "epoch": 7, "op": REAL_OP}]),
     {"X-Bazar-Secret": NOSECRET}, 403),
    ("append bad secret (newer epoch, real op)", "POST", "/peer/catalog/2/repl/append",
     _append(epoch=7, leader=3, entries=[{"pos": "@NEXT@", "epoch": 7, "op": REAL_OP}]),
     {"X-Bazar-Secret": "0" * 64}, 403),
    ("append almost-right secret", "POST", "/peer/catalog/2/repl/append",
     _append(entries=[{"pos": "@NEXT@", "epoch": "@LAST@", "op": REAL_OP}]), {"X-Bazar-Secret": ALMOST}, 403),
    ("append secret minus a character", "POST", "/peer/catalog/2/repl/append",
     _append(entries=[{"pos": "@NEXT@", "epoch": "@LAST@", "op": REAL_OP}]), {"X-Bazar-Secret": SHORT}, 403),
    ("append secret plus a character", "POST", "/peer/catalog/2/repl/append",
     _append(entries=[{"pos": "@NEXT@", "epoch": "@LAST@", "op": REAL_OP}]), {"X-Bazar-Secret": LONG}, 403),
    ("append empty secret", "POST", "/peer/order/2/repl/append",
     _append(service="order", epoch=7, leader=3,
             entries=[{"pos": "@NEXT@", "epoch": 7, "op": ORDER_OP}]),
     {"X-Bazar-Secret": ""}, 403),
    ("vote bad secret (epoch 99)", "POST", "/peer/catalog/2/repl/vote",
     {"service": "catalog", "epoch": 99, "candidate": 3, "last_epoch": 99, "applied": 10 ** 9},
     {"X-Bazar-Secret": "0" * 64}, 403),
    ("vote missing secret", "POST", "/peer/order/1/repl/vote",
     {"service": "order", "epoch": 99, "candidate": 3, "last_epoch": 99, "applied": 10 ** 9},
     {"X-Bazar-Secret": NOSECRET}, 403),
    ("handover bad secret (from the primary)", "POST", "/peer/catalog/2/repl/handover",
     {"service": "catalog", "epoch": 1, "from": 1}, {"X-Bazar-Secret": "0" * 64}, 403),
    ("handover missing secret (from the primary)", "POST", "/peer/order/3/repl/handover",
     {"service": "order", "epoch": 1, "from": 1}, {"X-Bazar-Secret": NOSECRET}, 403),
    ("snapshot missing secret", "GET", "/peer/catalog/1/repl/snapshot", None,
     {"X-Bazar-Secret": NOSECRET}, 403),
    ("state bad secret", "GET", "/replica/order/2/state", None, {"X-Bazar-Secret": ALMOST}, 403),
    ("catalog restock without secret (no admin token either)", "POST", "/catalog/books/1/restock",
     {"count": 1000, "key": "hostile-restock"}, {"X-Bazar-Secret": NOSECRET}, 403),
    ("order purchase without secret", "POST", "/order/purchase/1", None,
     {"Idempotency-Key": "hostile-buy", "X-Bazar-Secret": NOSECRET}, 403),
]


# --------------------------------------------------------------------------


def _sub_token(obj, token):
    if obj is TOKEN:
        return "Bearer " + token
    if obj is ALMOST:
        last = "0" if token[-1] != "0" else "1"
        return "Bearer " + token[:-1] + last
    if obj is SHORT:
        return "Bearer " + token[:-1]
    if obj is LONG:
        return "Bearer " + token + "0"
    return obj


def _headers(headers, token):
    if headers is None:
        return None
    return {k: _sub_token(v, token) for k, v in headers.items()}


def _replica_state(cluster, service, n):
    r = cluster.internal("GET", "/peer/%s/%d/state" % (service, n))
    assert r.status == 200, describe(r)
    return r.body


def _sub_pos(body, state):
    applied = state["applied"]
    text = json.dumps(body)
    text = text.replace('"@NEXT@"', str(applied + 1)).replace('"@DUP@"', str(max(applied, 1)))
    text = text.replace('"@GAP@"', str(applied + 5)).replace('"@LEADER@"', str(state["primary"]))
    text = text.replace('"@EPOCH@"', str(state["epoch"])).replace('"@LAST@"', str(state["last_epoch"]))
    text = text.replace('"@FUTURE@"', str(state["epoch"] + 1))
    msg = json.loads(text)
    if isinstance(msg, dict) and msg.get("from") == "@FROM@":
        ents = msg.get("entries")
        first = ents[0] if isinstance(ents, list) and ents and isinstance(ents[0], dict) else {}
        msg["from"] = first["pos"] if isinstance(first.get("pos"), int) else applied + 1
    if isinstance(msg, dict) and msg.get("prev_epoch") == "@PREV@":
        msg["prev_epoch"] = 0 if msg["from"] == 1 else state["last_epoch"]
    return json.dumps(msg).encode()


def _state(cluster):
    r = cluster.internal("GET", "/status")
    assert r.status == 200, describe(r)
    out = {}
    for svc in ("catalog", "order"):
        for rep in r.body[svc]["replicas"]:
            out["%s-%d" % (svc, rep["id"])] = (rep["up"], rep["applied"], rep["hash"])
    return out


def _pids(cluster):
    return {name: sorted(p) for name, p in cluster.pid_files().items()}


@pytest.fixture(scope="module")
def before(cluster):
    # One real write on each service so that "duplicate" deliveries exist (pos 1).
    r = cluster.pub("POST", "/bazar/purchase/1", headers={"Idempotency-Key": "hostile-setup"})
    assert r.status == 200, describe(r)
    return _state(cluster), _pids(cluster)


def _check(resp, status, what):
    if status >= 400:
        expect_error(resp, status, what)
    else:
        assert resp.status == status, "%s: expected %d, got %s" % (what, status, describe(resp))
        assert resp.content_type == "application/json", "%s: %s" % (what, describe(resp))


@pytest.mark.parametrize("name,method,path,body,headers,status", PUBLIC, ids=[p[0] for p in PUBLIC])
def test_public_hostile(cluster, before, name, method, path, body, headers, status):
    r = cluster.pub(method, path, body, _headers(headers, cluster.token))
    _check(r, status, name)
    assert r.status < 500


def _raw(port, data):
    import socket
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        try:
            s.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass
        chunks = []
        while True:
            try:
                b = s.recv(65536)
            except (ConnectionResetError, TimeoutError):
                break
            if not b:
                break
            chunks.append(b)
            if b"\r\n\r\n" in b"".join(chunks):
                head, _, rest = b"".join(chunks).partition(b"\r\n\r\n")
                cl = [l for l in head.split(b"\r\n") if l.lower().startswith(b"content-length:")]
                if cl and len(rest) >= int(cl[0].split(b":")[1]):
                    break
    data = b"".join(chunks)
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split()[1]) if lines and len(lines[0].split()) > 1 else 0
    hdrs = {}
    for l in lines[1:]:
        k, _, v = l.partition(b":")
        hdrs[k.strip().lower().decode()] = v.strip().decode("latin-1")
    return status, hdrs, body


@pytest.mark.parametrize("name,data,status", RAW, ids=[r[0] for r in RAW])
def test_raw_hostile(cluster, before, name, data, status):
    st, hdrs, body = _raw(cluster.public_port, data)
    assert st == status, "%s: expected %d, got %d %r" % (name, status, st, body[:300])
    assert hdrs.get("content-type", "").startswith("application/json"), "%s: %r %r" % (name, hdrs, body[:300])
    assert isinstance(json.loads(body.decode()), dict) and "error" in json.loads(body.decode())


@pytest.mark.parametrize("name,data,statuses", DUP_HEADERS, ids=[r[0] for r in DUP_HEADERS])
def test_duplicate_headers(cluster, before, name, data, statuses):
    data = data.replace(b"@TOKEN@", cluster.token.encode())
    st, hdrs, body = _raw(cluster.public_port, data)
    assert st in statuses, "%s: expected one of %s, got %d %r" % (name, statuses, st, body[:300])
    assert hdrs.get("content-type", "").startswith("application/json"), "%s: %r" % (name, hdrs)


@pytest.mark.parametrize("name,method,path,body,headers,status", INTERNAL,
                         ids=[p.values[0] if hasattr(p, "values") else p[0] for p in INTERNAL])
def test_internal_hostile(cluster, before, name, method, path, body, headers, status):
    if isinstance(body, dict):
        parts = path.split("/")
        state = _replica_state(cluster, parts[2], int(parts[3])) if parts[1] == "peer" else None
        body = _sub_pos(body, state) if state else json.dumps(body).encode()
    headers = dict(headers or {})
    send_secret = headers.get("X-Bazar-Secret") is not NOSECRET
    if not send_secret:
        del headers["X-Bazar-Secret"]
    sec = headers.get("X-Bazar-Secret")
    if sec in (ALMOST, SHORT, LONG):
        real = cluster.secret
        headers["X-Bazar-Secret"] = {ALMOST: real[:-1] + ("0" if real[-1] != "0" else "1"),
                                     SHORT: real[:-1], LONG: real + "0"}[sec]
    r = cluster.internal(method, path, body, headers, secret=send_secret)
    _check(r, status, name)
    assert r.status < 500


def test_nothing_changed(cluster, before):
    """Runs after the tables (pytest keeps file order): same pids, all alive,
    same replica states."""
    state0, pids0 = before
    pids1 = _pids(cluster)
    assert pids1 == pids0, "pid files changed: %r -> %r" % (pids0, pids1)
    dead = [p for ps in pids1.values() for p in ps if not pid_alive(p)]
    assert not dead, "processes died: %s" % dead
    state1 = _state(cluster)
    assert state1 == state0, "replica state changed: %r -> %r" % (state0, state1)
    assert all(v[0] for v in state1.values()), state1
    hashes = {v[2] for k, v in state1.items() if k.startswith("catalog")}
    assert len(hashes) == 1, state1


def test_table_sizes():
    assert len(PUBLIC) + len(RAW) + len(DUP_HEADERS) >= 40
    assert len(INTERNAL) >= 15
