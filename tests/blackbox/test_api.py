"""The public API of README.md ("The API"), endpoint by endpoint, every status.

Most tests share the module's cluster and only make relative assertions
(quantity before/after), so their order does not matter; the exact seed data
is checked on a fresh cluster of its own."""

import concurrent.futures
import datetime
import json
import os
import re
import time

import pytest

from conftest import SEED_BOOKS, describe, expect_error, quote_segment

BOOK_KEYS = {"id", "title", "topic", "price", "quantity"}
ORDER_KEYS = {"order_id", "book_id", "title", "price", "created_at"}
ISO_UTC = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$")


def _is_num(x):
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _is_int(x):
    return isinstance(x, int) and not isinstance(x, bool)


def _uniq(tag):
    return "%s-%d-%s" % (tag, os.getpid(), os.urandom(4).hex())


def _check_book_record(b, ctx):
    assert isinstance(b, dict), "%s: not an object: %r" % (ctx, b)
    missing = BOOK_KEYS - set(b)
    assert not missing, "%s: fields %s missing in %r" % (ctx, sorted(missing), b)
    assert _is_int(b["id"]), "%s: id not an integer: %r" % (ctx, b)
    assert isinstance(b["title"], str) and isinstance(b["topic"], str), "%s: %r" % (ctx, b)
    assert _is_num(b["price"]), "%s: price not a number: %r" % (ctx, b)
    assert _is_int(b["quantity"]) and b["quantity"] >= 0, "%s: bad quantity: %r" % (ctx, b)


def _new_book(cluster, **over):
    body = {"title": "Blackbox " + _uniq("title"), "topic": "blackbox " + _uniq("topic"),
            "price": 12.5, "quantity": 10}
    body.update(over)
    r = cluster.admin("POST", "/bazar/books", body)
    assert r.status == 201, "create book: %s" % describe(r)
    assert isinstance(r.body, dict) and _is_int(r.body.get("id")), "201 without an integer id: %s" % describe(r)
    return r.body["id"], body


# --------------------------------------------------------------------------
# seed data (fresh cluster)


def test_seed_data_exact(make_cluster):
    c = make_cluster()
    for bid, (title, topic, price, qty) in SEED_BOOKS.items():
        r = c.pub("GET", "/bazar/info/%d" % bid)
        assert r.status == 200, describe(r)
        b = r.body
        _check_book_record(b, "info/%d" % bid)
        assert b["id"] == bid, describe(r)
        assert b["title"] == title, "book %d title: %r != %r" % (bid, b["title"], title)
        assert b["topic"] == topic, "book %d topic: %r != %r" % (bid, b["topic"], topic)
        assert b["price"] == pytest.approx(price, abs=1e-9), "book %d price: %r != %r" % (bid, b["price"], price)
        assert b["quantity"] == qty, "book %d quantity: %r != %r" % (bid, b["quantity"], qty)
        assert _is_int(b.get("version")), "book %d has no integer version: %s" % (bid, describe(r))

    r = c.pub("GET", "/bazar/info/all")
    assert r.status == 200 and isinstance(r.body, list), describe(r)
    by_id = {b["id"]: b for b in r.body}
    assert len(by_id) == len(r.body) == 7, "info/all on a fresh cluster should hold exactly the 7 seed books: %s" % describe(r)
    for bid, (title, topic, price, qty) in SEED_BOOKS.items():
        b = by_id.get(bid)
        _check_book_record(b, "info/all[%d]" % bid)
        assert (b["title"], b["topic"], b["quantity"]) == (title, topic, qty), "info/all book %d: %r" % (bid, b)
        assert b["price"] == pytest.approx(price, abs=1e-9), "info/all book %d price: %r" % (bid, b)

    for topic in ("distributed systems", "undergraduate school", "new"):
        r = c.pub("GET", "/bazar/search/" + quote_segment(topic))
        assert r.status == 200, describe(r)
        want = sorted([{"id": i, "title": t} for i, (t, tp, _p, _q) in SEED_BOOKS.items() if tp == topic],
                      key=lambda x: x["id"])
        got = sorted(r.body, key=lambda x: x.get("id", -1)) if isinstance(r.body, list) else r.body
        assert got == want, "search %r: %r != %r" % (topic, got, want)


