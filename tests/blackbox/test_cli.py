"""The `bazar` command-line client against a live cluster: every subcommand,
human-readable and --json output, --help, and every exit code (0 ok, 1 not
found / out of stock / rejected, 2 usage error, 3 unreachable or 5xx).
Also the public GET /bazar/status it reads (with Redis's hit ratio)."""

import json
import os
import re
import subprocess
import time

import pytest

from conftest import REPO, SEED_BOOKS, describe, free_port, pid_alive


def _cli_path():
    d = os.environ.get("BAZAR_TEST_BIN")
    if d:
        d = d if os.path.isabs(d) else os.path.join(REPO, d)
        if os.path.exists(os.path.join(d, "bazar")):
            return os.path.join(d, "bazar")
    return os.path.join(REPO, "bin", "bazar")


BAZAR = _cli_path()


class Run:
    def __init__(self, args, p):
        self.args, self.rc, self.out, self.err = args, p.returncode, p.stdout, p.stderr

    def __repr__(self):
        return "bazar %s -> rc %s\nstdout: %s\nstderr: %s" % (
            " ".join(self.args), self.rc, self.out[-1500:], self.err[-1500:])

    def json(self):
        return json.loads(self.out)


def bazar(*args, server=None, env=None, cwd=None):
    """Runs bin/bazar with a clean environment (no BAZAR_* unless given)."""
    e = {k: v for k, v in os.environ.items() if not k.startswith("BAZAR_")}
    if server:
        e["BAZAR_SERVER"] = server
    e.update(env or {})
    p = subprocess.run([BAZAR] + list(args), env=e, cwd=cwd or "/", capture_output=True,
                       text=True, timeout=60, stdin=subprocess.DEVNULL)
    return Run(list(args), p)


def ok(r):
    assert r.rc == 0, r
    assert r.err == "", r
    return r


def failed(r, rc, pattern=None):
    """Exit code rc, nothing on stdout, exactly one line on stderr."""
    assert r.rc == rc, "expected exit %d: %r" % (rc, r)
    assert r.out == "", r
    lines = r.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("bazar: "), "stderr must be one line: %r" % r
    if pattern:
        assert re.search(pattern, lines[0]), "stderr does not match %r: %r" % (pattern, r)
    return r


def kv(out):
    """'name   value' lines -> dict."""
    d = {}
    for line in out.splitlines():
        k, _, v = line.partition(" ")
        d[k] = v.strip()
    return d


@pytest.fixture(scope="module")
def srv(cluster):
    assert os.access(BAZAR, os.X_OK), "%s is not built (make all)" % BAZAR
    return "http://127.0.0.1:%d" % cluster.public_port


def _admin_env(cluster):
    return {"BAZAR_VAR": cluster.var}


def _new_book(cluster, srv, qty=5, price="7.25"):
    title = "CLI book %d-%s" % (os.getpid(), os.urandom(3).hex())
    r = ok(bazar("add", "--title", title, "--topic", "cli " + title, "--price", price,
                 "--quantity", str(qty), "--json", server=srv, env=_admin_env(cluster)))
    return r.json()["id"], title


# ---------------------------------------------------------------- help and usage (exit 2)


def test_help_lists_every_subcommand():
    r = ok(bazar("--help"))
    for cmd in ("search", "info", "buy", "order", "add", "price", "restock", "status"):
        assert re.search(r"^  %s\b" % cmd, r.out, re.M), r
    assert "Exit codes" in r.out
    assert ok(bazar("help")).out == r.out


@pytest.mark.parametrize("cmd,synopsis", [
    ("search", "search TOPIC"), ("info", "info (ID | --all)"),
    ("buy", "buy ID [--key IDEMPOTENCY_KEY]"), ("order", "order ORDER_ID"),
    ("add", "add --title T --topic T --price P --quantity Q"), ("price", "price ID PRICE"),
    ("restock", "restock ID COUNT"), ("status", "status")])
def test_subcommand_help(cmd, synopsis):
    r = ok(bazar(cmd, "--help"))
    assert r.out.startswith("usage: bazar %s " % synopsis), r
    assert ok(bazar("help", cmd)).out == r.out
    # --help wins over missing arguments and needs no server
    assert ok(bazar(cmd, "-h", server="http://127.0.0.1:1")).out == r.out


