#!/usr/bin/env bash
# Makes the Debian 12 base images the Dockerfile starts from, without a registry: debootstrap
# builds a minbase bookworm root filesystem (what the official debian images are made of) from
# Debian's archive, and podman imports it as docker.io/library/debian:bookworm and, with the
# documentation stripped and kept out as the official slim image does, :bookworm-slim.
#
# The root filesystem is cached as a tarball under /var/cache/ipctrace (CACHE_DIR), keyed by a
# stamp: a re-run imports it in seconds; a fresh machine debootstraps it (a few minutes).
# Images already in podman's storage with the current stamp are left as they are.
# Usage: tests/deploy/base-image.sh   (root)
set -euo pipefail

stamp=bookworm-minbase-1
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
cache=${CACHE_DIR:-/var/cache/ipctrace}
tarball=$cache/debian-$stamp.tar

has_stamp() {
  [ "$(podman image inspect --format '{{index .Labels "dev.ipctrace.base"}}' "$1" 2>/dev/null)" = "$stamp" ]
}

if has_stamp docker.io/library/debian:bookworm && has_stamp docker.io/library/debian:bookworm-slim; then
  exit 0
fi

for tool in podman debootstrap; do
  command -v "$tool" >/dev/null || { echo "base-image: $tool is not installed (tools/install-deps.sh)" >&2; exit 1; }
done
[ "$(id -u)" -eq 0 ] || { echo "base-image: debootstrap and podman import need root" >&2; exit 1; }

work=$(mktemp -d /var/tmp/ipctrace-base.XXXXXX)
trap 'rm -rf "$work"' EXIT

if [ ! -s "$tarball" ]; then
  echo "base-image: debootstrap bookworm (minbase) from $mirror into the cache $tarball" >&2
  mkdir -p "$cache"
  if ! debootstrap --variant=minbase bookworm "$work/rootfs" "$mirror" >"$work/debootstrap.log" 2>&1; then
    tail -20 "$work/debootstrap.log" >&2
    echo "base-image: debootstrap failed" >&2
    exit 1
  fi
  # As the official image: the archive as the only source, no apt lists or caches.
  printf 'deb %s bookworm main\ndeb %s bookworm-updates main\ndeb http://deb.debian.org/debian-security bookworm-security main\n' \
    "$mirror" "$mirror" >"$work/rootfs/etc/apt/sources.list"
  rm -rf "$work/rootfs/var/lib/apt/lists/"* "$work/rootfs/var/cache/apt/"*.bin "$work/rootfs/var/log/"*.log
  tar --numeric-owner --xattrs -C "$work/rootfs" -cf "$work/rootfs.tar" .
  mv "$work/rootfs.tar" "$tarball"
  rm -rf "$work/rootfs"
fi

import() {  # import TAG TARBALL
  podman import --quiet --change 'CMD ["bash"]' --change "LABEL dev.ipctrace.base=$stamp" "$2" "$1" >/dev/null
}
import docker.io/library/debian:bookworm "$tarball"

# slim: no documentation, manuals or translations, now or from later installs.
mkdir -p "$work/slim"
tar --numeric-owner --xattrs -C "$work/slim" -xf "$tarball"
rm -rf "$work/slim/usr/share/doc/"* "$work/slim/usr/share/man/"* "$work/slim/usr/share/info/"* \
  "$work/slim/usr/share/locale/"*
cat >"$work/slim/etc/dpkg/dpkg.cfg.d/docker" <<'CFG'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
CFG
tar --numeric-owner --xattrs -C "$work/slim" -cf "$work/slim.tar" .
import docker.io/library/debian:bookworm-slim "$work/slim.tar"
echo "base-image: imported debian:bookworm and debian:bookworm-slim ($stamp)" >&2
