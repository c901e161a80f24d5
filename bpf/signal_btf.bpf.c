// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Signals, tp_btf: the signal:signal_generate tracepoint, in __send_signal_locked() (Linux 3.x+,
 * arguments sig, info, task, group, result), fired for every signal generated, with the
 * target task and whether it was delivered. The typed siginfo and task are read with plain
 * loads. The same hook untyped: signal_raw.bpf.c.
 */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "read.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define IPCT_SIG_RD IPCT_RD_BTF
#include "signal_body.bpf.h"

SEC("tp_btf/signal_generate")
int BPF_PROG(ipct_signal_btf, int sig, struct kernel_siginfo *info, struct task_struct *task,
	     int group, int result)
{
	signal_data(sig, info, task, result);
	return 0;
}
