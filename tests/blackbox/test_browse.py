"""The catalog pages GET /bazar/books and the topic list GET /bazar/topics
(README.md, "The API"): pages partition the filtered books exactly in every
sort order, the topic and q filters, the topic counts (and that an admin
write moves them at once, at every replica), and every bad input answers a
JSON 4xx and changes nothing.

One module cluster; the books these tests add live under topics of their own,
so the assertions hold whatever else the cluster holds."""

import os
import urllib.parse

import pytest

from conftest import SEED_BOOKS, describe, expect_error

SORTS = ["id", "-id", "title", "-title", "price", "-price", "quantity", "-quantity"]
PAGE_KEYS = {"books", "total", "page", "per_page"}
BOOK_KEYS = {"id", "title", "topic", "price", "quantity", "version"}


def _uniq(tag):
    return "%s-%d-%s" % (tag, os.getpid(), os.urandom(4).hex())


def _add(cluster, title, topic, price, quantity):
    r = cluster.admin("POST", "/bazar/books",
                      {"title": title, "topic": topic, "price": price, "quantity": quantity})
    assert r.status == 201, "add book: %s" % describe(r)
    return r.body


def _page(cluster, expect=200, **params):
    r = cluster.pub("GET", "/bazar/books?" + urllib.parse.urlencode(params))
    assert r.status == expect, describe(r)
    if expect == 200:
        assert r.content_type == "application/json" and set(r.body) == PAGE_KEYS, describe(r)
        for b in r.body["books"]:
            assert set(b) == BOOK_KEYS, describe(r)
    return r.body


def _all_pages(cluster, per_page, **params):
    """Every page in turn until one comes back empty: (books, totals seen)."""
    books, totals = [], set()
    for page in range(1, 1000):
        body = _page(cluster, page=page, per_page=per_page, **params)
        assert body["page"] == page and body["per_page"] == per_page, body
        totals.add(body["total"])
        if not body["books"]:
            return books, totals
        assert len(body["books"]) <= per_page, body
        books += body["books"]
    pytest.fail("more than 1000 pages")


def _sort_key(name):
    field = name.lstrip("-")
    if field == "price":
        return lambda b: (round(b["price"] * 100), b["id"])
    if field == "id":
        return lambda b: b["id"]
    return lambda b: (b[field], b["id"])


@pytest.fixture(scope="module")
def shelf(cluster):
    """23 books under a topic of their own: prices and quantities that tie (the
    id breaks ties), titles that differ in case and hold LIKE's '%' and '_'
    (and titles that those would match as wildcards)."""
    topic = "browse " + _uniq("topic")
    made = []
    for i in range(23):
        extra = {7: " 100% pure", 8: " snake_case", 9: " one case", 10: " 1000 pages",
                 11: ' a "quoted" word', 12: " \u00dcn\u00efcode", 13: " \u00fcn\u00efcode"}
        title = "%s volume %02d%s" % ("Alpha" if i % 3 == 0 else "beta", i, extra.get(i, ""))
        made.append(_add(cluster, title, topic, [9.5, 12.0, 3.25][i % 3], [5, 0, 5, 17][i % 4]))
    return topic, made


@pytest.mark.parametrize("sort", SORTS)
def test_pages_partition_a_topic_in_every_sort(cluster, shelf, sort):
    topic, made = shelf
    got, totals = _all_pages(cluster, 5, topic=topic, sort=sort)
    assert totals == {23}, totals
    want = sorted(made, key=_sort_key(sort), reverse=sort.startswith("-"))
    assert [b["id"] for b in got] == [b["id"] for b in want], "sort=%s" % sort
    assert got == want, "sort=%s: records differ from what the admin API answered" % sort


def test_pages_partition_the_whole_catalog(cluster, shelf):
    everything = cluster.books()
    got, totals = _all_pages(cluster, 100)
    assert totals == {len(everything)}, (totals, len(everything))
    assert [b["id"] for b in got] == sorted(everything), "pages by id != /bazar/info/all"
    assert {b["id"]: b for b in got} == everything


