#!/usr/bin/env bash
# The whole benchmark in one command, as root: installs what is missing, builds the release
# configuration, and runs bench/run.py (about 13 minutes; --quick about a minute).
# Usage: bench/run.sh [--quick] [--out DIR] [run.py options...]   (see bench/README.md)
set -euo pipefail
cd "$(dirname "$0")/.."
dir=$(./tools/build.sh release test)
exec python3 bench/run.py --build-dir "$dir" "$@"
