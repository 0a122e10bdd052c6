# A target for objspy refs. It plants a chain (a module global dict -> an instance -> its
# __dict__ (3.11+: its values) -> a list -> a Leaked object) and an object held in many ways
# (list item, dict value and key, tuple item, set element, deque item, instance attribute, closure cell,
# function default, class attribute) and a subtree only one object holds, then writes one
# JSON line (with the subtree's sum of sys.getsizeof): the chain objgraph's
# find_backref_chain gives inside this process (its length and addresses) and the referrers
# gc.get_referrers gives for the held object, less what the check itself made. Then, per line
# "check ADDR ADDR ...", it answers "ok" when each address's object has the next one among its
# gc.get_referents, or "bad N" (the first step that is not).
import collections
import gc
import inspect
import json
import sys

try:
    import objgraph  # staged next to this script (chroots), or Debian's python3-objgraph
except ImportError:
    sys.path.append("/usr/lib/python3/dist-packages")
    import objgraph


class Leaked:
    def __init__(self):
        self.size = 42
        self.name = "leak"


class Holder:
    def __init__(self):
        self.pending = []


class Held:
    pass


class Owner:
    def __init__(self, x):
        self.attr = x


REGISTRY = {}
REGISTRY["h"] = Holder()
REGISTRY["h"].pending.extend([object(), object(), Leaked()])

held = Held()
HOLDERS = [
    [1, held],
    {"key": held},
    {held: 1},
    (held, 2),
    {held},
    Owner(held),
    collections.deque([0] * 100 + [held]),  # past the first block of 64
]


def make_closure(x):
    def inner():
        return x
    return inner


HOLDERS.append(make_closure(held))


def with_default(a=held):
    return a


class Keeper:
    kept = held


def find_chain():
    leak = [o for o in gc.get_objects() if type(o) is Leaked][0]
    return [hex(id(o)) for o in objgraph.find_backref_chain(leak, inspect.ismodule)]


def find_referrers():
    mine = sys._getframe()
    out = [hex(id(r)) for r in gc.get_referrers(held) if r is not mine and not inspect.isframe(r)]
    # The module's own dict holds `held` too; it is a referrer like any other.
    return out


# A subtree only one object holds: its retained size is the sum of sys.getsizeof over it (its
# attribute name 'payload' is interned and shared: not part of it).
class Subtree:
    def __init__(self):
        self.payload = [(i + 0.25, "s%06d" % i, 10**20 + i) for i in range(1000)]


SUBTREE = Subtree()


def subtree_bytes():
    objs = [SUBTREE, SUBTREE.payload] + list(SUBTREE.payload) + [x for t in SUBTREE.payload for x in t]
    if sys.version_info < (3, 11):
        objs.append(SUBTREE.__dict__)  # a real dict object there; 3.11+ keep the values in the instance
    return sum(map(sys.getsizeof, objs))


chain = find_chain()
referrers = find_referrers()
gc.collect()
gc.disable()
print(json.dumps({"chain_len": len(chain), "chain": chain, "held": hex(id(held)), "referrers": referrers,
                  "subtree": hex(id(SUBTREE)), "subtree_bytes": subtree_bytes()}), flush=True)
del chain, referrers

for line in sys.stdin:
    words = line.split()
    if not words or words[0] != "check":
        print("?", flush=True)
        continue
    by_id = {id(o): o for o in gc.get_objects()}
    for m in list(sys.modules.values()):
        by_id[id(m)] = m
    want = [int(w, 16) for w in words[1:]]
    answer = "ok"
    for i in range(len(want) - 1):
        a = by_id.get(want[i])
        if a is None or want[i + 1] not in {id(r) for r in gc.get_referents(a)}:
            answer = "bad %d" % i
            break
    del by_id, a
    print(answer, flush=True)
