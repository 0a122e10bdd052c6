#!/usr/bin/env python3
"""Busy-heap soak (not in CI; issue 9's "Done when"): non-blocking censuses of processes whose
heap changes under the walk, each set against `--pause` censuses, and exact censuses of an
idle target. Three parts (--parts, comma-separated; default all):

  churn   tools/bench/bench_busy.py (a worker thread replaces 50,000 kept objects without
          pause, about 156,000 GC objects) on pyenv 3.8, 3.11, 3.12, 3.13 and sid 3.14, 3.15.
          The censuses run as a chain P0 N1 P1 N2 P2 ... (P: `--pause`, N: non-blocking), so
          every non-blocking census has a paused one right before and right after; its error
          is |N - P| / P against the nearer of the two. Reports the exit-code distribution
          (rule: at least 99% exit 0) and the error's median, p99 and max over the censuses
          that exited 0 (rule: every one at most 1%), plus over every census that printed one.
  idle    tools/bench/bench_fragmented.py (built in rounds with random frees, then idle) on
          the same interpreters: before each census the target answers its own
          len(gc.get_objects()); rule: 100% of censuses exit 0 with exactly that total.
  uwsgi   a Flask app under uWSGI (Debian's uwsgi + python3 plugin, CPython 3.11; master and
          2 workers) driven by wrk. Completeness: the same P/N chain on one worker, one census
          a second, under load (same rule as churn). Throughput: alternating wrk runs with a
          non-blocking census of a worker every second and without; requests/s of each
          (mean, standard deviation, min-max).

It also checks after every census that no thread of the target is left stopped. Results go
to the "Busy heaps" section of docs/soak.md (--no-write to skip).

Usage: tools/soak_busy.py [--parts churn,idle,uwsgi] [--samples 1000] [--idle-samples 200]
                          [--uwsgi-samples 300] [--uwsgi-rounds 5] [--uwsgi-seconds 20] [--only 3.12]
Needs: python3-objgraph, uwsgi, uwsgi-plugin-python3, python3-flask, wrk (apt-get install).
"""
import argparse
import collections
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "bench"))
from harness import DEFAULT_CHROOT, ROOT, Target, census, interpreters, percentile, stage_scripts  # noqa: E402

BEGIN, END = "<!-- soak_busy: begin -->", "<!-- soak_busy: end -->"


def threads_stopped(pid):
    stopped = []
    try:
        tids = os.listdir("/proc/%d/task" % pid)
    except OSError:
        return stopped
    for tid in tids:
        try:
            with open("/proc/%d/task/%s/stat" % (pid, tid)) as f:
                s = f.read()
        except OSError:
            continue
        if s[s.rfind(")") + 2] in "tT":
            stopped.append(tid)
    return stopped


def check_running(pid, what):
    stopped = threads_stopped(pid)
    if stopped:
        raise SystemExit("TARGET LEFT STOPPED after %s: pid %d threads %s" % (what, pid, stopped))


class Chain:
    """P0 N1 P1 N2 P2 ...: the non-blocking censuses, each between two paused ones."""

    def __init__(self, objspy, pid):
        self.objspy, self.pid = objspy, pid
        self.codes = collections.Counter()
        self.errors_ok = []  # of the censuses that exited 0
        self.errors_all = []  # of every census that printed a total
        self.pause_failures = collections.Counter()
        self.pauses = []
        self.samples = 0
        self.started = time.monotonic()
        self.last_pause = self._pause()

    def _pause(self):
        rc, j, *_ = census(self.objspy, self.pid, pause=True)
        check_running(self.pid, "a --pause census")
        if rc != 0 or not j:
            self.pause_failures[rc] += 1
            return None
        self.pauses.append(j["pause_ms"])
        return j["total_objects"]

    def step(self):
        rc, j, *_ = census(self.objspy, self.pid)
        check_running(self.pid, "a census")
        self.codes[rc] += 1
        self.samples += 1
        after = self._pause()
        refs = [p for p in (self.last_pause, after) if p]
        if j and refs:
            err = min(abs(j["total_objects"] - p) / p for p in refs)
            self.errors_all.append(err)
            if rc == 0:
                self.errors_ok.append(err)
        self.last_pause = after

    def result(self):
        ok = self.codes.get(0, 0)
        share = ok / self.samples if self.samples else 0.0
        max_ok = max(self.errors_ok) if self.errors_ok else float("nan")
        return {
            "samples": self.samples, "codes": dict(sorted(self.codes.items())), "share_ok": share,
            "median": statistics.median(self.errors_ok) if self.errors_ok else float("nan"),
            "p99": percentile(self.errors_ok, 99), "max": max_ok,
            "max_all": max(self.errors_all) if self.errors_all else float("nan"),
            "pause_failures": dict(self.pause_failures),
            "pause_median": statistics.median(self.pauses) if self.pauses else float("nan"),
            "pause_max": max(self.pauses) if self.pauses else float("nan"),
            "seconds": time.monotonic() - self.started,
            "pass": self.samples > 0 and share >= 0.99 and bool(self.errors_ok) and max_ok <= 0.01
            and len(self.errors_ok) == ok,
        }


