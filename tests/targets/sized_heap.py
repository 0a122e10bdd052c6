# A target whose objects' sizes are known: it builds the kinds of object whose
# sys.getsizeof() each has its own formula (instances with dicts and __slots__, lists grown by
# append, dicts of every size class with str and other keys, split instance dicts, sets,
# frozensets, tuples, deques, OrderedDicts, subclasses of int, str, bytes and bytearray, enum
# members, classes, generators, coroutines, frames, BytesIO, buffered files, arrays), then
# sums count and sys.getsizeof(o) per type over gc.get_objects() and writes them as one JSON
# line (the ready handshake), and idles creating no GC object until its stdin closes.
#
# As in known_heap.py: counted at module level, twice (the first round fills caches and the
# module dict's slots), temporaries deleted, the collector off, so that what objspy reads is
# what the target measured.
import array
import collections
import enum
import gc
import io
import os
import struct
import sys
import warnings

warnings.simplefilter("ignore")  # an unclosed file or an unawaited coroutine at exit is the point here

ESTIMATED = os.environ.get("OBJSPY_TARGET_ESTIMATED") == "1"


class Plain:
    def __init__(self, i):
        self.i = i
        if i % 3 == 0:
            self.j = [i]  # instances of one class with different attribute sets: split dicts grow


class Slotted:
    __slots__ = ("a", "b")

    def __init__(self):
        self.a = []


class WeakSlotted:
    __slots__ = ("a", "__weakref__")


class MyDict(dict):
    pass


class MyList(list):
    pass


class MyInt(int):
    pass


class MyStr(str):
    pass


class MyBytes(bytes):
    pass


class MyBytearray(bytearray):
    pass


class MyTuple(tuple):
    pass


class MySet(set):
    pass


class MyDeque(collections.deque):
    pass


class Color(enum.IntEnum):
    RED = 1
    GREEN = 2
    HUGE = 10**40


class Word(str, enum.Enum):
    ALPHA = "alpha"
    UNI = "ünï"
    WIDE = "\U0001f600 wide"


class WithSizeof:
    # A __sizeof__ written in Python: objspy cannot run it and says its bytes are estimated.
    def __sizeof__(self):
        return 1000


def gen(n):
    for i in range(n):
        yield i


async def coro(n):
    return n


def finished_frame(a, b=2, *args, **kw):
    x = [a]
    return sys._getframe()


def running():
    frame = sys._getframe()
    yield frame


keep = []
keep += [Plain(i) for i in range(500)]
for p in keep[:50]:
    p.__dict__  # materialised instance dicts (3.11+: from inline or managed values)
keep += [Slotted() for _ in range(30)] + [WeakSlotted() for _ in range(7)]
grown = []
for i in range(5000):
    grown.append(i)
    if i in (0, 3, 8, 16, 24, 100, 1000):
        keep.append(list(grown))  # every allocation step of a list grown by append
keep.append(grown)
# Every size class of dict and set up to 5462 entries, then two big ones whose values are
# shared (one GC object, not one per entry: the target starts fast on a debug build too).
for n in (0, 1, 5, 6, 10, 11, 21, 22, 42, 43, 85, 86, 170, 171, 341, 342, 1000, 5461, 5462, 30000, 70000):
    v = [n]
    keep.append({i: v if n > 5462 else [i] for i in range(n)})  # general keys, tracked (a list value)
    keep.append({"k%d" % i: v for i in range(n)})  # str keys (3.11+ unicode tables)
    keep.append(MyDict(("m%d" % i, ()) for i in range(n)))
    keep.append(collections.OrderedDict((i, v) for i in range(n)))
    keep.append({i for i in range(n)} | {()})
    keep.append(frozenset(range(n)) | frozenset([()]))
    keep.append(MySet(range(n)))
    keep.append(tuple(v for i in range(n)))
    keep.append(MyTuple(range(n)))
    keep.append(collections.deque(v for i in range(n)))
    keep.append(MyDeque(range(n)))
    keep.append(MyList(range(n)))
d = {i: [i] for i in range(1000)}
for i in range(900):
    del d[i]  # a dict whose table is mostly dummies
keep.append(d)
half = collections.deque([[]] * 200)
for _ in range(70):
    half.popleft()  # a deque whose first block is partly used
keep.append(half)
keep += [MyInt(v) for v in (0, 1, -5, 2**30, 2**64, -(10**100))]
keep += [MyStr(s) for s in ("", "ascii", "latïn", "ünïcode ☃", "\U0001f600 astral", "x" * 1000)]
utf8_cached = MyStr("cached ☃ utf8")
utf8_cached.encode("utf-8")  # may cache the UTF-8 form
keep.append(utf8_cached)
keep += [MyBytes(b) for b in (b"", b"abc", b"x" * 300)] + [MyBytearray(b) for b in (b"", b"abc", b"y" * 300)]
keep += [Color.RED, Color.HUGE, Word.UNI, Word.WIDE]
keep += [gen(3) for _ in range(5)] + [gen(3) for _ in range(2)]
next(keep[-1])
keep += [coro(i) for i in range(3)]
keep.append(finished_frame(1, 2, 3, k=4))
keep.append(running())
next(keep[-1])
keep.append(sys._getframe())  # the module's own frame, executing
keep.append(io.BytesIO(b"z" * 5000))
shared = io.BytesIO(b"w" * 100)
keep += [shared, shared.getvalue()]  # a shared buffer is not charged
keep.append(open(os.devnull, "rb"))
keep.append(open(os.devnull, "wb"))
keep += [array.array(c, range(50)) for c in "bBhHiIlLqQfd"]
keep += [struct.Struct(f) for f in ("i", "3i", "5p2x", "P" * 30, "<" + "q" * 200)]  # GC from 3.10
keep.append({"nested": {"deep": [{"x": ("y", [1])}]}})
if ESTIMATED:
    keep += [WithSizeof() for _ in range(3)]



def _hex(s):
    return s.encode("utf-8", "surrogatepass").hex()


def _long(t):
    m = getattr(t, "__module__", None)
    n = t.__name__
    return "%s.%s" % (m, n) if m else n


def _measure(objs):
    # Two tables filled with every name first, so that no table grows while sizes are read.
    count = {}
    size = {}
    for o in objs:
        k = _hex(_long(type(o)))
        count[k] = 0
        size[k] = 0
    for o in objs:
        k = _hex(_long(type(o)))
        count[k] += 1
        size[k] += sys.getsizeof(o)
    return count, size


gc.collect()
gc.disable()
_round = 0
while _round < 2:
    _objs = gc.get_objects()
    _count, _size = _measure(_objs)
    _payload = "{" + ",".join([
        '"version": "%d.%d.%d"' % sys.version_info[:3],
        '"total": %d' % len(_objs),
        '"count": {%s}' % ",".join('"%s": %d' % kv for kv in _count.items()),
        '"bytes": {%s}' % ",".join('"%s": %d' % kv for kv in _size.items()),
    ]) + "}\n"
    del _objs, _count, _size
    _round += 1
_payload = _payload.encode()
os.write(1, _payload)
del _payload
os.read(0, 1)
