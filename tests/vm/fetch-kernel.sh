#!/usr/bin/env bash
# Fetches the kernel the kernel matrix boots: the newest Debian 12 LTS kernel package
# (linux-image-6.1.0-*-cloud-amd64-unsigned; its image carries BTF), downloaded with apt-get
# download and unpacked into a cache, never installed on the host. Idempotent and quiet when
# the newest one is already cached. Prints nothing; `--print` prints the cached image's path.
# Cache: $IPCTRACE_KERNEL_CACHE, default /var/cache/ipctrace/kernels.
set -euo pipefail
cache=${IPCTRACE_KERNEL_CACHE:-/var/cache/ipctrace/kernels}
pattern='^linux-image-6\.1\.0-[0-9]+-cloud-amd64-unsigned$'
mkdir -p "$cache"
# One at a time: the kernel matrix's guests start side by side, each asking for the kernel.
exec 9>"$cache/.lock"
flock 9

newest() { apt-cache search --names-only "$pattern" 2>/dev/null | awk '{print $1}' | sort -V | tail -n 1; }

if [ "$(dpkg --print-architecture)" != amd64 ]; then
  echo "fetch-kernel: the kernel matrix boots an amd64 kernel; this is $(dpkg --print-architecture)" >&2
  exit 1
fi
pkg=$(newest)
if [ -z "$pkg" ]; then
  apt-get update -qq >/dev/null
  pkg=$(newest)
fi
if [ -z "$pkg" ]; then
  echo "fetch-kernel: no package matches $pattern in the apt sources" >&2
  exit 1
fi
dir=$cache/$pkg
if [ ! -s "$dir/vmlinuz" ]; then
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  (cd "$tmp" && apt-get download -qq "$pkg" 2>/dev/null) || {
    echo "fetch-kernel: apt-get download $pkg failed" >&2
    exit 1
  }
  dpkg-deb -x "$tmp"/*.deb "$tmp/root"
  mkdir -p "$dir"
  cp "$tmp"/root/boot/vmlinuz-* "$dir/vmlinuz.tmp"
  cp "$tmp"/root/boot/config-* "$dir/config"
  mv "$dir/vmlinuz.tmp" "$dir/vmlinuz"
fi
ln -sfn "$pkg" "$cache/linux-6.1"
if [ "${1:-}" = --print ]; then
  echo "$cache/linux-6.1/vmlinuz"
fi
