"""GET /metrics on the internal listener: Prometheus text summed over every
process; the counters move by exactly what we do between two scrapes."""

import re

from conftest import describe

LINE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def scrape(cluster):
    r = cluster.internal("GET", "/metrics")
    assert r.status == 200, describe(r)
    assert r.headers.get("content-type", "").startswith("text/plain"), r.headers
    text = r.raw.decode()
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = LINE.match(line)
        assert m, "not Prometheus text: %r" % line
        labels = frozenset(LABEL.findall(m.group(3) or ""))
        out[(m.group(1), labels)] = float(m.group(4))
    return out


def total(metrics, name, **want):
    """Sum of every series of `name` whose labels include `want`; a label
    value ending in '*' matches as a prefix."""
    s = 0.0
    for (n, labels), v in metrics.items():
        if n != name:
            continue
        d = dict(labels)
        if all(d.get(k) == v2 or (v2.endswith("*") and d.get(k, "").startswith(v2[:-1]))
               for k, v2 in want.items()):
            s += v
    return s


def test_metrics_move(cluster):
    m0 = scrape(cluster)
    assert total(m0, "bazar_replica_up") == 6, "every replica up"
    assert ("bazar_service_epoch", frozenset({("service", "catalog")})) in m0

    for _ in range(5):
        assert cluster.pub("GET", "/bazar/info/3").status == 200
    for _ in range(3):
        assert cluster.pub("GET", "/bazar/info/abc").status == 400
    assert cluster.pub("GET", "/bazar/nothing/here").status == 404
    r = cluster.pub("POST", "/bazar/purchase/4", headers={"Idempotency-Key": "metrics-1"})
    assert r.status == 200, describe(r)
    m1 = scrape(cluster)

    def delta(name, **want):
        return total(m1, name, **want) - total(m0, name, **want)

    assert delta("bazar_requests_total", program="frontend", method="GET",
                 route="/bazar/info/{id}", status="200") == 5
    assert delta("bazar_requests_total", program="frontend", method="GET",
                 route="/bazar/info/{id}", status="400") == 3
    assert delta("bazar_requests_total", program="frontend", route="(unmatched)", status="404") == 1
    assert delta("bazar_requests_total", program="frontend", method="POST",
                 route="/bazar/purchase/{id}", status="200") == 1
    # the order primary served the purchase, a catalog replica the decrement
    assert delta("bazar_requests_total", program="order-*", method="POST",
                 route="/purchase/{id}", status="200") >= 1
    assert delta("bazar_requests_total", program="catalog-*", method="POST",
                 route="/books/{id}/decrement", status="200") >= 1
    # cache: every lookup of a valid id is a hit, a miss or a bypass
    assert delta("bazar_cache_lookups_total") == 5
    assert delta("bazar_cache_lookups_total", result="hit") >= 1
    # latency histograms per tier: count moved, buckets cumulative, +Inf == count
    for tier in ("frontend", "catalog", "order"):
        assert delta("bazar_request_duration_seconds_count", tier=tier) >= 1, tier
        buckets = sorted(((float(dict(l)["le"]), v) for (n, l), v in m1.items()
                          if n == "bazar_request_duration_seconds_bucket" and dict(l)["tier"] == tier))
        values = [v for _, v in buckets]
        assert values == sorted(values), (tier, buckets)
        assert values[-1] == total(m1, "bazar_request_duration_seconds_count", tier=tier)
        assert total(m1, "bazar_request_duration_seconds_sum", tier=tier) > 0
    # replication: the purchase wrote to the order log everywhere, no lag afterwards
    assert delta("bazar_replica_applied", service="order") >= 1 * 3  # one order entry, 3 replicas
    for svc in ("catalog", "order"):
        assert total(m1, "bazar_replica_primary", service=svc) == 1
        for n in (1, 2, 3):
            assert (("bazar_replica_lag", frozenset({("service", svc), ("replica", str(n))})) in m1)
    assert total(m1, "bazar_failovers") == 0


def test_metrics_not_public(cluster):
    r = cluster.pub("GET", "/metrics")
    assert r.status == 404, describe(r)
