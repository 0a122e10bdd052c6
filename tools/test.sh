#!/usr/bin/env bash
# Set up everything (apt packages, the sid chroot), build, and run every test: unit tests
# over synthetic memory, and integration tests against every interpreter on the machine.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
"$here/tools/setup.sh" --chroot
cd "${OBJSPY_BUILD_DIR:-$here/build}"
ctest --output-on-failure --timeout 1800
