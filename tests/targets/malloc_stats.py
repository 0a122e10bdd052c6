# A target that prints sys._debugmallocstats() (to stderr) and stops itself at once: what
# objspy reads from the stopped process is the allocator as the target printed it. Nothing is
# allocated between the two: every name is bound first, and raise_signal(SIGSTOP) takes an
# object that exists. Fragmented on purpose: a third of the objects freed.
import os
import signal
import sys

keep = [[i] for i in range(60000)] + [str(i) * 3 for i in range(30000)] + [{"k": i} for i in range(5000)]
del keep[::3]
stop, STOP, stats = signal.raise_signal, signal.SIGSTOP, sys._debugmallocstats
os.write(1, b"ready\n")
stats()
stop(STOP)
