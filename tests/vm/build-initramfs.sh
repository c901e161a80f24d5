#!/usr/bin/env bash
# Builds the guest's initramfs for the kernel matrix: static busybox, the guest init, the test
# binaries (stripped, at the same absolute paths as on the host, so the paths compiled into the
# tests hold), every shared library they load, and the few host tools the kernel tests run.
# Usage: tests/vm/build-initramfs.sh OUTPUT.cpio.gz FILE...   (executables and shared libraries)
set -euo pipefail
out=$1
shift
here=$(cd "$(dirname "$0")" && pwd)
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
chmod 0755 "$root"  # the guest's /: unprivileged tests must reach their binaries

mkdir -p "$root"/{bin,sbin,dev,proc,sys,tmp,run,etc,root,usr/bin,usr/sbin}
cp /bin/busybox "$root/bin/busybox"
install -m 0755 "$here/guest-init.sh" "$root/init"

# A binary and the shared libraries it loads (and the dynamic loader), at their host paths.
add_elf() {
  local src=$1 dst="$root$1"
  mkdir -p "$(dirname "$dst")"
  if [ ! -e "$dst" ]; then
    objcopy --strip-debug "$src" "$dst" 2>/dev/null || cp -L "$src" "$dst"
    chmod 0755 "$dst"
  fi
  { ldd "$src" 2>/dev/null || true; } | awk '/=> \//{print $3} /^\t\/[^ ]+ \(/{print $1}' | while read -r lib; do
    local real
    real=$(readlink -f "$lib")
    mkdir -p "$root$(dirname "$lib")"
    [ -e "$root$lib" ] || cp -L "$real" "$root$lib"
  done
}
for bin in "$@"; do add_elf "$(readlink -f "$bin")"; done
# Tools the kernel tests run: setpriv (privilege-drop tests), bpftool (what the agent left
# attached), openssl (the agent's TLS tests), tmux (the terminal view), runc (real containers),
# stress-ng (a neighbour churning channels).
for tool in /usr/bin/setpriv /usr/sbin/bpftool /usr/bin/openssl /usr/bin/tmux /usr/sbin/runc /usr/bin/stress-ng; do
  if [ -x "$tool" ]; then add_elf "$tool"; fi
done
# Their data: terminal descriptions (tmux, ncurses) and OpenSSL's configuration.
for data in /lib/terminfo /usr/share/terminfo /usr/lib/ssl /etc/ssl/openssl.cnf; do
  if [ -e "$data" ]; then
    mkdir -p "$root$(dirname "$data")"
    cp -rL "$data" "$root$data"
  fi
done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$root/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$root/etc/group"

(cd "$root" && find . -print0 | cpio --null -o -H newc --quiet) | gzip -1 >"$out.tmp"
mv "$out.tmp" "$out"
