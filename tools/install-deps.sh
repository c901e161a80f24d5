#!/usr/bin/env bash
# Installs the Debian 12 packages ipctrace needs, in two sets:
#   run   building and running ipctrace (tools/run.sh)
#   test  the run set, and everything the tests and the benchmark run (tools/test.sh,
#         bench/run.sh): GoogleTest, the linters, the sanitizer runtime, every command a test
#         calls, and the kernel the kernel matrix boots (downloaded into a cache, not installed)
# Idempotent: it installs only what is missing and prints nothing when all is present.
# Usage: tools/install-deps.sh [run|test] [--dry-run|--list]   (default: test)
#   --dry-run  print what is missing (nothing when all is present) and install nothing
#   --list     print the set's packages, one a line
set -euo pipefail

set_name="test"
action=install
for arg in "$@"; do
  case "$arg" in
    run | test) set_name=$arg ;;
    --dry-run) action=dry-run ;;
    --list) action=list ;;
    *) echo "install-deps: unknown argument '$arg' (usage: install-deps.sh [run|test] [--dry-run|--list])" >&2; exit 2 ;;
  esac
done

run_packages=(
  # build
  build-essential cmake ninja-build pkg-config git
  # BPF toolchain and CO-RE
  clang llvm libbpf-dev bpftool libelf-dev zlib1g-dev
  # libraries
  libspdlog-dev libfmt-dev prometheus-cpp-dev libcli11-dev nlohmann-json3-dev libncurses-dev libcurl4-openssl-dev
  # the agent's HTTP(S) server (libmicrohttpd, TLS through GnuTLS), the checks of its TLS files
  # (OpenSSL) and basic authentication (libxcrypt)
  libmicrohttpd-dev libssl-dev libcrypt-dev
  # the agent's allocator (agent/main.cpp: freed pages go back at once, the RSS budget)
  libjemalloc-dev
)

# Every command a test or the benchmark runs comes from here, from the run set (bpftool, git,
# objcopy from build-essential's binutils), or from Debian's essential and required packages
# (coreutils, util-linux: setpriv, flock, taskset; diffutils, findutils, gzip, tar, sed, grep,
# mawk, libc-bin: ldd; dpkg, apt: the kernel download).
test_packages=(
  # the tests themselves (GoogleTest), lint (tools/lint.sh), the sanitizer build
  libgtest-dev libgmock-dev clang-format clang-tidy libclang-rt-14-dev
  # the kernel tests: openssl (certificates and password hashes), promtool and a real Prometheus
  # (prometheus), the terminal view (tmux), real OCI containers (runc, a busybox rootfs), io_uring
  # workloads (liburing)
  openssl prometheus tmux runc busybox-static liburing-dev
  # containerd 1.6 driven through its CRI API (kernel.ContainerdCri.*): its CNI plugins
  # (containernetworking-plugins: macvlan, host-local, loopback), the veth pair they hang from
  # (iproute2), the CRI client (Python's gRPC and protoc)
  containerd containernetworking-plugins iproute2 python3-grpcio python3-grpc-tools
  # benchmark (bench/run.sh; the suite runs bench/run.sh --quick): the bpftrace configuration, the
  # IPC workloads (stress-ng, `perf bench sched pipe`), the driver (bench/run.py, standard library)
  bpftrace stress-ng linux-perf python3
  # the kernel matrix (tests/vm): Debian's 6.1 kernel booted under qemu from an initramfs
  qemu-system-x86 cpio
  # deploy tests (tests/deploy): the image (podman, a debootstrap-made Debian base), the
  # dashboard test's requests to a real agent (curl); node, npm and kubectl below
  podman debootstrap curl
)
# Commands some machines already have from other packages (kubectl from Google's kubectl
# package, node and npm from NodeSource's nodejs, which conflict with Debian's): Debian's
# package only where the command is missing. Debian's kubectl is 1.20: the manifests test checks
# the committed rendered manifests with it (deploy/README.md).
optional_test_packages() {
  command -v kubectl >/dev/null || echo kubernetes-client
  command -v npm >/dev/null || printf '%s\n' nodejs npm
}

packages=("${run_packages[@]}")
if [ "$set_name" = test ]; then
  mapfile -t optional < <(optional_test_packages)
  packages+=("${test_packages[@]}" "${optional[@]}")
fi

if [ "$action" = list ]; then
  printf '%s\n' "${packages[@]}"
  exit 0
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null | grep -qx installed; then
    missing+=("$p")
  fi
done

# The kernel the matrix boots (test set): downloaded into a cache, not installed (quiet when cached).
fetch_kernel() {
  if [ "$set_name" = test ]; then "$(dirname "$0")/../tests/vm/fetch-kernel.sh"; fi
}

if [ "$action" = dry-run ]; then
  if [ ${#missing[@]} -gt 0 ]; then echo "install-deps ($set_name): missing packages: ${missing[*]}"; fi
  kernel_cache=${IPCTRACE_KERNEL_CACHE:-/var/cache/ipctrace/kernels}
  if [ "$set_name" = test ] && [ ! -s "$kernel_cache/linux-6.1/vmlinuz" ]; then
    echo "install-deps ($set_name): the kernel matrix's kernel is not in $kernel_cache yet (tests/vm/fetch-kernel.sh)"
  fi
  exit 0
fi

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
