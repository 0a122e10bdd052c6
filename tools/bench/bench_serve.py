"""The command loop every benchmark target serves once its heap is built.

serve(extra) writes "ready <gc object count>" and then answers one command per stdin line
on stdout:
  objgraph K     run objgraph's most_common_types() K times in-process, answer
                 "<median ms> <kind>" (the target runs nothing else meanwhile: GIL held)
  backref TYPE   objgraph.find_backref_chain(first TYPE instance, inspect.ismodule), answer
                 "<ms> <chain length>"
  beat-start     start recording the longest gap of a 1 ms heartbeat thread
  beat-stop      answer the longest gap seen since beat-start, in milliseconds
  count          answer len(gc.get_objects())
  ping           answer "pong"
plus the target's own commands in `extra` (name -> function of the argument list, returning
the answer line).

The loop keeps the same set of GC objects alive between commands (every temporary lives in
a helper that returns a string), so a `count` answered just before a census is the census an
idle target should get.
"""
import gc
import os
import statistics
import threading
import time

try:
    import objgraph  # Debian's python3-objgraph (the harness puts it on PYTHONPATH)
except ImportError:
    objgraph = None


def _objgraph_algorithm():
    # objgraph.typestats() + most_common_types(): the algorithm objgraph runs.
    stats = {}
    for o in gc.get_objects():
        n = type(o).__name__
        stats[n] = stats.get(n, 0) + 1
    return sorted(stats.items(), key=lambda kv: kv[1], reverse=True)[:10]


def _run_objgraph():
    if objgraph is not None:
        objgraph.most_common_types()
    else:
        _objgraph_algorithm()


def _backref(args):
    # objgraph.find_backref_chain(obj, inspect.ismodule) for the first object of type name
    # args[0]: "<ms> <chain length>" (objgraph's own, or nothing when it is not installed).
    import inspect
    if objgraph is None:
        return "nan 0"
    target = None
    for o in gc.get_objects():
        if type(o).__name__ == args[0]:
            target = o
            break
    if target is None:
        return "nan 0"
    t0 = time.perf_counter()
    chain = objgraph.find_backref_chain(target, inspect.ismodule)
    ms = (time.perf_counter() - t0) * 1000
    n = len(chain)
    del chain, target
    return "%.3f %d" % (ms, n)


def _objgraph(args):
    times = []
    for _ in range(int(args[0])):
        t0 = time.perf_counter()
        _run_objgraph()
        times.append((time.perf_counter() - t0) * 1000)
    return "%.3f %s" % (statistics.median(times), "objgraph" if objgraph else "objgraph-algorithm")


class _Heartbeat:
    def __init__(self):
        self.max_gap = 0.0
        self.beating = False
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self):
        last = time.perf_counter()
        while True:
            time.sleep(0.001)
            now = time.perf_counter()
            if self.beating:
                self.max_gap = max(self.max_gap, now - last)
            last = now

    def start(self, args):
        self.max_gap = 0.0
        self.beating = True
        return "ok"

    def stop(self, args):
        self.beating = False
        return "%.3f" % (self.max_gap * 1000)


def _answer(commands, line):
    cmd = line.split()
    if not cmd:
        return None
    f = commands.get(cmd[0])
    return f(cmd[1:]) if f else "?"


def _lines():
    # os.read, not sys.stdin: while blocked in a read, a buffered stream holds a memoryview
    # and its managed buffer (2 GC objects) that a count taken between reads does not see.
    # Bytes and str are not GC objects.
    buf = b""
    while True:
        nl = buf.find(b"\n")
        if nl >= 0:
            line, buf = buf[:nl], buf[nl + 1:]
            yield line.decode()
            continue
        chunk = os.read(0, 4096)
        if not chunk:
            return
        buf += chunk


def serve(extra=None):
    beat = _Heartbeat()
    commands = {"objgraph": _objgraph, "backref": _backref, "beat-start": beat.start, "beat-stop": beat.stop, "ping": lambda args: "pong"}
    commands.update(extra or {})
    os.write(1, ("ready %d\n" % len(gc.get_objects())).encode())
    for line in _lines():
        if line.strip() == "count":
            # Counted here, not in a helper: no frame (a GC object before 3.11) and no list
            # of the command's own is alive while counting, so the answer is the idle heap.
            out = str(len(gc.get_objects()))
        else:
            out = _answer(commands, line)
        if out is not None:
            os.write(1, (out + "\n").encode())
