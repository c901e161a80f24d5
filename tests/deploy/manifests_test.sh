#!/usr/bin/env bash
# The Kubernetes manifests: the rendered ones committed in deploy/kubernetes/rendered (what any
# kubectl applies with -f) are what `kubectl kustomize` makes of deploy/kubernetes (the default
# install, the base without the ServiceMonitor, the least-privilege overlay), without warnings;
# every object validates against the Kubernetes and Prometheus Operator OpenAPI schemas, with
# the deployment's promises checked on top (validate-manifests.mjs); the base is the default
# without the ServiceMonitor. npm packages go to NPM_DIR (in the build directory), once.
#
# kubectl 1.21+ (kustomize v4+) renders all three variants. Debian 12's kubectl 1.20 (kustomize
# v2.0.3) renders only the base and the ServiceMonitor, so there the default is compared as
# those two, and the least-privilege variant only as the default with other security contexts
# (checked field by field); its kustomization is rendered where kubectl is newer (as in CI here).
# Usage: tests/deploy/manifests_test.sh NPM_DIR
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
npm_dir=${1:?usage: manifests_test.sh NPM_DIR}
rendered=$repo/deploy/kubernetes/rendered

for tool in kubectl node npm; do
  command -v "$tool" >/dev/null || { echo "manifests test: $tool is not installed (tools/install-deps.sh)" >&2; exit 1; }
done
minor=$(kubectl version --client -o json 2>/dev/null | sed -n 's/.*"gitVersion": "v1\.\([0-9]*\)\..*/\1/p')
[ -n "$minor" ] || { echo "manifests test: cannot tell kubectl's version: $(kubectl version --client 2>&1 | head -1)" >&2; exit 1; }

"$here/npm-deps.sh" "$npm_dir"
cp "$here/validate-manifests.mjs" "$here/compare-manifests.mjs" "$npm_dir/"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

same() {  # same EXPECTED ACTUAL [--drop-kind KIND]: true, or the difference and false
  node "$npm_dir/compare-manifests.mjs" "$@" && return 0
  diff -u "$1" "$2" >&2 || true
  return 1
}
stale() {
  echo "manifests test: deploy/kubernetes/rendered/$1 is not what deploy/kubernetes renders:" \
    "run tools/render-manifests.sh (kubectl 1.21+) and commit the result" >&2
  exit 1
}

if [ "$minor" -ge 21 ]; then
  "$repo/tools/render-manifests.sh" "$out/rendered"  # fails on a kustomize warning
  for variant in default base least-privilege; do
    same "$out/rendered/$variant.yaml" "$rendered/$variant.yaml" || stale "$variant.yaml"
  done
  echo "manifests test: kubectl 1.$minor renders deploy/kubernetes as committed in deploy/kubernetes/rendered"
else
  render() {  # render DIR FILE, with kustomize v2 (no warnings there either)
    if ! kubectl kustomize "$repo/$1" >"$2" 2>"$out/err" || [ -s "$out/err" ]; then
      cat "$out/err" >&2
      echo "manifests test: kubectl kustomize $1 failed or warned" >&2
      exit 1
    fi
  }
  render deploy/kubernetes/base "$out/base.yaml"
  render deploy/kubernetes/servicemonitor "$out/servicemonitor.yaml"
  { cat "$out/base.yaml"; echo ---; cat "$out/servicemonitor.yaml"; } >"$out/default.yaml"
  same "$out/base.yaml" "$rendered/base.yaml" || stale base.yaml
  same "$out/default.yaml" "$rendered/default.yaml" || stale default.yaml
  echo "manifests test: kubectl 1.$minor (kustomize v2) renders the base and the ServiceMonitor as committed;" \
    "deploy/kubernetes and the least-privilege overlay need kubectl 1.21+ to render (least-privilege.yaml is checked as the default with other security contexts)"
fi

node "$npm_dir/validate-manifests.mjs" default "$rendered/default.yaml"
node "$npm_dir/validate-manifests.mjs" least-privilege "$rendered/least-privilege.yaml"

# The base is the default without the ServiceMonitor, object for object.
kinds=$(grep '^kind:' "$rendered/base.yaml" | sort | tr '\n' ' ')
if [ "$kinds" != "kind: DaemonSet kind: Namespace kind: Service kind: ServiceAccount " ]; then
  echo "manifests test: base renders $kinds" >&2
  exit 1
fi
if ! same "$rendered/base.yaml" "$rendered/default.yaml" --drop-kind ServiceMonitor; then
  echo "manifests test: base differs from the default beyond the ServiceMonitor" >&2
  exit 1
fi
# The least-privilege overlay changes the security contexts (validate-manifests.mjs checks them)
# and nothing else: this holds the overlay's rendering to the default's where kubectl is 1.20.
if ! same "$rendered/default.yaml" "$rendered/least-privilege.yaml" --ignore-security-contexts; then
  echo "manifests test: least-privilege differs from the default beyond the security contexts" >&2
  exit 1
fi
echo "manifests test: ok"
