#!/usr/bin/env bash
# Build the Debian package with CPack; prints its path on stdout.
#   tools/package.sh              a Release build in build-deb (OBJSPY_DEB_BUILD_DIR) with
#                                 Debian's hardening flags (dpkg-buildflags), tests off:
#                                 build-deb/objspy_<version>_<arch>.deb
#   tools/package.sh BUILD_DIR    the package of an already configured build directory
#                                 (what the deb test does with the build it tests)
# Runtime dependencies come from dpkg-shlibdeps (dpkg-dev); check the result with
# `lintian build-deb/objspy_*.deb` and install it with `apt install ./build-deb/objspy_*.deb`.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
die() { echo "package: $*" >&2; exit 1; }
command -v dpkg-shlibdeps >/dev/null || die "dpkg-shlibdeps is missing: apt-get install dpkg-dev (tools/setup.sh installs it)"
command -v cpack >/dev/null || die "cpack is missing: apt-get install cmake"

if [ $# -gt 0 ]; then
  build=$(cd "$1" && pwd)
  [ -f "$build/CMakeCache.txt" ] || die "$build is not a configured build directory"
else
  build=${OBJSPY_DEB_BUILD_DIR:-$here/build-deb}
  if [ ! -f "$build/CMakeCache.txt" ]; then
    launcher=()
    command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)
    # Debian's flags for packages (fortify, stack protector, relro, bind now), as dh would set
    # them; -ffile-prefix-map is relative to the working directory, the source tree.
    flags=$(cd "$here" && DEB_BUILD_MAINT_OPTIONS=hardening=+all dpkg-buildflags --export=sh)
    (eval "$flags"
     CXXFLAGS="$CPPFLAGS $CXXFLAGS" CFLAGS="$CPPFLAGS $CFLAGS" \
       cmake -S "$here" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DOBJSPY_TESTS=OFF "${launcher[@]}" >&2)
  fi
fi

# CPack builds what is missing (the preinstall target) before it installs into its staging tree.
cmake --build "$build" >&2
# The package's version is the top entry of packaging/debian/changelog: it must be objspy's.
top=$(head -n 1 "$here/packaging/debian/changelog")
deb_version=$(sed -n 's/^objspy (\([^)]*\)).*/\1/p' <<<"$top")
objspy_version=$("$build/objspy" --version | sed -n 's/^objspy //p')
[ "${deb_version%-*}" = "$objspy_version" ] ||
  die "packaging/debian/changelog's top entry is $deb_version, objspy is $objspy_version: add an entry for $objspy_version-1"
rm -f "$build"/objspy_*.deb
(cd "$build" && cpack -G DEB >&2)
deb="$build/objspy_${deb_version}_$(dpkg --print-architecture).deb"
[ -f "$deb" ] || die "cpack did not make $deb"
echo "$deb"
