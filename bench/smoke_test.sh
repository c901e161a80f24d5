#!/usr/bin/env bash
# CTest smoke test (label bench, release configuration only): `bench/run.py --quick` runs end to
# end and writes well-formed results with every section present and every verification passed.
# Timings are not checked: they are noise at this size. Needs root; under CI=true a missing
# privilege fails the test instead of skipping it.
# Usage: bench/smoke_test.sh BUILD_DIR
set -uo pipefail
build=${1:?usage: smoke_test.sh BUILD_DIR}
here=$(cd "$(dirname "$0")" && pwd)
if [ "$(id -u)" -ne 0 ]; then
  if [ "${CI:-}" = true ]; then
    echo "bench smoke: needs root, and CI=true: failing rather than skipping"
    exit 1
  fi
  echo "bench smoke: skipped: needs root"
  exit 77
fi
out=$(mktemp -d /tmp/ipctrace-bench-smoke-XXXXXX)
trap 'rm -rf "$out"' EXIT
if ! python3 "$here/run.py" --quick --build-dir "$build" --out "$out" >"$out/stdout.md"; then
  echo "bench smoke: run.py --quick failed"
  exit 1
fi
python3 "$here/check_results.py" "$out/results.json" || exit 1
for f in results.md scale.svg; do
  [ -s "$out/$f" ] || { echo "bench smoke: $f missing or empty"; exit 1; }
done
cmp -s "$out/results.md" "$out/stdout.md" || { echo "bench smoke: stdout differs from results.md"; exit 1; }
python3 -c 'import sys, xml.dom.minidom; xml.dom.minidom.parse(sys.argv[1])' "$out/scale.svg" ||
  { echo "bench smoke: scale.svg is not well-formed XML"; exit 1; }
echo "bench smoke: passed"
