#!/usr/bin/env python3
"""Soak of objspy's long-running memory against a target that never repeats a type name.

Starts tests/targets/new_names.py (2,000 new classes every 100 ms, the previous batch freed),
runs `objspy record --interval 100ms` against it for --minutes with default options (every
type of every census written), reads objspy's VmRSS every half second, and prints per minute
the least, median and largest reading, then the figures docs/soak.md records. Not in CI
(the integration test bounded_memory_test.cpp is its 90-second form).

    tools/soak_names.py [--minutes 10] [--objspy build/objspy] [--python python3]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def vmrss_kib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, default=10)
    ap.add_argument("--objspy", default=os.path.join(ROOT, "build", "objspy"))
    ap.add_argument("--python", default="python3")
    a = ap.parse_args()

    target = subprocess.Popen([a.python, "-u", os.path.join(ROOT, "tests", "targets", "new_names.py")], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        if target.stdout.readline().strip() != "ready":
            sys.exit("the target did not start")
        with tempfile.TemporaryDirectory(prefix="objspy-soak-names-") as tmp:
            out = os.path.join(tmp, "series.ndjson")
            seconds = int(a.minutes * 60)
            rec = subprocess.Popen([a.objspy, "record", "--pid", str(target.pid), "--interval", "100ms", "--duration", f"{seconds}s",
                                    "-q", "-o", out], stderr=subprocess.PIPE, text=True)
            readings = []  # (seconds since start, objspy KiB, target KiB)
            t0 = time.monotonic()
            while rec.poll() is None:
                kib = vmrss_kib(rec.pid)
                if kib:
                    readings.append((time.monotonic() - t0, kib, vmrss_kib(target.pid)))
                time.sleep(0.5)
            err = rec.stderr.read()
            if rec.returncode != 0:
                sys.exit(f"record exited {rec.returncode}: {err}")
            with open(out, "rb") as f:
                f.seek(0, os.SEEK_END)
                size = f.tell()
                f.seek(max(0, size - 65536))
                closing = json.loads(f.read().decode().strip().splitlines()[-1])
        target.stdin.write("made\n")
        target.stdin.flush()
        made = int(target.stdout.readline())
    finally:
        target.kill()
        target.wait()

    def window(lo, hi):
        return [k for t, k, _ in readings if lo <= t < hi]

    print(f"objspy record against new_names.py for {a.minutes:g} min: {len(readings)} readings, "
          f"{closing['samples']} samples in the window, {made} classes made by the target, {size / 1e6:.0f} MB written")
    print("minute  least KiB  median KiB  largest KiB  target KiB")
    for m in range(int(readings[-1][0] // 60) + 1):
        w = window(m * 60, (m + 1) * 60)
        if w:
            tk = [x for t, _, x in readings if m * 60 <= t < (m + 1) * 60]
            print(f"{m + 1:6d}  {min(w):9d}  {int(statistics.median(w)):10d}  {max(w):11d}  {tk[-1]:10d}")
    first, last = window(50, 70), window(readings[-1][0] - 20, readings[-1][0] + 1)
    for name, f in (("least", min), ("median", statistics.median), ("largest", max)):
        x, y = f(first), f(last)
        print(f"{name:8s} after the first minute {x:.0f} KiB, at the end {y:.0f} KiB ({100 * (y - x) / x:+.1f}%)")
    print(f"last reading {readings[-1][1]} KiB; closing line: max_types {closing['max_types']}, other {closing['other']}, "
          f"suspects {[s['name'] for s in closing['suspects'][:3]]}")
    print(err.strip())


if __name__ == "__main__":
    main()
