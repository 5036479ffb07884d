"""Black-box test harness for Bazar: start a whole cluster with deploy/start.sh,
talk to it over HTTP on 127.0.0.1 only, stop it with deploy/stop.sh.

Standard library only (plus pytest). Run from this directory with
    /usr/bin/python3 -m pytest -q

Environment knobs:
    BAZAR_TEST_BIN   directory of the programs to test (e.g. bin-asan); passed
                     to the deploy scripts as BAZAR_BIN. Relative to the repo.
    BAZAR_KEEP_VAR   keep every cluster's temp dir after the test (debugging).

Interface for test writers (see the Cluster docstring for details):
    fixtures   cluster       module-scoped 3+3 replicas, cache on
               make_cluster  factory: make_cluster(catalog_replicas=1, cache="off",
                             conf_extra="log_level = debug") -> started Cluster;
                             everything it started is stopped and checked at the
                             end of the test
    helpers    SEED_BOOKS, Resp, server_timing(), expect_error(), describe(),
               pid_alive(), http_request(), quote_segment()
"""

import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.parse

import pytest

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
HTTP_TIMEOUT = 10.0  # seconds, every request
START_TIMEOUT = float(os.environ.get("BAZAR_TEST_START_TIMEOUT", "120"))
# The black-box clusters run smaller write pools than the defaults (16 front-end
# write processes, 8 order workers): every test starts clusters, and 27 more
# processes per cluster cost minutes of `make test`. The sizes matter for
# capacity under faults, which `make bench-faults` (and its smoke run in `make
# test`) and the Jepsen-style suite measure with the defaults.
TEST_WRITE_WORKERS, TEST_ORDER_WORKERS = 4, 3
STOP_TIMEOUT = 60.0
HEALTH_WAIT = 20.0  # after start.sh returned, how long /health may take to say 200

# The 7 books of the Bazar lab report: id -> (title, topic, price, quantity).
SEED_BOOKS = {
    0: ("How to get a good grade in DOS in 40 minutes a day.", "distributed systems", 100.00, 85),
    1: ("RPCs for Noobs.", "distributed systems", 22.35, 60),
    2: ("Xen and the Art of Surviving Undergraduate School.", "undergraduate school", 50.00, 8),
    3: ("Cooking for the Impatient Undergrad.", "undergraduate school", 89.33, 65),
    4: ("How to finish Project 3 on time", "new", 70.00, 40),
    5: ("Why theory classes are so hard", "new", 100.00, 80),
    6: ("Spring in the Pioneer Valley", "new", 700.00, 90),
}


# --------------------------------------------------------------------------
# HTTP


class Resp(tuple):
    """(status, headers, body) - unpacks as a 3-tuple.

    headers: dict with lower-case keys (repeated headers joined with ", ").
    body: parsed JSON when the body parses as JSON, else the text.
    Extra attributes: .status .headers .body .raw (bytes) .method .path
    """

    def __new__(cls, status, headers, body, raw=b"", method="", path=""):
        self = tuple.__new__(cls, (status, headers, body))
        self.raw = raw
        self.method = method
        self.path = path
        return self

    @property
    def status(self):
        return self[0]

    @property
    def headers(self):
        return self[1]

    @property
    def body(self):
        return self[2]

    @property
    def content_type(self):
        return self[1].get("content-type", "").split(";")[0].strip().lower()

    def __repr__(self):
        return describe(self)


def describe(resp, limit=600):
    """One line for assertion messages: 'GET /x -> 404 {"error": ...}'."""
    raw = resp.raw if isinstance(resp, Resp) else b""
    text = raw[:limit].decode("utf-8", "replace")
    if len(raw) > limit:
        text += "...(%d bytes)" % len(raw)
    return "%s %s -> %s %s" % (
        getattr(resp, "method", "?"),
        _short(getattr(resp, "path", "?")),
        resp[0],
        text,
    )


def _short(s, n=120):
    s = str(s)
    return s if len(s) <= n else s[:n] + "...(%d chars)" % len(s)


class _RawHTTPConnection(http.client.HTTPConnection):
    """http.client without request-line validation: sends the path and the
    method exactly as given (no normalization, any method, any bytes)."""

    def _validate_path(self, url):  # noqa: D401 - disable the check
        return

    def _validate_method(self, method):
        return

    def _encode_request(self, request):
        return request.encode("latin-1")


