"""Benchmark and soak target, busy: a worker thread keeps 50,000 objects and replaces them
continuously (keep[i % 50000] = Node(i), Node holding a dict and a list, plus a short-lived
list per iteration; about 156,000 GC objects on 3.12), while the main thread serves the
commands of bench_serve.py. A census of it is never exact: the reference is a --pause
census (or `count`) taken right before or after.

Usage: bench_busy.py [KEEP]
"""
import sys
import threading

from bench_serve import serve

KEEP = int(sys.argv[1]) if len(sys.argv) > 1 else 50000


class Node:
    def __init__(self, i):
        self.items = [i]
        self.index = {"items": self.items}  # holds a list: the dict is GC-tracked


keep = [Node(i) for i in range(KEEP)]


def churn():
    i = KEEP
    while True:  # until the process ends (daemon thread)
        keep[i % KEEP] = Node(i)
        scratch = [i, i + 1]  # short-lived: freed on the next iteration
        i += 1
        del scratch


threading.Thread(target=churn, daemon=True).start()
serve()
