#!/usr/bin/env bash
# Set up a fresh Debian bookworm machine for objspy and build it.
#   tools/setup.sh            apt packages + build
#   tools/setup.sh --chroot   also what the tests run against: the Debian sid chroot with
#                             python3.13-3.15 (+ debug builds), the pyenv CPythons
#                             (3.8-3.13 with a shared libpython, and 2.7, 3.6, 3.7 that objspy
#                             must refuse), and a clean Debian bookworm to install the .deb in
#                             (tools/check_deb.sh). The test suite fails when one of them is
#                             missing, unless OBJSPY_ALLOW_MISSING names it.
# Idempotent: installs only what is missing; the chroots are cached outside the repository
# (OBJSPY_SID_CHROOT, default /var/cache/objspy/sid-chroot; OBJSPY_BOOKWORM_TAR, default
# /var/cache/objspy/bookworm.tar).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
want_chroot=0
[ "${1:-}" = "--chroot" ] && want_chroot=1

sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"

packages=(build-essential cmake ninja-build pkg-config libelf-dev libdw-dev libfmt-dev libboost-dev
          doctest-dev libcli11-dev nlohmann-json3-dev python3.11 python3.11-dev python3.11-dbg
          libprotobuf-dev protobuf-compiler zlib1g-dev)
# What the tests drive objspy with: a terminal for top (tmux), a Prometheus server and
# promtool for serve, curl to scrape. Without recommends: no node exporter comes along.
test_packages=()
# npm installs the report's charting library (src/output/report/package.json); Debian's
# nodejs and npm when the machine has no npm of its own.
command -v npm >/dev/null || packages+=(nodejs npm)
# The pyenv versions the README's table was measured on.
pyenv_versions=(3.8.18 3.9.18 3.10.13 3.11.7 3.12.1 3.13.0 2.7.18 3.6.15 3.7.16)
pyenv_root=${PYENV_ROOT:-$HOME/.pyenv}
pyenv_missing=()
if [ "$want_chroot" = 1 ]; then
  packages+=(mmdebstrap)
  # setpriv (util-linux) drops privileges in the permission tests; systemd-analyze (systemd)
  # verifies the units in packaging/; the deb test builds the package (dpkg-shlibdeps is in
  # dpkg-dev) and checks it with lintian.
  # chromium renders the HTML report in the report tests; golang-go's `go tool pprof` reads
  # dump --format pprof; uwsgi with its python3 plugin is the worker pool of dump --subprocesses;
  # python3-yaml reads the agent's DaemonSet manifest in its test.
  test_packages+=(tmux prometheus curl util-linux systemd dpkg-dev lintian chromium golang-go uwsgi-core uwsgi-plugin-python3 python3-yaml gdb python3-objgraph)
  for v in "${pyenv_versions[@]}"; do
    [ -x "$pyenv_root/versions/$v/bin/python${v%.*}" ] || pyenv_missing+=("$v")
  done
  if [ ${#pyenv_missing[@]} -gt 0 ]; then
    # What python-build needs to compile CPython from source.
    packages+=(git curl libssl-dev zlib1g-dev libbz2-dev libreadline-dev libsqlite3-dev libncurses-dev
               libffi-dev liblzma-dev xz-utils)
  fi
fi
not_installed() {
  local p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || echo "$p"
  done
}
mapfile -t missing < <(not_installed "${packages[@]}")
mapfile -t missing_test < <(not_installed "${test_packages[@]}")
if [ ${#missing[@]} -gt 0 ] || [ ${#missing_test[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]} ${missing_test[*]}" >&2
  $sudo apt-get update -qq
  if [ ${#missing[@]} -gt 0 ]; then
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
  if [ ${#missing_test[@]} -gt 0 ]; then
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing_test[@]}" >/dev/null
  fi
fi

if [ "$want_chroot" = 1 ]; then
  root=${OBJSPY_SID_CHROOT:-/var/cache/objspy/sid-chroot}
  pys=(python3.13 python3.13-dbg python3.14 python3.14-dbg python3.15 python3.15-dbg)
  ok=1
  for b in python3.13 python3.13d python3.14 python3.14d python3.15 python3.15d; do
    [ -x "$root/usr/bin/$b" ] || ok=0
  done
  if [ "$ok" = 0 ]; then
    echo "setup: building the Debian sid chroot in $root (about a minute)" >&2
    $sudo rm -rf "$root.tmp"
    $sudo mkdir -p "$(dirname "$root")"
    # sid's Release file can be past its Valid-Until date.
    $sudo mmdebstrap --quiet --variant=apt --aptopt='Acquire::Check-Valid-Until "false"' \
      --include="$(IFS=,; echo "${pys[*]}")" sid "$root.tmp"
    $sudo rm -rf "$root"
    $sudo mv "$root.tmp" "$root"
  fi

  # A clean bookworm for the deb test, as a tarball it unpacks afresh for every run: no build
  # tools, but what the test uses there (man, python3, the three shells, systemd-analyze).
  # The package's runtime libraries are downloaded into apt's cache, not installed, so that
  # `apt install ./objspy.deb` works offline and proves the package's Depends bring them.
  bookworm=${OBJSPY_BOOKWORM_TAR:-/var/cache/objspy/bookworm.tar}
  bookworm_include=python3,man-db,bash-completion,zsh,fish,systemd
  bookworm_cache="libdw1 libelf1 libfmt9 libprotobuf-lite32"
  bookworm_id="$bookworm_include;$bookworm_cache;no-pkgcache"
  if [ ! -s "$bookworm" ] || [ "$(cat "$bookworm.id" 2>/dev/null)" != "$bookworm_id" ]; then
    echo "setup: building the Debian bookworm chroot $bookworm (about two minutes)" >&2
    $sudo mkdir -p "$(dirname "$bookworm")"
    $sudo rm -f "$bookworm.tmp"
    $sudo mmdebstrap --quiet --variant=apt --format=tar --include="$bookworm_include" --skip=cleanup/apt \
      --customize-hook='chroot "$1" apt-get clean' \
      --customize-hook="chroot \"\$1\" apt-get install --download-only -y -qq $bookworm_cache" \
      --customize-hook='rm -f "$1"/var/cache/apt/*.bin' \
      bookworm "$bookworm.tmp"
    $sudo mv "$bookworm.tmp" "$bookworm"
    echo "$bookworm_id" | $sudo tee "$bookworm.id" >/dev/null
  fi
fi

if [ ${#pyenv_missing[@]} -gt 0 ]; then
  if [ ! -x "$pyenv_root/bin/pyenv" ]; then
    echo "setup: installing pyenv in $pyenv_root" >&2
    git clone --quiet --depth 1 https://github.com/pyenv/pyenv.git "$pyenv_root" ||
      echo "setup: WARNING: cannot fetch pyenv; the tests will name the missing interpreters" >&2
  fi
  # A shared libpython (--enable-shared) with DWARF (python-build's default -g), as the
  # integration tests expect; several minutes per version on 2 cores, once.
  for v in "${pyenv_missing[@]}"; do
    echo "setup: building CPython $v with pyenv" >&2
    PYENV_ROOT="$pyenv_root" PYTHON_CONFIGURE_OPTS="--enable-shared" MAKE_OPTS="-j$(nproc)" \
      "$pyenv_root/bin/pyenv" install --skip-existing "$v" >&2 ||
      echo "setup: WARNING: CPython $v could not be built; the tests will fail naming it (OBJSPY_ALLOW_MISSING)" >&2
  done
fi

# The report's front-end packages, exactly as package-lock.json pins them; embedded at build time.
report_dir=$here/src/output/report
if [ ! -f "$report_dir/node_modules/.package-lock.json" ] || [ "$report_dir/package-lock.json" -nt "$report_dir/node_modules/.package-lock.json" ]; then
  echo "setup: installing the report's front-end packages (npm ci)" >&2
  (cd "$report_dir" && npm ci --no-audit --no-fund --loglevel=error >&2)
fi

# The report tests drive Debian's Chromium with playwright-core (no browser download).
if [ "$want_chroot" = 1 ]; then
  check_dir=$here/tests/report
  if [ ! -f "$check_dir/node_modules/.package-lock.json" ] || [ "$check_dir/package-lock.json" -nt "$check_dir/node_modules/.package-lock.json" ]; then
    echo "setup: installing the report tests' browser driver (npm ci)" >&2
    (cd "$check_dir" && npm ci --no-audit --no-fund --loglevel=error >&2)
  fi
fi

build=${OBJSPY_BUILD_DIR:-$here/build}
cmake -S "$here" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
ninja -C "$build" >&2
