#!/usr/bin/env bash
# Lint: clang-format (every tracked C/C++ file but the generated vmlinux.h) and clang-tidy
# (the C++ sources, against BUILD_DIR's compile_commands.json; the static analyzer on the product's
# sources and the benchmark's: tests/.clang-tidy leaves it out). Exits non-zero on any finding.
# Also the layers' include and link direction (tools/check-layers.sh).
# Usage: tools/lint.sh [BUILD_DIR]   (default: build/release)
#        tools/lint.sh --layers      (the layer check alone: no build needed)
set -uo pipefail
cd "$(dirname "$0")/.."
build_dir=${1:-build/release}
status=0

# Layers (agent/README.md): the include and link direction (tools/check-layers.sh).
if [ "${1:-}" = --layers ]; then
  exec ./tools/check-layers.sh
fi
./tools/check-layers.sh || status=1

mapfile -t c_files < <(git ls-files -co --exclude-standard '*.c' '*.h' '*.cpp' | grep -v '^vmlinux/' | grep -v '^build')
unformatted=()
for f in "${c_files[@]}"; do
  [ -f "$f" ] || continue
  clang-format --dry-run -Werror "$f" >/dev/null 2>&1 || unformatted+=("$f")
done
if [ ${#unformatted[@]} -gt 0 ]; then
  echo "lint: not clang-formatted (run clang-format -i): ${unformatted[*]}"
  status=1
else
  echo "lint: clang-format: ${#c_files[@]} files clean"
fi


if [ ! -f "$build_dir/compile_commands.json" ]; then
  echo "lint: $build_dir/compile_commands.json missing; configure the build first" >&2
  exit 1
fi
# The product's sources (agent/, exporters/) and the benchmark (bench/) get every check of
# .clang-tidy; tests/ has a .clang-tidy of its own that leaves out the static analyzer (four
# fifths of tidy's time on a file; the tests run under ASan and UBSan instead).
mapfile -t cxx_files < <(git ls-files -co --exclude-standard 'agent/*.cpp' 'exporters/*.cpp' 'tests/*.cpp' 'bench/*.cpp' | grep -v '^build' | grep -v '^tests/fuzz/')
out=$(mktemp)
trap 'rm -f "$out"' EXIT
printf '%s\n' "${cxx_files[@]}" |
  xargs -P "$(nproc)" -n 2 clang-tidy -p "$build_dir" --quiet >"$out" 2>/dev/null
# The fuzz targets build in a project of their own (tests/fuzz), with its own compile commands.
if [ -f "$build_dir/tests/fuzz/compile_commands.json" ]; then
  git ls-files -co --exclude-standard 'tests/fuzz/*.cpp' |
    xargs -r -P "$(nproc)" -n 2 clang-tidy -p "$build_dir/tests/fuzz" --quiet >>"$out" 2>/dev/null
fi
# Findings located in generated files (bpftool's skeletons under the build tree) are not ours:
# the analyzer follows inlined skeleton code from our sources into them.
findings=$(grep -E '^/[^:]+:[0-9]+:[0-9]+: (warning|error):' "$out" | grep -v "^$(pwd)/build" | sort -u)
if [ -n "$findings" ]; then
  echo "lint: clang-tidy findings:"
  echo "$findings"
  status=1
else
  echo "lint: clang-tidy: ${#cxx_files[@]} files clean"
fi
exit $status
