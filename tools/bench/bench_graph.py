#!/usr/bin/env python3
"""objspy's object-graph commands on a 1M-object fragmented heap, with the anchors in the same
run on the same target: snapshot (how long the target is held, against the floor copy of its
object-holding memory), heap, heap --retained and refs (whole process: wall, peak RSS), and
objgraph inside the target (most_common_types(), find_backref_chain()). Writes
docs/graph_benchmarks.md (--no-write to skip).

Usage: tools/bench/run_graph.sh [--size 1000000] [--only 3.12]
"""
import argparse
import os
import re
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import DEFAULT_CHROOT, ROOT, Target, interpreters, run_measured, stage_scripts  # noqa: E402


def measure(objspy, floor, t, n_type):
    r = {}
    rc, _, _, _, out = run_measured([floor, str(t.pid)])
    f = out.split()
    r["floor_mib"], r["floor_ms"] = int(f[0]) / 2**20, float(f[1])
    r["gc_objects"] = t.objects
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "snap.core")
        argv = [objspy, "snapshot", "--pid", str(t.pid), "-o", path]
        rc, wall, _, rss, _ = run_measured(argv, timeout=600)
        # The summary line is on stderr: run again capturing it.
        import subprocess
        p = subprocess.run(argv, capture_output=True, text=True, timeout=600)
        m = re.search(r"([\d.]+) MiB copied.*held ([\d.]+) ms", p.stderr)
        r["snap_mib"], r["held_ms"] = (float(m.group(1)), float(m.group(2))) if m else (float("nan"), float("nan"))
        r["snap_wall"], r["snap_rss"] = wall, rss / 1024
    for key, args in (("heap", ["heap", "-l", "5"]), ("retained", ["heap", "--retained", "-l", "5"]), ("refs", ["refs", "--type", n_type])):
        rc, wall, cpu, rss, out = run_measured([objspy] + args + ["--pid", str(t.pid), "-q"], timeout=600)
        out = out.decode(errors="replace")
        r[key] = (wall, rss / 1024, rc)
        if key == "heap":
            m = re.search(r"Partition of a set of (\d+) objects", out)
            r["all_objects"] = int(m.group(1)) if m else 0
        if key == "refs":
            m = re.search(r"shortest chain from a module \((\d+) objects\)", out)
            r["chain"] = int(m.group(1)) if m else 0
    r["objgraph_ms"] = float(t.ask("objgraph 3").split()[0])
    b = t.ask("backref %s" % n_type).split()
    r["backref_ms"], r["backref_len"] = float(b[0]), int(b[1])
    return r


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", type=int, default=1000000)
    ap.add_argument("--only", default="")
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--chroot", default=DEFAULT_CHROOT)
    ap.add_argument("--no-write", action="store_true")
    a = ap.parse_args()
    objspy = os.path.join(a.build, "objspy")
    floor = os.path.join(a.build, "tools", "bench", "objspy-bench-floor")
    stage_scripts(a.chroot)
    rows = []
    for label, argv in interpreters(a.chroot):
        if a.only and a.only not in label:
            continue
        t = Target(argv, "bench_fragmented.py", [a.size])
        try:
            r = measure(objspy, floor, t, "Point")
        finally:
            t.close()
        r["label"] = label
        rows.append(r)
        print(label, r, file=sys.stderr, flush=True)
    if not rows:
        raise SystemExit("no interpreter measured")
    lines = ["# objspy object-graph benchmarks", "",
             "Measured by `tools/bench/run_graph.sh --size %d` on %s, %d cores, median of one run per command "
             "(whole objspy process: wall and peak RSS)." % (a.size, time.strftime("%Y-%m-%d"), os.cpu_count()), "",
             "*floor*: copy of the target's object-holding mappings with 1 MiB reads; *held*: how long `objspy snapshot` "
             "held the target while it copied (its own figure); *objgraph*: `most_common_types()` and "
             "`find_backref_chain(first Point, inspect.ismodule)` inside the target.", "",
             "| interpreter | GC objects | all objects | floor ms (MiB) | snapshot held ms (MiB) | held / floor | heap s, MiB | heap --retained s, MiB "
             "| refs s, MiB (chain) | objgraph most_common_types ms | objgraph find_backref_chain ms (chain) |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append("| %s | %d | %d | %.1f (%.0f) | %.1f (%.0f) | %.2f | %.2f, %.0f | %.2f, %.0f | %.2f, %.0f (%d) | %.0f | %.0f (%d) |" % (
            r["label"], r["gc_objects"], r["all_objects"], r["floor_ms"], r["floor_mib"], r["held_ms"], r["snap_mib"], r["held_ms"] / r["floor_ms"],
            r["heap"][0] / 1000, r["heap"][1], r["retained"][0] / 1000, r["retained"][1], r["refs"][0] / 1000, r["refs"][1], r["chain"],
            r["objgraph_ms"], r["backref_ms"], r["backref_len"]))
    text = "\n".join(lines) + "\n"
    print(text)
    if not a.no_write:
        with open(os.path.join(ROOT, "docs", "graph_benchmarks.md"), "w") as f:
            f.write(text)


if __name__ == "__main__":
    main()
