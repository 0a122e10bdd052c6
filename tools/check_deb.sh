#!/usr/bin/env bash
# The Debian package end to end (ctest `deb`): build it from BUILD_DIR with tools/package.sh,
# lintian must report no error, then install it with apt in a clean Debian bookworm (no build
# tools; unpacked afresh from the tarball tools/setup.sh --chroot caches) and there:
#   - the package's Depends bring every library objspy links, and objspy --version runs;
#   - man renders objspy(1) and objspy-COMMAND(1) for every command --help lists, without
#     groff warnings, each with every option that command's --help lists;
#   - objspy dump of a python3 started in the chroot equals that interpreter's own census
#     (tests/targets/known_heap.py: gc.get_objects() by type, both name forms);
#   - bash completion offers the commands, a command's options and an option's choices; fish
#     likewise; zsh loads the completion for objspy;
#   - systemd-analyze verify passes on the installed units (tools/check_packaging.sh, with
#     their Documentation= man pages), whose command lines name /usr/bin/objspy and parse;
#   - purging the package removes its files.
#   tools/check_deb.sh [BUILD_DIR]     (root: chroot and mount)
# A missing chroot tarball or lintian fails, unless OBJSPY_ALLOW_MISSING names "bookworm
# chroot" or "lintian".
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:-$here/build}" && pwd)
tarball=${OBJSPY_BOOKWORM_TAR:-/var/cache/objspy/bookworm.tar}
die() { echo "check_deb: FAILED: $*" >&2; exit 1; }
say() { echo "check_deb: $*" >&2; }
allowed() {
  case ",$(echo "${OBJSPY_ALLOW_MISSING:-}" | sed 's/ *, */,/g')," in *",$1,"*) return 0 ;; esac
  return 1
}
[ "$(id -u)" = 0 ] || die "needs root (chroot, mount)"

# Mounts in a private namespace end with this script, whatever way it ends.
if [ "${OBJSPY_CHECK_DEB_NS:-}" != 1 ]; then
  exec env OBJSPY_CHECK_DEB_NS=1 unshare --mount --propagation private "$0" "$@"
fi

if [ ! -s "$tarball" ]; then
  if allowed "bookworm chroot"; then
    say "SKIPPED (allowed by OBJSPY_ALLOW_MISSING): no bookworm chroot at $tarball"
    exit 0
  fi
  die "no bookworm chroot at $tarball: tools/setup.sh --chroot makes it (OBJSPY_ALLOW_MISSING=\"bookworm chroot\" to skip)"
fi

deb=$("$here/tools/package.sh" "$build" 2>"$build/package.log") || { cat "$build/package.log" >&2; die "tools/package.sh $build"; }
say "built $deb"

if command -v lintian >/dev/null; then
  # --fail-on error: warnings and notes are printed, only errors fail.
  rc=0
  report=$(lintian --fail-on error --display-info "$deb" 2>&1) || rc=$?
  grep -v "running with root privileges" <<<"$report" >&2 || true
  [ "$rc" = 0 ] || die "lintian reports errors in $deb"
  say "lintian: no errors"
elif allowed lintian; then
  say "SKIPPED lintian (allowed by OBJSPY_ALLOW_MISSING): not installed"
else
  die "lintian is not installed (tools/setup.sh --chroot installs it; OBJSPY_ALLOW_MISSING=lintian to skip)"
fi

work=$(mktemp -d /var/tmp/objspy-deb.XXXXXX)
root=$work/root
pypid=""
cleanup() {
  [ -n "$pypid" ] && kill "$pypid" 2>/dev/null
  umount "$root/dev/ptmx" "$root/dev/pts" "$root/proc" 2>/dev/null || true
  # --one-file-system: never into a mount that is still there.
  rm -rf --one-file-system "$work"
}
trap cleanup EXIT
mkdir "$root"
tar -C "$root" -xf "$tarball"
mount -t proc proc "$root/proc"
# A terminal of its own for zsh's completion test (zpty).
mount -t devpts -o newinstance,ptmxmode=0666,mode=620 devpts "$root/dev/pts"
mount --bind "$root/dev/pts/ptmx" "$root/dev/ptmx"
# A command in the chroot with a clean environment.
inside() { chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 TERM=dumb "$@"; }

