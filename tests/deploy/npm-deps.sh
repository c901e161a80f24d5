#!/usr/bin/env bash
# Installs tests/deploy/package.json's exact versions into DIR/node_modules, once: a stamp
# (the package.json's checksum) skips the install when nothing changed. Prints nothing on success.
# Usage: tests/deploy/npm-deps.sh DIR
set -euo pipefail
dir=${1:?usage: npm-deps.sh DIR}
src=$(cd "$(dirname "$0")" && pwd)/package.json
command -v npm >/dev/null || { echo "npm-deps: npm is not installed (tools/install-deps.sh)" >&2; exit 1; }
mkdir -p "$dir"
sum=$(sha256sum "$src" | cut -d' ' -f1)
if [ -f "$dir/.stamp" ] && [ "$(cat "$dir/.stamp")" = "$sum" ] && [ -d "$dir/node_modules" ]; then
  exit 0
fi
exec 9>"$dir/.lock"
flock 9
cp "$src" "$dir/package.json"
if ! (cd "$dir" && npm install --no-audit --no-fund --loglevel=error --no-package-lock >"$dir/npm.log" 2>&1); then
  cat "$dir/npm.log" >&2
  echo "npm-deps: npm install failed in $dir" >&2
  exit 1
fi
echo "$sum" >"$dir/.stamp"
