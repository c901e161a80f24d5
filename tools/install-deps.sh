#!/usr/bin/env bash
# Installs every Debian 12 package ipctrace needs to build, test and run.
# Idempotent: it installs only what is missing and prints nothing when all is present.
set -euo pipefail

packages=(
  # build
  build-essential cmake ninja-build pkg-config git
  # BPF toolchain and CO-RE
  clang llvm libbpf-dev bpftool libelf-dev zlib1g-dev
  # libraries
  libspdlog-dev libfmt-dev prometheus-cpp-dev libcli11-dev nlohmann-json3-dev libncurses-dev libcurl4-openssl-dev
  # the agent's HTTPS (OpenSSL) and basic authentication (libxcrypt); openssl makes the tests' certificates
  libssl-dev libcrypt-dev openssl
  # tests and habits
  libgtest-dev libgmock-dev clang-format clang-tidy libclang-rt-14-dev
  # benchmark (bench/): the bpftrace configuration, the IPC workloads (stress-ng, `perf bench
  # sched pipe`), the driver (bench/run.py, standard library only)
  bpftrace stress-ng linux-perf python3
  # end-to-end tests: real OCI containers (runc, a busybox rootfs; containers_e2e_test) and the
  # terminal view (tmux; top_kernel_test)
  runc busybox-static tmux
  # the agent's tests: promtool checks /metrics, a real Prometheus scrapes it
  prometheus
  # the kernel matrix (tests/vm): Debian's 6.1 kernel booted under qemu from an initramfs
  qemu-system-x86 cpio
  # deploy tests (tests/deploy): the image (podman, a debootstrap-made Debian base), the
  # manifests' schema validation (node and npm; kubectl below)
  podman debootstrap
)
# Commands some machines already have from other packages (kubectl from Google's kubectl
# package, node and npm from NodeSource's nodejs, which conflict with Debian's): Debian's
# package only where the command is missing.
command -v kubectl >/dev/null || packages+=(kubernetes-client)
command -v npm >/dev/null || packages+=(nodejs npm)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null | grep -qx installed; then
    missing+=("$p")
  fi
done

# The kernel the matrix boots: downloaded into a cache, not installed (quiet when cached).
fetch_kernel() { "$(dirname "$0")/../tests/vm/fetch-kernel.sh"; }

if [ ${#missing[@]} -eq 0 ]; then
  fetch_kernel
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: missing packages: ${missing[*]}; run as root to install them" >&2
  exit 1
fi

echo "install-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fetch_kernel
