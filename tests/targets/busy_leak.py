# A busy process with a steady leak, the case that tears a census walked while it runs.
# One thread churns about CHURN_RATE GC objects a second (default 100000): it replaces Nodes
# in a fixed ring, keep[i % 50000] = Node(i), a Node holding a dict and a list, plus a
# short-lived list per iteration. Another thread leaks ObjspyLeakedRecord instances at
# LEAK_RATE a second (default 200), paced by the clock so the rate holds whatever the GIL
# does, and never frees them. Writes "ready" once the ring is full and both threads run.
# On stdin, "leaked" answers how many records it has leaked so far.
import os
import sys
import threading
import time

CHURN_RATE = int(os.environ.get("CHURN_RATE", "100000"))
LEAK_RATE = float(os.environ.get("LEAK_RATE", "200"))
RING = 50000
OBJECTS_PER_ITERATION = 5  # Node, its dict, the list in the dict, its list, the short-lived list


class Node:
    def __init__(self, i):
        self.attrs = {"i": i, "tags": []}  # holds a list, so the dict is tracked by the GC
        self.peers = [i]


class ObjspyLeakedRecord:
    __slots__ = ("n", "payload")  # no __dict__: the leak is this one type, nothing else grows

    def __init__(self, n):
        self.n = n
        self.payload = None


keep = [Node(i) for i in range(RING)]
leaked = []


def churn():
    batch = 1000
    per_second = CHURN_RATE / OBJECTS_PER_ITERATION
    i = RING
    while True:
        t0 = time.perf_counter()
        for _ in range(batch):
            keep[i % RING] = Node(i)
            scratch = [i, i + 1]  # short-lived
            i += 1
        del scratch
        time.sleep(max(0.0, batch / per_second - (time.perf_counter() - t0)))


def leak():
    start = time.monotonic()
    while True:
        due = int((time.monotonic() - start) * LEAK_RATE)
        while len(leaked) < due:
            leaked.append(ObjspyLeakedRecord(len(leaked)))
        time.sleep(0.01)


threading.Thread(target=churn, daemon=True).start()
threading.Thread(target=leak, daemon=True).start()
sys.stdout.write("ready\n")
sys.stdout.flush()
for line in sys.stdin:
    cmd = line.strip()
    out = str(len(leaked)) if cmd == "leaked" else "?"
    sys.stdout.write(out + "\n")
    sys.stdout.flush()
