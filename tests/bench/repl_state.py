#!/usr/bin/python3
"""Reads the replicas' /state on a cluster's internal listener for the benchmark (stdlib only).

    repl_state.py primary --port INT --var VAR --service S --replicas N
        prints the id of the service's primary
    repl_state.py applied --port INT --var VAR --service S --replica ID
        prints replica ID's log position
    repl_state.py agree   --port INT --var VAR --service S --replicas N [--expect-replayed ID:K]
        waits (bounded) until every replica has the same position and hash; prints one
        line per replica; with --expect-replayed, replica ID must report K replayed entries
        and no snapshot. Exit 1 when they do not agree in time.
    repl_state.py catchup --port INT --var VAR --service S --replicas N --replica ID
                          --target POS -- CMD...
        runs CMD (the restart), polls replica ID's /state every --interval s until its
        position reaches POS, waits for CMD, checks every replica's hash; prints key=value
        lines for meta.env (catchup_*). Exit 1 on timeout or disagreement.

Every request to /replica/... carries X-Bazar-Secret with the contents of VAR/cluster.secret
when that file exists (read once). Every loop is bounded by --max-seconds.
"""

import argparse
import http.client
import json
import os
import subprocess
import sys
import time

HOST = "127.0.0.1"


class Internal:
    """Keep-alive GETs to the internal listener, with the cluster secret when there is one."""

    def __init__(self, port, var, timeout):
        self.port, self.timeout = port, timeout
        self.headers = {}
        path = os.path.join(var, "cluster.secret")
        if os.path.exists(path):
            with open(path) as f:
                self.headers["X-Bazar-Secret"] = f.read().rstrip("\r\n")
        self.c = http.client.HTTPConnection(HOST, port, timeout=timeout)

    def get_json(self, path):
        """-> (status, parsed body or None); status 0 when nothing answered."""
        for attempt in range(2):
            try:
                self.c.request("GET", path, headers=self.headers)
                r = self.c.getresponse()
                body = r.read()
                try:
                    return r.status, json.loads(body)
                except ValueError:
                    return r.status, None
            except (http.client.HTTPException, OSError):
                self.c.close()
                self.c = http.client.HTTPConnection(HOST, self.port, timeout=self.timeout)
        return 0, None

    def state(self, service, n):
        status, body = self.get_json("/replica/%s/%d/state" % (service, n))
        return body if status == 200 and isinstance(body, dict) else None


def states(api, args):
    return {n: api.state(args.service, n) for n in range(1, args.replicas + 1)}


def primary_of(sts):
    best = None
    for n, s in sts.items():
        if s and s.get("role") == "primary" and (best is None or s["epoch"] > sts[best]["epoch"]):
            best = n
    return best


def agree(sts):
    vals = {(s["applied"], s["hash"]) if s else None for s in sts.values()}
    return len(vals) == 1 and None not in vals


def cmd_primary(api, args):
    deadline = time.monotonic() + args.max_seconds
    while True:
        p = primary_of(states(api, args))
        if p or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    if not p:
        print("repl_state: no %s primary found" % args.service, file=sys.stderr)
        return 1
    print(p)
    return 0


def cmd_applied(api, args):
    s = api.state(args.service, args.replica)
    if not s:
        print("repl_state: %s-%d has no /state" % (args.service, args.replica), file=sys.stderr)
        return 1
    print(s["applied"])
    return 0


def show(sts):
    for n, s in sorted(sts.items()):
        if s:
            print("  %s-%d %-7s applied=%s hash=%s replayed=%s snapshots=%s" % (
                s["service"], n, s["role"], s["applied"], s["hash"], s["replayed"],
                s["snapshots"]))
        else:
            print("  replica %d: no /state" % n)


