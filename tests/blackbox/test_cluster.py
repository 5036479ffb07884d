"""Bazar across hosts: four network-namespace hosts on a bridge (netns.py),
deployed with `deploy/cluster up` over the netns transport.

h1 runs nginx + the front end + Redis; h2, h3, h4 each run one catalog and
one order replica. The tests use the public API from h1, run the replication
suite's no-oversell test across hosts, partition h3 under load, change the
balancing policy under load, and check that `down` leaves no process.
Skipped, with the reason, where network namespaces cannot be created."""

import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
import uuid

import pytest

import test_replication
from conftest import REPO, children_of, describe, pid_alive
from netns import Net, NsCluster, can_create_namespaces

_ok, _why = can_create_namespaces()
pytestmark = pytest.mark.skipif(not _ok, reason="multi-host tests need network namespaces: " + _why)

CLUSTER = os.path.join(REPO, "deploy", "cluster")
UP_TIMEOUT = 120
SEARCH = "/bazar/search/distributed%20systems"


class Deployment:
    """The netns hosts, the cluster file, and the deploy/cluster command."""

    def __init__(self, settings=""):
        """settings: more `key = value` lines for the cluster file."""
        self.net = Net(4)
        # nginx workers (nobody) read the page under each host's var/: world-searchable.
        self.root = tempfile.mkdtemp(prefix="bazar-netns-", dir="/var/tmp")
        os.chmod(self.root, 0o755)
        self.state = os.path.join(self.root, "state")
        self.file = os.path.join(self.root, "cluster.conf")
        a = self.net.addrs
        with open(self.file, "w") as f:
            f.write("# written by tests/blackbox/test_cluster.py\n"
                    "h1 %s frontend redis\n"
                    "h2 %s catalog:1 order:1\n"
                    "h3 %s catalog:2 order:2\n"
                    "h4 %s catalog:3 order:3\n"
                    "dir = %s/hosts\n%s" % (a["h1"], a["h2"], a["h3"], a["h4"], self.root, settings))
        self.env = dict(os.environ, BAZAR_TRANSPORT="netns", BAZAR_NETNS_PREFIX=self.net.prefix,
                        BAZAR_CLUSTER_STATE=self.state)

    def var(self, host):
        return os.path.join(self.root, "hosts", host, "var")

    def command(self, cmd):
        """The deploy/cluster command line (the netns transport runs it here)."""
        return [CLUSTER, cmd, self.file]

    def cluster(self, cmd, timeout=UP_TIMEOUT, check=True):
        r = subprocess.run(self.command(cmd), env=self.env, capture_output=True,
                           text=True, timeout=timeout)
        if check and r.returncode != 0:
            pytest.fail("deploy/cluster %s failed (%d):\n%s\n%s\n%s" % (
                cmd, r.returncode, r.stdout[-3000:], r.stderr[-3000:], self.log_tails()))
        return r

    def log_tails(self):
        out = []
        for host in self.net.names:
            logdir = os.path.join(self.var(host), "log")
            if not os.path.isdir(logdir):
                continue
            for fn in sorted(os.listdir(logdir)):
                p = os.path.join(logdir, fn)
                with open(p, errors="replace") as f:
                    tail = f.readlines()[-8:]
                if tail:
                    out.append("--- %s %s\n%s" % (host, fn, "".join(tail)))
        return "\n".join(out)[-6000:]

    def pid_files(self):
        got = {}
        for host in self.net.names:
            run = os.path.join(self.var(host), "run")
            for fn in sorted(os.listdir(run)) if os.path.isdir(run) else []:
                if fn.endswith(".pid"):
                    with open(os.path.join(run, fn)) as f:
                        got["%s/%s" % (host, fn)] = f.read().split()
        return got

    def read(self, name):
        with open(os.path.join(self.state, name)) as f:
            return f.read().strip()

    def destroy(self):
        """Stops what is left (deploy/cluster down, then any process still in one
        of our namespaces - they are ours), deletes the namespaces and files."""
        try:
            self.cluster("down", check=False)
        except Exception:  # noqa: BLE001 - cleanup goes on
            pass
        for host in self.net.names:
            for pid in self.net.pids(host):
                try:
                    os.kill(pid, 9)
                except ProcessLookupError:
                    pass
        self.net.destroy()
        shutil.rmtree(self.root, ignore_errors=True)


# Replication timing set in the cluster file reaches every host's bazar.conf (here the
# defaults, written out, so that the tests' timing stays what they expect).
TIMING = "heartbeat_ms = 100\nlease_ms = 500\nelection_ms = 700\n"


@pytest.fixture(scope="module")
def dep():
    d = Deployment(TIMING)
    try:
        d.cluster("up")
        yield d
    finally:
        d.destroy()


@pytest.fixture(scope="module")
def c(dep):
    cl = NsCluster(dep.net, dep.var, dep.read("admin.token"), dep.read("cluster.secret"))
    yield cl
    cl.close()


