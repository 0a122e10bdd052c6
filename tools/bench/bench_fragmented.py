"""Benchmark target, fragmented: a heap shaped like a long-running service's. It builds
objects of a realistic mix in rounds; each round allocates N/2 GC objects' worth of new
items, frees a random half of everything alive (old and new alike) and collects, so the
survivors of every round are scattered over pools and arenas that later rounds fill in
again. The live set converges on N/2 (N/4, 3N/8, 7N/16, ...) with never more than about N
alive; a last allocation fills the holes up to about N, scattered over the whole heap.
Then: collect, disable automatic collection, serve the commands of bench_serve.py.
About 150 MB of RSS at 1M objects.

Usage: bench_fragmented.py N [seed]
"""
import gc
import random
import sys

from bench_mix import Point, User, make
from bench_serve import serve

N = int(sys.argv[1])
rng = random.Random(int(sys.argv[2]) if len(sys.argv) > 2 else 1)


# One item per call, freed on its own: the kinds of bench_target.py's unit, not grouped in
# a tuple, so a free leaves holes of one object (or of the few an item holds) anywhere.
def item(i):
    k = i % 7
    if k == 0:
        return User(i)           # instance (+ its tags list; + its dict before 3.11)
    if k == 1:
        return Point(i, i)       # __slots__ object
    if k == 2:
        return {"k": [i]}        # dict holding a list
    if k == 3:
        return [i, str(i)]       # list
    if k == 4:
        return ({i}, i)          # tuple holding a set
    if k == 5:
        return make(i)           # closure: function + cell
    return (i, [i])              # tuple holding a list


# Per item, about 1.9 GC objects on average (measured on 3.12).
PER_ITEM = 1.9
target = int(N / PER_ITEM)
live = []
i = 0
gc.disable()  # the rounds collect themselves, once each
# Bounded: 5 rounds bring the live set within 1/32 of N/2.
for _ in range(5):
    live.extend(item(j) for j in range(i, i + target // 2))
    i += target // 2
    rng.shuffle(live)
    del live[len(live) // 2:]
    gc.collect()
live.extend(item(j) for j in range(i, i + target - len(live)))
rng.shuffle(live)  # the list's order says nothing of where the items are
del i

gc.collect()
gc.disable()

serve()
