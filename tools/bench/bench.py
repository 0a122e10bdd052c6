#!/usr/bin/env python3
"""objspy benchmark: one command, every anchor measured in the same run on the same targets.

For each interpreter (3.11, 3.12, 3.13 from pyenv; 3.14, 3.15 from the sid chroot) and heap
size (about 100k, 1M, 3M GC-tracked objects of a realistic mix), it measures:
  objspy     whole `objspy dump` process: wall (median of RUNS), CPU, peak RSS, bytes read
  floor      process_vm_readv of the target's anonymous writable memory in 1 MiB chunks
  objgraph   show_most_common_types() inside the target (Debian's python3-objgraph)
  stall      the target's longest heartbeat gap during objspy's censuses, against its idle
             jitter over the same number of equally long windows
  pause      --pause: how long the target was held
and prints ratios: objspy/floor, objgraph/objspy, stall - idle jitter, RSS per million
objects, 3M/1M time. Writes the table to docs/benchmarks.md (--no-write to skip).

Usage: tools/bench/run.sh [--sizes 100000,1000000,3000000] [--runs 7] [--only 3.12]
"""
import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
SHARED = "/tmp/objspy-bench"  # the target script and objgraph, same path in the chroot


def interpreters(chroot):
    found = []
    pyenv = os.path.join(os.environ.get("PYENV_ROOT", os.path.expanduser("~/.pyenv")), "versions")
    for minor in (11, 12, 13):
        for v in sorted(os.listdir(pyenv)) if os.path.isdir(pyenv) else []:
            exe = os.path.join(pyenv, v, "bin", "python3.%d" % minor)
            if v.startswith("3.%d." % minor) and os.access(exe, os.X_OK):
                found.append(("pyenv " + v, [exe]))
                break
    for minor in (14, 15):
        exe = "/usr/bin/python3.%d" % minor
        if os.access(chroot + exe, os.X_OK) and os.geteuid() == 0:
            found.append(("sid 3.%d" % minor, ["chroot", chroot, exe]))
    return found


class Target:
    def __init__(self, argv, n):
        env = dict(os.environ, PYTHONPATH=SHARED)
        self.p = subprocess.Popen(argv + [SHARED + "/bench_target.py", str(n)], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, text=True, env=env)
        line = self.p.stdout.readline().split()
        if not line or line[0] != "ready":
            raise RuntimeError("target did not start")
        self.objects = int(line[1])
        # The chroot wrapper execs python: the PID is python's.
        self.pid = self.p.pid

    def ask(self, cmd):
        self.p.stdin.write(cmd + "\n")
        self.p.stdin.flush()
        return self.p.stdout.readline().strip()

    def close(self):
        self.p.kill()
        self.p.wait()


def run_measured(argv):
    """Wall ms, CPU ms (user+sys), peak RSS KiB and stdout of one child process."""
    t0 = time.perf_counter()
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    out = p.stdout.read()
    _, status, ru = os.wait4(p.pid, 0)
    wall = (time.perf_counter() - t0) * 1000
    if os.waitstatus_to_exitcode(status) not in (0, 8):
        raise RuntimeError("%s failed: %s" % (argv, status))
    return wall, (ru.ru_utime + ru.ru_stime) * 1000, ru.ru_maxrss, out


