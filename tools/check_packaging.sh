#!/usr/bin/env bash
# Check the example units in packaging/ with systemd-analyze verify, instantiated for a
# stand-in service "myapp", and the cron line's objspy command line with objspy's parser.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
objspy=${1:-$here/build/objspy}
if ! command -v systemd-analyze >/dev/null; then
  # A check that did not run must not pass: only an explicit OBJSPY_ALLOW_MISSING lets it by.
  case "$(echo ",${OBJSPY_ALLOW_MISSING:-}," | sed 's/ *, */,/g')" in
    *,systemd-analyze,*)
      echo "check_packaging: SKIPPED the units (allowed by OBJSPY_ALLOW_MISSING): systemd-analyze is not installed" >&2
      exit 0 ;;
  esac
  echo "check_packaging: systemd-analyze is not installed (tools/setup.sh --chroot installs systemd;" \
       "OBJSPY_ALLOW_MISSING=systemd-analyze to skip)" >&2
  exit 1
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
printf '[Service]\nExecStart=/bin/sleep 1000\n' >"$work/myapp.service"
units=()
for f in "$here"/packaging/*@.service "$here"/packaging/*@.timer; do
  base=$(basename "$f")
  inst=${base/@./@myapp.}
  cp "$f" "$work/$inst"
  units+=("$work/$inst")
done
(cd "$work" && systemd-analyze verify --man=no "${units[@]}")
# Every objspy command line in packaging/ parses: run against a PID that does not exist, it
# must fail with "no such process" (3), not a usage error (2).
grep -ho "objspy [a-z]* --pid[^'>]*" "$here"/packaging/* | sed -e 's/"\$(.*)"/2147483646/' -e 's/"\$OBJSPY_LISTEN"/127.0.0.1:0/' \
  -e 's/"\$OBJSPY_INTERVAL"/15s/' -e "s#/var/l[a-z]*/objspy#$work#g" | while read -r _ sub rest; do
  rc=0
  # shellcheck disable=SC2086
  "$objspy" "$sub" $rest >/dev/null 2>&1 || rc=$?
  [ "$rc" = 3 ] || { echo "check_packaging: objspy $sub $rest: exit $rc, expected 3 (no such process)" >&2; exit 1; }
done
echo "check_packaging: ${#units[@]} units verified, command lines parse" >&2
