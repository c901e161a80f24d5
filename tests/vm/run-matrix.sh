#!/usr/bin/env bash
# The kernel matrix: runs the kernel test suite on Debian 12's 6.1 LTS kernel, booted under
# qemu-system-x86_64 (TCG: software emulation, no KVM needed) with an initramfs that holds the
# test binaries and what they need. Prints the guest's probe (the hook family of every mechanism
# on that kernel) and every test's result; exits with the guest suite's status, and fails when
# the guest does not finish or its kernel logged a BUG, WARNING or Oops.
# Usage: tests/vm/run-matrix.sh BUILD_DIR [GTEST_FILTER]
# IPCTRACE_VM_SHARD=I/N runs the I-th (from 1) of N shards of the suite (gtest's sharding: every
# N-th test): the guest has one emulated CPU, so N guests side by side on N host cores finish the
# suite N times sooner. IPCTRACE_VM_TIMEOUT is the guest's wall-clock budget in seconds (900).
# IPCTRACE_VM_MAXCPUS=N boots the guest with N possible CPUs (one present): per-CPU maps are
# allocated for every possible CPU, so the kernel maps' budget is shown at N CPUs on one.
set -euo pipefail
build=$(cd "${1:?usage: run-matrix.sh BUILD_DIR [GTEST_FILTER]}" && pwd)
# The kernel test suite, less what does not depend on the kernel and costs an agent start
# (about 9 s under emulation) to show: a real Prometheus and promtool (100 MB binaries; the
# exposition format), TLS and basic auth, a busy port, the terminal view and `top`'s frames, the
# flows table and trace's text layout; and the setup that plays a kernel without socket
# tracepoints, which 6.1 is (its `tracepoint` setup runs the same hooks), and the one that plays a kernel
# without bpf_rdonly_cast, which 6.1 is too.
filter=${2:--PodmanContainers.*:ContainerdCri.*:AgentCommand.ARealPrometheus*:AgentCommand.MetricsHoldTheExactFlowAndPassPromtool:AgentCommand.TlsAndBasicAuthProtectMetricsAndFlows:AgentCommand.APortInUseIsAClearErrorAndExit1:TopCommand.TheTerminalViewSortsFiltersTogglesAndQuits:TopCommand.BatchFramesShowTheExactTotalsOfAKnownWorkload:FlowsCommand.TableKindFilterAndEarlyStop:FlowsCommand.WideNamesTheProcessOfEachEnd:TraceCommand.TextLinesNameTheEndpointAndTheChannel:Hooks/TracerTest.*/sockets_on_sys_exit:Hooks/TracerTest.*/tracepoint_without_cast}
here=$(cd "$(dirname "$0")" && pwd)
timeout_s=${IPCTRACE_VM_TIMEOUT:-900}
shard=${IPCTRACE_VM_SHARD:-1/1}
if ! [[ $shard =~ ^([0-9]+)/([0-9]+)$ ]] || ((10#${BASH_REMATCH[1]} < 1)) ||
  ((10#${BASH_REMATCH[1]} > 10#${BASH_REMATCH[2]})); then
  echo "run-matrix: IPCTRACE_VM_SHARD must be I/N with 1 <= I <= N (got '$shard')" >&2
  exit 2
fi
shard_index=$((10#${BASH_REMATCH[1]} - 1)) shard_total=$((10#${BASH_REMATCH[2]}))
maxcpus=${IPCTRACE_VM_MAXCPUS:-1}
if ! [[ $maxcpus =~ ^[0-9]{1,3}$ ]] || ((10#$maxcpus < 1 || 10#$maxcpus > 255)); then
  echo "run-matrix: IPCTRACE_VM_MAXCPUS must be a number of CPUs from 1 to 255 (qemu's pc machine) (got '$maxcpus')" >&2
  exit 2
fi
maxcpus=$((10#$maxcpus))

command -v qemu-system-x86_64 >/dev/null || {
  echo "run-matrix: qemu-system-x86_64 is missing (tools/install-deps.sh installs qemu-system-x86)" >&2
  exit 1
}
kernel=$("$here/fetch-kernel.sh" --print)
work=$(mktemp -d)
qemu_pid=
cleanup() {
  if [ -n "$qemu_pid" ]; then kill "$qemu_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

binaries=("$build/ipctrace" "$build/tests/ipctrace_kernel_tests" "$build/tests/ipctrace-test-workload")
"$here/build-initramfs.sh" "$work/base.cpio.gz" "${binaries[@]}"

# The job: what the guest's init runs. CI=true carries over, so a kernel test that cannot run
# in the guest fails rather than skips; 6.1 allows function hooks, and the tests must see them;
# wall-clock budgets stretch for emulation.
mkdir "$work/job"
cat >"$work/job/job.sh" <<JOB
export CI=${CI:-} IPCTRACE_EXPECT_FUNCTION_HOOKS=1 IPCTRACE_TEST_TIME_SCALE=4 TERM=xterm
export GTEST_TOTAL_SHARDS=$shard_total GTEST_SHARD_INDEX=$shard_index IPCTRACE_EXPECT_POSSIBLE_CPUS=$maxcpus
echo "== guest kernel: \$(uname -r)"
cd "$build"
./ipctrace probe 2>&1 | sed -n '/^Hooks per mechanism/,/^\$/p'
echo "== kernel tests in the guest (shard $shard, filter: $filter)"
./tests/ipctrace_kernel_tests --gtest_filter='$filter' --gtest_color=no
rc=\$?
splats=\$(dmesg | grep -E 'BUG:|WARNING:|Oops|general protection|Call Trace' || true)
if [ -n "\$splats" ]; then
  echo "== the guest kernel logged:"
  echo "\$splats"
  [ \$rc -ne 0 ] || rc=3
fi
exit \$rc
JOB
(cd "$work/job" && echo job.sh | cpio -o -H newc --quiet | gzip -1) >"$work/job.cpio.gz"
cat "$work/base.cpio.gz" "$work/job.cpio.gz" >"$work/initramfs.cpio.gz"

echo "== booting $(basename "$(readlink -f "$(dirname "$kernel")")") under qemu (TCG, 1 vCPU of $maxcpus possible, 2 GiB)"
start=$(date +%s)
timeout --foreground "$timeout_s" qemu-system-x86_64 -accel tcg -cpu max -smp "1,maxcpus=$maxcpus" -m 2G \
  -nographic -no-reboot -nodefaults -serial stdio -monitor none \
  -kernel "$kernel" -initrd "$work/initramfs.cpio.gz" \
  -append "console=ttyS0 quiet loglevel=3 panic=-1 oops=panic" >"$work/console.log" 2>&1 &
qemu_pid=$!
tail -n +1 -f --pid="$qemu_pid" "$work/console.log" | tr -d '\r' &
tail_pid=$!
status=0
wait "$qemu_pid" || status=$?
qemu_pid=
wait "$tail_pid" 2>/dev/null || true
elapsed=$(($(date +%s) - start))

rc=$(tr -d '\r' <"$work/console.log" | sed -n 's/^ipctrace-guest-exit: \([0-9]*\)$/\1/p' | tail -n 1)
if [ -z "$rc" ]; then
  if [ "$status" -eq 124 ]; then
    echo "kernel matrix: the guest did not finish within ${timeout_s} s" >&2
  else
    echo "kernel matrix: the guest stopped before the suite finished (qemu exit $status; see the console above)" >&2
  fi
  exit 1
fi
summary=$(tr -d '\r' <"$work/console.log" | grep -E '^\[  (PASSED|FAILED)  \] [0-9]+ test' | tr '\n' ' ')
echo "kernel matrix: $(basename "$(readlink -f "$(dirname "$kernel")")"), shard $shard: ${summary:-no gtest summary} (exit $rc, ${elapsed} s)"
exit "$rc"
