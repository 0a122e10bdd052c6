#!/usr/bin/env bash
# Check the example units in packaging/ with systemd-analyze verify, instantiated for a
# stand-in service "myapp", and the cron line's objspy command line with objspy's parser.
#   tools/check_packaging.sh [OBJSPY [FILE...]]
# FILEs (default: the units and cron example in packaging/) are where they were installed,
# e.g. by the Debian package (tools/check_deb.sh runs this inside its chroot);
# OBJSPY_VERIFY_MAN=yes also checks that the units' Documentation= man pages exist.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
objspy=$(realpath "${1:-$here/build/objspy}")
[ $# -gt 0 ] && shift
if [ $# -gt 0 ]; then
  files=("$@")
else
  files=("$here"/packaging/*.service "$here"/packaging/*.timer "$here"/packaging/*.cron "$here"/packaging/agent/*.service)
fi
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
for f in "${files[@]}"; do
  case $f in
    *@.service|*@.timer)
      base=$(basename "$f")
      inst=${base/@./@myapp.}
      cp "$f" "$work/$inst" ;;
    *.service)
      # A unit run as it is (the agent's): it names the binary objspy is installed as.
      inst=$(basename "$f")
      sed "s#/usr/local/bin/objspy#$objspy#g" "$f" >"$work/$inst" ;;
    *) continue ;;
  esac
  units+=("$work/$inst")
done
[ ${#units[@]} -gt 0 ] || { echo "check_packaging: no units among ${files[*]}" >&2; exit 1; }
(cd "$work" && systemd-analyze verify --man="${OBJSPY_VERIFY_MAN:-no}" "${units[@]}")
# Every objspy command line in the files parses: run against a PID that does not exist, it
# must fail with "no such process" (3), not a usage error (2).
lines=$(grep -ho "objspy [a-z]* --pid[^'>]*" "${files[@]}" | wc -l)
[ "$lines" -gt 0 ] || { echo "check_packaging: no objspy command line in ${files[*]}" >&2; exit 1; }
grep -ho "objspy [a-z]* --pid[^'>]*" "${files[@]}" | sed -e 's/"\$(.*)"/2147483646/' -e 's/"\$OBJSPY_LISTEN"/127.0.0.1:0/' \
  -e 's/"\$OBJSPY_INTERVAL"/15s/' -e "s#/var/l[a-z]*/objspy#$work#g" | while read -r _ sub rest; do
  rc=0
  # shellcheck disable=SC2086
  "$objspy" "$sub" $rest >/dev/null 2>&1 || rc=$?
  [ "$rc" = 3 ] || { echo "check_packaging: objspy $sub $rest: exit $rc, expected 3 (no such process)" >&2; exit 1; }
done
echo "check_packaging: ${#units[@]} units verified, $lines command lines parse" >&2