def converged(c, timeout=20):
    """Waits until every replica of both services is up with equal positions and
    hashes; returns the /status body (or fails with the last one seen)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return test_replication.assert_converged(c)
        except AssertionError:
            if time.monotonic() > deadline:
                raise
        time.sleep(0.2)


def serving(c, timeout=10):
    """Waits until every replica answers its health check (it holds a read
    lease): the state `status` then reports as healthy."""
    deadline = time.monotonic() + timeout
    while True:
        sick = [(svc, i) for svc in ("catalog", "order") for i in (1, 2, 3)
                if c.internal("GET", "/replica/%s/%d/health" % (svc, i)).status != 200]
        if not sick or time.monotonic() > deadline:
            return sick
        time.sleep(0.2)


def test_up_started_every_host(dep, c):
    st = converged(c)
    assert [r["role"] for r in st["catalog"]["replicas"]].count("primary") == 1
    assert not serving(c), "replicas without a read lease 10 s after converging"
    r = dep.cluster("status")
    for host in ("h1", "h2", "h3", "h4"):
        assert "== %s " % host in r.stdout, r.stdout
    assert "stopped" not in r.stdout and "dead" not in r.stdout, r.stdout


def test_timing_in_the_cluster_file_reaches_every_host(dep):
    for host in ("h1", "h2", "h3", "h4"):
        with open(os.path.join(dep.var(host), "bazar.conf")) as f:
            conf = f.read()
        assert "# From BAZAR_CONF_EXTRA:\n" + TIMING in conf, (host, conf[-400:])


def test_status_shows_where_each_replica_runs(dep, c):
    st = c.internal("GET", "/status").body
    for svc, base in (("catalog", 9100), ("order", 9200)):
        for i, rep in enumerate(st[svc]["replicas"], 1):
            host = "h%d" % (i + 1)
            assert rep["listen"] == "%s:%d" % (dep.net.addrs[host], base + 10 + i), rep
            pids = dep.pid_files()
            # Each pid file names a pool's multiwatch; its children serve.
            want = children_of([int(p) for p in pids["%s/%s-%d.pid" % (host, svc, i)] +
                                pids["%s/%s-%d.peer.pid" % (host, svc, i)]])
            assert sorted(rep["pids"]) == want, rep


def test_up_twice_changes_nothing(dep):
    before = dep.pid_files()
    r = dep.cluster("up")
    assert dep.pid_files() == before
    assert "copied the build" not in r.stdout, r.stdout
    for host in ("h1", "h2", "h3", "h4"):
        assert re.search(r"^%s: bazar: already running" % host, r.stdout, re.M), r.stdout


def test_full_api_from_h1(c):
    r = c.pub("GET", SEARCH)
    assert r.status == 200 and {b["id"] for b in r.body} >= {0, 1}, describe(r)
    book = c.book(3)
    r = c.pub("POST", "/bazar/purchase/3", headers={"Idempotency-Key": "cl-" + uuid.uuid4().hex})
    assert r.status == 200, describe(r)
    order = r.body
    r = c.pub("GET", "/bazar/orders/%d" % order["order_id"])
    assert r.status == 200 and r.body["book_id"] == 3, describe(r)
    # The catalog's write invalidated the cache (Redis on h1, over TCP with AUTH):
    # a miss with the new quantity, then a hit.
    r = c.pub("GET", "/bazar/info/3")
    assert r.status == 200 and r.body["quantity"] == book["quantity"] - 1, describe(r)
    assert "cache;desc=miss" in r.headers.get("server-timing", ""), r.headers
    r = c.pub("GET", "/bazar/info/3")
    assert "cache;desc=hit" in r.headers.get("server-timing", ""), r.headers
    r = c.admin("POST", "/bazar/books", {"title": "Partitions in Practice", "topic": "distributed systems",
                                         "price": 12.5, "quantity": 4})
    assert r.status == 201, describe(r)
    r = c.admin("PUT", "/bazar/books/%d/price" % r.body["id"], {"price": 13})
    assert r.status == 200 and r.body["price"] == 13, describe(r)
    r = c.pub("GET", "/health")
    assert r.status == 200, describe(r)
    converged(c)


def test_listeners_only_on_the_cluster_address(dep):
    for host in dep.net.names:
        r = dep.net.run(host, ["ss", "-ltnH"], capture_output=True, text=True, timeout=10)
        assert r.returncode == 0, r.stderr
        local = [line.split()[3] for line in r.stdout.splitlines() if line.strip()]
        assert local, "%s listens on nothing" % host
        want = dep.net.addrs[host]
        assert all(a.rsplit(":", 1)[0] == want for a in local), "%s: %s" % (host, local)


def test_secret_is_shared_private_and_required(dep, c):
    secret = dep.read("cluster.secret")
    for host in dep.net.names:
        p = os.path.join(dep.var(host), "cluster.secret")
        assert oct(os.stat(p).st_mode & 0o777) == "0o600", p
        with open(p) as f:
            assert f.read().strip() == secret, p
    # Every peer route of a replica on another host refuses a call without it.
    for path in ("/peer/catalog/3/state", "/replica/order/2/state", "/catalog/books/1"):
        r = c.internal("GET", path, secret=False)
        assert r.status == 403, describe(r)
        r = c.internal("GET", path, headers={"X-Bazar-Secret": secret[:-1] + "x"})
        assert r.status == 403, describe(r)
        r = c.internal("GET", path)
        assert r.status == 200, describe(r)
    # ... and so does Redis (requirepass) on h1's address.
    r = dep.net.run("h2", ["redis-cli", "-h", dep.net.addrs["h1"], "GET", "x"], capture_output=True,
                    text=True, timeout=10)
    assert "NOAUTH" in r.stdout + r.stderr, r


def test_no_oversell_across_hosts(c):
    """The replication suite's test, unchanged, with every request sent from h1
    to replicas on h2-h4."""
    test_replication.test_no_oversell_across_every_entry_point(c)


class Load:
    """Reads and purchases from h1 in the background, every result recorded."""

    def __init__(self, c, threads=4, buy_every=3, max_seconds=60):
        self.c = c
        self.stop = threading.Event()
        self.results = []  # (t, kind, status)
        self.lock = threading.Lock()
        self.buy_every = buy_every
        self.deadline = time.monotonic() + max_seconds
        self.threads = [threading.Thread(target=self._run, args=(i,)) for i in range(threads)]

    def _run(self, i):
        k = 0
        while not self.stop.is_set() and time.monotonic() < self.deadline and k < 5000:
            k += 1
            if self.buy_every and k % self.buy_every == 0:
                kind = "buy"
                r = self.c.pub("POST", "/bazar/purchase/0",
                               headers={"Idempotency-Key": "load-%d-%d-%s" % (i, k, uuid.uuid4().hex[:6])},
                               timeout=30)
            else:
                kind = "read"
                r = self.c.pub("GET", SEARCH if k % 2 else "/bazar/info/1", timeout=30)
            with self.lock:
                self.results.append((time.monotonic(), kind, r.status, r.body if r.status != 200 else None))

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for t in self.threads:
            t.join(timeout=60)

    def failures(self):
        with self.lock:
            return [x for x in self.results if x[2] != 200]

    def count(self, kind, since=0.0):
        with self.lock:
            return sum(1 for x in self.results if x[1] == kind and x[0] >= since and x[2] == 200)


def test_partition_h3_then_heal(dep, c):
    r = c.admin("POST", "/bazar/books/0/restock", {"count": 5000})
    assert r.status == 200, describe(r)
    with Load(c) as load:
        time.sleep(1.0)
        dep.net.link("h3", False)
        cut = time.monotonic()
        try:
            time.sleep(5.0)
            during = (load.count("read", cut), load.count("buy", cut))
        finally:
            dep.net.link("h3", True)
        time.sleep(1.0)
    assert not load.failures(), "failed requests: %s" % load.failures()[:5]
    assert during[0] >= 20 and during[1] >= 5, "reads/buys during the partition: %s" % (during,)
    # h3 catches up: every replica at the same position with the same hash.
    st = converged(c, timeout=30)
    assert st["catalog"]["replicas"][1]["up"] and st["order"]["replicas"][1]["up"]


def _upstream_counts(log, start_line, path_prefix):
    counts = {}
    with open(log) as f:
        for i, line in enumerate(f):
            if i < start_line or ('"GET %s' % path_prefix) not in line:
                continue
            m = re.search(r"upstream=(\S+)", line)
            if m:
                counts[m.group(1)] = counts.get(m.group(1), 0) + 1
    return counts


def test_weighted_upstream_reload_under_load(dep, c):
    ups = os.path.join(dep.state, "upstreams.conf")
    with open(ups) as f:
        original = f.read()
    first = "%s:9101" % dep.net.addrs["h2"]
    edited, n = re.subn(r"(server %s) " % re.escape(first), r"\1 weight=3 ", original)
    assert n == 1, original
    log = os.path.join(dep.var("h1"), "log", "nginx.access.log")
    try:
        with Load(c, threads=4, buy_every=0) as load:
            time.sleep(1.0)
            with open(ups, "w") as f:
                f.write(edited)
            r = dep.cluster("reload")
            assert "reloaded nginx on 4 hosts" in r.stdout, r.stdout
            time.sleep(0.5)  # requests still in flight finish on the old workers
            with open(log) as f:
                mark = sum(1 for _ in f)
            time.sleep(3.0)
        assert not load.failures(), "failed requests during the reload: %s" % load.failures()[:5]
        counts = _upstream_counts(log, mark, "/catalog/search/")
        others = [v for k, v in counts.items() if k != first]
        assert first in counts and len(others) == 2 and min(others) > 10, counts
        for v in others:
            assert 2.4 <= counts[first] / v <= 3.6, "expected about 3:1, got %s" % counts
    finally:
        with open(ups, "w") as f:
            f.write(original)
        dep.cluster("reload")


def test_down_leaves_no_process(dep):
    pids = [int(p) for ps in dep.pid_files().values() for p in ps]
    assert pids
    r = dep.cluster("down")
    for host in dep.net.names:
        assert dep.net.pids(host) == [], "%s still runs %s (%s)" % (host, dep.net.pids(host), r.stdout)
    assert not [p for p in pids if pid_alive(p)]