def bench_one(objspy, floor, argv, n, runs):
    t = Target(argv, n)
    try:
        pid = str(t.pid)
        dump = [objspy, "dump", "--pid", pid, "--format", "ndjson", "--limit", "1", "-q"]
        run_measured(dump)  # warm the page cache for objspy's own binary and libraries
        walls, cpus, rss, read = [], [], [], 0
        t.ask("beat-start")
        for _ in range(runs):
            w, c, r, out = run_measured(dump)
            walls.append(w)
            cpus.append(c)
            rss.append(r)
            read = json.loads(out)["bytes_read"]
        stall = float(t.ask("beat-stop"))
        # Idle jitter over the same number of windows as long as the censuses took.
        t.ask("beat-start")
        time.sleep(sum(walls) / 1000)
        idle = float(t.ask("beat-stop"))
        floors = []
        t.ask("beat-start")
        for _ in range(runs):
            out = subprocess.run([floor, pid], capture_output=True, text=True, check=True).stdout.split()
            floor_bytes, ms = int(out[0]), float(out[1])
            floors.append(ms)
        floor_stall = float(t.ask("beat-stop"))
        og = t.ask("objgraph %d" % max(3, runs // 2)).split()
        pauses = []
        for _ in range(max(3, runs // 2)):
            w, c, r, out = run_measured([objspy, "dump", "--pid", pid, "--format", "ndjson", "--limit", "1", "-q", "--pause"])
            pauses.append(json.loads(out)["pause_ms"])
        wall = statistics.median(walls)
        floor_ms = statistics.median(floors)
        # Copy time of the bytes objspy read, at the floor's measured rate.
        copy_of_read = floor_ms * read / floor_bytes if floor_bytes else float("nan")
        return {
            "objects": t.objects, "wall": wall, "cpu": statistics.median(cpus), "rss_mib": max(rss) / 1024,
            "read_mib": read / 2**20, "floor": floor_ms, "floor_mib": floor_bytes / 2**20, "copy_of_read": copy_of_read,
            "objgraph": float(og[0]), "objgraph_kind": og[1], "stall": stall, "idle": idle, "floor_stall": floor_stall,
            "pause": statistics.median(pauses),
        }
    finally:
        t.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="100000,1000000,3000000")
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--only", default="")
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--chroot", default=os.environ.get("OBJSPY_SID_CHROOT", "/var/cache/objspy/sid-chroot"))
    ap.add_argument("--no-write", action="store_true")
    a = ap.parse_args()
    objspy = os.path.join(a.build, "objspy")
    floor = os.path.join(a.build, "tools", "bench", "objspy-bench-floor")
    import objgraph  # noqa: F401  (Debian's python3-objgraph: fail early if missing)
    og_src = sys.modules["objgraph"].__file__
    for d in (SHARED, a.chroot + SHARED):
        if d.startswith(a.chroot) and not os.path.isdir(a.chroot):
            continue
        os.makedirs(d, exist_ok=True)
        shutil.copy(os.path.join(HERE, "bench_target.py"), d)
        shutil.copy(og_src, d)
    sizes = [int(s) for s in a.sizes.split(",")]
    rows = []
    for label, argv in interpreters(a.chroot):
        if a.only and a.only not in label:
            continue
        for n in sizes:
            r = bench_one(objspy, floor, argv, n, a.runs)
            r["label"], r["n"] = label, n
            rows.append(r)
            print("%-14s %8d objects: objspy %.1f ms (floor %.1f ms, copy of read %.1f ms), objgraph %.1f ms, stall %.1f ms "
                  "(idle %.1f, during floor copies %.1f), pause %.1f ms, rss %.1f MiB" % (label, r["objects"], r["wall"], r["floor"], r["copy_of_read"],
                                                                r["objgraph"], r["stall"], r["idle"], r["floor_stall"], r["pause"], r["rss_mib"]),
                  file=sys.stderr, flush=True)
    table = render(rows, sizes, a.runs)
    print(table)
    if not a.no_write:
        with open(os.path.join(ROOT, "docs", "benchmarks.md"), "w") as f:
            f.write(table)


def render(rows, sizes, runs):
    cpu = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(l.split(":", 1)[1].strip() for l in f if l.startswith("model name"))
    except (OSError, StopIteration):
        pass
    out = ["# objspy benchmarks", "",
           "Measured by `tools/bench/run.sh` on %s, %d cores (%s), Linux %s, %s." % (
               time.strftime("%Y-%m-%d"), os.cpu_count(), cpu, platform.release(), "median of %d runs" % runs), "",
           "Each row is one target (a heap of the size shown, realistic mix: instances with dicts, "
           "`__slots__` objects, dicts, lists, tuples, sets, closures). All anchors are measured in "
           "the same run on the same target. *objspy* is the whole `objspy dump` process (start, attach, "
           "census, JSON out). *floor* copies all of the target's anonymous writable memory with "
           "`process_vm_readv` in 1 MiB chunks; *copy of read* is the floor's time scaled to the bytes "
           "objspy actually read. *objgraph* is `show_most_common_types()` run inside the target "
           "(Debian's python3-objgraph), the target paused meanwhile. *stall* is the target's longest "
           "heartbeat gap (1 ms sleeps) during objspy's censuses minus its longest gap over idle windows "
           "of the same total length; *copy stall* is the same measured while the floor tool copies the "
           "whole heap (also one process per run), a control for what any reader costs on this machine. "
           "*pause* is how long `--pause` held the target.", "",
           "| interpreter | objects | objspy ms | CPU ms | floor ms (MiB) | read MiB | objspy / copy of read | "
           "objgraph ms | objgraph / objspy | stall − idle ms | copy stall − idle ms | pause ms | pause / copy of read | RSS MiB | RSS MiB per M objects |",
           "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        out.append("| %s | %d | %.1f | %.1f | %.1f (%.0f) | %.0f | %.2f | %.1f | %.1f× | %.1f | %.1f | %.1f | %.2f | %.1f | %.1f |" % (
            r["label"], r["objects"], r["wall"], r["cpu"], r["floor"], r["floor_mib"], r["read_mib"],
            r["wall"] / r["copy_of_read"], r["objgraph"], r["objgraph"] / r["wall"], r["stall"] - r["idle"], r["floor_stall"] - r["idle"], r["pause"],
            r["pause"] / r["copy_of_read"], r["rss_mib"], r["rss_mib"] / (r["objects"] / 1e6)))
    # Linearity: 3M vs 1M per interpreter.
    lin = []
    by = {(r["label"], r["n"]): r for r in rows}
    for label in dict.fromkeys(r["label"] for r in rows):
        a, b = by.get((label, 1000000)), by.get((label, 3000000))
        if a and b:
            lin.append("| %s | %.1f | %.1f | %.2f× (objects %.2f×) |" % (label, a["wall"], b["wall"], b["wall"] / a["wall"],
                                                                      b["objects"] / a["objects"]))
    if lin:
        out += ["", "Linearity (target: 3M ≤ 3.3× the 1M time):", "",
                "| interpreter | 1M ms | 3M ms | 3M / 1M |", "|---|---|---|---|"] + lin
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    main()
