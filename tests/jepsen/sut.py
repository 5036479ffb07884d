"""The system under test: a real Bazar deployment the suite can talk to,
signal and cut, in one of two shapes.

SingleHost  one host on loopback (deploy/start.sh through the black-box
            harness's Cluster): 3 catalog + 3 order replicas, Redis, nginx.
Hosts       four network-namespace hosts deployed with deploy/cluster (the
            multi-host tests' Deployment): h1 runs nginx, the front end and
            Redis, h2-h4 one catalog and one order replica each. Only here can
            the network be cut.

Both offer the same calls: pub/admin/internal (HTTP), pids(part) for the
nemesis, restart() (start whatever is not running, without waiting),
cut/uncut for partitions (Hosts only), data_files() for the final check,
and close()."""

import glob
import os
import shlex
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "blackbox"))

import conftest  # noqa: E402  (the black-box harness: Cluster, http_request)
import netns  # noqa: E402

signal_pids = conftest.signal_pids
REPLICAS = 3
RESTART_TIMEOUT = 30  # seconds for a start.sh that does not wait


def pool_names(svc, i):
    """The pid-file names of replica i's two pools (client, peer)."""
    return ["%s-%d" % (svc, i), "%s-%d.peer" % (svc, i)]


class Api:
    """HTTP to the deployment through self.c (a conftest.Cluster or a netns.NsCluster)."""

    def pub(self, *a, **kw):
        return self.c.pub(*a, **kw)

    def admin(self, *a, **kw):
        return self.c.admin(*a, **kw)

    def internal(self, *a, **kw):
        return self.c.internal(*a, **kw)

    def service_starts(self):
        """How many times runit has run a component's run script on every host
        (deploy/service.sh logs one "bazar: starting NAME" line each time)."""
        n = 0
        for var in self.var_dirs():
            for path in glob.glob(os.path.join(var, "log", "*.log")):
                with open(path, "rb") as f:
                    n += f.read().count(b" bazar: starting ")
        return n


class SingleHost(Api):
    kind = "single"
    hosts = ["h1"]

    def __init__(self, conf_extra=""):
        self.c = conftest.Cluster(conf_extra=conf_extra)
        self.c.start()
        self.env = dict(self.c.env, BAZAR_START_WAIT="none")

    def pids(self, name):
        """Every process of a component (e.g. catalog-2.peer, redis, frontend)."""
        return self.c.pids(name)

    def hold(self, names):
        """sv once: the components stay dead once killed, until restart()."""
        conftest.sv_hold(self.c.var, names)

    def host_of(self, svc, i):
        return "h1"

    def var_dirs(self):
        return [self.c.var]

    def restart(self, env=None, host=None):
        """deploy/start.sh without waiting: starts what is dead, keeps the rest
        (with env added to the environment of what it starts)."""
        r = subprocess.run(["bash", os.path.join(conftest.REPO, "deploy", "start.sh")],
                           env=dict(self.env, **(env or {})), capture_output=True, text=True,
                           timeout=RESTART_TIMEOUT)
        self.c.pid_files()  # remember the new pids, so close() can check them
        return r.returncode, r.stdout + r.stderr

    def data_files(self):
        d = os.path.join(self.c.var, "data")
        return {svc: [os.path.join(d, "%s-%d.db" % (svc, i)) for i in range(1, REPLICAS + 1)]
                for svc in ("catalog", "order")}

    def log_tails(self):
        return self.c.log_tails(20)

    def stop(self):
        self.c.stop()

    def close(self):
        self.c.close(check=False)


class Hosts(Api):
    kind = "hosts"

    def __init__(self, settings=""):
        sys.path.insert(0, os.path.join(HERE, "..", "blackbox"))
        from test_cluster import Deployment  # the multi-host tests' deployment
        self.dep = Deployment(settings)
        try:
            self.dep.cluster("up")
            self.c = netns.NsCluster(self.dep.net, self.dep.var, self.dep.read("admin.token"),
                                     self.dep.read("cluster.secret"), workers=128)
        except BaseException:
            self.dep.destroy()
            raise
        self.net = self.dep.net
        self.hosts = list(self.net.names)
        self.cuts = set()  # (from_host, to_host): packets from -> to are dropped

    def host_of(self, svc, i):
        return "h%d" % (i + 1) if svc in ("catalog", "order") else "h1"

    def var_dirs(self):
        return [self.dep.var(h) for h in self.hosts]

    def _host_of_part(self, name):
        for svc in ("catalog", "order"):
            for i in range(1, REPLICAS + 1):
                if name in pool_names(svc, i):
                    return self.host_of(svc, i)
        return "h1"

    def pids(self, name):
        host = self._host_of_part(name)
        listed = conftest._read_pidfile(os.path.join(self.dep.var(host), "run", name + ".pid"))
        return conftest.group_pids(listed[0]) if listed else []

    def hold(self, names):
        """sv once on each component's host: it stays dead once killed."""
        for name in names:
            conftest.sv_hold(self.dep.var(self._host_of_part(name)), [name])

    def restart(self, env=None, host=None):
        """start.sh without waiting (what deploy/cluster up runs first) on
        every host, or on `host` only, with env added."""
        out, rc = [], 0
        for h in [host] if host else self.hosts:
            d = os.path.join(self.dep.root, "hosts", h)
            extra = " ".join("%s=%s" % (k, shlex.quote(val)) for k, val in (env or {}).items())
            r = self.net.run(h, ["bash", "-c",
                                 "%s BAZAR_HOST_ENV=%s/host.env BAZAR_START_WAIT=none bash %s/deploy/start.sh"
                                 % (extra, d, d)], capture_output=True, text=True, timeout=RESTART_TIMEOUT)
            rc = rc or r.returncode
            out.append("%s: %s%s" % (h, r.stdout, r.stderr))
        return rc, "".join(out)

    # ---- the network: one-way cuts are blackhole routes on the sending side

    def cut(self, src, dst):
        if (src, dst) not in self.cuts:
            netns.ip("-n", self.net.ns(src), "route", "add", "blackhole", self.net.addrs[dst] + "/32")
            self.cuts.add((src, dst))

    def uncut(self, src, dst):
        if (src, dst) in self.cuts:
            netns.ip("-n", self.net.ns(src), "route", "del", "blackhole",
                     self.net.addrs[dst] + "/32", check=False)
            self.cuts.discard((src, dst))

    def link(self, host, up):
        self.net.link(host, up)

    def data_files(self):
        return {svc: [os.path.join(self.dep.var(self.host_of(svc, i)), "data", "%s-%d.db" % (svc, i))
                      for i in range(1, REPLICAS + 1)]
                for svc in ("catalog", "order")}

    def log_tails(self):
        return self.dep.log_tails()

    def stop(self):
        self.dep.cluster("down", check=False)

    def close(self):
        for src, dst in list(self.cuts):
            self.uncut(src, dst)
        try:
            self.c.close()
        finally:
            self.dep.destroy()
