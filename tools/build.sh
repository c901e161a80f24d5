#!/usr/bin/env bash
# Installs what is missing and builds one configuration. Prints the build directory.
# Usage: tools/build.sh [release|sanitize]
# Warnings are errors here (IPCTRACE_WERROR), unlike in a plain `cmake` build of the sources.
set -euo pipefail
cd "$(dirname "$0")/.."
config=${1:-release}
case "$config" in
  release) type=RelWithDebInfo; extra=() ;;
  sanitize) type=Sanitize; extra=(-DIPCTRACE_LINT=OFF -DIPCTRACE_DEPLOY_TESTS=OFF -DIPCTRACE_KERNEL_MATRIX=OFF) ;;
  *) echo "build: unknown configuration '$config' (release or sanitize)" >&2; exit 2 ;;
esac
./tools/install-deps.sh
dir=build/$config
cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE="$type" -DIPCTRACE_WERROR=ON "${extra[@]}" >/dev/null
cmake --build "$dir" -j "$(nproc)" >&2
echo "$dir"
