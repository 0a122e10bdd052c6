# A target that never repeats a type name: every NEW_NAMES_PERIOD seconds (default 0.1) it
# makes NEW_NAMES_BATCH classes (default 2000) named Fresh<serial>, with one instance each,
# and drops the previous batch (del + gc.collect: a class is in reference cycles). Its own
# memory stays flat, so any growth of a tool watching it is the tool's: every census sees
# about one batch of names no census saw before. Writes "ready" once the first batch exists;
# "made" answers how many classes it has made so far. Runs until stdin closes.
import gc
import os
import sys
import threading
import time

BATCH = int(os.environ.get("NEW_NAMES_BATCH", "2000"))
PERIOD = float(os.environ.get("NEW_NAMES_PERIOD", "0.1"))
made = 0
batch = []


def make_batch():
    global made
    out = []
    for _ in range(BATCH):
        out.append(type(f"Fresh{made}", (), {})())
        made += 1
    return out


def churn():
    global batch
    due = time.monotonic()
    while True:
        due += PERIOD
        fresh = make_batch()
        batch = fresh  # the previous batch is dropped here ...
        del fresh
        gc.collect()  # ... and its classes (cycles through __mro__ and __dict__) freed
        time.sleep(max(0.0, due - time.monotonic()))


batch = make_batch()
threading.Thread(target=churn, daemon=True).start()
sys.stdout.write("ready\n")
sys.stdout.flush()
for line in sys.stdin:
    cmd = line.strip()
    sys.stdout.write((str(made) if cmd == "made" else "?") + "\n")
    sys.stdout.flush()
