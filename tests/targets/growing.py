# A heap that keeps growing: new pymalloc arenas are mapped all the time (and freed when the
# list is dropped), so any map read before a census is out of date during it. Writes "ready".
import sys

sys.stdout.write("ready\n")
sys.stdout.flush()
k = []
while True:
    k.append([None] * 4)
    if len(k) >= 100000:  # small enough for a census under ASan on a busy machine
        k = []