def test_defaults_and_a_page_past_the_end(cluster, shelf):
    topic, made = shelf
    body = _page(cluster, topic=topic)
    assert (body["page"], body["per_page"], body["total"]) == (1, 20, 23), body
    assert [b["id"] for b in body["books"]] == sorted(b["id"] for b in made)[:20]
    for page in (6, 1000000000):
        body = _page(cluster, topic=topic, page=page, per_page=5)
        assert body == {"books": [], "total": 23, "page": page, "per_page": 5}, body
    body = _page(cluster, topic="no such topic " + _uniq("t"))
    assert body == {"books": [], "total": 0, "page": 1, "per_page": 20}, body


@pytest.mark.parametrize("q,want", [
    ("ALPHA", lambda b: "alpha" in b["title"].lower()),          # any case
    ("volume 1", lambda b: "volume 1" in b["title"]),             # a substring with a space
    ("100%", lambda b: "100%" in b["title"]),       # '%' taken literally (not "1000 pages")
    ("e_c", lambda b: "e_c" in b["title"]),         # '_' taken literally (not "one case")
    ("nothing like this", lambda b: False),
    ('"quoted" w', lambda b: '"quoted" w' in b["title"]),  # FTS5 phrase quotes escaped
    # non-ASCII letters match in their own case only (as LIKE has it; the index folds them)
    ("\u00dcn\u00ef", lambda b: "\u00dcn\u00ef" in b["title"]),
    # fewer than 3 characters: no trigram, the titles are read (LIKE)
    ("%", lambda b: "%" in b["title"]),
    ("_c", lambda b: "_c" in b["title"]),           # not " case"
    ("aL", lambda b: "al" in b["title"].lower()),
    ("7", lambda b: "7" in b["title"]),
])
def test_q_filters_titles_within_a_topic(cluster, shelf, q, want):
    topic, made = shelf
    got, totals = _all_pages(cluster, 4, topic=topic, q=q, sort="-title")
    expected = sorted((b for b in made if want(b)), key=_sort_key("title"), reverse=True)
    assert totals == {len(expected)}, (q, totals, len(expected))
    assert [b["id"] for b in got] == [b["id"] for b in expected], q


def test_q_alone_and_plus_as_space(cluster, shelf):
    # '+' is a space in a query string, %2B a plus; q alone searches every topic
    r = cluster.pub("GET", "/bazar/books?q=rpcs+for&per_page=100")
    assert r.status == 200 and [b["id"] for b in r.body["books"]] == [1], describe(r)
    r = cluster.pub("GET", "/bazar/books?q=rpcs%2Bfor")
    assert r.status == 200 and r.body["total"] == 0, describe(r)
    r = cluster.pub("GET", "/bazar/books?topic=distributed+systems&sort=-id")
    assert r.status == 200 and [b["id"] for b in r.body["books"]] == [1, 0], describe(r)
    assert r.body["books"][0]["title"] == SEED_BOOKS[1][0], describe(r)


def test_topics_count_every_book(cluster, shelf):
    topic, _made = shelf
    r = cluster.pub("GET", "/bazar/topics")
    assert r.status == 200 and isinstance(r.body, list), describe(r)
    assert all(set(t) == {"topic", "count"} for t in r.body), describe(r)
    names = [t["topic"] for t in r.body]
    assert names == sorted(names, key=lambda s: s.encode()) and len(set(names)) == len(names)
    counts = {t["topic"]: t["count"] for t in r.body}
    assert counts[topic] == 23
    for seed_topic in ("distributed systems", "undergraduate school", "new"):
        assert counts[seed_topic] >= sum(1 for b in SEED_BOOKS.values() if b[1] == seed_topic)
    assert sum(counts.values()) == _page(cluster)["total"]