def cmd_agree(api, args):
    deadline = time.monotonic() + args.max_seconds
    while True:
        sts = states(api, args)
        if agree(sts) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    show(sts)
    ok = agree(sts)
    if not ok:
        print("repl_state: %s replicas disagree after %.0f s" % (args.service, args.max_seconds),
              file=sys.stderr)
    for spec in args.expect_replayed or []:
        n, k = (int(x) for x in spec.split(":"))
        s = sts.get(n)
        if not s or s["replayed"] != k or s["snapshots"] != 0:
            print("repl_state: %s-%d replayed %s entries (%s snapshots), expected %d from the "
                  "log" % (args.service, n, s and s["replayed"], s and s["snapshots"], k),
                  file=sys.stderr)
            ok = False
    return 0 if ok else 1


def cmd_catchup(api, args):
    """Restart, then time until the replica's position reaches the target."""
    t0 = time.monotonic()
    proc = subprocess.Popen(args.cmd, stdout=subprocess.DEVNULL if not args.log else
                            open(args.log, "w"), stderr=subprocess.STDOUT)
    t_up = t_done = None
    polls, last = 0, None
    deadline = t0 + args.max_seconds
    while time.monotonic() < deadline:
        s = api.state(args.service, args.replica)
        polls += 1
        now = time.monotonic()
        if s:
            last = s
            if t_up is None:
                t_up = now
            if s["applied"] >= args.target:
                t_done = now
                break
        time.sleep(args.interval)
    try:
        rc = proc.wait(timeout=max(1.0, deadline - time.monotonic()) + 30)
    except subprocess.TimeoutExpired:
        proc.terminate()
        rc = proc.wait(10)
    sts = states(api, args)  # the restart's health wait is over: every replica is serving
    end = sts.get(args.replica) or last or {}
    prim = primary_of(sts)
    out = {
        "catchup_s": "%.3f" % (t_done - t0) if t_done else "",
        "catchup_up_s": "%.3f" % (t_up - t0) if t_up else "",
        "catchup_replay_s": "%.3f" % (t_done - t_up) if t_done and t_up else "",
        "catchup_polls": polls,
        "catchup_replayed": end.get("replayed", ""),
        "catchup_snapshots": end.get("snapshots", ""),
        "catchup_applied": end.get("applied", ""),
        "catchup_primary_applied": sts[prim]["applied"] if prim else "",
        "catchup_hashes_agree": "yes" if agree(sts) else "no",
        "catchup_restart_rc": rc,
    }
    for k, v in out.items():
        print("%s=%s" % (k, v))
    return 0 if t_done and rc == 0 and agree(sts) else 1


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="sub", required=True)
    for name in ("primary", "applied", "agree", "catchup"):
        p = sub.add_parser(name)
        p.add_argument("--port", type=int, required=True, help="internal listener")
        p.add_argument("--var", required=True, help="the cluster's BAZAR_VAR")
        p.add_argument("--service", choices=["catalog", "order"], required=True)
        p.add_argument("--replicas", type=int, default=3)
        p.add_argument("--max-seconds", type=float, default=30.0)
        p.add_argument("--timeout", type=float, default=15.0, help="per request")
        if name == "agree":
            p.add_argument("--expect-replayed", action="append", metavar="ID:K")
        if name in ("applied", "catchup"):
            p.add_argument("--replica", type=int, required=True)
        if name == "catchup":
            p.add_argument("--target", type=int, required=True)
            p.add_argument("--interval", type=float, default=0.02)
            p.add_argument("--log", help="file for the restart command's output")
            p.add_argument("cmd", nargs=argparse.REMAINDER)
    args = ap.parse_args()
    if args.sub == "catchup":
        if args.cmd and args.cmd[0] == "--":
            args.cmd = args.cmd[1:]
        if not args.cmd:
            ap.error("catchup needs the restart command after --")
    api = Internal(args.port, args.var, args.timeout)
    return {"primary": cmd_primary, "applied": cmd_applied, "agree": cmd_agree,
            "catchup": cmd_catchup}[args.sub](api, args)


if __name__ == "__main__":
    sys.exit(main())