# --------------------------------------------------------------------------
# search


def test_search_distributed_systems(cluster):
    r = cluster.pub("GET", "/bazar/search/distributed%20systems")
    assert r.status == 200, describe(r)
    assert r.content_type == "application/json", describe(r)
    assert isinstance(r.body, list), describe(r)
    for item in r.body:
        assert isinstance(item, dict) and set(item) == {"id", "title"}, (
            "search items must be exactly {id, title}: %s" % describe(r))
    assert sorted(i["id"] for i in r.body) == [0, 1], describe(r)
    titles = {i["id"]: i["title"] for i in r.body}
    assert titles == {0: SEED_BOOKS[0][0], 1: SEED_BOOKS[1][0]}, describe(r)


def test_search_unknown_topic_is_empty_list(cluster):
    r = cluster.pub("GET", "/bazar/search/" + quote_segment("no such topic " + _uniq("t")))
    assert r.status == 200 and r.body == [], describe(r)


@pytest.mark.parametrize("path", [
    "/bazar/search/" + "a" * 2000,   # longer than any topic capture
    "/bazar/search/bad%ZZescape",    # malformed percent-escape
], ids=["too-long", "bad-escape"])
def test_search_bad_topic_is_400(cluster, path):
    expect_error(cluster.pub("GET", path), 400, "bad topic")


# --------------------------------------------------------------------------
# info


def test_info_one_book(cluster):
    r = cluster.pub("GET", "/bazar/info/2")
    assert r.status == 200, describe(r)
    _check_book_record(r.body, "info/2")
    assert r.body["id"] == 2 and r.body["title"] == SEED_BOOKS[2][0], describe(r)
    assert r.body["topic"] == SEED_BOOKS[2][1], describe(r)
    assert _is_int(r.body.get("version")), "info has no integer version: %s" % describe(r)


@pytest.mark.parametrize("bad_id", ["abc", "-1", "1.5", "0x10", "+1", "1e3", "99999999999999999999999"])
def test_info_non_integer_id_is_400(cluster, bad_id):
    expect_error(cluster.pub("GET", "/bazar/info/" + bad_id), 400, "info/%s" % bad_id)


def test_info_unknown_id_is_404(cluster):
    expect_error(cluster.pub("GET", "/bazar/info/999"), 404, "info/999")


def test_info_all(cluster):
    r = cluster.pub("GET", "/bazar/info/all")
    assert r.status == 200 and isinstance(r.body, list), describe(r)
    ids = [b.get("id") for b in r.body]
    assert len(ids) == len(set(ids)), "duplicate ids in info/all: %r" % ids
    assert set(range(7)) <= set(ids), "seed books missing from info/all: %r" % ids
    for b in r.body:
        _check_book_record(b, "info/all")
    # the full records agree with the one-book lookups
    all_by_id = {b["id"]: b for b in r.body}
    for bid in range(7):
        one = cluster.book(bid)
        for k in BOOK_KEYS:
            assert all_by_id[bid][k] == one[k], "info/all and info/%d disagree on %s: %r vs %r" % (
                bid, k, all_by_id[bid], one)


# --------------------------------------------------------------------------
# purchase and orders


