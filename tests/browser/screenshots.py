#!/usr/bin/python3
"""Writes the README's screenshots (`make screenshots`): docs/storefront.png, the shop
with a book bought, and docs/cluster-failover.png, the cluster panel while the catalog
primary is killed (SIGKILL to both its pools). Starts its own 3+3 cluster on free
loopback ports (tests/blackbox/conftest.py), runs tests/browser/run.js in the modes
"shot" and "failover-shot", and stops the cluster."""

import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "tests", "blackbox"))

from conftest import start_cluster, sv_hold  # noqa: E402


def run(cluster, mode, shot, *extra):
    url = "http://127.0.0.1:%d" % cluster.public_port
    artifacts = os.path.join(REPO, "var", "test-artifacts", "browser")
    p = subprocess.run(["node", os.path.join(HERE, "run.js"), url, cluster.token, artifacts, mode, shot] + list(extra),
                       cwd=HERE, timeout=180, stdin=subprocess.DEVNULL)
    if p.returncode != 0:
        sys.exit("run.js %s failed (exit %d)" % (mode, p.returncode))


def catalog_primary(cluster):
    status = cluster.pub("GET", "/bazar/status").body
    return status["catalog"]["primary"]


def main():
    docs = os.path.join(REPO, "docs")
    c = start_cluster()
    try:
        run(c, "shot", os.path.join(docs, "storefront.png"))
        n = catalog_primary(c)
        names = ["catalog-%d" % n, "catalog-%d.peer" % n]
        sv_hold(c.var, names)  # or runit would restart it before the picture
        pids = [p for name in names for p in c.pids(name)]
        if not pids:
            sys.exit("no pid for catalog-%s" % n)
        run(c, "failover-shot", os.path.join(docs, "cluster-failover.png"), ",".join(map(str, pids)))
    finally:
        c.close(check=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
