#!/usr/bin/env bash
# The whole test suite, from a fresh clone, as root: installs what is missing (tools/install-deps.sh's
# test set: the run set and every tool a test runs), builds the release and the sanitizer
# (ASan + UBSan) configurations, and runs every test in both: unit tests, kernel tests (real
# BPF on this kernel) and lint (release only).
set -euo pipefail
cd "$(dirname "$0")/.."
./tools/install-deps.sh test
# What only the network and the disk hold up, made while the builds use the CPUs: the Debian base
# images of the deploy image test (a debootstrap, minutes on a fresh machine; the 6.1 guest's
# kernel package came with install-deps.sh). The script is idempotent and caches what it makes;
# the image test runs it again, a no-op when this finished, its own error when this failed. It
# runs in a process group of its own, stopped with everything in it if this script ends first.
prefetch_log=$(mktemp)
setsid timeout 1200 tests/deploy/base-image.sh >"$prefetch_log" 2>&1 &
prefetch=$!
trap 'kill -- -"$prefetch" 2>/dev/null || true; rm -f "$prefetch_log"' EXIT
sanitize=$(./tools/build.sh sanitize test)
release=$(./tools/build.sh release test)
if ! wait "$prefetch"; then
  echo "== making the deploy test's base images failed (its test will say why):"
  tail -5 "$prefetch_log"
fi
# Lint (tools/lint.sh: clang-format, the layers, clang-tidy over every source: 13 minutes of both
# cores on the 2-core CI machine, the longest test) runs beside the tests instead of after them,
# at idle priority (SCHED_IDLE, nice 19): the kernel tests mostly wait on the agent's collections,
# and what they run keeps the CPU whenever it wants it. clang-tidy makes no IPC a test could count.
# It is waited for before the benchmark's smoke test, whose timings it would disturb; its ctest
# test (lint.format_and_tidy) is the same command, left out of the release run below.
lint_log=$(mktemp)
setsid chrt --idle 0 nice -n 19 ./tools/lint.sh "$release" >"$lint_log" 2>&1 &
lint=$!
trap 'kill -- -"$prefetch" 2>/dev/null || true; kill -- -"$lint" 2>/dev/null || true; rm -f "$prefetch_log" "$lint_log"' EXIT
echo "== lint (tools/lint.sh $release), beside the tests at idle priority: started $(date -u +%T)"
echo "== tests, sanitizer build (ASan + UBSan)"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir "$sanitize" --output-on-failure
echo "== hooks on this kernel ($(uname -r))"
"$release/ipctrace" probe | sed -n '/^Hooks per mechanism/,/^$/p' || true
echo "== tests, release build"
ctest --test-dir "$release" --output-on-failure -LE 'matrix|bench' -E '^lint\.format_and_tidy$'
lint_status=0
wait "$lint" || lint_status=$?
echo "== lint (tools/lint.sh): exit status $lint_status (its result taken at $(date -u +%T))"
cat "$lint_log"
if [ "$lint_status" -ne 0 ]; then
  echo "== lint failed (above)"
  exit 1
fi
echo "== benchmark smoke test, release build (alone: it measures)"
ctest --test-dir "$release" --output-on-failure -L bench
echo "== kernel matrix: the kernel tests on Debian's 6.1 kernel under qemu, its guests side by side"
ctest --test-dir "$release" --output-on-failure -L matrix --verbose -j "$(nproc)"