def test_purchase_and_order_lookup(cluster):
    before = cluster.book(0)
    assert before["quantity"] > 0, "book 0 sold out before the test: %r" % before
    t0 = datetime.datetime.now(datetime.timezone.utc)
    r = cluster.pub("POST", "/bazar/purchase/0")
    assert r.status == 200, describe(r)
    assert r.content_type == "application/json", describe(r)
    order = r.body
    assert isinstance(order, dict) and ORDER_KEYS <= set(order), "order fields missing: %s" % describe(r)
    oid = order["order_id"]
    assert (_is_int(oid) and oid >= 0) or (isinstance(oid, str) and oid), "bad order_id: %s" % describe(r)
    assert order["book_id"] == 0, describe(r)
    assert order["title"] == before["title"], describe(r)
    assert order["price"] == pytest.approx(before["price"], abs=1e-9), describe(r)
    ca = order["created_at"]
    assert isinstance(ca, str) and ISO_UTC.match(ca), "created_at is not UTC ISO-8601 ending in Z: %r" % ca
    when = datetime.datetime.fromisoformat(ca[:-1].split(".")[0]).replace(tzinfo=datetime.timezone.utc)
    assert abs((when - t0).total_seconds()) < 120, "created_at %s is far from now (%s)" % (ca, t0.isoformat())

    after = cluster.book(0)
    assert after["quantity"] == before["quantity"] - 1, (
        "a purchase must take exactly one copy: %d -> %d" % (before["quantity"], after["quantity"]))

    r2 = cluster.pub("GET", "/bazar/orders/%s" % quote_segment(order["order_id"]))
    assert r2.status == 200, describe(r2)
    assert {k: r2.body.get(k) for k in ORDER_KEYS} == {k: order[k] for k in ORDER_KEYS}, (
        "order lookup differs from the purchase answer: %r vs %r" % (r2.body, order))


def test_unknown_order_is_404(cluster):
    expect_error(cluster.pub("GET", "/bazar/orders/987654321"), 404, "unknown order")


def test_purchase_unknown_book_is_404(cluster):
    n = len(cluster.books())
    expect_error(cluster.pub("POST", "/bazar/purchase/999"), 404, "purchase unknown book")
    assert len(cluster.books()) == n


@pytest.mark.parametrize("bad_id", ["abc", "-1", "1.5"])
def test_purchase_non_integer_id_is_4xx(cluster, bad_id):
    r = cluster.pub("POST", "/bazar/purchase/" + bad_id)
    assert r.status in (400, 404), "purchase/%s should be a 4xx: %s" % (bad_id, describe(r))
    expect_error(r, r.status, "purchase/%s" % bad_id)


def test_out_of_stock_is_409(cluster):
    start = cluster.book(2)["quantity"]
    assert start > 0, "book 2 already sold out: this test must be the only buyer of book 2"
    ok, statuses = 0, []
    deadline = time.monotonic() + 60
    for _ in range(start + 5):
        r = cluster.pub("POST", "/bazar/purchase/2")
        statuses.append(r.status)
        if r.status == 409:
            expect_error(r, 409, "out of stock")
            break
        assert r.status == 200, "purchase %d of book 2: %s" % (ok + 1, describe(r))
        ok += 1
        assert time.monotonic() < deadline, "buying book 2 took too long"
    assert ok == start, "book 2 had %d copies but %d purchases succeeded (statuses %r)" % (start, ok, statuses)
    assert statuses[-1] == 409, "no 409 after %d purchases: %r" % (ok, statuses)
    assert cluster.book(2)["quantity"] == 0
    expect_error(cluster.pub("POST", "/bazar/purchase/2"), 409, "still out of stock")
    assert cluster.book(2)["quantity"] == 0


def test_idempotency_key(cluster):
    before = cluster.book(0)["quantity"]
    key = _uniq("idem")
    r1 = cluster.pub("POST", "/bazar/purchase/0", headers={"Idempotency-Key": key})
    r2 = cluster.pub("POST", "/bazar/purchase/0", headers={"Idempotency-Key": key})
    assert r1.status == 200, describe(r1)
    assert r2.status == 200, "repeat with the same Idempotency-Key: %s" % describe(r2)
    assert r1.body["order_id"] == r2.body["order_id"], (
        "same Idempotency-Key must give the same order: %r vs %r" % (r1.body, r2.body))
    assert cluster.book(0)["quantity"] == before - 1, "same key twice must take one copy only"
    # a different key is a different purchase
    r3 = cluster.pub("POST", "/bazar/purchase/0", headers={"Idempotency-Key": _uniq("idem")})
    assert r3.status == 200 and r3.body["order_id"] != r1.body["order_id"], describe(r3)
    assert cluster.book(0)["quantity"] == before - 2


