# A hostile target for the census budgets (issue 11): a million GC objects, each of its own fake
# static type, every type named by a distinct ~5 KB tp_name, in 64 bytes of memory per type.
# The types overlap at a 64-byte stride (a census reads only ob_type at +8, tp_name at +24 and
# tp_flags at +168, which is +40 of the type two slots on) and their names overlap in one
# buffer (name k starts k bytes in). The objects (PyGC_Head + PyObject header, 32 bytes each)
# are spliced into the permanent generation after a frozen list, where no collection looks.
# Usage: million_types.py [COUNT]. Says "ready COUNT" when built; exits when stdin closes,
# without finalisation (the fake objects must never meet the collector).
import array
import ctypes
import gc
import os
import sys

N = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
NAME = 5000
HAVE_GC = 1 << 14

gc.disable()
letters = bytes(ord("a") + i % 26 for i in range(256))
names = ctypes.create_string_buffer(os.urandom(N + NAME).translate(letters))  # NUL-terminated
names_at = ctypes.addressof(names)

# Types: eight words per slot; slot k is type k.
types = array.array("Q", bytes(64 * (N + 4)))
types_at = types.buffer_info()[0]
slots = N + 4
types[1::8] = array.array("Q", [id(type)]) * slots                  # ob_type: a metatype
types[3::8] = array.array("Q", range(names_at, names_at + slots))   # tp_name
types[5::8] = array.array("Q", [HAVE_GC]) * slots                   # tp_flags of slot k - 2

anchor = []
gc.freeze()  # anchor is in the permanent generation now
head = id(anchor) - 16  # its PyGC_Head
word = lambda a: ctypes.c_uint64.from_address(a)
after = word(head).value & ~3  # the node after the anchor

objs = array.array("Q", bytes(32 * N))
at = objs.buffer_info()[0]
objs[0::4] = array.array("Q", range(at + 32, at + 32 * (N + 1), 32))  # _gc_next
objs[1::4] = array.array("Q", range(at - 32, at + 32 * (N - 1), 32))  # _gc_prev
objs[2::4] = array.array("Q", [1]) * N                                # ob_refcnt
objs[3::4] = array.array("Q", range(types_at, types_at + 64 * N, 64)) # ob_type
objs[0 + 4 * (N - 1)] = after
objs[1] = head
# Splice: anchor -> objects -> what followed the anchor (flag bits kept).
word(after + 8).value = (word(after + 8).value & 3) | (at + 32 * (N - 1))
word(head).value = (word(head).value & 3) | at

os.write(1, b"ready %d\n" % N)
os.read(0, 1)
os._exit(0)
