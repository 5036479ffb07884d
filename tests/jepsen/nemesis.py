"""The nemesis: a seeded random schedule of faults, composed and injected
into the running deployment, each healed after its duration.

The schedule is drawn from the seed before the run starts, so JEPSEN_SEED
replays the same faults at the same times (the clients' timing, like any real
system's, still varies). A fault touches one target:
  - one replica of a service (kill -9 or SIGSTOP of both pools, of only its
    client pool, of only its peer pool; on the namespace hosts also its host
    cut from all, from some, or one way);
  - Redis (killed, paused, restarted empty) or the front end (killed).
Never more than one replica of a service at a time, so a majority always
lives, unless the run asks for majority faults (then two at once, and the
checker still demands that no write lies)."""

import os
import random
import signal
import threading
import time

from sut import REPLICAS, pool_names, signal_pids

PROCESS_KINDS = ["kill", "kill-client", "kill-peer", "pause", "pause-client", "pause-peer", "clock"]
CLOCK_BOUND_MS = 80  # under the deployment's clock_drift_ms (100): the system must hold
FAKETIME_LIB = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1"
NET_KINDS = ["partition", "partition-some", "one-way-out", "one-way-in"]
GLOBAL_KINDS = ["redis-kill", "redis-pause", "redis-restart", "frontend-kill"]


def clock_faults_possible():
    """(True, "") or (False, why): a clock fault restarts a replica under
    libfaketime (time namespaces cannot offset CLOCK_REALTIME, the clock
    the leases use)."""
    if os.path.exists(FAKETIME_LIB):
        return True, ""
    return False, "%s is missing (Debian package libfaketime)" % FAKETIME_LIB


def touched(kind, target):
    """What a fault takes away: ("catalog", i) / ("order", i) replicas
    (a host holds one of each), or ("redis",) / ("frontend",)."""
    if kind in GLOBAL_KINDS:
        return [(target["what"],)]
    if kind in NET_KINDS:
        return [("catalog", target["replica"]), ("order", target["replica"])]
    return [(target["svc"], target["replica"])]


def allowed(live, new, limit):
    """A fault may start when it touches nothing already down and leaves
    each service with at most `limit` replicas down."""
    return all(g not in live and sum(1 for x in live if x[0] == g[0]) < limit for g in new)


def schedule(seed, seconds, topology_kind, majority=False, clocks=True):
    """[(at, kind, target, duration)] for a run of `seconds`, from the seed."""
    rng = random.Random(seed)
    kinds = PROCESS_KINDS + GLOBAL_KINDS + (NET_KINDS if topology_kind == "hosts" else [])
    if not clocks:
        kinds.remove("clock")
    out, t = [], rng.uniform(1.0, 3.0)
    busy = []  # (what touched() names, time it is healed plus a second)
    limit = 2 if majority else 1
    while t < seconds - 2.0:
        kind = rng.choice(kinds)
        dur = round(rng.uniform(1.0, 6.0), 3)
        i = rng.randint(1, REPLICAS)
        if kind in GLOBAL_KINDS:
            target = {"what": kind.split("-")[0]}
        elif kind in NET_KINDS:
            host = "h%d" % (i + 1)
            others = ["h%d" % (k + 1) for k in range(1, REPLICAS + 1) if k != i]
            target = {"host": host, "replica": i}
            if kind == "partition-some":
                target["from"] = rng.sample(others + ["h1"], rng.randint(1, 2))
            elif kind.startswith("one-way"):
                target["peer"] = rng.choice(others + ["h1"])
        else:
            svc = rng.choice(["catalog", "order"])
            target = {"svc": svc, "replica": i}
            if kind == "clock":
                target["offset_ms"] = rng.choice([-1, 1]) * rng.randint(10, CLOCK_BOUND_MS)
        live = [g for g, until in busy if until > t]
        if allowed(live, touched(kind, target), limit):
            out.append({"at": round(t, 3), "kind": kind, "target": target, "duration": dur,
                        "majority": majority})
            busy += [(g, t + dur + 1.0) for g in touched(kind, target)]
        t += rng.uniform(0.5, 3.0)
    return out