def http_request(port, method, path, body=None, headers=None, timeout=HTTP_TIMEOUT,
                 host="127.0.0.1"):
    """One HTTP/1.1 request to host:port (loopback by default) on a fresh connection.

    path: str (sent as UTF-8 bytes, not normalized) or bytes (sent as is).
    body: None, bytes, str (UTF-8) or anything else (JSON-encoded). A body
    gets Content-Type: application/json unless headers set one.
    Returns a Resp. A server that answers and closes while the body is
    still being sent (e.g. 413) is handled: the answer is read anyway."""
    if isinstance(path, bytes):
        wire_path = path.decode("latin-1")
    else:
        wire_path = path.encode("utf-8").decode("latin-1")
    if body is None:
        data = None
    elif isinstance(body, (bytes, bytearray)):
        data = bytes(body)
    elif isinstance(body, str):
        data = body.encode("utf-8")
    else:
        data = json.dumps(body).encode("utf-8")
    hdrs = dict(headers or {})
    if data is not None and not any(k.lower() == "content-type" for k in hdrs):
        hdrs["Content-Type"] = "application/json"
    conn = _RawHTTPConnection(host, port, timeout=timeout)
    try:
        send_error = None
        try:
            conn.request(method, wire_path, body=data, headers=hdrs)
        except (BrokenPipeError, ConnectionResetError) as e:
            send_error = e  # the server may have answered already (413)
        try:
            r = conn.getresponse()
            raw = r.read()
        except (ConnectionError, http.client.HTTPException, OSError):
            if send_error is not None:
                raise send_error
            raise
        hmap = {}
        for k, v in r.getheaders():
            k = k.lower()
            hmap[k] = hmap[k] + ", " + v if k in hmap else v
        status = r.status
    finally:
        conn.close()
    try:
        parsed = json.loads(raw.decode("utf-8")) if raw else ""
    except (ValueError, UnicodeDecodeError):
        parsed = raw.decode("utf-8", "replace")
    return Resp(status, hmap, parsed, raw, method, path)


def quote_segment(s):
    """Percent-encode one path segment (spaces -> %20, '/' -> %2F)."""
    return urllib.parse.quote(str(s), safe="")


def server_timing(headers):
    """Parses a Server-Timing header (or a headers dict holding one).

    'cache;desc=hit, catalog;dur=0.41' -> {'cache': {'desc': 'hit'},
    'catalog': {'dur': 0.41}}. dur becomes a float; quoted values are
    unquoted; a parameter without '=' maps to True."""
    if isinstance(headers, dict):
        value = headers.get("server-timing", "")
    else:
        value = headers or ""
    out = {}
    for entry in value.split(","):
        parts = [p.strip() for p in entry.split(";")]
        if not parts or not parts[0]:
            continue
        params = out.setdefault(parts[0], {})
        for p in parts[1:]:
            if not p:
                continue
            if "=" in p:
                k, v = p.split("=", 1)
                k, v = k.strip().lower(), v.strip()
                if len(v) >= 2 and v[0] == v[-1] == '"':
                    v = v[1:-1]
                if k == "dur":
                    try:
                        v = float(v)
                    except ValueError:
                        pass
                params[k] = v
            else:
                params[p.lower()] = True
    return out


def expect_error(resp, status, what=""):
    """Asserts resp has `status`, Content-Type application/json and a body
    that is a JSON object with a non-empty "error" string."""
    ctx = (what + ": ") if what else ""
    assert resp.status == status, "%sexpected %d, got %s" % (ctx, status, describe(resp))
    assert resp.content_type == "application/json", "%serror without JSON Content-Type (%r): %s" % (
        ctx, resp.headers.get("content-type"), describe(resp))
    assert isinstance(resp.body, dict), "%serror body is not a JSON object: %s" % (ctx, describe(resp))
    assert isinstance(resp.body.get("error"), str) and resp.body["error"], (
        '%serror body has no "error" string: %s' % (ctx, describe(resp)))


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --------------------------------------------------------------------------
# processes


def signal_pids(pids, sig):
    """Sends sig to each pid (one that has exited is skipped); returns pids.
    Process-group leaders (a pool's multiwatch, nginx's master) go first:
    killed after one of its children, multiwatch could fork a replacement in
    between that no list holds, and that child would live on with the old
    database (a "killed" replica that still serves)."""
    def leader_first(pid):
        try:
            return 0 if os.getpgid(pid) == pid else 1
        except ProcessLookupError:
            return 2
    for pid in sorted(pids, key=leader_first):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass
    return pids


