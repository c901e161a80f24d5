#!/usr/bin/env bash
# Lint: clang-format (every tracked C/C++ file but the generated vmlinux.h) and clang-tidy
# (the C++ sources, against BUILD_DIR's compile_commands.json). Exits non-zero on any finding.
# Also the layers' include and link direction (check_layers below).
# Usage: tools/lint.sh [BUILD_DIR]   (default: build/release)
#        tools/lint.sh --layers      (the layer check alone: no build needed)
set -uo pipefail
cd "$(dirname "$0")/.."
build_dir=${1:-build/release}
status=0

# Layers (agent/README.md): each folder includes only from itself and the layers below it, every
# include of ipctrace's own headers is path-qualified ("kernel/tracer.h"), and only app/ knows the
# command line, HTTP, terminal and HTTP-client libraries. The CMake libraries link the same way.
check_layers() {
  declare -A may_include=(
    [base]="base"
    [kernel]="base kernel bpf"
    [identity]="base identity"
    [model]="base kernel identity model"
    [exporters]="base kernel identity model exporters"
    [app]="base kernel identity model exporters app"
    [main]="base kernel identity model exporters app"
  )
  layer_of() {  # agent/kernel/tracer.cpp -> kernel; exporters/metrics.h -> exporters; agent/main.cpp -> main
    case "$1" in
      agent/main.cpp) echo main ;;
      agent/*/*) local rest=${1#agent/}; echo "${rest%%/*}" ;;
      exporters/*) echo exporters ;;
    esac
  }
  layer_findings=()
  mapfile -t layered < <(git ls-files -co --exclude-standard 'agent/*.h' 'agent/*.c' 'agent/*.cpp' 'exporters/*.h' 'exporters/*.cpp' | grep -v '^build')
  for f in "${layered[@]}"; do
    [ -f "$f" ] || continue
    layer=$(layer_of "$f")
    [ -n "$layer" ] || continue
    allowed=" ${may_include[$layer]} "
    while IFS=: read -r line inc; do
      inc=${inc#*\"}; inc=${inc%%\"*}
      case "$inc" in
        *.skel.h)
          [ "$layer" = kernel ] || layer_findings+=("$f:$line: includes the BPF skeleton $inc (kernel/ only)") ;;
        */*)
          top=${inc%%/*}
          case "$allowed" in
            *" $top "*) ;;
            *) layer_findings+=("$f:$line: $layer/ may not include $inc (it may include: ${may_include[$layer]})") ;;
          esac ;;
        *) layer_findings+=("$f:$line: include \"$inc\" is not path-qualified (e.g. \"base/error.h\")") ;;
      esac
    done < <(grep -n '^#include "' "$f")
    if [ "$layer" != app ] && [ "$layer" != main ]; then
      while IFS=: read -r line inc; do
        layer_findings+=("$f:$line: $inc belongs in app/ (command line, HTTP, terminal and HTTP client live there)")
      done < <(grep -nE '^#include <(CLI/|curl/|curses\.h|ncurses|CivetServer\.h|civetweb\.h)' "$f")
    fi
  done
  # The CMake libraries: agent/<layer>/CMakeLists.txt and exporters/CMakeLists.txt link no layer above.
  for cm in agent/*/CMakeLists.txt exporters/CMakeLists.txt; do
    layer=$(basename "$(dirname "$cm")")
    allowed=" ${may_include[$layer]} "
    for lib in $(grep -o 'ipctrace_\(base\|kernel\|identity\|model\|exporters\|app\)\b' "$cm" | sort -u); do
      case "$allowed" in
        *" ${lib#ipctrace_} "*) ;;
        *) layer_findings+=("$cm: $layer/ links $lib, a layer above it") ;;
      esac
    done
  done
  if [ ${#layer_findings[@]} -gt 0 ]; then
    echo "lint: includes or links against the layers:"
    printf '  %s\n' "${layer_findings[@]}"
    return 1
  fi
  echo "lint: layers: ${#layered[@]} files include and link only downward"
}

if [ "${1:-}" = --layers ]; then
  check_layers
  exit $?
fi
check_layers || status=1

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
mapfile -t cxx_files < <(git ls-files -co --exclude-standard 'agent/*.cpp' 'exporters/*.cpp' 'tests/*.cpp' 'bench/*.cpp' | grep -v '^build')
out=$(mktemp)
trap 'rm -f "$out"' EXIT
printf '%s\n' "${cxx_files[@]}" |
  xargs -P "$(nproc)" -n 2 clang-tidy -p "$build_dir" --quiet >"$out" 2>/dev/null
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
