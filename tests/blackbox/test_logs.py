"""Logs: one line per request per service carrying the request id, which
travels front end -> order -> catalog; and no secret ever reaches a log."""

import glob
import os

from conftest import describe


def _logs(cluster):
    out = {}
    for p in glob.glob(os.path.join(cluster.var, "log", "*")):
        with open(p, "rb") as f:
            out[os.path.basename(p)] = f.read()
    return out


def test_request_id_travels_and_token_never_logged(cluster):
    token = cluster.token
    # admin calls: right token, wrong token, almost-right token
    r = cluster.admin("POST", "/bazar/books/1/restock", {"count": 1})
    assert r.status == 200, describe(r)
    r = cluster.pub("PUT", "/bazar/books/1/price", {"price": 3}, {"Authorization": "Bearer " + token[:-1] + "x"})
    assert r.status == 401, describe(r)
    r = cluster.admin("PUT", "/bazar/books/1/price", b"{bad json")
    assert r.status == 400, describe(r)

    # internal calls with a wrong and an almost-right cluster secret (403), and
    # every call the services make among themselves carries the right one
    secret = cluster.secret
    r = cluster.internal("GET", "/replica/catalog/1/state", headers={"X-Bazar-Secret": secret[:-1] + "x"})
    assert r.status == 403, describe(r)
    r = cluster.internal("GET", "/catalog/books/1", headers={"X-Bazar-Secret": "wrong"})
    assert r.status == 403, describe(r)

    rid = "logtest-" + os.urandom(6).hex()
    r = cluster.pub("POST", "/bazar/purchase/2", headers={"X-Request-Id": rid, "Idempotency-Key": rid})
    assert r.status == 200, describe(r)

    logs = _logs(cluster)
    assert logs, "no logs under var/log"
    for name, data in logs.items():
        assert token.encode() not in data, "admin token found in %s" % name
        assert token[:16].encode() not in data, "admin token prefix found in %s" % name
        assert secret[:16].encode() not in data, "cluster secret found in %s" % name

    def with_rid(prefix):
        return [n for n, d in logs.items() if n.startswith(prefix) and rid.encode() in d]

    assert with_rid("frontend"), "request id not in frontend.log"
    assert with_rid("order-"), "request id not in any order log"
    assert with_rid("catalog-"), "request id not in any catalog log (order -> catalog)"
    # the line has route, status and duration
    line = [l for l in logs[with_rid("frontend")[0]].decode().splitlines() if rid in l]
    assert any("/bazar/purchase/2" in l and "-> 200" in l and "ms" in l for l in line), line
