"""The closed surface: nothing internal is reachable through the public
listener, the internal listener binds loopback only, and limit_req guards
purchases and admin writes with a JSON 429."""

import os
import re

from conftest import describe, expect_error

# Every internal route of docs/INTERFACES.md, with the method it serves.
SERVICE_ROUTES = {
    "catalog": [("GET", "/search/x"), ("GET", "/books"), ("GET", "/browse"), ("GET", "/topics"),
                ("GET", "/books/1"), ("POST", "/books"),
                ("PUT", "/books/1/price"), ("POST", "/books/1/restock"),
                ("POST", "/books/1/decrement"), ("GET", "/health"), ("GET", "/state"),
                ("POST", "/repl/append")],
    "order": [("POST", "/purchase/1"), ("GET", "/orders/1"), ("GET", "/health"), ("GET", "/state"),
              ("POST", "/repl/append")],
}


def _internal_routes(cluster):
    out = [("GET", "/status"), ("GET", "/metrics"), ("GET", "/catalog"), ("GET", "/order")]
    counts = {"catalog": cluster.catalog_replicas, "order": cluster.order_replicas}
    for svc, routes in SERVICE_ROUTES.items():
        prefixes = ["/" + svc] + ["/%s/%s/%d" % (kind, svc, n) for kind in ("replica", "peer")
                                  for n in range(1, counts[svc] + 1)]
        for prefix in prefixes:
            out += [(m, prefix + p) for m, p in routes]
    # every snapshot/vote style route a replica may add lives under the same prefixes
    return out


def test_internal_routes_are_404_on_public(cluster):
    routes = _internal_routes(cluster)
    assert len(routes) > 100
    for method, path in routes:
        body = {"service": "catalog", "count": 1} if method in ("POST", "PUT") else None
        r = cluster.pub(method, path, body, {"Idempotency-Key": "surface-1"})
        expect_error(r, 404, "public %s %s" % (method, path))
        # and the same route answers something else than nginx's 404 internally
        # (it exists), except the bare prefixes
    for method, path in [("GET", "/status"), ("GET", "/catalog/books"), ("GET", "/peer/order/1/state")]:
        r = cluster.internal(method, path)
        assert r.status == 200, describe(r)


def test_traversal_to_internal_routes_is_404(cluster):
    # (/bazar/status is public on purpose: the storefront's cluster panel)
    for path in ["/bazar/../status", "/bazar/%2e%2e/status", "/bazar/..%2fstatus",
                 "/bazar/metrics", "/bazar/../catalog/books", "/bazar/%2e%2e/peer/catalog/1/state",
                 "/bazar//../status", "/health/../status", "/bazar/info/../../metrics",
                 "/status?/bazar/", "/bazar/catalog/books", "/bazar/peer/catalog/1/state"]:
        r = cluster.pub("GET", path)
        assert r.status in (400, 404), describe(r)
        expect_error(r, r.status, "public GET " + path)
        assert "catalog" not in r.body or "error" in r.body, describe(r)


def test_internal_listener_is_loopback_only(cluster):
    with open(os.path.join(cluster.var, "nginx", "nginx.conf")) as f:
        conf = f.read()
    listens = re.findall(r"^\s*listen\s+([^;]+);", conf, re.M)
    internal = [l for l in listens if l.strip().endswith(":%d" % cluster.internal_port)]
    assert internal == ["127.0.0.1:%d" % cluster.internal_port], listens


def test_request_body_limits(cluster):
    with open(os.path.join(cluster.var, "nginx", "nginx.conf")) as f:
        conf = f.read()
    assert re.search(r"client_max_body_size\s+1m;", conf), "nginx body limit missing"
    # nginx refuses > 1 MB itself; the program refuses > body_limit (64 KiB)
    big = b'{"count":' + b" " * (2 << 20) + b"1}"
    expect_error(cluster.admin("POST", "/bazar/books/1/restock", big), 413, "2 MB body")
    mid = b'{"count":' + b" " * 100000 + b"1}"
    expect_error(cluster.admin("POST", "/bazar/books/1/restock", mid), 413, "100 KB body")


def test_limit_req_answers_json_429(make_cluster):
    c = make_cluster(catalog_replicas=1, order_replicas=1,
                     env={"BAZAR_LIMIT_RATE": "1", "BAZAR_LIMIT_BURST": "2"})
    statuses = []
    for i in range(8):  # bounded: 8 requests, far over 1 r/s + burst 2
        r = c.pub("POST", "/bazar/purchase/987654321", headers={"Idempotency-Key": "lim-%d" % i})
        statuses.append(r.status)
        if r.status == 429:
            expect_error(r, 429, "limited purchase")
    assert 429 in statuses and statuses[0] == 404, statuses
    r = c.pub("POST", "/bazar/books/1/restock", {"count": 1})  # admin route, same zone
    expect_error(r, 429, "limited admin write")
    # lookups are not limited, nor the catalog pages that share the admin location
    for _ in range(5):
        assert c.pub("GET", "/bazar/info/1").status == 200
        assert c.pub("GET", "/bazar/books?per_page=1").status == 200