class Nemesis:
    """Runs a schedule against a sut in a thread, recording each fault in hist."""

    def __init__(self, sut, hist, plan, log=print, hold_kills=True):
        """hold_kills: a killed component stays dead until its heal (runit's
        sv once), so a fault lasts as planned; without, kill -9 is a crash
        that the supervisors (runit, multiwatch) repair by themselves."""
        self.sut = sut
        self.hold_kills = hold_kills
        self.hist = hist
        self.plan = plan
        self.log = log
        self.halt = threading.Event()
        self.active = []  # (heal_at, heal_fn, record)
        self.limit = 2 if any(f.get("majority") for f in plan) else 1
        self.lock = threading.Lock()
        self.restarts = 0
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.errors = []

    def start(self):
        self.thread.start()

    def stop(self):
        self.halt.set()
        self.thread.join(120)
        self.heal_all()

    # ---- the loop

    def _run(self):
        pending = list(self.plan)
        while not self.halt.is_set():
            now = self.hist.now()
            for item in [a for a in self.active if a[0] <= now]:
                self._heal(item)
            # A fault whose time came waits while one it must not overlap is
            # still active (a slow heal can delay injections past the plan).
            live = [g for a in self.active for g in touched(a[2]["kind"], a[2]["target"])]
            if pending and pending[0]["at"] <= now and allowed(
                    live, touched(pending[0]["kind"], pending[0]["target"]), self.limit):
                self._inject(pending.pop(0))
                continue
            self.halt.wait(0.05)

    def _inject(self, f):
        rec = self.hist.fault({"kind": f["kind"], "target": f["target"], "t0": self.hist.now(),
                               "t1": None, "planned": f["duration"]})
        try:
            heal = self.apply(f["kind"], f["target"])
        except Exception as e:  # noqa: BLE001 - a fault that could not be injected is reported
            rec["error"] = repr(e)
            rec["t1"] = self.hist.now()
            self.errors.append("%s %s: %r" % (f["kind"], f["target"], e))
            return
        self.log("nemesis %7.2f s  %-14s %s for %.1f s" % (rec["t0"], f["kind"], _show(f["target"]),
                                                         f["duration"]))
        self.active.append((rec["t0"] + f["duration"], heal, rec))

    def _heal(self, item):
        self.active.remove(item)
        _, heal, rec = item
        try:
            heal()
        except Exception as e:  # noqa: BLE001
            rec["heal_error"] = repr(e)
            self.errors.append("heal %s: %r" % (rec["kind"], e))
        rec["t1"] = self.hist.now()

    def heal_all(self):
        for item in list(self.active):
            self._heal(item)

    # ---- the faults

    def _signal(self, names, sig):
        """sig to every process of the named components; a SIGKILL'd one is
        held down (runit's sv once) until the heal restarts it, so that the
        fault lasts as planned rather than as long as a supervised restart."""
        if sig == signal.SIGKILL and self.hold_kills:
            self.sut.hold(names)
        return signal_pids([p for n in names for p in self.sut.pids(n)], sig)

    def _restart(self, env=None, host=None):
        self.restarts += 1
        rc, out = self.sut.restart(env, host)
        if rc != 0:
            raise RuntimeError("restart failed: %s" % out[-500:])

    def apply(self, kind, t):
        """Injects one fault now; returns the function that heals it."""
        if kind == "clock":
            # The replica restarts with its clock off by offset_ms, and again
            # with the true clock when healed.
            names = pool_names(t["svc"], t["replica"])
            host = self.sut.host_of(t["svc"], t["replica"])
            self._signal(names, signal.SIGKILL)
            self._restart({"LD_PRELOAD": FAKETIME_LIB, "FAKETIME": "%+.3f" % (t["offset_ms"] / 1000.0),
                           "FAKETIME_DONT_RESET": "1", "FAKETIME_DISABLE_SHM": "1",
                           "BAZAR_PASS_ENV": "LD_PRELOAD FAKETIME FAKETIME_DONT_RESET FAKETIME_DISABLE_SHM"},
                          host)

            def heal():
                self._signal(names, signal.SIGKILL)
                self._restart(None, host)
            return heal
        if kind in PROCESS_KINDS:
            client, peer = pool_names(t["svc"], t["replica"])
            names = {"": [client, peer], "client": [client], "peer": [peer]}[
                kind.split("-")[1] if "-" in kind else ""]
            if kind.startswith("kill"):
                self._signal(names, signal.SIGKILL)
                host = self.sut.host_of(t["svc"], t["replica"])
                return (lambda: self._restart(None, host)) if self.hold_kills else (lambda: None)
            pids = self._signal(names, signal.SIGSTOP)
            return lambda: signal_pids(pids, signal.SIGCONT)
        front = self.sut.host_of("redis", 0)
        if kind == "redis-kill":
            self._signal(["redis"], signal.SIGKILL)
            return lambda: self._restart(None, front)
        if kind == "redis-restart":
            self._signal(["redis"], signal.SIGKILL)
            time.sleep(0.05)
            self._restart(None, front)
            return lambda: None
        if kind == "redis-pause":
            pids = self._signal(["redis"], signal.SIGSTOP)
            return lambda: signal_pids(pids, signal.SIGCONT)
        if kind == "frontend-kill":
            self._signal(["frontend", "frontend.write"], signal.SIGKILL)
            return lambda: self._restart(None, front)
        return self._apply_net(kind, t)

    def _apply_net(self, kind, t):
        s, host = self.sut, t["host"]
        if kind == "partition":
            s.link(host, False)
            return lambda: s.link(host, True)
        if kind == "partition-some":
            pairs = [(host, o) for o in t["from"]] + [(o, host) for o in t["from"]]
        elif kind == "one-way-out":
            pairs = [(host, t["peer"])]
        else:  # one-way-in
            pairs = [(t["peer"], host)]
        for a, b in pairs:
            s.cut(a, b)
        return lambda: [s.uncut(a, b) for a, b in pairs]


def _show(target):
    return " ".join("%s=%s" % kv for kv in sorted(target.items()))