def part_churn(objspy, interp, samples, keep):
    rows = []
    for label, argv in interp:
        t = Target(argv, "bench_busy.py", [keep])
        try:
            chain = Chain(objspy, t.pid)
            for _ in range(samples):
                chain.step()
            alive = t.ask("ping") == "pong"
        finally:
            t.close()
        r = chain.result()
        r.update(label=label, objects=t.objects, alive=alive)
        r["pass"] = r["pass"] and alive
        rows.append(r)
        log("churn %-14s %s" % (label, describe(r)))
    return rows


def part_idle(objspy, interp, samples, size):
    rows = []
    for label, argv in interp:
        t0 = time.monotonic()
        t = Target(argv, "bench_fragmented.py", [size])
        codes, exact, misses = collections.Counter(), 0, []
        try:
            for _ in range(samples):
                truth = int(t.ask("count"))
                rc, j, *_ = census(objspy, t.pid)
                check_running(t.pid, "a census")
                codes[rc] += 1
                if rc == 0 and j and j["total_objects"] == truth:
                    exact += 1
                elif j:
                    misses.append(j["total_objects"] - truth)
        finally:
            t.close()
        r = {"label": label, "objects": t.objects, "samples": samples, "exact": exact, "codes": dict(sorted(codes.items())),
             "misses": misses[:5], "seconds": time.monotonic() - t0, "pass": exact == samples}
        rows.append(r)
        log("idle  %-14s %d/%d exact, exits %s, first misses %s (%.0f s)" % (label, exact, samples, r["codes"], r["misses"],
                                                                            r["seconds"]))
    return rows


