#!/usr/bin/env bash
# Installs what is missing and builds one configuration. Prints the build directory.
# Usage: tools/build.sh [release|sanitize] [run|test]
#   test (default)  installs the test set too (tools/install-deps.sh) and builds the tests:
#                   a missing GoogleTest is an error, never a skip
#   run             installs the run set only (tools/run.sh); the tests are built only where
#                   GoogleTest is installed already
# Warnings are errors here (IPCTRACE_WERROR), unlike in a plain `cmake` build of the sources.
set -euo pipefail
cd "$(dirname "$0")/.."
config=${1:-release}
deps=${2:-test}
case "$config" in
  release) type=RelWithDebInfo; extra=() ;;
  sanitize) type=Sanitize; extra=(-DIPCTRACE_LINT=OFF -DIPCTRACE_DEPLOY_TESTS=OFF -DIPCTRACE_KERNEL_MATRIX=OFF) ;;
  *) echo "build: unknown configuration '$config' (release or sanitize)" >&2; exit 2 ;;
esac
case "$deps" in
  test) extra+=(-DBUILD_TESTING=ON) ;;
  run) ;;
  *) echo "build: unknown package set '$deps' (run or test)" >&2; exit 2 ;;
esac
./tools/install-deps.sh "$deps"
dir=build/$config
cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE="$type" -DIPCTRACE_WERROR=ON "${extra[@]}" >/dev/null
cmake --build "$dir" -j "$(nproc)" >&2
echo "$dir"
