"""Hosts as network namespaces, for the multi-host tests (test_cluster.py).

Net builds N hosts joined by a bridge that lives in a namespace of its own
(nothing is added to this machine's own network): host i is namespace
<prefix>h<i> with address 10.213.<k>.<i>/24 on a veth whose other end is
plugged into the bridge. Taking that other end down partitions the host.

NsCluster gives the tests the same pub()/internal()/admin()/book() calls as
conftest.Cluster, but every request is sent from inside a host's namespace:
a pool of threads each of which has entered the namespace (setns(2) changes
only the calling thread), so the sockets they open belong to it."""

import concurrent.futures
import ctypes
import os
import secrets
import subprocess

from conftest import HTTP_TIMEOUT, describe, http_request

CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


def ip(*args, check=True):
    """Runs `ip ARGS`; returns the completed process."""
    r = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=20)
    if check and r.returncode != 0:
        raise RuntimeError("ip %s: %s" % (" ".join(args), r.stderr.strip()))
    return r


def can_create_namespaces():
    """(True, "") or (False, why) - probed by creating and deleting one."""
    if os.geteuid() != 0:
        return False, "network namespaces need root (ip netns add)"
    name = "bzprobe%s" % secrets.token_hex(3)
    try:
        r = ip("netns", "add", name, check=False)
    except FileNotFoundError:
        return False, "iproute2 (ip) is not installed"
    if r.returncode != 0:
        return False, "ip netns add failed: %s" % r.stderr.strip()
    ip("netns", "del", name, check=False)
    return True, ""


class Net:
    """N hosts in namespaces on one bridge. Always call destroy()."""

    def __init__(self, hosts=4):
        tag = secrets.token_hex(2)
        self.prefix = "bz%s" % tag
        self.subnet = "10.213.%d" % (int(tag, 16) % 250 + 1)
        self.switch = self.prefix + "sw"
        self.names = ["h%d" % i for i in range(1, hosts + 1)]
        self.addrs = {n: "%s.%d" % (self.subnet, i) for i, n in enumerate(self.names, 1)}
        self.created = []
        try:
            self._build()
        except Exception:
            self.destroy()
            raise

    def ns(self, host):
        return self.prefix + host

    def _build(self):
        ip("netns", "add", self.switch)
        self.created.append(self.switch)
        ip("-n", self.switch, "link", "add", "br0", "type", "bridge")
        ip("-n", self.switch, "link", "set", "br0", "up")
        for host in self.names:
            ns = self.ns(host)
            ip("netns", "add", ns)
            self.created.append(ns)
            ip("-n", ns, "link", "set", "lo", "up")
            # Created inside the host namespace, the switch end moved out: nothing
            # ever appears in this machine's own namespace.
            ip("-n", ns, "link", "add", "eth0", "type", "veth", "peer", "name", self.port(host))
            ip("-n", ns, "link", "set", self.port(host), "netns", self.switch)
            ip("-n", self.switch, "link", "set", self.port(host), "master", "br0")
            ip("-n", self.switch, "link", "set", self.port(host), "up")
            ip("-n", ns, "addr", "add", self.addrs[host] + "/24", "dev", "eth0")
            ip("-n", ns, "link", "set", "eth0", "up")

    def port(self, host):
        """The host's port on the switch (its other end of the cable)."""
        return "p" + host

    def link(self, host, up):
        """Plugs the host's cable in or pulls it (a partition)."""
        ip("-n", self.switch, "link", "set", self.port(host), "up" if up else "down")

    def pids(self, host):
        r = ip("netns", "pids", self.ns(host), check=False)
        return [int(p) for p in r.stdout.split()]

    def run(self, host, argv, **kw):
        return subprocess.run(["ip", "netns", "exec", self.ns(host), *argv], **kw)

    def destroy(self):
        for ns in reversed(self.created):
            ip("netns", "del", ns, check=False)
        self.created = []


class NsCluster:
    """The cluster as the tests see it from one host (by default h1, the front end)."""

    def __init__(self, net, var_of, token, secret, public_port=8080, internal_port=8081,
                 host="h1", workers=32):
        self.net = net
        self.var_of = var_of  # host name -> that host's BAZAR_VAR
        self.addr = net.addrs[host]
        self.public_port = public_port
        self.internal_port = internal_port
        self.token = token
        self.secret = secret
        fd = os.open("/run/netns/" + net.ns(host), os.O_RDONLY)
        self._fd = fd

        def enter():
            if _libc.setns(fd, CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), "setns")

        # Calls run on threads that entered the namespace. The internal listener has
        # a pool of its own: a probe of the replicas (who is primary now?) must not wait
        # behind public requests that a failover holds for seconds.
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=workers, initializer=enter)
        self._ipool = concurrent.futures.ThreadPoolExecutor(max_workers=8, initializer=enter)

    def close(self):
        self._pool.shutdown(wait=True)
        self._ipool.shutdown(wait=True)
        os.close(self._fd)

    def _call(self, port, method, path, body, headers, timeout):
        pool = self._ipool if port == self.internal_port else self._pool
        return pool.submit(http_request, port, method, path, body, headers, timeout,
                           self.addr).result()

    def pub(self, method, path, body=None, headers=None, timeout=HTTP_TIMEOUT):
        return self._call(self.public_port, method, path, body, headers, timeout)

    def internal(self, method, path, body=None, headers=None, timeout=HTTP_TIMEOUT, secret=True):
        h = dict(headers or {})
        if secret:
            h.setdefault("X-Bazar-Secret", self.secret)
        return self._call(self.internal_port, method, path, body, h, timeout)

    def admin(self, method, path, body=None, headers=None, timeout=HTTP_TIMEOUT):
        h = dict(headers or {})
        h["Authorization"] = "Bearer " + self.token
        return self.pub(method, path, body, h, timeout)

    def book(self, book_id):
        r = self.pub("GET", "/bazar/info/%s" % book_id)
        assert r.status == 200, describe(r)
        return r.body

    def books(self):
        r = self.pub("GET", "/bazar/info/all")
        assert r.status == 200, describe(r)
        return {b["id"]: b for b in r.body}
