# A target for the growth tests: `Leak` objects only ever accumulate (LEAK_RATE per second),
# `Wave` objects go up and down (a load wave with a period of WAVE_PERIOD seconds) and end
# about where they started. Says "ready", runs until stdin closes or it is killed.
import math
import os
import sys
import threading
import time

LEAK_RATE = float(os.environ.get("LEAK_RATE", "200"))
WAVE_PERIOD = float(os.environ.get("WAVE_PERIOD", "1.0"))


class Leak:
    pass


class Wave:
    pass


leaked = []
wave = []


def run():
    start = time.monotonic()
    while True:
        leaked.append(Leak())
        t = time.monotonic() - start
        want = int(300 + 250 * math.sin(2 * math.pi * t / WAVE_PERIOD))
        while len(wave) < want:
            wave.append(Wave())
        del wave[want:]
        time.sleep(1.0 / LEAK_RATE)


threading.Thread(target=run, daemon=True).start()
sys.stdout.write("ready\n")
sys.stdout.flush()
sys.stdin.read()
