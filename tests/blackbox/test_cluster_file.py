"""deploy/cluster's cluster file: each bad line is refused with a clear error
that names the file and line, before anything is copied or started."""
import os
import subprocess

import pytest

from conftest import REPO

CLUSTER = os.path.join(REPO, "deploy", "cluster")
GOOD = ["h1 10.9.0.1 frontend redis", "h2 10.9.0.2 catalog:1 order:1"]

BAD = [
    ("unknown role", GOOD + ["h3 10.9.0.3 catlog:2"], ":3: unknown role 'catlog:2'"),
    ("replica 8", GOOD + ["h3 10.9.0.3 catalog:8"], ":3: unknown role 'catalog:8'"),
    ("host twice", GOOD + ["h2 10.9.0.3 order:2"], ":3: host h2 is listed twice"),
    ("address twice", GOOD + ["h3 10.9.0.2 order:2"], ":3: address 10.9.0.2 is already host h2's"),
    ("bad address", GOOD + ["h3 not-an-ip order:2"], ":3: address 'not-an-ip' of h3"),
    ("bad name", ["h/1 10.9.0.1 frontend redis"] + GOOD[1:], ":1: host name 'h/1'"),
    ("no roles", GOOD + ["h3 10.9.0.3"], ":3: expected 'NAME ADDRESS ROLE...'"),
    ("replica twice", GOOD + ["h3 10.9.0.3 catalog:1"], ":3: catalog:1 is listed twice"),
    ("two caches", GOOD + ["h3 10.9.0.3 redis"], ":3: a second redis host (h3)"),
    ("unknown setting", GOOD + ["colour = blue"], ":3: unknown setting 'colour'"),
    ("bad port", GOOD + ["public_port = 99999"], ":3: public_port must be a port number"),
    ("relative dir", GOOD + ["dir = var/x"], ":3: dir must be an absolute path"),
    ("bad timing", GOOD + ["election_ms = 0.7s"], ":3: election_ms must be a number of milliseconds"),
    ("replica gap", GOOD + ["h3 10.9.0.3 catalog:3"], "catalog replicas must be numbered 1..2: catalog:2 is missing"),
    ("no front end", ["h1 10.9.0.1 redis", GOOD[1]], "no host has the frontend role"),
    ("no cache", ["h1 10.9.0.1 frontend", GOOD[1]], "no host has the redis role"),
    ("no order replica", ["h1 10.9.0.1 frontend redis", "h2 10.9.0.2 catalog:1"], "no order replica"),
]


@pytest.mark.parametrize("name,lines,error", BAD, ids=[b[0] for b in BAD])
def test_bad_cluster_file_is_refused_naming_the_line(tmp_path, name, lines, error):
    f = tmp_path / "bad.conf"
    f.write_text("\n".join(lines) + "\n")
    env = dict(os.environ, BAZAR_TRANSPORT="netns", BAZAR_CLUSTER_STATE=str(tmp_path / "state"))
    r = subprocess.run([CLUSTER, "up", str(f)], env=env, capture_output=True, text=True, timeout=30)
    assert r.returncode == 1, (r.returncode, r.stdout, r.stderr)
    assert error in r.stderr and str(f) in r.stderr, r.stderr
    assert not (tmp_path / "state").exists() or not os.listdir(tmp_path / "state"), "state written"


def test_usage_and_unknown_command(tmp_path):
    r = subprocess.run([CLUSTER], capture_output=True, text=True, timeout=30)
    assert r.returncode == 2 and "usage: deploy/cluster up|down|status|reload" in r.stderr
    r = subprocess.run([CLUSTER, "explode", os.path.join(REPO, "deploy", "cluster.example")],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 2, r.stderr


def test_example_file_is_valid(tmp_path):
    """The documented example parses: `status` gets past validation and fails
    only at the transport (no such namespace)."""
    env = dict(os.environ, BAZAR_TRANSPORT="netns", BAZAR_NETNS_PREFIX="bznone",
               BAZAR_CLUSTER_STATE=str(tmp_path / "state"))
    r = subprocess.run([CLUSTER, "status", os.path.join(REPO, "deploy", "cluster.example")],
                       env=env, capture_output=True, text=True, timeout=30)
    assert "cluster.example:" not in r.stderr, r.stderr
    assert "== h1 10.77.0.1 (frontend redis)" in r.stdout, r.stdout
