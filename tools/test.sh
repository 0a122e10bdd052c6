#!/usr/bin/env bash
# Set up everything (apt packages, the sid chroot), build, and run every test:
#   1. unit tests over synthetic memory, integration tests against every interpreter on
#      the machine, the packaging checks and the Debian package installed in a clean
#      bookworm chroot (release build);
#   2. the same suite built with AddressSanitizer + UBSan;
#   3. a short run of each libFuzzer harness (tools/fuzz.sh; longer runs: tools/fuzz.sh 600).
# OBJSPY_QUICK=1 runs step 1 only.
# Every interpreter the README lists must be there: a missing one fails the run unless
# OBJSPY_ALLOW_MISSING names it (comma-separated, as the summary table spells it, e.g.
# OBJSPY_ALLOW_MISSING="sid python3.15d,pyenv 3.8"; "sid *" for all of a kind).
set -euo pipefail
step() { echo "== [$(( SECONDS / 60 ))m$(( SECONDS % 60 ))s] $*" >&2; }
here=$(cd "$(dirname "$0")/.." && pwd)
step "setup and release build"
"$here/tools/setup.sh" --chroot
build=${OBJSPY_BUILD_DIR:-$here/build}
# ctest prints a failing test's whole output; CI keeps only its head and tail, so the failed
# assertions are repeated at the very end.
run_ctest() {
  local dir=$1 log
  shift
  log=$(mktemp)
  if (cd "$dir" && env "$@" ctest --output-on-failure --timeout 1800) 2>&1 | tee "$log"; then
    rm -f "$log"
    return 0
  fi
  echo "== failed assertions (repeated from above):" >&2
  grep -E -A8 ': (ERROR|FATAL ERROR|TEST CASE FAILED|exception)' "$log" | head -200 >&2 || true
  rm -f "$log"
  return 1
}
step "release tests"
run_ctest "$build"
[ "${OBJSPY_QUICK:-0}" = 1 ] && exit 0

step "ASan + UBSan build of the whole test suite"
asan="$here/build-asan"
cmake -S "$here" -B "$asan" -G Ninja -DCMAKE_BUILD_TYPE=Debug -DOBJSPY_SANITIZE=ON >/dev/null
ninja -C "$asan" >&2
# The exit-mid-read test preloads a shim before the ASan runtime; that order is intended.
step "ASan + UBSan tests"
run_ctest "$asan" ASAN_OPTIONS=verify_asan_link_order=0:detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1

step "fuzzers (short run)"
"$here/tools/fuzz.sh" "${OBJSPY_FUZZ_SECONDS:-20}"
step "all passed"