@pytest.mark.parametrize("args,why", [
    ((), r"no command"),
    (("frobnicate",), r"unknown command 'frobnicate'"),
    (("info", "--bogus"), r"unknown option '--bogus'"),
    (("info",), r"book ID or --all"),
    (("info", "abc"), r"book ID 'abc' is not a non-negative integer"),
    (("info", "-1"), r"not a non-negative integer"),
    (("info", "1", "--all"), r"either ID or --all"),
    (("info", "1", "2"), r"unexpected argument '2'"),
    (("search",), r"missing argument"),
    (("buy",), r"missing argument"),
    (("buy", "1", "--key", "bad key!"), r"--key"),
    (("buy", "1", "--title", "x"), r"'--title' does not apply"),
    (("order", "x1"), r"order ID"),
    (("add", "--title", "t", "--topic", "t", "--price", "1"), r"--quantity"),
    (("add", "--title", "t", "--topic", "t", "--price", "1e", "--quantity", "1"), r"decimal"),
    (("add", "--title", "t", "--topic", "t", "--price", "nan", "--quantity", "1"), r"decimal"),
    (("add", "--title", "t", "--topic", "t", "--price", "1", "--quantity", "1.5"), r"integer"),
    (("price", "1"), r"missing argument"),
    (("price", "1", "cheap"), r"decimal"),
    (("restock", "1", "many"), r"integer"),
    (("status", "extra"), r"unexpected argument"),
    (("status", "--server"), r"needs a value"),
    (("status", "--server", "ftp://x"), r"http:// or https://"),
])
def test_usage_errors_exit_2(args, why):
    # an unreachable server: a usage error must be found before any request
    failed(bazar(*args, server="http://127.0.0.1:1"), 2, why)


def test_admin_without_any_token_is_a_usage_error(tmp_path):
    env = {"BAZAR_VAR": str(tmp_path)}  # no admin.token there, no BAZAR_TOKEN
    failed(bazar("restock", "1", "5", server="http://127.0.0.1:1", env=env), 2,
           r"needs the admin token")


# ---------------------------------------------------------------- lookups (exit 0 / 1)


def test_search_table_and_json(cluster, srv):
    r = ok(bazar("search", "distributed systems", server=srv))
    lines = r.out.splitlines()
    assert lines[0].split() == ["ID", "TITLE"], r
    col = lines[0].index("TITLE")
    rows = {int(l[:col].strip()): l[col:] for l in lines[1:]}
    assert rows == {0: SEED_BOOKS[0][0], 1: SEED_BOOKS[1][0]}, r
    j = ok(bazar("search", "distributed systems", "--json", server=srv)).json()
    assert j == cluster.pub("GET", "/bazar/search/distributed%20systems").body
    r = ok(bazar("search", "no such topic at all", server=srv))
    assert "no books" in r.out, r
    assert ok(bazar("search", "no such topic at all", "--json", server=srv)).json() == []


def test_info_one_book(cluster, srv):
    r = ok(bazar("info", "3", server=srv))
    d = kv(r.out)
    assert d["id"] == "3" and d["title"] == SEED_BOOKS[3][0] and d["topic"] == SEED_BOOKS[3][1], r
    assert d["price"] == "89.33" and int(d["quantity"]) == cluster.book(3)["quantity"], r
    # values start in one column
    starts = {len(l) - len(l[l.index(" "):].lstrip()) for l in r.out.splitlines()}
    assert len(starts) == 1, r
    j = ok(bazar("info", "3", "--json", server=srv)).json()
    assert j["id"] == 3 and j["title"] == SEED_BOOKS[3][0]


def test_info_all_is_an_aligned_table(cluster, srv):
    r = ok(bazar("info", "--all", server=srv))
    lines = r.out.splitlines()
    assert lines[0].split() == ["ID", "TITLE", "TOPIC", "PRICE", "STOCK"], r
    books = cluster.books()
    assert len(lines) - 1 == len(books), r
    cols = [lines[0].index(h) for h in ("TITLE", "TOPIC", "PRICE", "STOCK")]
    for line in lines[1:]:
        bid = int(line[:cols[0]])
        assert line[cols[0]:cols[1]].rstrip() == books[bid]["title"], line
        assert line[cols[1]:cols[2]].rstrip() == books[bid]["topic"], line
        assert float(line[cols[2]:cols[3]]) == pytest.approx(books[bid]["price"]), line
    j = ok(bazar("--json", "info", "--all", server=srv)).json()
    assert {b["id"] for b in j} == set(books)


