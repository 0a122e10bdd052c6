# A busy target: a thread allocates and frees objects continuously (about RATE per second,
# default 100000), while the main thread answers "ping" with "pong" on stdin/stdout, proving
# the process runs. Writes "ready" first. Also: "count" answers len(gc.get_objects()).
import gc
import os
import sys
import threading
import time

RATE = int(os.environ.get("CHURN_RATE", "100000"))


class Churned:
    def __init__(self, i):
        self.i = i
        self.peers = []


stable = [Churned(i) for i in range(20000)]
window = []


def churn():
    batch = 1000
    i = 0
    while True:
        t0 = time.perf_counter()
        for _ in range(batch):
            window.append(Churned(i))
            i += 1
        del window[: len(window) - 5000]  # keep about 5000 alive, free the rest
        spent = time.perf_counter() - t0
        time.sleep(max(0.0, batch / RATE - spent))


threading.Thread(target=churn, daemon=True).start()
sys.stdout.write("ready\n")
sys.stdout.flush()
for line in sys.stdin:
    cmd = line.strip()
    if cmd == "ping":
        out = "pong"
    elif cmd == "count":
        out = str(len(gc.get_objects()))
    else:
        out = "?"
    sys.stdout.write(out + "\n")
    sys.stdout.flush()
