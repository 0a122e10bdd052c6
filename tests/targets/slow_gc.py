# A target that is inside a garbage collection about half the time: a thread collects over
# and over, and a gc callback makes each collection last 30 ms (gc.collecting is set while
# callbacks run). Says "ready", idles until stdin closes.
import gc
import os
import threading
import time


def slow(phase, info):
    if phase == "start":
        time.sleep(0.03)


gc.callbacks.append(slow)


def collect_forever():
    while True:
        gc.collect()
        time.sleep(0.03)


threading.Thread(target=collect_forever, daemon=True).start()
time.sleep(0.1)  # the first collection is under way
os.write(1, b"ready\n")
os.read(0, 1)