def test_a_refused_purchase_stays_refused_for_its_key(cluster):
    """The first decision for an Idempotency-Key is final, a refusal too: a
    purchase refused as out of stock is refused again for its key after a
    restock, while a new key buys. Without it, a client whose attempt
    overlapped a retry could be told "out of stock" for a key that holds an
    order. The key stays bound to its book, as a purchase's does."""
    bid, _ = _new_book(cluster, quantity=0)
    key = _uniq("refused")
    first = cluster.pub("POST", "/bazar/purchase/%d" % bid, headers={"Idempotency-Key": key})
    expect_error(first, 409, "purchase of a book out of stock")
    r = cluster.admin("POST", "/bazar/books/%d/restock" % bid, {"count": 2})
    assert r.status == 200 and r.body["quantity"] == 2, describe(r)
    again = cluster.pub("POST", "/bazar/purchase/%d" % bid, headers={"Idempotency-Key": key})
    expect_error(again, 409, "the refused key after a restock")
    assert again.body["error"] == first.body["error"], (
        "same key, same refusal: %r vs %r" % (first.body, again.body))
    assert cluster.book(bid)["quantity"] == 2, "a refused key took a copy"
    other = cluster.pub("POST", "/bazar/purchase/0", headers={"Idempotency-Key": key})
    expect_error(other, 409, "the refused key for another book")
    assert "already used for book %d" % bid in other.body["error"], describe(other)
    r = cluster.pub("POST", "/bazar/purchase/%d" % bid, headers={"Idempotency-Key": _uniq("new")})
    assert r.status == 200, "a new key buys: %s" % describe(r)
    assert cluster.book(bid)["quantity"] == 1


def test_concurrent_purchases_never_oversell(cluster):
    bid, _ = _new_book(cluster, quantity=10)
    with concurrent.futures.ThreadPoolExecutor(max_workers=12) as ex:
        results = list(ex.map(lambda _i: cluster.pub("POST", "/bazar/purchase/%d" % bid), range(30)))
    statuses = sorted(r.status for r in results)
    assert statuses.count(200) == 10 and statuses.count(409) == 20, (
        "30 concurrent purchases of 10 copies: want 10x200 + 20x409, got %r" % statuses)
    ids = [r.body["order_id"] for r in results if r.status == 200]
    assert len(set(map(str, ids))) == 10, "order ids not unique: %r" % ids
    assert cluster.book(bid)["quantity"] == 0


# --------------------------------------------------------------------------
# admin


def test_create_book_requires_token(cluster):
    n = len(cluster.books())
    body = {"title": "No token", "topic": "blackbox " + _uniq("t"), "price": 1.0, "quantity": 1}
    expect_error(cluster.pub("POST", "/bazar/books", body), 401, "no token")
    expect_error(cluster.pub("POST", "/bazar/books", body, {"Authorization": "Bearer wrong-" + _uniq("x")}),
                 401, "wrong token")
    expect_error(cluster.pub("POST", "/bazar/books", body, {"Authorization": cluster.token}),
                 401, "token without Bearer")
    assert len(cluster.books()) == n, "a refused create changed the catalog"
    r = cluster.pub("GET", "/bazar/search/" + quote_segment(body["topic"]))
    assert r.status == 200 and r.body == [], describe(r)


