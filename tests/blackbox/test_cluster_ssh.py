"""deploy/cluster over its default transport, ssh: the same four namespace
hosts as test_cluster.py, each running its own sshd (a key made for the test,
port 2222 on the host's address), and deploy/cluster run from h1 the way an
operator runs it from a control machine. Skipped, with the reason, where
namespaces cannot be created or sshd is not installed."""

import os
import re
import shutil
import subprocess
import time
import uuid

import pytest

from conftest import describe
from netns import NsCluster, can_create_namespaces
from test_cluster import Deployment

SSHD = shutil.which("sshd") or "/usr/sbin/sshd"
_ok, _why = can_create_namespaces()
pytestmark = [
    pytest.mark.skipif(not _ok, reason="multi-host tests need network namespaces: " + _why),
    pytest.mark.skipif(not os.path.exists(SSHD) or not shutil.which("ssh"),
                       reason="the ssh transport test needs sshd and ssh (openssh-server)"),
]


class SshDeployment(Deployment):
    def __init__(self):
        super().__init__()
        self.sshd_pids = []
        try:
            self._start_sshd()
        except Exception:
            self.destroy()
            raise
        key = os.path.join(self.root, "ssh", "user")
        self.env = dict(os.environ, BAZAR_CLUSTER_STATE=self.state,
                        BAZAR_SSH="-p 2222 -i %s -o StrictHostKeyChecking=no "
                                  "-o UserKnownHostsFile=/dev/null -o BatchMode=yes "
                                  "-o LogLevel=ERROR -o ConnectTimeout=5" % key)
        self.env.pop("BAZAR_TRANSPORT", None)  # the default: ssh

    def _start_sshd(self):
        d = os.path.join(self.root, "ssh")
        os.makedirs(d)
        for name in ("host", "user"):
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", os.path.join(d, name)],
                           check=True, timeout=30)
        shutil.copy(os.path.join(d, "user.pub"), os.path.join(d, "authorized_keys"))
        os.makedirs("/run/sshd", exist_ok=True)  # sshd's privilege separation directory
        for host in self.net.names:
            pidfile = os.path.join(d, "sshd-%s.pid" % host)
            self.net.run(host, [SSHD, "-p", "2222", "-o", "ListenAddress=" + self.net.addrs[host],
                                "-h", os.path.join(d, "host"),
                                "-o", "AuthorizedKeysFile=" + os.path.join(d, "authorized_keys"),
                                "-o", "PermitRootLogin=prohibit-password", "-o", "StrictModes=no",
                                "-o", "PidFile=" + pidfile], check=True, timeout=20)
            for _ in range(50):
                if os.path.exists(pidfile):
                    break
                time.sleep(0.1)
            with open(pidfile) as f:
                self.sshd_pids.append(int(f.read()))

    def command(self, cmd):
        # From h1, as from an operator's machine on the cluster network.
        return ["ip", "netns", "exec", self.net.ns("h1")] + super().command(cmd)


@pytest.fixture(scope="module")
def sdep():
    d = SshDeployment()
    try:
        d.cluster("up")
        yield d
    finally:
        d.destroy()


def test_ssh_up_api_up_again_down(sdep):
    c = NsCluster(sdep.net, sdep.var, sdep.read("admin.token"), sdep.read("cluster.secret"))
    try:
        r = c.pub("POST", "/bazar/purchase/1", headers={"Idempotency-Key": "ssh-" + uuid.uuid4().hex})
        assert r.status == 200, describe(r)
        st = c.internal("GET", "/status").body
        assert st["catalog"]["up"] == 3 and st["order"]["up"] == 3, st
    finally:
        c.close()
    before = sdep.pid_files()
    r = sdep.cluster("up")
    assert sdep.pid_files() == before
    assert len(re.findall(r"^h\d: bazar: already running", r.stdout, re.M)) == 4, r.stdout
    r = sdep.cluster("status")
    assert r.stdout.count("== h") == 4 and "stopped" not in r.stdout, r.stdout
    sdep.cluster("down")
    for host in sdep.net.names:
        left = [p for p in sdep.net.pids(host) if p not in sdep.sshd_pids]
        assert left == [], "%s still runs %s" % (host, left)
