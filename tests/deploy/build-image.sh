#!/usr/bin/env bash
# Builds deploy/Dockerfile with podman (chroot isolation, no registry: the Debian bases come
# from base-image.sh) and unpacks the image for runc: OUT/rootfs (the image's root filesystem),
# OUT/image.json (its config: entry point, environment, labels) and OUT/packages (the final
# image's installed packages). The image and the container used to export it are removed again;
# podman's layer cache and the base images stay, so a re-run builds in seconds.
# Usage: tests/deploy/build-image.sh OUT   (root)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
out=${1:?usage: build-image.sh OUT}
tag=localhost/ipctrace:deploy-test-$$
ctr=ipctrace-deploy-test-$$

cleanup() {
  podman rm -f "$ctr" >/dev/null 2>&1 || true
  podman rmi -f "$tag" >/dev/null 2>&1 || true
}
trap cleanup EXIT

"$here/base-image.sh"
mkdir -p "$out"
start=$(date +%s)
build() {
  podman build --isolation chroot --pull=never --layers -f "$repo/deploy/Dockerfile" \
    --build-arg REVISION="$(git -C "$repo" rev-parse HEAD 2>/dev/null || echo unknown)" \
    -t "$tag" "$repo" >"$out/build.log" 2>&1
}
# A RUN step's re-exec can fail to seal its memfd copy while a page of it is briefly pinned
# ("sealing memfd copy: Device or resource busy", seen once in a few dozen builds here): that,
# and only that, is tried again.
tries=0
until build; do
  tries=$((tries + 1))
  if [ "$tries" -lt 3 ] && grep -q 'sealing memfd copy: Device or resource busy' "$out/build.log"; then
    echo "build-image: transient memfd sealing failure, building again" >&2
    continue
  fi
  tail -40 "$out/build.log" >&2
  echo "build-image: podman build failed (log: $out/build.log)" >&2
  exit 1
done
echo "build-image: built in $(($(date +%s) - start)) s" >&2
podman image inspect --format '{{json .Config}}' "$tag" >"$out/image.json"
podman image inspect --format '{{.Size}}' "$tag" >"$out/size"
podman create --name "$ctr" "$tag" >/dev/null
rm -rf "$out/rootfs"
mkdir -p "$out/rootfs"
podman export "$ctr" | tar -C "$out/rootfs" -xf -
chroot "$out/rootfs" dpkg-query -W -f='${Package}\n' >"$out/packages"
