#!/usr/bin/env bash
# Build the libFuzzer harnesses with clang-14 (ASan + UBSan) and run each for SECONDS
# (default 60; CI uses a short run). Crashes are written to build-fuzz/artifacts/.
#   tools/fuzz.sh [SECONDS]
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
secs=${1:-60}
pkgs=(clang-14 libclang-rt-14-dev)
missing=()
for p in "${pkgs[@]}"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
b="$here/build-fuzz"
cmake -S "$here" -B "$b" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER=clang++-14 -DCMAKE_C_COMPILER=clang-14 \
  -DOBJSPY_FUZZ=ON -DOBJSPY_TESTS=OFF >/dev/null
ninja -C "$b" fuzz_maps fuzz_debug_offsets fuzz_elf fuzz_memory_elf fuzz_walk fuzz_scan fuzz_escape fuzz_state fuzz_series fuzz_http fuzz_report fuzz_proc_text fuzz_core fuzz_referents >&2
mkdir -p "$b/artifacts"
for h in maps debug_offsets elf memory_elf walk scan escape state series http report proc_text core referents; do
  work="$b/corpus-$h"
  mkdir -p "$work"
  echo "fuzz_$h: ${secs}s" >&2
  "$b/tests/fuzz/fuzz_$h" -max_total_time="$secs" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
    -artifact_prefix="$b/artifacts/$h-" -print_final_stats=0 "$work" "$here/tests/fuzz/corpus/$h" 2>"$b/fuzz_$h.log" \
    || { echo "fuzz_$h FAILED: see $b/fuzz_$h.log and $b/artifacts/" >&2; tail -40 "$b/fuzz_$h.log" >&2; exit 1; }
  grep -E "^#[0-9]+.*(DONE|pulse)" "$b/fuzz_$h.log" | tail -1 >&2 || true
done
echo "fuzzers: all passed" >&2
