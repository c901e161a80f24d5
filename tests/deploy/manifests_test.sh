#!/usr/bin/env bash
# deploy/kubernetes renders with `kubectl kustomize` (the default install, the base without the
# ServiceMonitor, the least-privilege overlay) and every object validates against the Kubernetes
# and Prometheus Operator OpenAPI schemas, with the deployment's promises checked on top
# (validate-manifests.mjs). npm packages go to NPM_DIR (in the build directory), once.
# Usage: tests/deploy/manifests_test.sh NPM_DIR
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
npm_dir=${1:?usage: manifests_test.sh NPM_DIR}

for tool in kubectl node npm; do
  command -v "$tool" >/dev/null || { echo "manifests test: $tool is not installed (tools/install-deps.sh)" >&2; exit 1; }
done
# Directories in `resources` need kustomize v4+ (kubectl 1.21+); Debian's kubernetes-client
# (kubectl 1.20, kustomize v2.0.3) cannot render these manifests, and neither can it apply them.
kver=$(kubectl version --client 2>/dev/null | sed -n 's/^Kustomize Version: v\([0-9]*\).*/\1/p')
if [ -z "$kver" ] || [ "$kver" -lt 4 ]; then
  echo "manifests test: kubectl $(kubectl version --client 2>&1 | head -1) has no kustomize v4+; need kubectl 1.21 or later" >&2
  exit 1
fi

"$here/npm-deps.sh" "$npm_dir"
cp "$here/validate-manifests.mjs" "$npm_dir/"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

render() {  # render DIR FILE
  if ! kubectl kustomize "$repo/$1" >"$2" 2>"$out/err"; then
    cat "$out/err" >&2
    echo "manifests test: kubectl kustomize $1 failed" >&2
    exit 1
  fi
  if [ -s "$out/err" ]; then  # deprecation warnings and the like are failures too
    cat "$out/err" >&2
    echo "manifests test: kubectl kustomize $1 warned" >&2
    exit 1
  fi
}

render deploy/kubernetes "$out/default.yaml"
render deploy/kubernetes/least-privilege "$out/least-privilege.yaml"
render deploy/kubernetes/base "$out/base.yaml"

node "$npm_dir/validate-manifests.mjs" default "$out/default.yaml"
node "$npm_dir/validate-manifests.mjs" least-privilege "$out/least-privilege.yaml"

# The base is the default without the ServiceMonitor, object for object.
kinds=$(grep '^kind:' "$out/base.yaml" | sort | tr '\n' ' ')
if [ "$kinds" != "kind: DaemonSet kind: Namespace kind: Service kind: ServiceAccount " ]; then
  echo "manifests test: base renders $kinds" >&2
  exit 1
fi
if ! diff <(grep -v '^---$' "$out/base.yaml") <(awk 'BEGIN{RS="---\n"} !/kind: ServiceMonitor/ {printf "%s", $0}' "$out/default.yaml") >"$out/diff"; then
  cat "$out/diff" >&2
  echo "manifests test: base differs from the default beyond the ServiceMonitor" >&2
  exit 1
fi
echo "manifests test: ok"
