#!/usr/bin/env bash
# The layers' direction (agent/README.md): every source of agent/<layer>/ and exporters/ includes
# ipctrace's own headers path-qualified ("kernel/tracer.h"), only from its own layer and those below
# it, with no ".."; only app/ includes the command-line, HTTP, terminal, HTTP-client, TLS and crypt
# libraries, only kernel/ libbpf and the BPF skeletons; the layers' CMake libraries link the same
# way. Run by tools/lint.sh. Exits 1 with one line per finding.
# Usage: tools/check-layers.sh [ROOT]     (default: this repository)
#        tools/check-layers.sh --self-test (plants every kind of finding in a scratch tree and
#                                           fails unless each one is reported)
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)

declare -A may_include=(
  [base]="base"
  [kernel]="base kernel bpf"
  [identity]="base identity"
  [model]="base kernel identity model"
  [exporters]="base kernel identity model exporters"
  [app]="base kernel identity model exporters app"
  [main]="base kernel identity model exporters app"
)
# The first path component of an include that names a header of this project ("bpf/ipctrace.h" in
# quotes; <bpf/...> is libbpf).
own=" base kernel identity model exporters app agent bpf tests bench "
# Libraries only app/ may use (main.cpp sits on top of it), and only kernel/.
app_only='^(CLI/|curl/|curses\.h|ncurses|microhttpd\.h|openssl/|crypt\.h)'
kernel_only='^bpf/'

