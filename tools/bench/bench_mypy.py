"""Benchmark target, a real application after work: mypy (Debian's python3-mypy, compiled
with mypyc, on /usr/bin/python3.11) type-checks a package in-process, and the target keeps
the whole build result (its module graph, trees, symbol tables and types) alive, as a
mypy daemon does between runs. Default: `-p flask` (Debian's python3-flask and the typed
packages it imports), about 690,000 GC objects and 195 MB of RSS afterwards, about a minute
to build. Then: collect, disable automatic collection, serve the commands of bench_serve.py,
plus `mypy`, answering "<seconds the check took> <modules> <errors reported>".

Usage: bench_mypy.py [mypy arguments, default: -p flask]
"""
import gc
import sys
import time

from mypy import build
from mypy.main import process_options

from bench_serve import serve

args = sys.argv[1:] or ["-p", "flask"]
t0 = time.perf_counter()
sources, options = process_options(args)
# No cache: a warm cache would load trees lazily and leave a different, smaller heap.
options.incremental = False
options.cache_dir = "/dev/null"
result = build.build(sources, options)
took = time.perf_counter() - t0
summary = "%.1f %d %d" % (took, len(result.files), len(result.errors))

gc.collect()
gc.disable()

serve({"mypy": lambda args: summary})
