#!/usr/bin/env python3
"""objspy benchmark: one command, every anchor measured in the same run on the same targets.

Targets (--targets, comma-separated; default all):
  ordered     bench_target.py: a heap built in allocation order, at each of --sizes
  fragmented  bench_fragmented.py: built in rounds, a random half freed and collected each
              round (a long-running service's heap), at each of --fragmented-sizes
  mypy        bench_mypy.py: Debian's mypy after checking a package (--mypy-args), kept alive;
              on Debian's /usr/bin/python3.11 only (where python3-mypy is installed)
  busy        bench_busy.py: 50,000 objects replaced continuously by a worker thread
Interpreters: 3.11, 3.12, 3.13 from pyenv; 3.14, 3.15 from the sid chroot (--only filters by
label substring, e.g. --only 3.12 or --only sid).

Per target it measures:
  objspy     whole `objspy dump` process: wall (median of RUNS), CPU, peak RSS, bytes read,
             read calls; and whether each census was exact (idle targets: total equal to the
             target's own len(gc.get_objects()) before and after) or complete (busy target)
  floor      copy of the target's object-holding mappings (private anonymous + [heap]) in
             address order, 1 MiB process_vm_readv calls (objspy-bench-floor)
  objgraph   most_common_types() inside the target (Debian's python3-objgraph)
  pause      --pause: how long the target was held (objspy's pause_ms)
  stall      the target's longest heartbeat gap during objspy's censuses, against its idle
             jitter over the same number of equally long windows
and the ratios objspy/floor, objgraph/objspy, pause/floor. Writes docs/benchmarks.md
(--no-write to skip), with a check of issue 9's "Done when" on the fragmented and mypy rows
and the allocation-order rows set against those of the docs/benchmarks.md it replaces.

Usage: tools/bench/run.sh [--targets ordered,fragmented,mypy,busy] [--sizes 100000,1000000,3000000]
                          [--fragmented-sizes 1000000] [--runs 7] [--only 3.12]
"""
import argparse
import os
import platform
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (DEBIAN_PYTHON, DEFAULT_CHROOT, ROOT, Target, census, interpreters,  # noqa: E402
                     run_measured, stage_scripts)

KINDS = ("ordered", "fragmented", "mypy", "busy")
TITLES = {
    "ordered": "Allocation order (bench_target.py)",
    "fragmented": "Fragmented (bench_fragmented.py)",
    "mypy": "mypy after checking a package (bench_mypy.py)",
    "busy": "Busy, under churn (bench_busy.py)",
}


def floor_copy(floor, pid):
    """(bytes, ms, read calls) of one copy of the target's object-holding mappings."""
    rc, _, _, _, out = run_measured([floor, str(pid)])
    f = out.split()
    if rc != 0 or len(f) < 3:
        raise RuntimeError("objspy-bench-floor failed on %d (exit %d)" % (pid, rc))
    return int(f[0]), float(f[1]), int(f[2])


