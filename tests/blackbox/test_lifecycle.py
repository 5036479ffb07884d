"""deploy/start.sh, status.sh and stop.sh as an operator uses them."""

import http.client
import os
import signal
import time

import pytest

from conftest import describe, pid_alive, quote_segment


def expected_pid_files(catalog, order):
    names = {"nginx", "redis", "frontend", "frontend.write"}
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
    victim = c.kill(["catalog-2"])  # held down (sv once), so it stays dead
    assert victim, "no catalog-2 pids"
    deadline = time.monotonic() + 10
    while any(pid_alive(p) for p in victim) and time.monotonic() < deadline:
        time.sleep(0.05)
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


POLICIES = [
    ("round robin", None, None),
    ("weighted", None, "weight=3 "),
    ("least_conn", "least_conn;", None),
    ("power of two choices", "random two least_conn;", None),
    ("hash", "hash $request_uri consistent;", None),
]


@pytest.mark.parametrize("name,directive,weight", POLICIES, ids=[p[0] for p in POLICIES])
def test_balancing_policy_is_an_upstreams_edit(cluster, name, directive, weight):
    """Each policy the README shows, written into upstreams.conf and applied with
    deploy/reload.sh (`make reload`): the catalog keeps answering, through the
    replicas the policy picks. The file is restored afterwards."""
    c = cluster
    ups = os.path.join(c.var, "nginx", "upstreams.conf")
    with open(ups) as f:
        original = f.read()
    text = original
    if directive:
        text = text.replace("upstream catalog {\n", "upstream catalog {\n    %s\n" % directive, 1)
    if weight:
        text = text.replace("catalog-1.sock max_fails", "catalog-1.sock %smax_fails" % weight, 1)
    assert text != original or name == "round robin"
    log = os.path.join(c.var, "log", "nginx.access.log")
    try:
        with open(ups, "w") as f:
            f.write(text)
        rc, out = c.run_script("reload.sh")
        assert rc == 0 and "nginx reloaded" in out, out
        with open(log) as f:
            mark = sum(1 for _ in f)
        for k in range(30):
            r = c.pub("GET", "/bazar/search/distributed%20systems" if k % 2 else "/bazar/search/new")
            assert r.status == 200, describe(r)
        used = {}
        with open(log) as f:
            for i, line in enumerate(f):
                if i >= mark and '"GET /catalog/search/' in line:
                    uri = line.split('"')[1].split()[1]
                    addr = line.split("upstream=")[1].split()[0]
                    used.setdefault(uri, []).append(addr)
        assert sum(len(v) for v in used.values()) == 30, used
        every = {a for v in used.values() for a in v}
        if directive and directive.startswith("hash"):
            assert all(len(set(v)) == 1 for v in used.values()), used  # one replica per URI
        elif weight:
            n1 = sum(a.endswith("catalog-1.sock") for v in used.values() for a in v)
            assert 16 <= n1 <= 20, used  # 3 of every 5
        else:
            assert len(every) >= 2, used
    finally:
        with open(ups, "w") as f:
            f.write(original)
        rc, out = c.run_script("reload.sh")
        assert rc == 0, out


def test_run_banner_commands_work(make_cluster):
    """`make run` (deploy/run.sh) prints curl commands to try; each must work
    as printed (a JSON answer, no error), and SIGTERM stops everything."""
    import json
    import subprocess
    import time
    c = make_cluster()
    rc, out = c.stop_script()
    assert rc == 0, out
    log = open(os.path.join(c.root, "run.out"), "w+")
    p = subprocess.Popen(["bash", os.path.join(os.path.dirname(__file__), "..", "..", "deploy", "run.sh")],
                         env=c.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline, text = time.monotonic() + 60, ""
        while time.monotonic() < deadline and "Ctrl-C stops everything" not in text:
            time.sleep(0.2)
            log.seek(0)
            text = log.read()
        assert "Ctrl-C stops everything" in text, text[-3000:]
        lines = [l.strip() for l in text.splitlines() if l.strip().startswith("curl ")]
        assert len(lines) >= 4, text
        for line in lines:
            r = subprocess.run(["bash", "-c", line], capture_output=True, text=True, timeout=30)
            assert r.returncode == 0, (line, r.stderr)
            body = json.loads(r.stdout)
            assert not (isinstance(body, dict) and "error" in body), (line, r.stdout)
    finally:
        p.send_signal(signal.SIGTERM)
        p.wait(60)
    log.seek(0)
    assert "stopped" in log.read()
    assert not any(pid_alive(pid) for pids in c.pid_files().values() for pid in pids)
