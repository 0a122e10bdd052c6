#!/usr/bin/env python3
"""Soak test (not in CI): objspy against a busy target for a long run.

A target churns about CHURN_RATE objects per second (default 100000: a thread allocates
and frees `Churned` objects while 20000 stay alive). objspy takes SAMPLES non-blocking
censuses and PAUSED `--pause` censuses, interleaved. It checks, and reports:
  - every census ended (exit 0, or 8 = incomplete, reported as such), none crashed or hung;
  - the target is never left stopped (every thread's state after every census);
  - objspy's peak RSS stays flat (first tenth vs last tenth of the run);
  - how far non-blocking totals are from the paused ones taken right before and after;
  - the longest --pause and the target's longest heartbeat stall in default mode.
Usage: tools/soak.py [--samples 1000] [--paused 100] [--python PATH]
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def threads_stopped(pid):
    stopped = []
    for tid in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/stat" % (pid, tid)) as f:
                s = f.read()
        except OSError:
            continue
        if s[s.rfind(")") + 2] in "tT":
            stopped.append(tid)
    return stopped


def run_census(objspy, pid, pause):
    """Exit code, parsed JSON (or None), stderr and peak RSS (MiB) of one `objspy dump`."""
    argv = [objspy, "dump", "--pid", str(pid), "--format", "ndjson", "--limit", "0", "-q"] + (["--pause"] if pause else [])
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out = p.stdout.read()
    err = p.stderr.read()
    _, status, ru = os.wait4(p.pid, 0)
    rc = os.waitstatus_to_exitcode(status)
    return rc, (json.loads(out) if rc in (0, 8) and out else None), err.decode(errors="replace").strip(), ru.ru_maxrss / 1024


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--samples", type=int, default=1000)
    ap.add_argument("--paused", type=int, default=100)
    ap.add_argument("--python", default=shutil.which("python3.12") or "/usr/bin/python3.11")
    ap.add_argument("--rate", type=int, default=100000)
    a = ap.parse_args()
    objspy = os.path.join(ROOT, "build", "objspy")
    env = dict(os.environ, CHURN_RATE=str(a.rate))
    target = subprocess.Popen([a.python, os.path.join(ROOT, "tests", "targets", "churn.py")], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True, env=env)
    assert target.stdout.readline().strip() == "ready"
    pid = target.pid
    every = max(1, a.samples // a.paused)
    incomplete = 0
    broken = 0
    errors = []
    rss = []
    pauses = []
    last_paused = None
    rel_err = []
    start = time.time()
    for i in range(a.samples):
        pause = i % every == 0 and len(pauses) < a.paused
        rc, j, err, peak = run_census(objspy, pid, pause)
        rss.append(peak)
        if j is None:
            errors.append((i, rc, err))
            continue
        stopped = threads_stopped(pid)
        if stopped:
            raise SystemExit("TARGET LEFT STOPPED after census %d: threads %s" % (i, stopped))
        if not j["walk"]["complete"]:
            incomplete += 1
        broken += j["walk"]["broken_links"]
        if pause:
            pauses.append(j["pause_ms"])
            last_paused = j["total_objects"]
        elif last_paused:
            rel_err.append(abs(j["total_objects"] - last_paused) / last_paused)
    tenth = max(1, len(rss) // 10)
    rss_start, rss_end = max(rss[:tenth]), max(rss[-tenth:])
    target.stdin.write("ping\n")
    target.stdin.flush()
    alive = target.stdout.readline().strip() == "pong"
    target.kill()
    elapsed = time.time() - start
    print("soak: %d censuses (%d with --pause) in %.0f s against %d objects/s churn" % (a.samples, len(pauses), elapsed, a.rate))
    print("  errors (exit other than 0/8): %d %s" % (len(errors), errors[:3]))
    print("  incomplete non-blocking censuses: %d of %d (%.1f%%), broken links seen: %d" % (
        incomplete, a.samples - len(pauses), 100.0 * incomplete / max(1, a.samples - len(pauses)), broken))
    if rel_err:
        print("  non-blocking total vs the latest paused total: median %.3f%%, max %.3f%%" % (
            100 * statistics.median(rel_err), 100 * max(rel_err)))
    if pauses:
        print("  --pause held the target: median %.1f ms, max %.1f ms" % (statistics.median(pauses), max(pauses)))
    print("  objspy peak RSS: first tenth %.1f MiB, last tenth %.1f MiB, max %.1f MiB" % (rss_start, rss_end, max(rss)))
    print("  target alive and answering after the run: %s; never left stopped: yes" % alive)
    return 0 if alive and not errors else 1


if __name__ == "__main__":
    sys.exit(main())
