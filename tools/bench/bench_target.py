"""Benchmark target: builds a heap of about N GC-tracked objects of a realistic mix, then
serves commands on stdin (one per line), answering on stdout:
  objgraph K     run objgraph's show_most_common_types() algorithm K times in-process,
                 answer the median milliseconds (the target is paused meanwhile: GIL held)
  beat-start     start recording the longest gap of a 1 ms heartbeat thread
  beat-stop      answer the longest gap seen since beat-start, in milliseconds
  count          answer len(gc.get_objects())
"""
import gc
import io
import statistics
import sys
import threading
import time

try:
    import objgraph  # the real one, if installed
except ImportError:
    objgraph = None

N = int(sys.argv[1])


class User:
    def __init__(self, i):
        self.id = i
        self.name = "user%d" % i
        self.tags = []


class Point:
    __slots__ = ("x", "y")

    def __init__(self, x, y):
        self.x = x
        self.y = y


def make(i):
    def f():
        return i
    return f


# Mix per unit of about 12 tracked objects: a User (+ its tags list, and its dict before
# 3.11), a Point, a dict with a list value, lists, a tuple holding a set, a closure
# (function + cell), and the tuple holding them all.
heap = []
units = N // 12
for i in range(units):
    u = User(i)
    heap.append((u, Point(i, i), {"k": [i]}, [i, u], ({i},), make(i)))

gc.collect()
gc.disable()


def typestats_objgraph_algorithm():
    # objgraph.typestats() + most_common_types(): the same algorithm objgraph runs.
    stats = {}
    for o in gc.get_objects():
        n = type(o).__name__
        stats[n] = stats.get(n, 0) + 1
    return sorted(stats.items(), key=lambda kv: kv[1], reverse=True)[:10]


def run_objgraph():
    if objgraph is not None:
        objgraph.show_most_common_types(file=io.StringIO())
    else:
        typestats_objgraph_algorithm()


max_gap = 0.0
beating = False


def heartbeat():
    global max_gap
    last = time.perf_counter()
    while True:
        time.sleep(0.001)
        now = time.perf_counter()
        if beating:
            max_gap = max(max_gap, now - last)
        last = now


threading.Thread(target=heartbeat, daemon=True).start()
sys.stdout.write("ready %d\n" % len(gc.get_objects()))
sys.stdout.flush()
for line in sys.stdin:
    cmd = line.split()
    if not cmd:
        continue
    if cmd[0] == "objgraph":
        times = []
        for _ in range(int(cmd[1])):
            t0 = time.perf_counter()
            run_objgraph()
            times.append((time.perf_counter() - t0) * 1000)
        out = "%.3f %s" % (statistics.median(times), "objgraph" if objgraph else "objgraph-algorithm")
    elif cmd[0] == "beat-start":
        max_gap = 0.0
        beating = True
        out = "ok"
    elif cmd[0] == "beat-stop":
        beating = False
        out = "%.3f" % (max_gap * 1000)
    elif cmd[0] == "count":
        out = str(len(gc.get_objects()))
    else:
        out = "?"
    sys.stdout.write(out + "\n")
    sys.stdout.flush()
