#!/usr/bin/env bash
# Builds ipctrace (installing what is missing) and runs it on this node, as root.
# Usage: tools/run.sh [ipctrace arguments]   (default: top, the live view)
set -euo pipefail
cd "$(dirname "$0")/.."
dir=$(./tools/build.sh release)
if [ $# -eq 0 ]; then set -- top; fi
exec "$dir/ipctrace" "$@"
