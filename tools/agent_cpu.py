#!/usr/bin/env python3
"""The agent's own CPU use: N Python processes of the pyenv versions (heaps of 20,000 to
400,000 GC objects, two of them busy), one `objspy agent` at its default interval and budget,
for DURATION seconds. Prints the agent's CPU time from /proc (user + system, all threads) as a
share of one core, and what the agent itself reports (objspy_agent_cpu_usage_ratio,
censuses, per-process intervals).

Usage: tools/agent_cpu.py [--processes 20] [--duration 600] [--objspy build/objspy] [--args "..."]
"""
import argparse
import glob
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

TARGET = r'''
import sys, threading, time
class Item:
    def __init__(self, i):
        self.i = i
        self.tags = [i]
N = int(sys.argv[1]); BUSY = sys.argv[2] == "busy"
keep = [Item(i) for i in range(N // 2)]
def churn():
    ring = [None] * 20000
    i = 0
    while True:
        ring[i % 20000] = {"i": [i]}
        i += 1
        if i % 1000 == 0:
            time.sleep(0.01)  # about 100,000 objects a second
if BUSY:
    threading.Thread(target=churn, daemon=True).start()
sys.stdout.write("ready\n"); sys.stdout.flush()
sys.stdin.read()
'''


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--processes", type=int, default=20)
    ap.add_argument("--duration", type=float, default=600)
    ap.add_argument("--objspy", default=os.path.join(os.path.dirname(__file__), "..", "build", "objspy"))
    ap.add_argument("--args", default="", help="extra agent arguments")
    a = ap.parse_args()
    pythons = sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.*/bin/python3.*[0-9]")))
    pythons = [p for p in pythons if re.search(r"python3\.(8|9|1[0-3])$", p)]
    if not pythons:
        sys.exit("no pyenv CPython 3.8-3.13 found (tools/setup.sh --chroot builds them)")
    work = tempfile.mkdtemp(prefix="objspy-agent-cpu-")
    script = os.path.join(work, "objspy_agent_cpu_target.py")
    with open(script, "w") as f:
        f.write(TARGET)
    procs = []
    sizes = []
    for i in range(a.processes):
        objects = [20000, 50000, 100000, 200000, 400000][i % 5]
        busy = i < 2
        p = subprocess.Popen([pythons[i % len(pythons)], script, str(objects), "busy" if busy else "idle"],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        procs.append(p)
        sizes.append((objects, busy, os.path.basename(pythons[i % len(pythons)])))
    for p in procs:
        if p.stdout.readline().strip() != "ready":
            sys.exit("a target did not start")
    agent = subprocess.Popen([a.objspy, "agent", "--listen", "127.0.0.1:0", "--include", "cmdline=objspy_agent_cpu_target"] + a.args.split(),
                             stderr=subprocess.PIPE, text=True)
    line = agent.stderr.readline()
    m = re.search(r"http://([^/]+)/metrics", line)
    if not m:
        sys.exit("agent did not start: " + line)
    url = "http://%s/metrics" % m.group(1)
    start_cpu, start = cpu_seconds(agent.pid), time.monotonic()
    time.sleep(a.duration)
    used, span = cpu_seconds(agent.pid) - start_cpu, time.monotonic() - start
    metrics = urllib.request.urlopen(url, timeout=30).read().decode()
    def values(name):
        return [float(l.rsplit(" ", 1)[1]) for l in metrics.splitlines() if l.startswith(name + "{") or l.startswith(name + " ")]
    censuses = sum(values("objspy_process_censuses_total"))
    intervals = values("objspy_process_census_interval_seconds")
    watched = values("objspy_agent_processes")
    print("processes: %d (%s); heaps of %s GC objects, 2 of them busy (about 100,000 objects/s)" %
          (a.processes, ", ".join(sorted(set(s[2] for s in sizes))), sorted(set(s[0] for s in sizes))))
    print("agent arguments: --interval default (60 s), --cpu-budget default (2%%) %s" % a.args)
    print("span %.0f s: agent CPU %.2f s = %.2f%% of one core (from /proc/PID/stat)" % (span, used, 100 * used / span))
    print("agent's own report: objspy_agent_cpu_usage_ratio %.4f, watched %d, censuses %d, interval per process %.0f-%.0f s" %
          (values("objspy_agent_cpu_usage_ratio")[0], watched[0] if watched else 0, censuses, min(intervals or [0]), max(intervals or [0])))
    agent.send_signal(signal.SIGTERM)
    agent.wait(timeout=30)
    for p in procs:
        p.kill()
        p.wait()


if __name__ == "__main__":
    main()
