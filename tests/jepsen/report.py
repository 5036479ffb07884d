"""The run's report: report.json (everything but the history) and a short
report.txt a person reads first: faults by kind, operations by outcome,
violations with the operations involved, and the unavailability windows."""

import json
import os
from collections import Counter, defaultdict


def _pct(xs, p):
    if not xs:
        return 0.0
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p / 100.0 * len(xs)))]


def write_report(out_dir, s):
    ops, faults = s.get("ops", []), s.get("faults", [])
    lines = ["Bazar Jepsen-style run: seed %s, topology %s, %s s of faults, %s clients%s"
             % (s["seed"], s["topology"], s["seconds"], s["clients"],
                ", faults may take a majority" if s.get("majority") else ""),
             "replay: /usr/bin/python3 tests/jepsen/jepsen.py --runs 1 --seed %s --topology %s "
             "--seconds %s --clients %s%s" % (s["seed"], s["topology"], s["seconds"], s["clients"],
                                             " --majority" if s.get("majority") else ""), ""]
    if "error" in s:
        lines += ["THE RUN DID NOT COMPLETE:", s["error"], "", s.get("log_tails", "")[-6000:], ""]
    kinds = Counter(f["kind"] for f in faults)
    lines.append("faults (%d): %s" % (len(faults), ", ".join("%s %d" % kv for kv in sorted(kinds.items()))))
    failed = [f for f in faults if f.get("error") or f.get("heal_error")]
    for f in failed:
        lines.append("  could not inject or heal: %s %s" % (f["kind"], f.get("error") or f.get("heal_error")))
    lines.append("restarts by the nemesis: %s" % s.get("restarts", 0))
    lines.append("")
    by = defaultdict(Counter)
    for o in ops:
        by[(o["phase"], o["f"])][o["outcome"]] += 1
    lines.append("operations by outcome (phase f: ok / fail / unknown):")
    for (phase, f), c in sorted(by.items()):
        lines.append("  %-8s %-8s %6d / %5d / %4d" % (phase, f, c["ok"], c["fail"], c["unknown"]))
    statuses = Counter((o["f"], o["status"]) for o in ops if o["phase"] == "run" and o["outcome"] != "ok")
    if statuses:
        lines.append("  not ok in the run, by status: %s" % ", ".join(
            "%s %s: %d" % (f, st if st is not None else "no answer", n) for (f, st), n in sorted(
                statuses.items(), key=lambda x: (x[0][0], str(x[0][1])))))
    lat = [o["t1"] - o["t0"] for o in ops if o["phase"] == "run" and o["f"] == "buy" and o["outcome"] == "ok"]
    lines.append("purchase latency (ok): p50 %.3f s, p99 %.3f s, max %.3f s" % (
        _pct(lat, 50), _pct(lat, 99), max(lat) if lat else 0.0))
    lines.append("")
    lines.append("replicas agreed %s s after healing; unknown writes resolved: %s" % (
        s.get("converged_s"), s.get("resolved")))
    un = s.get("unavailability", [])
    if un:
        per = defaultdict(list)
        for f, gap in un:
            per[f["kind"]].append(gap)
        lines.append("write unavailability per fault (longest stretch with no write acknowledged, "
                     "from the fault to 5 s after its healing):")
        for kind, gaps in sorted(per.items()):
            lines.append("  %-15s n=%-3d p50 %.2f s, max %.2f s" % (kind, len(gaps), _pct(gaps, 50), max(gaps)))
    lines.append("")
    viol = s.get("violations", [])
    lines.append("VIOLATIONS: %d" % len(viol) if viol else "violations: none")
    byid = {o["i"]: o for o in ops if "i" in o}
    for x in viol[:30]:
        lines.append("  [%s] %s" % (x["rule"], x["msg"]))
        for i in x["ops"][:4]:
            lines.append("      op %s" % json.dumps(byid.get(i), sort_keys=True)[:400])
    if len(viol) > 30:
        lines.append("  ... %d more in report.json" % (len(viol) - 30))
    with open(os.path.join(out_dir, "report.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")
    slim = {k: val for k, val in s.items() if k not in ("ops", "log_tails")}
    slim["unavailability"] = [{"kind": f["kind"], "t0": f["t0"], "gap_s": round(g, 3)} for f, g in un]
    slim["ops_by_outcome"] = {"%s %s" % k: dict(c) for k, c in by.items()}
    with open(os.path.join(out_dir, "report.json"), "w") as f:
        json.dump(slim, f, indent=1, sort_keys=True, default=str)


def write_suite_summary(out_root, summaries, seconds):
    """summary.txt beside the runs: one line per run, then the faults by kind
    and the operations by outcome over all of them."""
    kinds, outcomes, lines = Counter(), defaultdict(Counter), []
    for s in summaries:
        kinds.update(f["kind"] for f in s.get("faults", []))
        for o in s.get("ops", []):
            outcomes[o["f"]][o["outcome"]] += 1
        lines.append("  seed %-6s %-6s%s %6d ops %3d faults %d violations" % (
            s["seed"], s["topology"], " majority" if s.get("majority") else "         ",
            len(s.get("ops", [])), len(s.get("faults", [])), len(s.get("violations", []))))
    out = ["%d runs in %.1f min, %d with violations" % (
        len(summaries), seconds / 60, sum(1 for s in summaries if s.get("violations")))] + lines
    out.append("faults by kind (%d): %s" % (sum(kinds.values()), ", ".join(
        "%s %d" % kv for kv in sorted(kinds.items()))))
    out.append("operations, every attempt (ok / fail / unknown): %s" % ", ".join(
        "%s %d/%d/%d" % (f, c["ok"], c["fail"], c["unknown"]) for f, c in sorted(outcomes.items())))
    os.makedirs(out_root, exist_ok=True)
    with open(os.path.join(out_root, "summary.txt"), "w") as f:
        f.write("\n".join(out) + "\n")
