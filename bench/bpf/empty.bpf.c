// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The benchmark's floor (bench/pipe_loop_bench.cpp): a tp_btf program on the raw sys_exit
 * tracepoint that does nothing. Attaching anything to sys_exit sends every syscall of every
 * task through the syscall exit work and into a BPF program; this measures that alone.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

SEC("tp_btf/sys_exit")
int BPF_PROG(bench_sys_exit, struct pt_regs *regs, long ret)
{
	return 0;
}
