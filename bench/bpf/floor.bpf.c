// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The floor for the whole benchmark (bench/run.py, via ipctrace-bench-load floor): empty
 * programs on every hook ipctrace's agent attaches on this kernel (agent/kernel/hooks.cpp picks
 * tp_btf sys_exit, sys_enter for wait time, sock_send_length/sock_recv_length and
 * signal_generate). What they cost is what any program on those hooks costs, however little it
 * does: the syscall exit (and entry) work for every syscall of every task, and one program
 * invocation per event. `ipctrace-bench-load floor --no-sys-enter` leaves sys_enter out, the
 * floor of `ipctrace agent --no-wait-time`.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

SEC("tp_btf/sys_exit")
int BPF_PROG(bench_fl_exit, struct pt_regs *regs, long ret)
{
	return 0;
}

SEC("tp_btf/sys_enter")
int BPF_PROG(bench_fl_enter, struct pt_regs *regs, long id)
{
	return 0;
}

SEC("tp_btf/sock_send_length")
int BPF_PROG(bench_fl_send, struct sock *sk, int ret, int flags)
{
	return 0;
}

SEC("tp_btf/sock_recv_length")
int BPF_PROG(bench_fl_recv, struct sock *sk, int ret, int flags)
{
	return 0;
}

SEC("tp_btf/signal_generate")
int BPF_PROG(bench_fl_signal, int sig, struct kernel_siginfo *info, struct task_struct *task,
	     int group, int result)
{
	return 0;
}