def test_not_found_exit_1(srv):
    failed(bazar("info", "987654", server=srv), 1, r"not found \(HTTP 404\)")
    failed(bazar("order", "987654321", server=srv), 1, r"HTTP 404")
    failed(bazar("buy", "987654", server=srv), 1, r"HTTP 404")


# ---------------------------------------------------------------- buying


def test_buy_then_order(cluster, srv):
    before = cluster.book(4)["quantity"]
    r = ok(bazar("buy", "4", server=srv))
    d = kv(r.out)
    assert d["book_id"] == "4" and d["title"] == SEED_BOOKS[4][0] and d["price"] == "70.00", r
    assert re.fullmatch(r"[A-Za-z0-9._:-]+", d["key"]), r
    assert cluster.book(4)["quantity"] == before - 1
    o = ok(bazar("order", d["order_id"], server=srv))
    assert kv(o.out)["order_id"] == d["order_id"] and kv(o.out)["book_id"] == "4", o
    assert ok(bazar("order", d["order_id"], "--json", server=srv)).json()["book_id"] == 4


def test_buy_with_key_is_idempotent(cluster, srv):
    key = "cli-%d-%s" % (os.getpid(), os.urandom(4).hex())
    before = cluster.book(5)["quantity"]
    a = ok(bazar("buy", "5", "--key", key, "--json", server=srv)).json()
    b = ok(bazar("buy", "5", "--key=" + key, "--json", server=srv)).json()
    assert a == b and a["book_id"] == 5
    assert cluster.book(5)["quantity"] == before - 1


def test_out_of_stock_exit_1(cluster, srv):
    bid, title = _new_book(cluster, srv, qty=1)
    assert kv(ok(bazar("buy", str(bid), server=srv)).out)["title"] == title
    failed(bazar("buy", str(bid), server=srv), 1, r"out of stock \(HTTP 409\)")
    assert cluster.book(bid)["quantity"] == 0


# ---------------------------------------------------------------- admin


def test_add_price_restock(cluster, srv):
    env = _admin_env(cluster)
    r = ok(bazar("add", "--title", "Ünïcode <b>CLI</b>", "--topic", "cli admin", "--price",
                 "22.35", "--quantity", "4", server=srv, env=env))
    d = kv(r.out)
    bid = int(d["id"])
    assert d["title"] == "Ünïcode <b>CLI</b>" and d["price"] == "22.35" and d["quantity"] == "4", r
    assert cluster.book(bid)["price"] == 22.35
    r = ok(bazar("price", str(bid), "39.5", server=srv, env=env))
    assert kv(r.out)["price"] == "39.50" and cluster.book(bid)["price"] == 39.5, r
    r = ok(bazar("restock", str(bid), "25", "--json", server=srv, env=env))
    assert r.json()["quantity"] == 29 and cluster.book(bid)["quantity"] == 29, r
    # the token from BAZAR_TOKEN, and from --token (which wins over a wrong BAZAR_TOKEN)
    ok(bazar("restock", str(bid), "1", server=srv, env={"BAZAR_TOKEN": cluster.token}))
    ok(bazar("restock", str(bid), "1", "--token", cluster.token, server=srv,
             env={"BAZAR_TOKEN": "wrong"}))
    assert cluster.book(bid)["quantity"] == 31


def test_admin_rejections_exit_1(cluster, srv):
    env = _admin_env(cluster)
    failed(bazar("restock", "1", "5", "--token", "not-the-token", server=srv), 1,
           r"token rejected \(HTTP 401\)")
    failed(bazar("price", "1", "-3", server=srv, env=env), 1, r"rejected \(HTTP 400\)")
    failed(bazar("price", "987654", "3", server=srv, env=env), 1, r"HTTP 404")
    failed(bazar("add", "--title", "", "--topic", "t", "--price", "1", "--quantity", "1",
                 server=srv, env=env), 1, r"HTTP 400")


def test_token_file_next_to_the_binary_or_in_cwd(cluster, srv, tmp_path):
    """Without BAZAR_VAR: var/admin.token in the current directory works too."""
    (tmp_path / "var").mkdir()
    (tmp_path / "var" / "admin.token").write_text(cluster.token + "\n")
    ok(bazar("restock", "6", "1", server=srv, cwd=str(tmp_path)))


# ---------------------------------------------------------------- status