def test_create_book(cluster):
    n = len(cluster.books())
    body = {"title": "Blackbox Ünïcode " + _uniq("b"), "topic": "blackbox topic " + _uniq("t"),
            "price": 42.25, "quantity": 7}
    r = cluster.admin("POST", "/bazar/books", body)
    assert r.status == 201, describe(r)
    assert r.content_type == "application/json", describe(r)
    bid = r.body.get("id") if isinstance(r.body, dict) else None
    assert _is_int(bid) and bid >= 7, "201 must carry the new integer id: %s" % describe(r)
    for k in ("title", "topic", "quantity"):
        assert r.body.get(k) == body[k], "created book %s: %s" % (k, describe(r))
    assert r.body.get("price") == pytest.approx(42.25), describe(r)

    b = cluster.book(bid)
    assert (b["title"], b["topic"], b["quantity"]) == (body["title"], body["topic"], 7), b
    assert b["price"] == pytest.approx(42.25), b
    s = cluster.pub("GET", "/bazar/search/" + quote_segment(body["topic"]))
    assert s.status == 200 and s.body == [{"id": bid, "title": body["title"]}], describe(s)
    assert len(cluster.books()) == n + 1


INVALID_BOOKS = [
    ("missing-title", {"topic": "T", "price": 1.0, "quantity": 1}),
    ("missing-topic", {"title": "x", "price": 1.0, "quantity": 1}),
    ("missing-price", {"title": "x", "topic": "T", "quantity": 1}),
    ("missing-quantity", {"title": "x", "topic": "T", "price": 1.0}),
    ("negative-price", {"title": "x", "topic": "T", "price": -1.0, "quantity": 1}),
    ("price-NaN-string", {"title": "x", "topic": "T", "price": "NaN", "quantity": 1}),
    ("price-NaN-literal", '{"title": "x", "topic": "T", "price": NaN, "quantity": 1}'),
    ("price-Infinity-literal", '{"title": "x", "topic": "T", "price": Infinity, "quantity": 1}'),
    ("quantity-negative", {"title": "x", "topic": "T", "price": 1.0, "quantity": -1}),
    ("quantity-string", {"title": "x", "topic": "T", "price": 1.0, "quantity": "ten"}),
    ("title-empty", {"title": "", "topic": "T", "price": 1.0, "quantity": 1}),
    ("title-number", {"title": 5, "topic": "T", "price": 1.0, "quantity": 1}),
    ("truncated-json", "{"),
    ("json-array", "[]"),
    ("json-array-of-book", '[{"title": "x", "topic": "T", "price": 1.0, "quantity": 1}]'),
    ("empty-body", b""),
]


@pytest.mark.parametrize("name,body", INVALID_BOOKS, ids=[n for n, _ in INVALID_BOOKS])
def test_create_book_invalid_body_is_400(cluster, name, body):
    topic = "blackbox invalid " + _uniq(name)
    if isinstance(body, dict):
        body = dict(body)
        if body.get("topic") == "T":
            body["topic"] = topic
    elif isinstance(body, str):
        body = body.replace('"T"', '"%s"' % topic)
    n = len(cluster.books())
    expect_error(cluster.admin("POST", "/bazar/books", body), 400, "invalid book %s" % name)
    assert len(cluster.books()) == n, "invalid body %s changed info/all" % name
    s = cluster.pub("GET", "/bazar/search/" + quote_segment(topic))
    assert s.status == 200 and s.body == [], "invalid body %s created a book: %s" % (name, describe(s))


def test_update_price(cluster):
    expect_error(cluster.pub("PUT", "/bazar/books/1/price", {"price": 1.25}), 401, "price without token")
    expect_error(cluster.pub("PUT", "/bazar/books/1/price", {"price": 1.25},
                             {"Authorization": "Bearer nope"}), 401, "price with wrong token")
    assert cluster.book(1)["price"] != pytest.approx(1.25), "a refused price change was applied"

    r = cluster.admin("PUT", "/bazar/books/1/price", {"price": 39.5})
    assert r.status == 200, describe(r)
    assert isinstance(r.body, dict) and r.body.get("id") == 1, "200 must carry the updated book: %s" % describe(r)
    assert r.body.get("price") == pytest.approx(39.5), describe(r)
    assert cluster.book(1)["price"] == pytest.approx(39.5), "info/1 does not show the new price"


