#!/usr/bin/env bash
# One fuzz target's short run, as the suite runs it: the seed corpus kept in the repository
# (read only), new inputs in a scratch directory removed afterwards, for IPCTRACE_FUZZ_SECONDS
# (default 5). A crash, leak, timeout (5 s for one input) or broken property fails the test and
# leaves the input in tests/fuzz/crashes/ of the build directory to reproduce with:
#   <build>/tests/fuzz/fuzz_NAME <that file>
# Usage: run.sh BINARY SEED_DIR
set -euo pipefail
binary=$1
seeds=$2
seconds=${IPCTRACE_FUZZ_SECONDS:-5}
scratch=$(mktemp -d /tmp/ipctrace-fuzz.XXXXXX)
trap 'rm -rf "$scratch"' EXIT
crashes="$(dirname "$binary")/crashes"
mkdir -p "$crashes"
"$binary" -max_total_time="$seconds" -timeout=5 -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1 \
  -artifact_prefix="$crashes/" "$scratch" "$seeds" 2>&1 | tail -n 40
