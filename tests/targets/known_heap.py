# A target with a known heap. It builds a varied heap, takes its own census exactly as
# objgraph would (Counter of type(o).__name__ over gc.get_objects(), and the
# module-qualified variant), writes it as one JSON line on stdout (the ready handshake), and
# then idles without creating GC objects until its stdin closes.
#
# The census is taken at module level (no function frame exists only during it), twice (the
# first round warms codec and method caches), every temporary is deleted afterwards, and
# automatic collection is off: so the GC lists objspy reads while the target idles are the
# lists the target counted.
import gc
import os
import sys

# What existed at start-up goes to the permanent generation, as a preforking server does
# with gc.freeze() before forking workers: gc.get_objects() leaves these out.
gc.freeze()
import collections  # noqa: E402  (modules imported after the freeze add builtin types)
import decimal  # noqa: E402,F401
import json  # noqa: E402,F401

OrderedThing = collections.namedtuple("OrderedThing", "a b")

HOSTILE = os.environ.get("OBJSPY_TARGET_HOSTILE") == "1"


class Plain:
    def __init__(self, i):
        self.i = i


class Slotted:
    __slots__ = ("a", "b")

    def __init__(self):
        self.a = []
        self.b = None


class MyDict(dict):
    pass


class MyList(list):
    pass


class MyInt(int):
    pass


class Outer:
    class Inner:
        class Deepest:
            pass


class Meta(type):
    pass


class WithMeta(metaclass=Meta):
    pass


class ÜniClass:
    pass


class 日本語クラス:
    pass


NoModule = type("NoModule", (), {"__module__": None})
EmptyModule = type("EmptyModule", (), {"__module__": ""})
OtherModule = type("OtherModule", (), {"__module__": "somewhere.else"})


def make_closure(n):
    def inner():
        return n
    return inner


def gen(n):
    for i in range(n):
        yield i


keep = []
keep += [Plain(i) for i in range(1500)]
keep += [Slotted() for _ in range(300)]
keep += [MyDict(a=[1]) for _ in range(40)]
keep += [MyList([1, 2]) for _ in range(30)]
keep += [MyInt(7) for _ in range(20)]
keep += [Outer.Inner() for _ in range(11)] + [Outer.Inner.Deepest() for _ in range(5)]
keep += [WithMeta() for _ in range(3)] + [ÜniClass() for _ in range(9)] + [日本語クラス() for _ in range(4)]
keep += [NoModule() for _ in range(6)] + [EmptyModule() for _ in range(7)] + [OtherModule() for _ in range(8)]
keep += [make_closure(i) for i in range(25)]
keep += [gen(3) for _ in range(12)]
keep += [{"k": [i]} for i in range(200)] + [(i, []) for i in range(100)] + [{i, i + 1} for i in range(50)]
cycle_a = []
cycle_b = [cycle_a]
cycle_a.append(cycle_b)

keep += [OrderedThing([i], i) for i in range(33)] + [collections.OrderedDict(x=[1]) for _ in range(14)]
keep += [collections.deque([i]) for i in range(19)]

if HOSTILE:
    # Type names a hostile process could choose: terminal escapes, newlines, bidi overrides,
    # invisible marks that make one name look like another, and a very long name.
    Evil = type("Evil\x1b]0;pwned\x07\x1b[31mRed\x1b[0m", (), {})
    Newline = type("line1\nline2\rline3", (), {})
    Bidi = type("abc\u202edcba", (), {})
    Invisible = type("dict\u200e\u200b\u061c\ufeff\u2066", (), {})
    Long = type("L" * 2000000, (), {})  # 2 MB
    keep += [Evil(), Evil(), Newline(), Bidi(), Bidi(), Bidi(), Invisible(), Long()]


def _hex(s):
    return s.encode("utf-8", "surrogatepass").hex()


def _long(t):
    m = getattr(t, "__module__", None)
    n = t.__name__
    return "%s.%s" % (m, n) if m else n


def _count(objs):
    # Counting in a function, as objgraph does: the objects are fast locals here. Loaded as
    # module globals, 3.15's lazy_import objects would be reified (PEP 810) and miscounted.
    short = {}
    qual = {}
    for o in objs:
        t = type(o)
        k = _hex(t.__name__)
        short[k] = short.get(k, 0) + 1
        k = _hex(_long(t))
        qual[k] = qual.get(k, 0) + 1
    return short, qual


gc.collect()
gc.disable()
_round = 0
while _round < 2:  # not a for loop: its iterator would exist only while counting
    # At module level: a function frame that exists only during the call would be counted
    # (3.8-3.10 frames are GC objects) and then be gone when objspy reads.
    _objs = gc.get_objects()
    _short, _qual = _count(_objs)
    _payload = "{" + ",".join([
        '"pid": %d' % os.getpid(),
        '"version": "%d.%d.%d"' % sys.version_info[:3],
        '"hexversion": %d' % sys.hexversion,
        '"debug": %s' % ("true" if hasattr(sys, "gettotalrefcount") else "false"),
        '"total": %d' % len(_objs),
        '"frozen": %d' % gc.get_freeze_count(),
        '"short": {%s}' % ",".join('"%s": %d' % kv for kv in _short.items()),
        '"qualified": {%s}' % ",".join('"%s": %d' % kv for kv in _qual.items()),
    ]) + "}\n"
    del _objs, _short, _qual
    _round += 1
_payload = _payload.encode()
os.write(1, _payload)
del _payload
# Idle until the harness closes stdin. os.read creates no GC object (sys.stdin would).
os.read(0, 1)
