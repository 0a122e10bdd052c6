#!/usr/bin/env bash
# Set up, build, and run objspy's main job on the bundled leaking demo service: start it,
# let it run a few seconds, print its census from outside, end it.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
"$here/tools/setup.sh"
py=$(command -v python3.11 || command -v python3)
exec "${OBJSPY_BUILD_DIR:-$here/build}/objspy" dump --delay "${DEMO_SECONDS:-3}" -- "$py" "$here/examples/leaky_service.py"