def _procs():
    """(pid, state, ppid, pgrp) of every live process, from /proc."""
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d, "rb") as f:
                data = f.read().decode("latin-1")
        except OSError:
            continue
        rest = data[data.rfind(")") + 2:].split()
        if len(rest) > 2 and rest[0] not in ("Z", "X", "x"):
            yield int(d), rest[0], int(rest[1]), int(rest[2])


def group_pids(pgid):
    """The live processes of process group pgid."""
    return sorted(pid for pid, _, _, grp in _procs() if grp == pgid)


def children_of(parents):
    """The live direct children of any of parents."""
    parents = set(parents)
    return sorted(pid for pid, _, ppid, _ in _procs() if ppid in parents)


def sv_hold(var, names, timeout=5.0):
    """runit's sv once for each service under var/sv: it stays dead once
    killed (until sv up or start.sh). Returns once every runsv has taken the
    command (its status file wants the service down): a kill sent earlier
    could reach the process first, and runsv would restart it."""
    dirs = [os.path.join(var, "sv", n) for n in names]
    r = subprocess.run(["sv", "once"] + dirs, capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, "sv once %s: %s%s" % (names, r.stdout, r.stderr)
    deadline = time.monotonic() + timeout
    for d in dirs:
        while True:
            with open(os.path.join(d, "supervise", "status"), "rb") as f:
                st = f.read()
            if len(st) >= 18 and st[17:18] == b"d":  # runit's status: byte 17 is "want"
                break
            assert time.monotonic() < deadline, "runsv of %s did not take sv once" % d
            time.sleep(0.01)


def _proc_stat(pid):
    """(state, starttime) of a pid from /proc, or None if it does not exist."""
    try:
        with open("/proc/%d/stat" % pid, "rb") as f:
            data = f.read().decode("latin-1")
    except (FileNotFoundError, ProcessLookupError, PermissionError, OSError):
        return None
    rest = data[data.rfind(")") + 2:].split()  # after "pid (comm) "
    if len(rest) < 20:
        return None
    return rest[0], rest[19]  # state, starttime (field 22)


def pid_alive(pid, starttime=None):
    """True if pid runs (zombies count as dead). With starttime, only if it
    is still the same process (guards against pid reuse)."""
    st = _proc_stat(pid)
    if st is None or st[0] in ("Z", "X", "x"):
        return False
    return starttime is None or st[1] == starttime


def _read_pidfile(path):
    pids = []
    try:
        with open(path) as f:
            for line in f:
                line = line.strip()
                if line.isdigit():
                    pids.append(int(line))
    except FileNotFoundError:
        pass
    return pids


def _tail(path, lines=40):
    try:
        with open(path, "rb") as f:
            try:
                f.seek(-16384, os.SEEK_END)
            except OSError:
                f.seek(0)
            data = f.read().decode("utf-8", "replace")
    except OSError as e:
        return "(unreadable: %s)" % e
    return "\n".join(data.splitlines()[-lines:])


def _run_bounded(argv, env, timeout, out_path):
    """Runs argv with output to a file (daemons that inherit stdout must not
    keep a pipe open). Returns (rc, output); rc None on timeout."""
    with open(out_path, "wb") as out:
        p = subprocess.Popen(argv, env=env, cwd=REPO, stdin=subprocess.DEVNULL,
                             stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            rc = p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(p.pid, signal.SIGKILL)  # the script's own group only
            except ProcessLookupError:
                pass
            p.wait(timeout=10)
            rc = None
    with open(out_path, "rb") as f:
        return rc, f.read().decode("utf-8", "replace")


# --------------------------------------------------------------------------
# cluster


class Cluster:
    """One Bazar deployment under a private temp dir on two free ports.

    Cluster(catalog_replicas=3, order_replicas=3, cache="on", conf_extra="",
            env=None)
      cache       "on"/"off" or a bool
      conf_extra  str ("key = value" lines) or dict {key: value}
      env         extra environment for the deploy scripts

    Attributes: root (temp dir), var, public_port, internal_port, env.
    Methods:
      start()                       start.sh + wait for /health; fails the test
                                    with every log tail if that does not work
      run_script(name, timeout)     runs deploy/<name> with the cluster env -> (rc, output)
      start_script()/stop_script()/status_script() -> (rc, output)
      stop()                        stop.sh, then asserts no pid of any pid file lives
      close()                       stop() if needed, force-kill leftovers, remove temp dir
      pub(method, path, body=None, headers=None, timeout=10) -> Resp (public port)
      internal(...)                 same on the internal port
      admin(method, path, body=None, headers=None) -> pub() with the Bearer token
      token                         contents of var/admin.token
      pids(name) -> [int]           var/run/<name>.pid, e.g. "catalog-1", "nginx"
      pid_files() -> {name: [pid]}  every pid file under var/run
      redis_pid() -> int or None
      server_timing(headers)        see server_timing()
      book(id) -> dict              GET /bazar/info/<id>, asserted 200
      books() -> {id: record}       GET /bazar/info/all, asserted 200
      log_tails() -> str            the tail of every file under var/log
    """

    def __init__(self, catalog_replicas=3, order_replicas=3, cache="on", conf_extra="", env=None):
        self.catalog_replicas = catalog_replicas
        self.order_replicas = order_replicas
        if isinstance(cache, bool):
            cache = "on" if cache else "off"
        self.cache = cache
        if isinstance(conf_extra, dict):
            conf_extra = "\n".join("%s = %s" % kv for kv in conf_extra.items())
        self.conf_extra = conf_extra or ""
        self.root = tempfile.mkdtemp(prefix="bz", dir="/tmp")
        # mkdtemp makes it 0700; nginx workers (nobody, when run as root) must traverse it
        os.chmod(self.root, 0o755)
        self.var = os.path.join(self.root, "var")
        self.public_port = free_port()
        self.internal_port = free_port()
        for _ in range(20):
            if self.internal_port != self.public_port:
                break
            self.internal_port = free_port()
        self.env = self._make_env(env or {})
        self.started = False
        self.stopped = False
        self.closed = False
        self._script_runs = 0
        self._seen = {}  # pid -> starttime, of every pid ever read from a pid file

    # ---- environment and scripts

    def _make_env(self, extra):
        env = {k: v for k, v in os.environ.items() if not k.startswith("BAZAR_")}
        env.update({
            "BAZAR_VAR": self.var,
            "BAZAR_LISTEN": "127.0.0.1",
            "BAZAR_PUBLIC_PORT": str(self.public_port),
            "BAZAR_INTERNAL_PORT": str(self.internal_port),
            "BAZAR_CATALOG_REPLICAS": str(self.catalog_replicas),
            "BAZAR_ORDER_REPLICAS": str(self.order_replicas),
            "BAZAR_CACHE": self.cache,
            "BAZAR_CONF_EXTRA": self.conf_extra,
            "BAZAR_WRITE_WORKERS": str(TEST_WRITE_WORKERS),
            "BAZAR_ORDER_WORKERS": str(TEST_ORDER_WORKERS),
        })
        test_bin = os.environ.get("BAZAR_TEST_BIN")
        if test_bin:
            env["BAZAR_BIN"] = test_bin if os.path.isabs(test_bin) else os.path.join(REPO, test_bin)
        env.update({k: str(v) for k, v in extra.items()})
        return env

    def run_script(self, name, timeout=START_TIMEOUT):
        script = os.path.join(REPO, "deploy", name)
        if not os.path.isfile(script):
            pytest.fail("%s does not exist" % script)
        self._script_runs += 1
        out_path = os.path.join(self.root, "%02d-%s.out" % (self._script_runs, name))
        rc, out = _run_bounded(["bash", script], self.env, timeout, out_path)
        self._remember_pids()
        return rc, out

    def start_script(self):
        return self.run_script("start.sh", START_TIMEOUT)

    def stop_script(self):
        return self.run_script("stop.sh", STOP_TIMEOUT)

    def status_script(self):
        return self.run_script("status.sh", 30)

    # ---- life cycle

    def start(self):
        rc, out = self.start_script()
        self.started = True
        self.stopped = False
        if rc != 0:
            self._fail_start("deploy/start.sh exited with %s" % ("a timeout" if rc is None else rc), out)
        deadline = time.monotonic() + HEALTH_WAIT
        last = None
        for _ in range(400):  # bounded by count and by the deadline
            try:
                last = self.pub("GET", "/health", timeout=2)
                if last.status == 200:
                    break
            except (OSError, http.client.HTTPException) as e:
                last = e
            if time.monotonic() > deadline:
                break
            time.sleep(0.05)
        if not (isinstance(last, Resp) and last.status == 200):
            self._fail_start("GET /health did not answer 200 within %.0f s after start.sh: %r"
                             % (HEALTH_WAIT, last), out)
        self._remember_pids()
        return self

    def _fail_start(self, why, out):
        msg = "%s\n--- start.sh output ---\n%s\n%s" % (why, out[-4000:], self.log_tails())
        print(msg)
        try:
            self.close(check=False)
        finally:
            pytest.fail(msg, pytrace=False)

    def stop(self):
        """stop.sh; asserts it exits 0 and that no process of any pid file
        (seen at any time during the cluster's life) is still alive."""
        self._remember_pids()
        rc, out = self.stop_script()
        self.stopped = True
        alive = self.live_pids()
        assert rc == 0, "deploy/stop.sh exited with %s:\n%s" % (rc, out[-3000:])
        assert not alive, "processes still alive after deploy/stop.sh: %s\n%s" % (
            self._ps(alive), out[-3000:])
        return rc, out

    def close(self, check=True):
        """Stops the cluster if needed, kills anything left over, removes the
        temp dir (unless BAZAR_KEEP_VAR). With check, raises AssertionError
        when stop.sh failed or left processes behind."""
        if self.closed:
            return
        self.closed = True
        problems = []
        try:
            if self.started and not self.stopped:
                try:
                    self.stop()
                except AssertionError as e:
                    problems.append(str(e))
                except Exception as e:  # noqa: BLE001 - report and clean up anyway
                    problems.append("stop failed: %r" % (e,))
        finally:
            leftovers = self.live_pids()
            for pid in leftovers:
                try:
                    os.kill(pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
            if leftovers:
                problems.append("force-killed leftover processes: %s" % leftovers)
            if os.environ.get("BAZAR_KEEP_VAR"):
                print("BAZAR_KEEP_VAR: kept %s" % self.root)
            else:
                shutil.rmtree(self.root, ignore_errors=True)
        if check and problems:
            raise AssertionError("cluster %s: %s" % (self.root, "\n".join(problems)))

    # ---- pids

    def pids(self, name):
        """Every live process of component name: the process group whose id
        deploy/service.sh wrote to var/run/NAME.pid (a pool's multiwatch and
        its children, nginx's master and worker, Redis); runsvdir by pid."""
        listed = _read_pidfile(os.path.join(self.var, "run", name + ".pid"))
        pids = listed if name == "runsvdir" or not listed else group_pids(listed[0])
        self._note(pids)
        return pids

    def workers(self, name):
        """The processes that serve a pool's requests: its group without the
        supervisor (multiwatch) that leads it."""
        listed = _read_pidfile(os.path.join(self.var, "run", name + ".pid"))
        return [p for p in self.pids(name) if not listed or p != listed[0]]

    def sv(self, command, names):
        """runit's sv COMMAND for each service (once, down, up, ...)."""
        dirs = [os.path.join(self.var, "sv", n) for n in names]
        r = subprocess.run(["sv", command] + dirs, capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, "sv %s %s: %s%s" % (command, names, r.stdout, r.stderr)

    def kill(self, names, sig=signal.SIGKILL):
        """Sends sig to every process of the named components. A SIGKILL'd
        component stays dead (sv once) until start.sh or sv up: the way a test
        keeps a replica down; crash() lets the supervisor restart it."""
        if sig == signal.SIGKILL:
            sv_hold(self.var, names)
        return signal_pids([p for n in names for p in self.pids(n)], sig)

    def crash(self, names):
        """kill -9 of every process of the named components, left to runit
        and multiwatch to restart."""
        return signal_pids([p for n in names for p in self.pids(n)], signal.SIGKILL)

    def supervisors(self):
        """runsvdir and its runsv processes (one per service)."""
        top = _read_pidfile(os.path.join(self.var, "run", "runsvdir.pid"))
        return top + children_of(top)

    def pid_files(self):
        run = os.path.join(self.var, "run")
        out = {}
        try:
            names = sorted(os.listdir(run))
        except FileNotFoundError:
            return out
        for n in names:
            if n.endswith(".pid"):
                out[n[:-4]] = self.pids(n[:-4])
        return out

    def redis_pid(self):
        pids = self.pids("redis")
        return pids[0] if pids else None

    def _note(self, pids):
        for pid in pids:
            if pid not in self._seen:
                st = _proc_stat(pid)
                if st is not None:
                    self._seen[pid] = st[1]

    def _remember_pids(self):
        self.pid_files()
        self._note(self.supervisors())

    def live_pids(self):
        """Every pid ever read from a pid file (plus the current files) that
        is still the same live process."""
        self._remember_pids()
        return sorted(p for p, t in self._seen.items() if pid_alive(p, t))

    @staticmethod
    def _ps(pids):
        lines = []
        for pid in pids:
            try:
                with open("/proc/%d/cmdline" % pid, "rb") as f:
                    cmd = f.read().replace(b"\0", b" ").decode("utf-8", "replace").strip()
            except OSError:
                cmd = "?"
            lines.append("%d %s" % (pid, cmd))
        return "; ".join(lines)

    # ---- HTTP

    def pub(self, method, path, body=None, headers=None, timeout=HTTP_TIMEOUT):
        return http_request(self.public_port, method, path, body, headers, timeout)

    def internal(self, method, path, body=None, headers=None, timeout=HTTP_TIMEOUT, secret=True):
        """A call on the internal listener. Like the services themselves, it carries
        the cluster secret (X-Bazar-Secret) unless secret=False or the caller set
        that header (to send a wrong one)."""
        h = dict(headers or {})
        if secret and not any(k.lower() == "x-bazar-secret" for k in h):
            h["X-Bazar-Secret"] = self.secret
        return http_request(self.internal_port, method, path, body, h, timeout)

    @property
    def secret(self):
        path = os.path.join(self.var, "cluster.secret")
        try:
            with open(path) as f:
                sec = f.read().strip()
        except FileNotFoundError:
            sec = ""
        if not sec:
            pytest.fail("no cluster secret: %s missing or empty" % path)
        return sec

    @property
    def token(self):
        path = os.path.join(self.var, "admin.token")
        try:
            with open(path) as f:
                tok = f.read().strip()
            if tok:
                return tok
        except FileNotFoundError:
            pass
        # fall back to an admin_token line in the rendered config
        try:
            with open(os.path.join(self.var, "bazar.conf")) as f:
                for line in f:
                    k, _, v = line.partition("=")
                    if k.strip() == "admin_token" and v.strip():
                        return v.strip()
        except FileNotFoundError:
            pass
        pytest.fail("no admin token: %s missing or empty" % path)

    def admin(self, method, path, body=None, headers=None, timeout=HTTP_TIMEOUT):
        h = dict(headers or {})
        h["Authorization"] = "Bearer " + self.token
        return self.pub(method, path, body, h, timeout)

    server_timing = staticmethod(server_timing)

    def book(self, book_id):
        r = self.pub("GET", "/bazar/info/%s" % book_id)
        assert r.status == 200 and isinstance(r.body, dict), "lookup failed: %s" % describe(r)
        return r.body

    def books(self):
        r = self.pub("GET", "/bazar/info/all")
        assert r.status == 200 and isinstance(r.body, list), "info/all failed: %s" % describe(r)
        return {b["id"]: b for b in r.body}

    # ---- logs

    def log_tails(self, lines=40):
        logdir = os.path.join(self.var, "log")
        parts = []
        for dirpath, _dirs, files in sorted(os.walk(logdir)):
            for fn in sorted(files):
                p = os.path.join(dirpath, fn)
                parts.append("--- %s (last %d lines) ---\n%s" % (p, lines, _tail(p, lines)))
        if not parts:
            parts.append("--- no files under %s ---" % logdir)
        return "\n".join(parts)


def start_cluster(**opts):
    """Creates and starts a Cluster (fails the test if it does not come up)."""
    c = Cluster(**opts)
    try:
        c.start()
    except BaseException:
        c.close(check=False)
        raise
    return c


# --------------------------------------------------------------------------
# fixtures


@pytest.fixture(scope="module")
def cluster():
    """A 3 catalog + 3 order replica cluster with the cache on, shared by the
    tests of one module. Stopped (and checked) after the module."""
    c = start_cluster()
    yield c
    c.close()


@pytest.fixture
def make_cluster():
    """Factory: make_cluster(**Cluster options) -> a started Cluster. All
    clusters it made are stopped, checked and removed after the test."""
    made = []

    def factory(**opts):
        c = Cluster(**opts)
        made.append(c)
        c.start()
        return c

    yield factory
    problems = []
    for c in reversed(made):
        try:
            c.close()
        except AssertionError as e:
            problems.append(str(e))
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)