def bench_one(objspy, floor, target, runs, busy):
    t = target
    pid = t.pid
    census(objspy, pid)  # warm the page cache for objspy's own binary and libraries
    before = None if busy else int(t.ask("count"))
    walls, cpus, rss, reads, calls, codes, totals = [], [], [], [], [], [], []
    t.ask("beat-start")
    for _ in range(runs):
        rc, j, w, c, r = census(objspy, pid)
        walls.append(w)
        cpus.append(c)
        rss.append(r)
        codes.append(rc)
        if j:
            reads.append(j["bytes_read"])
            calls.append(j["read_calls"])
            totals.append((rc, j["total_objects"], j["walk"]["complete"]))
    stall = float(t.ask("beat-stop"))
    after = None if busy else int(t.ask("count"))
    # Idle jitter over the same number of windows as long as the censuses took.
    t.ask("beat-start")
    time.sleep(sum(walls) / 1000)
    idle = float(t.ask("beat-stop"))
    floors = []
    t.ask("beat-start")
    for _ in range(runs):
        floor_bytes, ms, floor_calls = floor_copy(floor, pid)
        floors.append(ms)
    floor_stall = float(t.ask("beat-stop"))
    k = max(3, runs // 2)
    og = t.ask("objgraph %d" % k).split()
    pauses, pause_totals = [], []
    for _ in range(k):
        rc, j, w, c, r = census(objspy, pid, pause=True)
        if rc == 0 and j and j["pause_ms"] is not None:
            pauses.append(j["pause_ms"])
            pause_totals.append(j["total_objects"])
    if not busy:
        exact = sum(1 for rc, total, _ in totals if rc == 0 and total == before == after)
        verdict = "%d/%d exact" % (exact, runs)
    else:
        # The reference of a busy heap: the --pause censuses taken right after (their median).
        ref = statistics.median(pause_totals) if pause_totals else float("nan")
        errs = [abs(total - ref) / ref for rc, total, _ in totals if rc == 0]
        verdict = "%d/%d exit 0, max error %.2f%%" % (codes.count(0), runs, 100 * max(errs) if errs else float("nan"))
    wall = statistics.median(walls)
    floor_ms = statistics.median(floors)
    read = statistics.median(reads) if reads else float("nan")
    nan = float("nan")
    return {
        "objects": t.objects, "wall": wall, "cpu": statistics.median(cpus), "rss_mib": max(rss) / 1024,
        "read_mib": read / 2**20, "read_calls": statistics.median(calls) if calls else nan,
        "floor": floor_ms, "floor_mib": floor_bytes / 2**20, "floor_calls": floor_calls,
        "copy_of_read": floor_ms * read / floor_bytes if floor_bytes else nan,
        "objgraph": float(og[0]), "objgraph_kind": og[1], "stall": stall, "idle": idle, "floor_stall": floor_stall,
        "pause": statistics.median(pauses) if pauses else nan, "pause_max": max(pauses) if pauses else nan,
        "verdict": verdict, "codes": codes,
    }


def plan(a, chroot):
    """(kind, label, argv, script, args) of every target to measure, in order."""
    kinds = [k.strip() for k in a.targets.split(",") if k.strip()]
    for k in kinds:
        if k not in KINDS:
            raise SystemExit("unknown target %r (known: %s)" % (k, ",".join(KINDS)))
    interp = [(label, argv) for label, argv in interpreters(chroot) if not a.only or a.only in label]
    out = []
    for kind in kinds:
        if kind == "mypy":
            if a.only and a.only not in "debian 3.11":
                continue
            out.append((kind, "debian 3.11", [DEBIAN_PYTHON], "bench_mypy.py", a.mypy_args.split()))
            continue
        for label, argv in interp:
            if kind == "ordered":
                out += [(kind, label, argv, "bench_target.py", [n]) for n in sizes(a.sizes)]
            elif kind == "fragmented":
                out += [(kind, label, argv, "bench_fragmented.py", [n]) for n in sizes(a.fragmented_sizes)]
            else:
                out.append((kind, label, argv, "bench_busy.py", [a.busy_keep]))
    return out


def sizes(s):
    return [int(x) for x in s.split(",") if x]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--targets", default=",".join(KINDS), help="comma-separated: " + ",".join(KINDS))
    ap.add_argument("--sizes", default="100000,1000000,3000000", help="ordered target sizes (GC objects)")
    ap.add_argument("--fragmented-sizes", default="1000000", help="fragmented target sizes (GC objects)")
    ap.add_argument("--mypy-args", default="-p flask", help="what the mypy target checks")
    ap.add_argument("--busy-keep", type=int, default=50000, help="objects the busy target keeps")
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--only", default="", help="interpreter label substring")
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--chroot", default=DEFAULT_CHROOT)
    ap.add_argument("--no-write", action="store_true")
    ap.add_argument("--objspy-args", default="", help="options added to every census (e.g. --no-bytes)")
    a = ap.parse_args()
    import harness
    harness.EXTRA[:] = a.objspy_args.split()
    objspy = os.path.join(a.build, "objspy")
    floor = os.path.join(a.build, "tools", "bench", "objspy-bench-floor")
    for exe in (objspy, floor):
        if not os.access(exe, os.X_OK):
            raise SystemExit("%s missing: build first (tools/bench/run.sh does)" % exe)
    stage_scripts(a.chroot)
    todo = plan(a, a.chroot)
    if not todo:
        raise SystemExit("nothing to measure: no interpreter matches --only %r for --targets %s" % (a.only, a.targets))
    doc = os.path.join(ROOT, "docs", "benchmarks.md")
    baseline = read_baseline(doc)
    rows = []
    for kind, label, argv, script, args in todo:
        t0 = time.monotonic()
        t = Target(argv, script, args)
        built = time.monotonic() - t0
        try:
            r = bench_one(objspy, floor, t, a.runs, busy=kind == "busy")
        finally:
            t.close()
        r.update(kind=kind, label=label, n=args[0] if kind in ("ordered", "fragmented") else None, built_s=built)
        rows.append(r)
        print("%-10s %-14s %8d objects: objspy %.1f ms, %.0f MiB in %d reads, RSS %.1f MiB; floor %.1f ms (%.0f MiB); "
              "objgraph %.1f ms; pause %.1f ms; %s (built in %.0f s)" % (
                  kind, label, r["objects"], r["wall"], r["read_mib"], r["read_calls"], r["rss_mib"], r["floor"],
                  r["floor_mib"], r["objgraph"], r["pause"], r["verdict"], built), file=sys.stderr, flush=True)
    text = render(rows, a, baseline)
    print(text)
    if not a.no_write:
        with open(doc, "w") as f:
            f.write(text)


def read_baseline(path):
    """{(label, size): objspy ms} of the allocation-order rows of the benchmarks file this run
    replaces (either format: the table under "Allocation order", or the only table of the
    first release's file)."""
    out = {}
    try:
        with open(path) as f:
            lines = f.read().splitlines()
    except OSError:
        return out
    section_ok, header = True, None
    for line in lines:
        if line.startswith("## "):
            section_ok = line.startswith("## Allocation order")
            header = None
        elif line.startswith("| interpreter"):
            header = [c.strip() for c in line.strip("|").split("|")]
        elif line.startswith("|") and header and section_ok and not line.startswith("|---"):
            cells = [c.strip() for c in line.strip("|").split("|")]
            row = dict(zip(header, cells))
            try:
                out[(row["interpreter"], int(row["objects"]))] = float(row["objspy ms"])
            except (KeyError, ValueError):
                continue
    return out


def baseline_for(baseline, label, objects):
    # The same interpreter and a heap within 5% of the size: the targets are deterministic.
    for (l, n), ms in baseline.items():
        if l == label and abs(n - objects) <= 0.05 * objects:
            return ms
    return None


def render(rows, a, baseline):
    cpu = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(l.split(":", 1)[1].strip() for l in f if l.startswith("model name"))
    except (OSError, StopIteration):
        pass
    cmd = "tools/bench/run.sh" + "".join(" %s" % x for x in sys.argv[1:])
    out = ["# objspy benchmarks", "",
           "Measured by `%s` on %s, %d cores (%s), Linux %s, median of %d runs." % (
               cmd, time.strftime("%Y-%m-%d"), os.cpu_count(), cpu, platform.release(), a.runs), "",
           "All anchors of a row are measured in the same run on the same target process. *objspy* is the "
           "whole `objspy dump` process (start, attach, census, JSON out): wall, CPU, peak RSS, bytes read "
           "and `process_vm_readv` calls. *floor* copies the target's object-holding mappings (readable, "
           "writable, private: anonymous ones and `[heap]`; its MiB in brackets) in address order with 1 MiB "
           "`process_vm_readv` calls, one process per run; *copy of read* is the floor's time scaled to the "
           "bytes objspy read. *objgraph* is `most_common_types()` run inside the target (Debian's "
           "python3-objgraph), the target running nothing else meanwhile. *pause* is how long `--pause` "
           "held the target (objspy's `pause_ms`, median; max in brackets). *stall − idle* is the target's "
           "longest heartbeat gap (1 ms sleeps) during objspy's censuses minus its longest gap over idle "
           "windows of the same total length. *censuses*: on an idle target, how many totals equal the "
           "target's own `len(gc.get_objects())` taken before and after; on the busy target, how many "
           "exited 0 and their largest distance from the median of the `--pause` totals taken after.", ""]
    header = ("| interpreter | objects | objspy ms | CPU ms | RSS MiB | read MiB | read calls | floor ms (MiB) | "
              "objspy / floor | objspy / copy of read | objgraph ms | objgraph / objspy | pause ms (max) | pause / floor | "
              "stall − idle ms | censuses |")
    for kind in KINDS:
        rs = [r for r in rows if r["kind"] == kind]
        if not rs:
            continue
        out += ["## " + TITLES[kind], ""]
        if kind == "mypy":
            out += ["mypy %s (`--mypy-args`), state kept alive; built in %.0f s." % (a.mypy_args, rs[0]["built_s"]), ""]
        if kind == "busy":
            out += ["A worker thread replaces %d kept objects continuously; a census of it cannot be exact, "
                    "the `--pause` censuses are the reference." % a.busy_keep, ""]
        with_base = kind == "ordered" and any(baseline_for(baseline, r["label"], r["objects"]) for r in rs)
        out += [header + (" previous objspy ms |" if with_base else ""),
                "|" + "---|" * (header.count("|") - 1 + (1 if with_base else 0))]
        for r in rs:
            line = ("| %s | %d | %.1f | %.1f | %.1f | %.0f | %.0f | %.1f (%.0f) | %.2f | %.2f | %.1f | %.1f× | %.1f (%.1f) | %.2f "
                    "| %.1f | %s |") % (
                r["label"], r["objects"], r["wall"], r["cpu"], r["rss_mib"], r["read_mib"], r["read_calls"], r["floor"],
                r["floor_mib"], r["wall"] / r["floor"], r["wall"] / r["copy_of_read"], r["objgraph"], r["objgraph"] / r["wall"],
                r["pause"], r["pause_max"], r["pause"] / r["floor"], r["stall"] - r["idle"], r["verdict"])
            if with_base:
                b = baseline_for(baseline, r["label"], r["objects"])
                line += " %s |" % ("%.1f" % b if b else "–")
            out.append(line)
        out.append("")
        if kind == "ordered":
            out += linearity(rs)
    out += done_when(rows)
    return "\n".join(out).rstrip() + "\n"


def linearity(rows):
    lin = []
    by = {(r["label"], r["n"]): r for r in rows}
    for label in dict.fromkeys(r["label"] for r in rows):
        a, b = by.get((label, 1000000)), by.get((label, 3000000))
        if a and b:
            lin.append("| %s | %.1f | %.1f | %.2f× (objects %.2f×) |" % (label, a["wall"], b["wall"], b["wall"] / a["wall"],
                                                                      b["objects"] / a["objects"]))
    if not lin:
        return []
    return ["Linearity (target: 3M ≤ 3.3× the 1M time):", "", "| interpreter | 1M ms | 3M ms | 3M / 1M |",
            "|---|---|---|---|"] + lin + [""]


def done_when(rows):
    """Issue 9's speed criteria, checked on the fragmented (about 1M objects) and mypy rows."""
    rs = [r for r in rows if r["kind"] == "mypy" or (r["kind"] == "fragmented" and r["objects"] >= 900000)]
    if not rs:
        return []

    def mark(ok):
        return "yes" if ok else "**no**"

    out = ["## Issue 9 criteria on real heaps", "",
           "| target | interpreter | objspy ≤ 2× floor | objgraph ≥ 5× objspy | objspy RSS ≤ 64 MiB | pause ≤ 1.2× floor | "
           "every census exact |", "|---|---|---|---|---|---|---|"]
    for r in rs:
        exact = r["verdict"].split()[0]
        n, d = exact.split("/")
        out.append("| %s | %s | %s (%.2f×) | %s (%.1f×) | %s (%.1f) | %s (%.2f×) | %s (%s) |" % (
            r["kind"], r["label"], mark(r["wall"] <= 2 * r["floor"]), r["wall"] / r["floor"],
            mark(r["objgraph"] >= 5 * r["wall"]), r["objgraph"] / r["wall"], mark(r["rss_mib"] <= 64), r["rss_mib"],
            mark(r["pause"] <= 1.2 * r["floor"]), r["pause"] / r["floor"], mark(n == d), exact))
    return out + [""]


if __name__ == "__main__":
    main()
