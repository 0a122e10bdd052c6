#!/usr/bin/env bash
# The benchmark, one command: set up (packages, sid chroot, build), then measure.
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
"$here/tools/setup.sh" --chroot
# objgraph for the in-target anchor; mypy and the package it checks for the mypy target.
missing=()
for p in python3-objgraph python3-mypy python3-flask; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
ninja -C "$here/build" -j1 objspy objspy-bench-floor >/dev/null
exec /usr/bin/python3 "$here/tools/bench/bench.py" "$@"
