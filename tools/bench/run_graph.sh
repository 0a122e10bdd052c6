#!/usr/bin/env bash
# The object-graph benchmark, one command: set up (packages, sid chroot, build), then measure.
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
"$here/tools/setup.sh" --chroot
dpkg-query -W -f='${Status}' python3-objgraph 2>/dev/null | grep -q "install ok installed" ||
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-objgraph >/dev/null; }
ninja -C "$here/build" -j1 objspy objspy-bench-floor >/dev/null
exec /usr/bin/python3 "$here/tools/bench/bench_graph.py" "$@"