layer_of() {  # agent/kernel/tracer.cpp -> kernel; exporters/metrics.h -> exporters; agent/main.cpp -> main
  case "$1" in
    agent/main.cpp) echo main ;;
    agent/base/* | agent/kernel/* | agent/identity/* | agent/model/* | agent/app/*)
      local rest=${1#agent/}
      echo "${rest%%/*}"
      ;;
    exporters/*) echo exporters ;;
    *) echo none ;;
  esac
}

check() {  # check ROOT: prints findings, returns 1 if any
  local root=$1 findings=() files=() f layer allowed line directive inc top cm lib
  mapfile -t files < <(cd "$root" && find agent exporters -type f \( -name '*.h' -o -name '*.hpp' -o -name '*.c' \
    -o -name '*.cc' -o -name '*.cpp' -o -name '*.inc' -o -name '*.ipp' \) | sort)
  for f in "${files[@]}"; do
    layer=$(layer_of "$f")
    if [ "$layer" = none ]; then
      findings+=("$f: not in a layer folder (agent/base, kernel, identity, model, app; exporters)")
      continue
    fi
    allowed=" ${may_include[$layer]} "
    while IFS=: read -r line directive; do
      if [[ "$directive" =~ include[[:space:]]*([\"\<])([^\"\>]*)[\"\>] ]]; then
        inc=${BASH_REMATCH[2]}
      else
        continue
      fi
      local quoted=0
      [ "${BASH_REMATCH[1]}" = '"' ] && quoted=1
      top=${inc%%/*}
      if [[ "$inc" == *..* ]]; then
        findings+=("$f:$line: $inc goes up a directory (\"..\"); name the header from its layer")
      elif [[ "$inc" == *.skel.h ]]; then
        [ "$layer" = kernel ] || findings+=("$f:$line: includes the BPF skeleton $inc (kernel/ only)")
      elif [ $quoted = 0 ] && [[ "$inc" =~ $kernel_only ]]; then
        [ "$layer" = kernel ] || findings+=("$f:$line: <$inc> (libbpf) belongs in kernel/")
      elif [[ "$inc" == */* && "$own" == *" $top "* ]]; then
        [[ "$allowed" == *" $top "* ]] ||
          findings+=("$f:$line: $layer/ may not include $inc (it may include: ${may_include[$layer]})")
      elif [ $quoted = 1 ]; then
        findings+=("$f:$line: include \"$inc\" is not path-qualified (e.g. \"base/error.h\")")
      elif [[ "$inc" =~ $app_only ]]; then
        [ "$layer" = app ] || [ "$layer" = main ] ||
          findings+=("$f:$line: <$inc> belongs in app/ (command line, HTTP, terminal, HTTP client, TLS live there)")
      fi
    done < <(grep -nE '^[[:space:]]*#[[:space:]]*include' "$root/$f")
  done
  for cm in "$root"/agent/*/CMakeLists.txt "$root"/exporters/CMakeLists.txt; do
    [ -f "$cm" ] || continue
    layer=$(basename "$(dirname "$cm")")
    allowed=" ${may_include[$layer]} "
    for lib in $(grep -oE 'ipctrace_(base|kernel|identity|model|exporters|app)\b' "$cm" | sort -u); do
      [[ "$allowed" == *" ${lib#ipctrace_} "* ]] || findings+=("${cm#"$root"/}: $layer/ links $lib, a layer above it")
    done
    if [ "$layer" != app ]; then
      for lib in $(grep -oE '(CLI11|CURL|MHD|Curses|CURSES|OpenSSL|LIBCRYPT)[A-Za-z_:-]*' "$cm" | sort -u); do
        findings+=("${cm#"$root"/}: $layer/ links $lib, which only app/ may")
      done
    fi
    if [ "$layer" != kernel ]; then
      for lib in $(grep -oE '(PkgConfig::LIBBPF|ipctrace_[a-z_]*skel)\b' "$cm" | sort -u); do
        findings+=("${cm#"$root"/}: $layer/ links $lib, which only kernel/ may")
      done
    fi
  done
  if [ ${#findings[@]} -gt 0 ]; then
    echo "lint: includes or links against the layers:"
    printf '  %s\n' "${findings[@]}"
    return 1
  fi
  echo "lint: layers: ${#files[@]} files include and link only downward"
}

self_test() {
  local t out rc
  t=$(mktemp -d)
  trap 'rm -rf "$t"' RETURN
  mkdir -p "$t/agent/model" "$t/agent/kernel" "$t/agent/app" "$t/exporters"
  cat >"$t/agent/model/planted.cpp" <<'SRC'
#include "model/flows.h"
#include "app/cli.h"
#include <app/session.h>
#  include "base/../app/top/sources.h"
#include "filter.h"
#include <curl/curl.h>
#include <openssl/ssl.h>
#include <bpf/libbpf.h>
#include "ipctrace_bpf.skel.h"
#include <vector>
SRC
  printf '#include "kernel/tracer.h"\n#include <bpf/libbpf.h>\n#include "ipctrace_bpf.skel.h"\n' >"$t/agent/kernel/fine.cpp"
  printf '#include "exporters/metrics.h"\n#include <CLI/CLI.hpp>\n#include "app/version.h"\n' >"$t/agent/app/fine.cpp"
  printf ' #include "app/commands.h"\n' >"$t/exporters/planted.hpp"
  printf 'int stray;\n' >"$t/agent/stray.cpp"
  printf 'target_link_libraries(ipctrace_model PUBLIC ipctrace_kernel ipctrace_app CURL::libcurl ipctrace_skel)\n' \
    >"$t/agent/model/CMakeLists.txt"
  out=$(check "$t")
  rc=$?
  local expected=(
    "agent/model/planted.cpp:2: model/ may not include app/cli.h"
    "agent/model/planted.cpp:3: model/ may not include app/session.h"
    "agent/model/planted.cpp:4: base/../app/top/sources.h goes up a directory"
    "agent/model/planted.cpp:5: include \"filter.h\" is not path-qualified"
    "agent/model/planted.cpp:6: <curl/curl.h> belongs in app/"
    "agent/model/planted.cpp:7: <openssl/ssl.h> belongs in app/"
    "agent/model/planted.cpp:8: <bpf/libbpf.h> (libbpf) belongs in kernel/"
    "agent/model/planted.cpp:9: includes the BPF skeleton ipctrace_bpf.skel.h (kernel/ only)"
    "exporters/planted.hpp:1: exporters/ may not include app/commands.h"
    "agent/stray.cpp: not in a layer folder"
    "agent/model/CMakeLists.txt: model/ links ipctrace_app, a layer above it"
    "agent/model/CMakeLists.txt: model/ links CURL::libcurl, which only app/ may"
    "agent/model/CMakeLists.txt: model/ links ipctrace_skel, which only kernel/ may"
  )
  local missing=0 e
  for e in "${expected[@]}"; do
    if ! grep -qF "  $e" <<<"$out"; then
      echo "check-layers self-test: not reported: $e"
      missing=1
    fi
  done
  local reported
  reported=$(grep -c '^  ' <<<"$out")
  if [ "$rc" -ne 1 ] || [ "$missing" -ne 0 ] || [ "$reported" -ne ${#expected[@]} ]; then
    echo "check-layers self-test: failed (exit $rc, $reported findings, ${#expected[@]} planted):"
    echo "$out"
    return 1
  fi
  echo "check-layers self-test: all ${#expected[@]} planted findings reported, the fine files pass"
}

case "${1:-}" in
  --self-test) self_test ;;
  *) check "${1:-$here/..}" ;;
esac
