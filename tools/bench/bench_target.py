"""Benchmark target, allocation order: builds a heap of about N GC-tracked objects of a
realistic mix in one pass, collects, disables automatic collection, then serves the
commands of bench_serve.py (objgraph timing, heartbeat, count).
"""
import gc
import sys

from bench_mix import Point, User, make
from bench_serve import serve

N = int(sys.argv[1])


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

serve()