FLASK_APP = '''\
# The soak's Flask app: each request replaces an entry of a 20,000-entry cache (a dict and
# a list per entry) and answers a JSON list of 20 small dicts.
import itertools

from flask import Flask, jsonify

app = Flask(__name__)
cache = {}
counter = itertools.count()


@app.route("/")
def index():
    i = next(counter)
    cache[i % 20000] = {"id": i, "tags": [i, str(i)]}
    return jsonify(items=[{"k": k, "v": [k, i]} for k in range(20)], size=len(cache))
'''


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Uwsgi:
    def __init__(self, workdir, workers=2):
        self.port = free_port()
        app = os.path.join(workdir, "soak_flask_app.py")
        with open(app, "w") as f:
            f.write(FLASK_APP)
        self.p = subprocess.Popen(["uwsgi", "--plugin", "python3", "--http-socket", "127.0.0.1:%d" % self.port, "--master",
                                   "--processes", str(workers), "--wsgi-file", app, "--callable", "app", "--disable-logging",
                                   "--die-on-term", "--need-app"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=workdir)
        self.workers = []
        deadline = time.monotonic() + 30
        # Ready: the workers exist and one answers a request (the app is loaded before they fork
        # unless --lazy-apps). Bounded by the deadline.
        while time.monotonic() < deadline:
            if self.p.poll() is not None:
                raise SystemExit("uwsgi exited with %s" % self.p.returncode)
            self.workers = children(self.p.pid)
            if len(self.workers) >= workers and http_ok(self.port):
                return
            time.sleep(0.2)
        self.close()
        raise SystemExit("uwsgi did not become ready in 30 s")

    def close(self):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()


def children(pid):
    try:
        with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


def http_ok(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
            s.sendall(b"GET / HTTP/1.0\r\nHost: x\r\n\r\n")
            return s.recv(64).startswith(b"HTTP/1.")
    except OSError:
        return False


class Wrk:
    """wrk against the app for `seconds`, in the background; result() is its requests/s."""

    def __init__(self, port, seconds, threads=1, connections=8):
        self.p = subprocess.Popen(["wrk", "-t%d" % threads, "-c%d" % connections, "-d%ds" % seconds,
                                   "http://127.0.0.1:%d/" % port], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.seconds = seconds

    def running(self):
        return self.p.poll() is None

    def result(self):
        out, _ = self.p.communicate(timeout=self.seconds + 30)
        m = re.search(r"Requests/sec:\s+([0-9.]+)", out)
        if not m:
            raise SystemExit("wrk printed no rate:\n" + out)
        return float(m.group(1))


def every_second(until, action):
    """Run action() once a second (on the second, from now) while until() is true."""
    n = 0
    start = time.monotonic()
    while until():
        action()
        n += 1
        time.sleep(max(0.0, start + n - time.monotonic()))
    return n


def part_uwsgi(objspy, samples, rounds, seconds):
    workdir = tempfile.mkdtemp(prefix="objspy-soak-uwsgi-")
    u = Uwsgi(workdir)
    try:
        worker = u.workers[0]
        # Completeness under load: one P/N pair a second on one worker.
        w = Wrk(u.port, samples + 5)
        chain = Chain(objspy, worker)
        every_second(lambda: chain.samples < samples and w.running(), chain.step)
        w.result()
        comp = chain.result()
        log("uwsgi completeness: %s" % describe(comp))
        # Throughput: alternating runs without and with a census a second.
        rates = {"none": [], "census": []}
        counts = []
        for i in range(rounds):
            for mode in (("none", "census") if i % 2 == 0 else ("census", "none")):
                w = Wrk(u.port, seconds)
                if mode == "census":
                    counts.append(every_second(w.running, lambda: census(objspy, worker)))
                rates[mode].append(w.result())
                log("uwsgi throughput round %d %-6s %.0f requests/s" % (i + 1, mode, rates[mode][-1]))
        check_running(worker, "the throughput runs")
    finally:
        u.close()
    return {"completeness": comp, "rates": rates, "censuses_per_run": counts, "seconds": seconds, "rounds": rounds}


def describe(r):
    return ("%d censuses, exits %s (%.1f%% exit 0), error over exit 0: median %.3f%%, p99 %.3f%%, max %.3f%% "
            "(over every printed total: max %.3f%%); --pause failures %s, hold median %.1f ms; %.0f s; %s" % (
                r["samples"], r["codes"], 100 * r["share_ok"], 100 * r["median"], 100 * r["p99"], 100 * r["max"],
                100 * r["max_all"], r["pause_failures"] or "none", r["pause_median"], r["seconds"],
                "PASS" if r["pass"] else "FAIL"))


def log(s):
    print(s, file=sys.stderr, flush=True)


def pct(x):
    return "%.3f %%" % (100 * x) if x == x else "–"


def render(a, churn, idle, uw):
    out = [BEGIN, "## Busy heaps (issue 9)", "",
           "`tools/soak_busy.py%s`, %s, this %d-core machine, objspy %s." % (
               "".join(" " + x for x in sys.argv[1:]), time.strftime("%Y-%m-%d"), os.cpu_count(), a.build), ""]
    if churn:
        out += ["### Churn: %d non-blocking censuses per interpreter" % a.samples, "",
                "Target `tools/bench/bench_busy.py %d` (a worker thread replaces its kept objects without pause). "
                "Each non-blocking census sits between two `--pause` censuses (P N P N P ...); its error is its "
                "distance to the nearer. Rules: at least 99%% exit 0, every exit-0 total within 1%%." % a.busy_keep, "",
                "| interpreter | objects | censuses | exit codes | exit 0 | error median | p99 | max | max, any printed total | "
                "`--pause` hold median (max) | rules met |", "|---|---|---|---|---|---|---|---|---|---|---|"]
        for r in churn:
            out.append("| %s | %d | %d | %s | %.1f %% | %s | %s | %s | %s | %.1f ms (%.1f) | %s |" % (
                r["label"], r["objects"], r["samples"], codes(r["codes"]), 100 * r["share_ok"], pct(r["median"]), pct(r["p99"]),
                pct(r["max"]), pct(r["max_all"]), r["pause_median"], r["pause_max"], "yes" if r["pass"] else "**no**"))
        out.append("")
    if idle:
        out += ["### Idle: exact censuses", "",
                "Target `tools/bench/bench_fragmented.py %d` (built in rounds with random frees and collections, then "
                "idle); before each census it answers its own `len(gc.get_objects())`. Rule: 100%% equal." % a.idle_size, "",
                "| interpreter | objects | censuses | exact | exit codes | rules met |", "|---|---|---|---|---|---|"]
        for r in idle:
            out.append("| %s | %d | %d | %d | %s | %s |" % (r["label"], r["objects"], r["samples"], r["exact"], codes(r["codes"]),
                                                             "yes" if r["pass"] else "**no**"))
        out.append("")
    if uw:
        c = uw["completeness"]
        out += ["### uWSGI + Flask under wrk", "",
                "Debian's uWSGI with the python3 plugin (CPython 3.11), master and 2 workers, a Flask app that replaces "
                "an entry of a 20,000-entry cache per request; `wrk -t1 -c8`. One worker censused once a second.", "",
                "| figure | measured |", "|---|---|",
                "| censuses under load (each between two `--pause` ones) | %d, exit codes %s |" % (c["samples"], codes(c["codes"])),
                "| exit 0 | %.1f %% |" % (100 * c["share_ok"]),
                "| error of exit-0 totals: median, p99, max | %s, %s, %s (any printed total: max %s) |" % (
                    pct(c["median"]), pct(c["p99"]), pct(c["max"]), pct(c["max_all"])),
                "| `--pause` hold of the worker, median (max) | %.1f ms (%.1f) |" % (c["pause_median"], c["pause_max"]),
                "| rules met (≥ 99 %% exit 0, every error ≤ 1 %%) | %s |" % ("yes" if c["pass"] else "**no**")]
        for mode, what in (("none", "no census"), ("census", "a census every second")):
            v = uw["rates"][mode]
            if v:
                out.append("| requests/s, %s (%d runs of %d s) | mean %.0f, sd %.0f, range %.0f–%.0f |" % (
                    what, len(v), uw["seconds"], statistics.mean(v), statistics.stdev(v) if len(v) > 1 else 0.0, min(v), max(v)))
        if uw["rates"]["none"] and uw["rates"]["census"]:
            n, c2 = uw["rates"]["none"], uw["rates"]["census"]
            diff = statistics.mean(c2) / statistics.mean(n) - 1
            out.append("| with census vs without | %+.1f %% (runs alternate; spread without: %.1f %% sd) |" % (
                100 * diff, 100 * (statistics.stdev(n) / statistics.mean(n) if len(n) > 1 else 0.0)))
        out.append("")
    out.append(END)
    return "\n".join(out) + "\n"


def codes(d):
    return ", ".join("%s: %d" % (k, v) for k, v in d.items()) or "–"


def write_section(path, section):
    try:
        with open(path) as f:
            text = f.read()
    except OSError:
        text = "# Soak test\n"
    if BEGIN in text and END in text:
        text = text[:text.index(BEGIN)] + section + text[text.index(END) + len(END) + 1:]
    else:
        text = text.rstrip("\n") + "\n\n" + section
    with open(path, "w") as f:
        f.write(text)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--parts", default="churn,idle,uwsgi")
    ap.add_argument("--samples", type=int, default=1000, help="non-blocking censuses per interpreter (churn)")
    ap.add_argument("--busy-keep", type=int, default=50000)
    ap.add_argument("--idle-samples", type=int, default=200)
    ap.add_argument("--idle-size", type=int, default=1000000, help="GC objects of the idle (fragmented) target")
    ap.add_argument("--uwsgi-samples", type=int, default=300, help="censuses of a worker under load, one a second")
    ap.add_argument("--uwsgi-rounds", type=int, default=5, help="throughput: pairs of wrk runs (with, without)")
    ap.add_argument("--uwsgi-seconds", type=int, default=20, help="throughput: length of each wrk run")
    ap.add_argument("--only", default="", help="interpreter label substring (churn, idle)")
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--chroot", default=DEFAULT_CHROOT)
    ap.add_argument("--no-write", action="store_true")
    a = ap.parse_args()
    parts = set(p.strip() for p in a.parts.split(",") if p.strip())
    unknown = parts - {"churn", "idle", "uwsgi"}
    if unknown:
        raise SystemExit("unknown parts: %s" % ", ".join(sorted(unknown)))
    objspy = os.path.join(a.build, "objspy")
    if not os.access(objspy, os.X_OK):
        raise SystemExit("%s missing: build first" % objspy)
    stage_scripts(a.chroot)
    interp = [(l, v) for l, v in interpreters(a.chroot, (8, 11, 12, 13), (14, 15)) if not a.only or a.only in l]
    if (parts & {"churn", "idle"}) and not interp:
        raise SystemExit("no interpreter found (pyenv 3.8/3.11/3.12/3.13, sid 3.14/3.15) matching --only %r" % a.only)
    start = time.monotonic()
    churn = part_churn(objspy, interp, a.samples, a.busy_keep) if "churn" in parts else []
    idle = part_idle(objspy, interp, a.idle_samples, a.idle_size) if "idle" in parts else []
    uw = part_uwsgi(objspy, a.uwsgi_samples, a.uwsgi_rounds, a.uwsgi_seconds) if "uwsgi" in parts else None
    section = render(a, churn, idle, uw)
    print(section)
    log("soak_busy: %.0f s in all" % (time.monotonic() - start))
    if not a.no_write:
        write_section(os.path.join(ROOT, "docs", "soak.md"), section)
    ok = all(r["pass"] for r in churn + idle) and (uw is None or uw["completeness"]["pass"])
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