def test_status_table(cluster, srv):
    cluster.book(1)
    cluster.book(1)  # at least one cache hit
    r = ok(bazar("status", server=srv))
    assert re.search(r"^catalog: primary \d, 3 of 3 up, state hashes agree$", r.out, re.M), r
    assert re.search(r"^order: primary \d, 3 of 3 up, state hashes agree$", r.out, re.M), r
    assert len(re.findall(r"^\d\s+up\s+(primary|backup)\s+\d+\s+[0-9a-f]+", r.out, re.M)) == 6, r
    assert re.search(r"^cache: on, \d+ hits, \d+ misses, hit ratio \d+\.\d%$", r.out, re.M), r
    j = ok(bazar("status", "--json", server=srv)).json()
    assert j["catalog"]["up"] == 3 and j["order"]["up"] == 3


def test_public_status_matches_internal(cluster):
    pub = cluster.pub("GET", "/bazar/status")
    assert pub.status == 200 and pub.content_type == "application/json", describe(pub)
    internal = cluster.internal("GET", "/status").body
    for svc in ("catalog", "order"):
        assert pub.body[svc]["primary"] == internal[svc]["primary"]
        assert [r["up"] for r in pub.body[svc]["replicas"]] == [r["up"] for r in internal[svc]["replicas"]]
        # Where replicas run is for operators only: the internal view has each
        # replica's pids (from its own host's pid files) and listener, the public not.
        for i, (p, q) in enumerate(zip(pub.body[svc]["replicas"], internal[svc]["replicas"]), 1):
            assert "pids" not in p and "listen" not in p, p
            assert sorted(q["pids"]) == sorted(cluster.workers("%s-%d" % (svc, i)) +
                                               cluster.workers("%s-%d.peer" % (svc, i))), q
            assert q["listen"] == "unix:%s/run/%s-%d.peer.sock" % (cluster.var, svc, i), q
    c = pub.body["cache"]
    assert c["enabled"] is True
    assert isinstance(c["hits"], int) and isinstance(c["misses"], int), c
    assert c["hits"] >= 1
    assert c["hit_ratio"] == pytest.approx(c["hits"] / (c["hits"] + c["misses"]))
    before = c["hits"]
    cluster.book(2)
    cluster.book(2)
    assert cluster.pub("GET", "/bazar/status").body["cache"]["hits"] > before
    assert cluster.pub("POST", "/bazar/status").status == 405


# ---------------------------------------------------------------- exit 3


def test_unreachable_server_exit_3(srv):
    port = free_port()
    failed(bazar("info", "1", server="http://127.0.0.1:%d" % port), 3, r"cannot reach")
    failed(bazar("status", "--server", "http://127.0.0.1:%d/" % port, server=srv), 3,
           r"cannot reach")
    # --server wins over BAZAR_SERVER
    ok(bazar("info", "1", "--server", srv, server="http://127.0.0.1:%d" % port))


def _kill_pools(c, names):
    pids = c.kill(names)  # they stay dead (sv once)
    deadline = time.monotonic() + 10
    while any(pid_alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(pid_alive(p) for p in pids)


def test_server_errors_exit_3_and_redis_down(make_cluster):
    c = make_cluster(catalog_replicas=1, order_replicas=1)
    srv = "http://127.0.0.1:%d" % c.public_port
    # Redis down: the status still answers, with the hit ratio unknown
    _kill_pools(c, ["redis"])
    st = c.pub("GET", "/bazar/status").body["cache"]
    assert st == {"enabled": True, "hits": None, "misses": None, "hit_ratio": None}, st
    assert re.search(r"^cache: on, - hits, - misses, hit ratio -$",
                     ok(bazar("status", server=srv)).out, re.M)
    # every order replica down: the front end answers 503
    _kill_pools(c, ["order-1", "order-1.peer"])
    failed(bazar("buy", "1", server=srv), 3, r"server error 503")
    r = ok(bazar("status", server=srv))
    assert re.search(r"^order: primary -, 0 of 1 up, state hashes unknown$", r.out, re.M), r
    assert re.search(r"^1\s+DOWN\s+-\s+-", r.out.split("order:")[1], re.M), r


def test_cache_off_status(make_cluster):
    c = make_cluster(catalog_replicas=1, order_replicas=1, cache="off")
    st = c.pub("GET", "/bazar/status").body["cache"]
    assert st == {"enabled": False, "hits": None, "misses": None, "hit_ratio": None}, st
    r = ok(bazar("status", server="http://127.0.0.1:%d" % c.public_port))
    assert re.search(r"^cache: off$", r.out, re.M), r
