#!/usr/bin/env bash
# Builds ipctrace (installing what building and running need, not the test tools) and runs it on
# this node, as root.
# Usage: tools/run.sh [ipctrace arguments]   (default: top, the live view)
set -euo pipefail
cd "$(dirname "$0")/.."
dir=$(./tools/build.sh release run)
if [ $# -eq 0 ]; then set -- top; fi
exec "$dir/ipctrace" "$@"
