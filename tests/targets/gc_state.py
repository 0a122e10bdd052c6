# A target whose collector is in an unusual state: odd thresholds, collection disabled,
# gc.garbage filled (gc.DEBUG_SAVEALL during a collection of cycles), objects frozen, and
# statistics that differ per generation. Its ready line is what the gc module says about
# itself, as JSON; then it idles without creating GC objects until its stdin closes.
#
# gc.get_count() moves with every GC object allocated or freed, so the figures are taken at
# module level (no frame), twice (the second round reuses what the first warmed: free lists,
# caches), count last, and nothing made after the count survives.
import gc
import os
import sys

gc.set_threshold(1234, 17, 9)


class Node:
    pass


class Holder:
    __slots__ = ("ref",)


def make_garbage():
    for _ in range(4):
        a, b = Node(), Node()
        a.other, b.other = b, a
    for _ in range(3):
        cell = []
        cell.append(cell)
    for _ in range(2):
        d = {}
        d["self"] = d
    h = Holder()
    h.ref = (h,)


gc.collect()
gc.set_debug(gc.DEBUG_SAVEALL)
make_garbage()
gc.collect()  # every unreachable object goes to gc.garbage instead of being freed
gc.set_debug(0)
gc.freeze()
gc.disable()  # collect() still runs when asked
gc.collect(0)
gc.collect(0)
gc.collect(1)
gc.collect(0)
gc.collect(0)
keep = [[] for _ in range(5)]  # objects alive since the last collection: a generation-0 count


def _hex(s):
    return s.encode("utf-8", "surrogatepass").hex()


_round = 0
while _round < 2:
    _types = {}
    for _o in gc.garbage:
        _k = _hex(type(_o).__name__)
        _types[_k] = _types.get(_k, 0) + 1
    del _o
    _stats = []
    for _s in gc.get_stats():
        _stats.append("{" + ",".join('"%s": %r' % kv for kv in sorted(_s.items())) + "}")
    del _s
    _payload = "{" + ",".join([
        '"pid": %d' % os.getpid(),
        '"version": "%d.%d.%d"' % sys.version_info[:3],
        '"enabled": %s' % ("true" if gc.isenabled() else "false"),
        '"debug": %d' % gc.get_debug(),
        '"thresholds": [%d, %d, %d]' % gc.get_threshold(),
        '"stats": [%s]' % ",".join(_stats),
        '"garbage": %d' % len(gc.garbage),
        '"garbage_types": {%s}' % ",".join('"%s": %d' % kv for kv in _types.items()),
        '"callbacks": %d' % len(gc.callbacks),
        '"frozen": %d' % gc.get_freeze_count(),
    ])
    del _types, _stats
    _count = gc.get_count()
    _payload += ', "counts": [%d, %d, %d]}\n' % _count
    del _count
    _round += 1
_payload = _payload.encode()
os.write(1, _payload)
del _payload
os.read(0, 1)
