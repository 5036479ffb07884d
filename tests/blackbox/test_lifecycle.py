"""deploy/start.sh, status.sh and stop.sh as an operator uses them."""

import http.client
import os
import signal

import pytest

from conftest import describe, pid_alive, quote_segment


def expected_pid_files(catalog, order):
    names = {"nginx", "redis", "frontend"}
    for i in range(1, catalog + 1):
        names |= {"catalog-%d" % i, "catalog-%d.peer" % i}
    for i in range(1, order + 1):
        names |= {"order-%d" % i, "order-%d.peer" % i}
    return names


def assert_all_running(c, files, what):
    for name, pids in files.items():
        assert pids, "%s: pid file %s.pid is empty" % (what, name)
        dead = [p for p in pids if not pid_alive(p)]
        assert not dead, "%s: %s pids %r are not running\n%s" % (what, name, dead, c.log_tails())


def test_start_twice_changes_no_pid(make_cluster):
    c = make_cluster()
    before = c.pid_files()
    missing = expected_pid_files(3, 3) - set(before)
    assert not missing, "pid files missing under var/run: %s (have %s)" % (sorted(missing), sorted(before))
    assert_all_running(c, before, "after start")

    rc, out = c.start_script()
    assert rc == 0, "second start.sh exited %s:\n%s" % (rc, out[-3000:])
    after = c.pid_files()
    assert after == before, "second start.sh changed pids:\nbefore %r\nafter  %r" % (before, after)
    assert_all_running(c, after, "after second start")
    r = c.pub("GET", "/health")
    assert r.status == 200, describe(r)


def test_replica_counts_follow_env(make_cluster):
    c = make_cluster(catalog_replicas=2, order_replicas=1)
    files = c.pid_files()
    want = expected_pid_files(2, 1)
    assert want <= set(files), "missing pid files: %s" % sorted(want - set(files))
    extra = {n for n in files if n.startswith(("catalog-3", "order-2"))}
    assert not extra, "more replicas than asked for: %s" % sorted(extra)
    assert_all_running(c, files, "2+1 cluster")
    p = c.pub("POST", "/bazar/purchase/0")
    assert p.status == 200, describe(p)


def test_status_then_stop(make_cluster):
    c = make_cluster()
    rc, out = c.status_script()
    assert rc == 0, "status.sh must exit 0 while everything runs, got %s:\n%s" % (rc, out[-3000:])
    assert c.live_pids(), "no live pids before stop"

    c.stop()  # asserts stop.sh exits 0 and no pid of any pid file is alive

    with pytest.raises((OSError, http.client.HTTPException)):
        c.pub("GET", "/health", timeout=2)
    rc, out = c.status_script()
    assert rc not in (0, None), "status.sh must exit non-zero after stop.sh, got %s:\n%s" % (rc, out[-3000:])
    rc, out = c.stop_script()
    assert rc == 0, "stop.sh on a stopped cluster must be a no-op exiting 0, got %s:\n%s" % (rc, out[-3000:])
    assert not c.live_pids()


def test_status_notices_a_dead_process(make_cluster):
    c = make_cluster()
    victim = c.pids("catalog-2")
    assert victim, "no catalog-2 pids"
    for pid in victim:
        os.kill(pid, signal.SIGKILL)
    rc, out = c.status_script()
    assert rc not in (0, None), "status.sh must exit non-zero with catalog-2 dead, got %s:\n%s" % (rc, out[-3000:])


def test_data_survives_restart(make_cluster):
    c = make_cluster()
    before = c.book(6)["quantity"]
    p = c.pub("POST", "/bazar/purchase/6")
    assert p.status == 200, describe(p)
    c.stop()
    c.start()
    assert c.book(6)["quantity"] == before - 1, "purchase lost across stop/start"
    o = c.pub("GET", "/bazar/orders/%s" % quote_segment(p.body["order_id"]))
    assert o.status == 200 and o.body.get("order_id") == p.body["order_id"], describe(o)