for tool in cc gcc g++ c++ make; do
  ! inside sh -c "command -v $tool" >/dev/null || die "the chroot has $tool: it should have no build tools"
done
inside dpkg-query -W -f='${Status}\n' libdw1 2>/dev/null | grep -q "install ok installed" &&
  die "libdw1 is installed in the chroot before objspy: the install would not prove the package's Depends"

cp "$deb" "$root/tmp/objspy.deb"
chmod 644 "$root/tmp/objspy.deb"
inside apt-get install -y -q --no-install-recommends /tmp/objspy.deb >"$work/apt.log" 2>&1 ||
  { cat "$work/apt.log" >&2; die "apt-get install ./$(basename "$deb") in bookworm"; }
say "installed in a clean bookworm with apt ($(grep -c '^Unpacking' "$work/apt.log") packages unpacked)"

# Every library objspy links (its DT_NEEDED, read on the host: the chroot has no binutils)
# comes from a package its Depends names (dpkg-shlibdeps); ldd in the chroot says which file.
depends=$(dpkg-deb -f "$deb" Depends)
depends_names=$(tr ',|' '\n\n' <<<"$depends" | sed 's/^ *//; s/[ (].*//')
libs=$(inside ldd /usr/bin/objspy) || die "ldd /usr/bin/objspy: $libs"
grep -q "not found" <<<"$libs" && die "objspy's libraries are not all there: $libs"
needed=$(readelf -d "$root/usr/bin/objspy" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')
nlibs=0
for soname in $needed; do
  path=$(awk -v s="$soname" '$1 == s && $2 == "=>" { print $3 }' <<<"$libs")
  [ -n "$path" ] || die "ldd does not resolve $soname: $libs"
  pkg=$(inside dpkg -S "$path" 2>/dev/null || inside dpkg -S "/usr$path" 2>/dev/null || inside dpkg -S "${path#/usr}" 2>/dev/null) ||
    die "no package owns $path"
  pkg=${pkg%%:*}
  grep -qxF "$pkg" <<<"$depends_names" || die "objspy links $path from $pkg, which Depends ($depends) does not name"
  nlibs=$((nlibs + 1))
done
[ "$nlibs" -ge 4 ] || die "objspy needs only $nlibs libraries? $needed"
say "Depends: $depends (covers the $nlibs libraries objspy links)"

version=$(dpkg-deb -f "$deb" Version)
got=$(inside objspy --version)
[ "$got" = "objspy ${version%-*}" ] || die "objspy --version says '$got', the package is $version"
say "$got"

# The commands --help lists, and each one's long options.
commands=$(inside objspy --help | sed -n '/^Subcommands:/,$p' | sed -n 's/^  \([a-z][a-z-]*\) .*/\1/p')
[ "$(wc -w <<<"$commands")" -ge 6 ] || die "objspy --help lists too few commands: $commands"
options_of() { inside objspy "$1" --help | sed -n '/^Options:/,$p' | grep -o -- '--[a-z][a-z-]*' | sort -u; }

# Man pages: rendered by man-db as a user would read them.
for page in objspy $(printf 'objspy-%s ' $commands); do
  text=$(inside env MANWIDTH=100 MANPAGER=cat man "$page" 2>"$work/man.err") || die "man $page: $(cat "$work/man.err")"
  [ ! -s "$work/man.err" ] || die "man $page printed: $(cat "$work/man.err")"
  upper=$(tr '[:lower:]' '[:upper:]' <<<"$page")
  grep -q "^$upper(1)" <<<"$text" || die "man $page: no $upper(1) header"
  grep -q "^NAME" <<<"$text" && grep -q "^SYNOPSIS" <<<"$text" && grep -q "^EXIT STATUS" <<<"$text" ||
    die "man $page lacks NAME, SYNOPSIS or EXIT STATUS"
  file=$(inside man -w "$page")
  warnings=$(inside man --warnings -E UTF-8 -l "$file" 2>&1 >/dev/null)
  [ -z "$warnings" ] || die "groff warns about $page: $warnings"
  if [ "$page" != objspy ]; then
    for opt in $(options_of "${page#objspy-}"); do
      grep -q -- "$opt" <<<"$text" || die "man $page does not document $opt, which objspy ${page#objspy-} --help lists"
    done
  fi
done
say "man pages render: objspy $(printf 'objspy-%s ' $commands)"

# The census of a python3 running in the chroot, against its own (known_heap.py prints its
# gc.get_objects() census as its ready line and idles until its stdin closes).
cp "$here/tests/targets/known_heap.py" "$root/tmp/known_heap.py"
mkfifo "$work/hold" "$work/out"
chroot "$root" /usr/bin/env -i PATH=/usr/bin:/bin LANG=C.UTF-8 python3 /tmp/known_heap.py <"$work/hold" >"$work/out" &
pypid=$!
exec 3>"$work/hold" 4<"$work/out"
IFS= read -r -t 60 truth <&4 || die "the python3 in the chroot did not report its census"
target=$(sed -n 's/^{"pid": \([0-9]*\),.*/\1/p' <<<"$truth")
[ -n "$target" ] || die "the target's census line has no pid: ${truth:0:200}"
inside objspy dump --pid "$target" --format json >"$root/tmp/short.json" 2>"$work/dump.err" || die "objspy dump --pid $target: $(cat "$work/dump.err")"
inside objspy dump --pid "$target" --format json --qualified >"$root/tmp/qual.json" 2>>"$work/dump.err" || die "objspy dump --qualified: $(cat "$work/dump.err")"
exec 3>&-
wait "$pypid" || true
pypid=""
printf '%s\n' "$truth" >"$root/tmp/truth.json"
# Compared by the chroot's python3 (the host may have no python3 command).
inside python3 - /tmp/truth.json /tmp/short.json /tmp/qual.json <<'EOF' >&2 || die "objspy's census differs from the target's own"
import json, sys
truth = json.load(open(sys.argv[1]))
def names(counts):
    return {bytes.fromhex(k).decode("utf-8", "surrogatepass"): v for k, v in counts.items()}
bad = []
for form, path in (("short", sys.argv[2]), ("qualified", sys.argv[3])):
    doc = json.load(open(path))
    got = {t["name"]: t["count"] for t in doc["types"]}
    want = names(truth[form])
    for name in sorted(set(got) | set(want)):
        if got.get(name) != want.get(name):
            bad.append(f"{form} {name!r}: objspy {got.get(name)}, target {want.get(name)}")
    for key, tkey in (("total_objects", "total"), ("frozen", "frozen")):
        if doc[key] != truth[tkey]:
            bad.append(f"{form} {key}: objspy {doc[key]}, target {truth[tkey]}")
    if not doc["walk"]["complete"]:
        bad.append(f"{form}: census not complete")
for line in bad[:20]:
    print("check_deb:   " + line)
print(f"check_deb: census of the chroot's Python {truth['version']} (pid {truth['pid']}): "
      f"{truth['total']} objects, {len(truth['short'])} types: {'exact' if not bad else 'MISMATCH'}")
sys.exit(1 if bad else 0)
EOF

# Bash completion as bash-completion loads it (on demand, from its completions directory).
bash_complete() {
  inside bash -c 'source /usr/share/bash-completion/bash_completion
    _completion_loader objspy
    complete -p objspy >&2
    COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); COMP_LINE="$*"; COMP_POINT=${#COMP_LINE}; COMPREPLY=()
    _objspy objspy "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
    printf "%s\n" "${COMPREPLY[@]}"' bash "$@" 2>"$work/complete.err" | sort -u
}
same() { [ "$(tr ' ' '\n' <<<"$2" | grep . | sort -u)" = "$(grep . <<<"$3" | sort -u)" ] || die "$1: expected $(echo $2), got $(echo $3)"; }
same "bash: objspy <TAB>" "$commands" "$(bash_complete objspy "")"
grep -q "^complete -F _objspy objspy$" "$work/complete.err" || die "complete -p objspy: $(cat "$work/complete.err")"
for c in $commands; do
  got=$(bash_complete objspy "$c" --)
  for opt in $(options_of "$c"); do
    grep -qx -- "$opt" <<<"$got" || die "bash: objspy $c --<TAB> does not offer $opt"
  done
done
same "bash: objspy dump --format <TAB>" "table json ndjson pprof" "$(bash_complete objspy dump --format "")"
same "bash: objspy record --method w<TAB>" "walk" "$(bash_complete objspy record --method w)"
say "bash completion offers the commands, their options and choices"

fish_complete() { inside fish -c "complete -C '$1'" | cut -f1 | sort -u; }
same "fish: objspy <TAB>" "$commands" "$(fish_complete 'objspy ' | grep -v '^-')"
same "fish: objspy dump --format <TAB>" "table json ndjson pprof" "$(fish_complete 'objspy dump --format ')"
fish_complete 'objspy serve --' | grep -qx -- --listen || die "fish: objspy serve --<TAB> does not offer --listen"
# zsh completes in a terminal only: an interactive zsh in a pty (zpty) gets the line and a
# TAB, and a compadd wrapper records what the completion offered.
cat >"$root/tmp/zsh_complete.zsh" <<'EOF'
zmodload zsh/zpty
zpty z zsh -f -i
zpty -w z 'PROMPT="" RPROMPT=""; autoload -Uz compinit; compinit -u -D'
zpty -w z 'compadd() { if [[ ${@[1,(i)(-|--)]} == *-(O|A|D)\ * ]]; then builtin compadd "$@"; return; fi; local -a h; builtin compadd -A h "$@"; print -rl -- "${h[@]}" >>/tmp/zsh_hits; builtin compadd "$@"; }'
zpty -w z 'zstyle ":completion:*" menu no; print -r -- READY-$((1 + 1))'
zpty -r z line '*READY-2*'
: >/tmp/zsh_hits
zpty -w -n z "$1"$'\t'
# Typed after the TAB, run once the completion is done: the echo shows $((..)), the output 3.
zpty -w z $'\C-u''print -r -- DONE-$((1 + 2))'
zpty -r z line '*DONE-3*'
zpty -d z
cat /tmp/zsh_hits
EOF
zsh_complete() { timeout 30 chroot "$root" /usr/bin/env -i PATH=/usr/bin:/bin HOME=/root TERM=dumb zsh -f /tmp/zsh_complete.zsh "$1" | grep -v '^ *$' | sort -u; }
inside zsh -n /usr/share/zsh/vendor-completions/_objspy || die "zsh: _objspy does not parse"
same "zsh: objspy <TAB>" "$commands" "$(zsh_complete 'objspy ')"
same "zsh: objspy dump --format <TAB>" "table json ndjson pprof" "$(zsh_complete 'objspy dump --format ')"
for c in $commands; do
  got=$(zsh_complete "objspy $c -")
  for opt in $(options_of "$c"); do
    grep -qx -- "$opt" <<<"$got" || die "zsh: objspy $c -<TAB> does not offer $opt"
  done
done
say "fish and zsh completion offer the commands and choices (zsh: every option too)"

# The units where Debian keeps them, verified there; their command lines name the installed
# binary and parse.
units=$(inside sh -c 'ls /usr/lib/systemd/system/objspy-*')
[ "$(wc -w <<<"$units")" -ge 4 ] || die "too few units installed: $units"
inside grep -l /usr/local $units /usr/share/doc/objspy/examples/objspy-growth.cron && die "installed units or cron example name /usr/local"
cp "$here/tools/check_packaging.sh" "$root/tmp/check_packaging.sh"
inside env OBJSPY_VERIFY_MAN=yes bash /tmp/check_packaging.sh /usr/bin/objspy $units /usr/share/doc/objspy/examples/objspy-growth.cron ||
  die "the installed units do not pass systemd-analyze verify"

for f in /usr/share/doc/objspy/copyright /usr/share/doc/objspy/changelog.Debian.gz /usr/share/doc/objspy/README.md.gz \
         /usr/share/bash-completion/completions/objspy /usr/share/zsh/vendor-completions/_objspy \
         /usr/share/fish/vendor_completions.d/objspy.fish; do
  inside test -s "$f" || die "$f is missing"
done
inside apt-get purge -y -q objspy >"$work/apt.log" 2>&1 || { cat "$work/apt.log" >&2; die "apt-get purge objspy"; }
inside sh -c 'ls -d /usr/bin/objspy /usr/share/doc/objspy /usr/lib/systemd/system/objspy-* 2>/dev/null' && die "purge left files behind"
say "passed: $(basename "$deb")"