@pytest.mark.parametrize("body", [
    {"price": -1}, {"price": "abc"}, {"price": "NaN"}, {}, {"cost": 3.0}, "{", "[39.5]",
], ids=["negative", "string", "nan-string", "empty-object", "wrong-key", "truncated", "array"])
def test_update_price_invalid_is_400(cluster, body):
    before = cluster.book(1)["price"]
    expect_error(cluster.admin("PUT", "/bazar/books/1/price", body), 400, "invalid price %r" % (body,))
    assert cluster.book(1)["price"] == pytest.approx(before), "an invalid price changed book 1"


def test_update_price_unknown_book_is_404(cluster):
    expect_error(cluster.admin("PUT", "/bazar/books/999/price", {"price": 3.0}), 404, "price unknown book")


def test_restock(cluster):
    before = cluster.book(1)["quantity"]
    expect_error(cluster.pub("POST", "/bazar/books/1/restock", {"count": 25}), 401, "restock without token")
    expect_error(cluster.pub("POST", "/bazar/books/1/restock", {"count": 25},
                             {"Authorization": "Bearer nope"}), 401, "restock wrong token")
    assert cluster.book(1)["quantity"] == before, "a refused restock was applied"

    r = cluster.admin("POST", "/bazar/books/1/restock", {"count": 25})
    assert r.status == 200, describe(r)
    assert isinstance(r.body, dict) and r.body.get("id") == 1, "200 must carry the updated book: %s" % describe(r)
    assert r.body.get("quantity") == before + 25, describe(r)
    assert cluster.book(1)["quantity"] == before + 25, "info/1 does not show the restock"


@pytest.mark.parametrize("body", [{"count": 0}, {"count": -5}, {"count": "ten"}, {"count": 2.5}, {}, "{"],
                         ids=["zero", "negative", "string", "fraction", "empty-object", "truncated"])
def test_restock_invalid_is_400(cluster, body):
    before = cluster.book(1)["quantity"]
    expect_error(cluster.admin("POST", "/bazar/books/1/restock", body), 400, "invalid restock %r" % (body,))
    assert cluster.book(1)["quantity"] == before, "an invalid restock changed book 1"


def test_restock_unknown_book_is_404(cluster):
    expect_error(cluster.admin("POST", "/bazar/books/999/restock", {"count": 5}), 404, "restock unknown book")


@pytest.mark.parametrize("path", ["/bazar/books/abc/price", "/bazar/books/-1/price"])
def test_admin_non_integer_id_is_400(cluster, path):
    expect_error(cluster.admin("PUT", path, {"price": 3.0}), 400, path)


# --------------------------------------------------------------------------
# methods, sizes, routing


@pytest.mark.parametrize("method,path,allowed", [
    ("GET", "/bazar/purchase/1", "POST"),
    ("DELETE", "/bazar/info/1", "GET"),
    ("POST", "/bazar/info/1", "GET"),
    ("PATCH", "/bazar/books/1/price", "PUT"),
    ("GET", "/bazar/books/1/restock", "POST"),
])
def test_wrong_method_is_405_with_allow(cluster, method, path, allowed):
    n0 = cluster.book(1)
    r = cluster.pub(method, path)
    expect_error(r, 405, "%s %s" % (method, path))
    allow = r.headers.get("allow", "")
    assert allowed in [m.strip() for m in allow.split(",")], (
        "Allow header %r should list %s: %s" % (allow, allowed, describe(r)))
    n1 = cluster.book(1)
    assert (n0["quantity"], n0["price"]) == (n1["quantity"], n1["price"]), "a 405 changed book 1"


def test_oversized_body_is_413(cluster):
    n = len(cluster.books())
    big = '{"title": "%s", "topic": "blackbox big", "price": 1.0, "quantity": 1}' % ("x" * (2 * 1024 * 1024))
    r = cluster.admin("POST", "/bazar/books", big, timeout=10)
    expect_error(r, 413, "2 MB body")
    assert len(cluster.books()) == n


