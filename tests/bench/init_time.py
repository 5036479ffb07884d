#!/usr/bin/python3
"""Prints the longest start-up time (s) of the live catalog processes of one cluster:
from the process's start (/proc/PID/stat) to its "catalog replica N started" log line.
The first process of each replica imports the seed file in that time, so with a large
seed_file this is the import time (10 ms resolution).

    init_time.py BAZAR_VAR
"""

import datetime
import glob
import os
import re
import sys
import time

LINE = re.compile(r"^(\S+) INFO catalog\[(\d+)\] - catalog replica \d+ started")


def main():
    var = sys.argv[1]
    with open("/proc/uptime") as f:
        boot = time.time() - float(f.read().split()[0])  # wall clock at boot
    hz = os.sysconf("SC_CLK_TCK")
    worst = None
    for path in glob.glob(os.path.join(var, "log", "catalog-*.log")):
        with open(path, errors="replace") as f:
            for line in f:
                m = LINE.match(line)
                if not m:
                    continue
                pid = int(m.group(2))
                logged = datetime.datetime.fromisoformat(
                    m.group(1).replace("Z", "+00:00")).timestamp()
                try:
                    with open("/proc/%d/stat" % pid) as s:
                        fields = s.read().rsplit(")", 1)[1].split()
                except OSError:
                    continue
                started = boot + int(fields[19]) / hz
                if worst is None or logged - started > worst:
                    worst = logged - started
    if worst is None:
        sys.exit("init_time: no live catalog process with a start line under %s" % var)
    print("%.3f" % max(worst, 0.0))
    return 0


if __name__ == "__main__":
    sys.exit(main())
