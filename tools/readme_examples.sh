#!/usr/bin/env bash
# Run each over-time command on the demo service and print its output, as README.md shows
# it. Needs a built objspy (tools/setup.sh) and root or CAP_SYS_PTRACE.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
objspy=${OBJSPY:-$here/build/objspy}
py=$(command -v python3.11 || command -v python3)
out=$(mktemp -d)
"$py" "$here/examples/leaky_service.py" </dev/null >/dev/null 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; rm -rf "$out"' EXIT
# Until its interpreter is readable, then two seconds of requests.
for _ in $(seq 100); do "$objspy" dump --pid "$pid" -q >/dev/null 2>&1 && break; sleep 0.1; done
sleep 2
show() { printf '==== %s\n' "$1"; cat "$2"; }

"$objspy" dump --pid "$pid" --growth --state "$out/state.json" -q >/dev/null
"$objspy" dump --pid "$pid" --format json >"$out/before.json"
sleep 1
"$objspy" dump --pid "$pid" --growth --state "$out/state.json" -q >"$out/growth.txt"
"$objspy" dump --pid "$pid" --format json >"$out/after.json"
"$objspy" diff "$out/before.json" "$out/after.json" --limit 6 >"$out/diff.txt"
"$objspy" record --pid "$pid" --interval 1s --count 6 -o "$out/app.ndjson" --suspects 4 2>"$out/record.txt"
"$objspy" suspects "$out/app.ndjson" --limit 4 >"$out/suspects.txt"
"$objspy" top --pid "$pid" --interval 1s --count 3 --limit 8 | tail -13 >"$out/top.txt"
"$objspy" serve --pid "$pid" --listen 127.0.0.1:0 --interval 1s --top 5 2>"$out/serve.txt" &
serve=$!
until grep -q "serving metrics" "$out/serve.txt" 2>/dev/null; do sleep 0.1; done
url=$(grep -o 'http://[^ ]*/metrics' "$out/serve.txt")
curl -s "$url" | grep -v '^#' >"$out/metrics.txt"
kill "$serve"
wait "$serve" || true
for f in growth diff record suspects top serve metrics; do show "$f" "$out/$f.txt"; done