INTERNAL_ONLY = ["/status", "/catalog/books/1", "/order/orders/1", "/replica/catalog/1/books/1",
                 "/peer/catalog/1/state", "/peer/order/1/state", "/catalog/health"]


@pytest.mark.parametrize("path", INTERNAL_ONLY)
def test_internal_routes_not_on_public_port(cluster, path):
    expect_error(cluster.pub("GET", path), 404, "public GET %s" % path)


@pytest.mark.parametrize("path", ["/bazar/../status", "/bazar/%2e%2e/status", "//status", "/%73tatus",
                                  "/bazar/../catalog/books/1", "/bazar/info/../../peer/catalog/1/state"])
def test_internal_routes_not_reachable_by_path_tricks(cluster, path):
    r = cluster.pub("GET", path)
    assert r.status in (400, 404), "public GET %s must be 400/404: %s" % (path, describe(r))
    expect_error(r, r.status, path)


def test_internal_routes_served_on_internal_port(cluster):
    # proves the paths above are the real internal ones
    for path in ("/status", "/catalog/books/1", "/replica/catalog/1/books/1", "/peer/catalog/1/state"):
        r = cluster.internal("GET", path)
        assert r.status == 200, "internal GET %s: %s" % (path, describe(r))


def test_unknown_public_paths_are_json_404(cluster):
    for path in ("/nope", "/bazar", "/bazar/", "/bazar/nope", "/bazar/info", "/bazar/info/1/extra"):
        r = cluster.pub("GET", path)
        expect_error(r, 404, "GET %s" % path)


# --------------------------------------------------------------------------
# every response: JSON, error shape, Server-Timing


EVERY = [
    # (method, path, body, admin?, expected status)
    ("GET", "/bazar/search/distributed%20systems", None, False, 200),
    ("GET", "/bazar/search/nothing-here", None, False, 200),
    ("GET", "/bazar/info/3", None, False, 200),
    ("GET", "/bazar/info/all", None, False, 200),
    ("GET", "/bazar/books?topic=new&sort=-price&per_page=2", None, False, 200),
    ("GET", "/bazar/books?page=0", None, False, 400),
    ("GET", "/bazar/topics", None, False, 200),
    ("GET", "/bazar/info/abc", None, False, 400),
    ("GET", "/bazar/info/999", None, False, 404),
    ("POST", "/bazar/purchase/999", None, False, 404),
    ("GET", "/bazar/orders/987654321", None, False, 404),
    ("POST", "/bazar/books", {"title": "x", "topic": "y", "price": 1, "quantity": 1}, False, 401),
    ("POST", "/bazar/books", "{", True, 400),
    ("PUT", "/bazar/books/999/price", {"price": 2.0}, True, 404),
    ("POST", "/bazar/books/999/restock", {"count": 2}, True, 404),
    ("GET", "/bazar/purchase/1", None, False, 405),
    ("GET", "/bazar/nope", None, False, 404),
    ("GET", "/health", None, False, 200),
]


@pytest.mark.parametrize("method,path,body,is_admin,status", EVERY,
                         ids=["%s %s %d" % (m, p, s) for m, p, _b, _a, s in EVERY])
def test_every_response_is_json_with_server_timing(cluster, method, path, body, is_admin, status):
    r = (cluster.admin if is_admin else cluster.pub)(method, path, body)
    assert r.status == status, describe(r)
    assert r.content_type == "application/json", "Content-Type %r: %s" % (r.headers.get("content-type"), describe(r))
    try:
        json.loads(r.raw.decode("utf-8"))
    except ValueError:
        pytest.fail("body is not JSON: %s" % describe(r))
    if status >= 400:
        expect_error(r, status)
    if path.startswith("/bazar/"):
        st = r.headers.get("server-timing")
        assert st, "no Server-Timing on %s %s: headers %r" % (method, path, r.headers)
        assert cluster.server_timing(st), "Server-Timing does not parse: %r" % st


def test_health(cluster):
    r = cluster.pub("GET", "/health")
    assert r.status == 200, describe(r)
    assert r.content_type == "application/json", describe(r)