def test_an_added_book_shows_at_once_at_every_replica(cluster):
    topic = "browse new " + _uniq("topic")
    before = cluster.pub("GET", "/bazar/books?per_page=1").body["total"]
    for n in (1, 2):
        book = _add(cluster, "Added %d" % n, topic, 1.5, 2)
        # the whole catalog by id, newest first: an order each process keeps
        # (catalog_pages.c, "kept orders"), read anew once a book is added
        for rep in range(1, cluster.catalog_replicas + 1):
            for _ in range(4):  # several requests: the pool's workers each keep their own
                r = cluster.internal("GET", "/replica/catalog/%d/browse?sort=-id&per_page=1" % rep)
                assert r.status == 200 and r.body["total"] == before + n, describe(r)
                assert r.body["books"][0] == book, describe(r)
        counts = {t["topic"]: t["count"] for t in cluster.pub("GET", "/bazar/topics").body}
        assert counts.get(topic) == n, "topics after %d adds: %r" % (n, counts.get(topic))
        # each replica's own pool, under its read lease: the acknowledged add is there
        for rep in range(1, cluster.catalog_replicas + 1):
            r = cluster.internal("GET", "/replica/catalog/%d/browse?sort=-id&topic=%s"
                                 % (rep, urllib.parse.quote(topic)))
            assert r.status == 200 and r.body["total"] == n, describe(r)
            assert r.body["books"][0] == book, describe(r)
            r = cluster.internal("GET", "/replica/catalog/%d/topics" % rep)
            assert r.status == 200 and {"topic": topic, "count": n} in r.body, describe(r)


BAD = [
    "page=abc", "page=0", "page=-1", "page=1.5", "page=", "page", "page=1000000001",
    "per_page=0", "per_page=1000", "per_page=101", "per_page=x", "sort=name", "sort=",
    "sort=PRICE", "sort=+price", "q=" + "a" * 201, "q=%zz", "q=a%2", "q=%ff%fe", "q=a%00b",
    "q=a%0Ab", "topic=%c0%af", "topic=" + "t" * 201, "pages=2", "page=1&page=2", "sort=id&sort=id",
]


def _catalog_state(cluster):
    """The catalog primary's log position and state hash (a backup's may still
    be moving to the last write's position)."""
    r = cluster.internal("GET", "/status")
    assert r.status == 200, describe(r)
    cat = r.body["catalog"]
    return [(rep["id"], rep["applied"], rep["hash"]) for rep in cat["replicas"]
            if rep["id"] == cat["primary"]]


def test_every_bad_input_is_a_json_400_and_changes_nothing(cluster):
    before = _catalog_state(cluster)
    for query in BAD:
        r = cluster.pub("GET", "/bazar/books?" + query)
        expect_error(r, 400, "GET /bazar/books?%s" % query[:80])
        assert r.headers.get("server-timing"), describe(r)
        # the catalog checks the same on its own route
        r = cluster.internal("GET", "/catalog/browse?" + query)
        expect_error(r, 400, "internal GET /catalog/browse?%s" % query[:80])
    r = cluster.pub("GET", "/bazar/books?page=0")
    assert "page must be an integer from 1 to 1000000000" in r.body["error"], describe(r)
    r = cluster.pub("GET", "/bazar/books?sort=name")
    assert "sort must be one of id, -id, title" in r.body["error"], describe(r)
    # wrong methods: 405 with Allow; a write without the token: 401
    for method, path, allow in (("PUT", "/bazar/books", "GET, POST"),
                                ("DELETE", "/bazar/topics", "GET"),
                                ("POST", "/bazar/topics", "GET")):
        r = cluster.pub(method, path)
        expect_error(r, 405, "%s %s" % (method, path))
        assert r.headers.get("allow") == allow, describe(r)
    expect_error(cluster.pub("POST", "/bazar/books?page=0", {"title": "x"}), 401, "add, no token")
    assert _catalog_state(cluster) == before, "a bad request changed the catalog"
