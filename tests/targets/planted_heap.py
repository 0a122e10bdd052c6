# A target for objspy heap. With OBJSPY_PLANT=1 it also holds objects outside the GC lists:
# 100,000 distinct bytes of 100 bytes, 50,000 distinct str used as dict keys (the dict's
# values are None), 50,000 distinct floats in a list and 20,000 big ints in a list. Its one
# JSON line says how many of each it planted and their sum of sys.getsizeof; the same script
# without OBJSPY_PLANT is the baseline. Then it idles until stdin closes.
import gc
import json
import os
import sys

expect = {}
if os.environ.get("OBJSPY_PLANT") == "1":
    BYTES = [b"%0100d" % i for i in range(100000)]
    KEYS = dict.fromkeys("k%09d" % i for i in range(50000))
    FLOATS = [i + 0.5 for i in range(50000)]
    BIG = [10**30 + i for i in range(20000)]
    expect = {
        "bytes": [len(BYTES), sum(map(sys.getsizeof, BYTES))],
        "str": [len(KEYS), sum(map(sys.getsizeof, KEYS))],
        "float": [len(FLOATS), sum(map(sys.getsizeof, FLOATS))],
        "int": [len(BIG), sum(map(sys.getsizeof, BIG))],
    }
gc.collect()
gc.disable()
print(json.dumps({"expect": expect}), flush=True)
sys.stdin.read()
