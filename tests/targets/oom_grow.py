# A leak that ends in the OOM killer: after "go" on stdin it keeps Leak objects, each with a
# 4 KB payload, until the memory cgroup the test put it in is full and the kernel kills it.
# Writes "ready" first, and "growing" when it starts.
import sys
import time


class Leak:
    def __init__(self):
        self.payload = bytes(4000)


keep = []
sys.stdout.write("ready\n")
sys.stdout.flush()
sys.stdin.readline()
sys.stdout.write("growing\n")
sys.stdout.flush()
while True:
    keep.extend([Leak() for _ in range(250)])
    time.sleep(0.04)  # about 25 MB/s: time for a census (even under ASan, on a busy machine) before the kill
