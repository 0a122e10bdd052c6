# A worker pool as a preforking server makes one: a master that forks four children. Three are
# Python workers, each with a heap of its own; the fourth execs /bin/cat instead, a child that
# is not Python. Every Python process takes its own census (as known_heap.py does: at module
# level, twice, temporaries deleted, automatic collection off) and the master writes all of
# them as its ready line: {"master": C, "workers": [C, ...], "other": PID}, where C is
# {"pid", "total", "short": {hex(type name): count}}. Everyone idles until the master's stdin
# closes: the workers and cat read a pipe only the master can write, so they end with it.
import gc
import os
import sys

gc.collect()
gc.disable()


class Node:
    def __init__(self, i):
        self.i = i
        self.d = {"i": [i]}


class WorkerOnly:
    pass


def _hex(s):
    return s.encode("utf-8", "surrogatepass").hex()


def _count(objs):
    # In a function, as objgraph counts: the objects are fast locals here.
    short = {}
    for o in objs:
        k = _hex(type(o).__name__)
        short[k] = short.get(k, 0) + 1
    return short


life_r, life_w = os.pipe()
reports = {}
role = "master"
index = -1
other = 0
report_w = -1
for index in range(4):
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        os.close(life_w)
        if index == 3:
            # Not Python: cat reads the life pipe, and ends when the master does.
            os.dup2(life_r, 0)
            null = os.open("/dev/null", os.O_WRONLY)
            os.dup2(null, 1)
            os.execv("/bin/cat", ["cat"])
        role = "worker"
        report_w = w
        break
    os.close(w)
    if index == 3:
        other = pid
        os.close(r)
    else:
        reports[pid] = r

keep = []
if role == "worker":
    keep = [Node(i) for i in range(1000 * (index + 1))] + [WorkerOnly() for _ in range(7 * (index + 1))]
else:
    # The workers' reports, read before the master counts: what it holds then, it holds after.
    for pid in list(reports):
        chunks = []
        while True:
            b = os.read(reports[pid], 65536)
            if not b:
                break
            chunks.append(b)
        os.close(reports[pid])
        reports[pid] = b"".join(chunks).decode()
    del chunks, b, pid

_round = 0
while _round < 2:  # not a for loop: its iterator would exist only while counting
    _objs = gc.get_objects()
    _short = _count(_objs)
    _census = '{"pid": %d, "total": %d, "short": {%s}}' % (
        os.getpid(), len(_objs), ",".join('"%s": %d' % kv for kv in _short.items()))
    if role == "master":
        _payload = '{"master": %s, "workers": [%s], "other": %d}\n' % (_census, ",".join(reports.values()), other)
    else:
        _payload = _census
    del _objs, _short, _census
    _round += 1
_payload = _payload.encode()
if role == "worker":
    while _payload:
        _payload = _payload[os.write(report_w, _payload):]
    os.close(report_w)
    del _payload
    os.read(life_r, 1)  # until the master ends
    os._exit(0)
os.write(1, _payload)
del _payload
# Idle until the harness closes stdin. os.read creates no GC object (sys.stdin would).
os.read(0, 1)
