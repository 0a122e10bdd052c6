"""What the benchmark (bench.py) and the busy soak (tools/soak_busy.py) share: finding the
interpreters, starting a target script and talking to it with bounded waits, and running one
measured `objspy dump`.
"""
import json
import os
import select
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
SHARED = "/tmp/objspy-bench"  # the target scripts and objgraph, same path in the chroot
SCRIPTS = ("bench_mix.py", "bench_serve.py", "bench_target.py", "bench_fragmented.py", "bench_busy.py", "bench_mypy.py")
DEFAULT_CHROOT = os.environ.get("OBJSPY_SID_CHROOT", "/var/cache/objspy/sid-chroot")
DEBIAN_PYTHON = "/usr/bin/python3.11"  # Debian's: the one python3-mypy and uWSGI's plugin run on


def interpreters(chroot, pyenv_minors=(11, 12, 13), sid_minors=(14, 15)):
    """(label, argv prefix) of each interpreter found: the newest pyenv patch release of each
    minor in pyenv_minors, then sid's /usr/bin/python3.N entered with chroot (which execs
    python: the child's PID is python's)."""
    found = []
    pyenv = os.path.join(os.environ.get("PYENV_ROOT", os.path.expanduser("~/.pyenv")), "versions")
    versions = sorted(os.listdir(pyenv), key=lambda v: [int(x) if x.isdigit() else 0 for x in v.split(".")],
                      reverse=True) if os.path.isdir(pyenv) else []
    for minor in pyenv_minors:
        for v in versions:
            exe = os.path.join(pyenv, v, "bin", "python3.%d" % minor)
            if v.startswith("3.%d." % minor) and os.access(exe, os.X_OK):
                found.append(("pyenv " + v, [exe]))
                break
    for minor in sid_minors:
        exe = "/usr/bin/python3.%d" % minor
        if os.access(chroot + exe, os.X_OK) and os.geteuid() == 0:
            found.append(("sid 3.%d" % minor, ["chroot", chroot, exe]))
    return found


def stage_scripts(chroot):
    """Copy the target scripts and Debian's objgraph to SHARED, and to the same path inside
    the chroot when there is one."""
    try:
        import objgraph  # noqa: F401  (Debian's python3-objgraph: fail early if missing)
    except ImportError:
        raise SystemExit("objgraph missing: apt-get install python3-objgraph (tools/bench/run.sh does)")
    og_src = sys.modules["objgraph"].__file__
    for d in (SHARED, chroot + SHARED):
        if d.startswith(chroot) and not os.path.isdir(chroot + "/usr/bin"):
            continue
        os.makedirs(d, exist_ok=True)
        for s in SCRIPTS:
            shutil.copy(os.path.join(HERE, s), d)
        shutil.copy(og_src, d)


class TargetError(RuntimeError):
    pass


class Target:
    """A target script started with `argv + [SHARED/script] + args`. It writes "ready N"
    (N: its GC object count) within ready_timeout seconds, then answers one line per
    command within answer_timeout."""

    def __init__(self, argv, script, args=(), ready_timeout=600.0, answer_timeout=120.0, env=None):
        e = dict(os.environ, PYTHONPATH=SHARED)
        e.update(env or {})
        self.p = subprocess.Popen(list(argv) + [SHARED + "/" + script] + [str(a) for a in args],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=e)
        self.pid = self.p.pid
        self.answer_timeout = answer_timeout
        self._buf = b""
        line = self._readline(ready_timeout).split()
        if len(line) != 2 or line[0] != "ready":
            self.close()
            raise TargetError("%s %s did not start (said %r)" % (argv, script, line))
        self.objects = int(line[1])

    def _readline(self, timeout):
        deadline = time.monotonic() + timeout
        fd = self.p.stdout.fileno()
        while b"\n" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TargetError("target %d: no answer within %.0f s" % (self.pid, timeout))
            r, _, _ = select.select([fd], [], [], left)
            if r:
                chunk = os.read(fd, 65536)
                if not chunk:
                    raise TargetError("target %d exited (status %s)" % (self.pid, self.p.poll()))
                self._buf += chunk
        line, _, self._buf = self._buf.partition(b"\n")
        return line.decode()

    def ask(self, cmd):
        self.p.stdin.write((cmd + "\n").encode())
        self.p.stdin.flush()
        return self._readline(self.answer_timeout).strip()

    def close(self):
        if self.p.poll() is None:
            self.p.kill()
        self.p.wait()


def run_measured(argv, timeout=120.0):
    """Exit code, wall ms, CPU ms (user+sys), peak RSS KiB and stdout of one child process,
    killed after timeout seconds (its exit code is then -9)."""
    t0 = time.perf_counter()
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    fd = p.stdout.fileno()
    chunks = []
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            p.kill()
            break
        r, _, _ = select.select([fd], [], [], left)
        if r:
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                break
            chunks.append(chunk)
    p.stdout.close()
    # wait4, not Popen.wait: it gives the child's own rusage (CPU and peak RSS).
    _, status, ru = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    wall = (time.perf_counter() - t0) * 1000
    return p.returncode, wall, (ru.ru_utime + ru.ru_stime) * 1000, ru.ru_maxrss, b"".join(chunks)


# Options added to every census of a run (bench.py --objspy-args, e.g. "--no-bytes").
EXTRA = []


def census(objspy, pid, pause=False, extra=()):
    """One `objspy dump` of pid: (exit code, parsed JSON or None, wall ms, CPU ms, peak RSS KiB).
    Exit 8 (incomplete) still prints the partial census."""
    argv = [objspy, "dump", "--pid", str(pid), "--format", "ndjson", "--limit", "1", "-q"] + (["--pause"] if pause else []) + EXTRA + list(extra)
    rc, wall, cpu, rss, out = run_measured(argv)
    j = None
    if out.strip():
        try:
            j = json.loads(out)
        except ValueError:
            j = None
    return rc, j, wall, cpu, rss


def percentile(values, q):
    """The q-th percentile (0-100) of values, nearest rank; nan when empty."""
    if not values:
        return float("nan")
    s = sorted(values)
    k = max(0, min(len(s) - 1, int(round(q / 100.0 * len(s) + 0.5)) - 1))
    return s[k]
