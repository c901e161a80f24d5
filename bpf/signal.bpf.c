// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Signals: the signal:signal_generate tracepoint, in __send_signal_locked() (Linux 3.x+,
 * arguments sig, info, task, group, result), fired for every signal generated, with the
 * target task and whether it was delivered.
 */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "core_fixes.bpf.h"
#include "flow.bpf.h"
#include "read.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define IPCT_RD IPCT_RD_BTF
#define IPCT_FN(name) name##_btf
#include "signal.bpf.inc"
#include "flavour_end.bpf.h"

#define IPCT_RD IPCT_RD_CORE
#define IPCT_FN(name) name##_core
#include "signal.bpf.inc"
#include "flavour_end.bpf.h"

SEC("tp_btf/signal_generate")
int BPF_PROG(ipct_signal_btf, int sig, struct kernel_siginfo *info, struct task_struct *task,
	     int group, int result)
{
	signal_data_btf(sig, info, task, result);
	return 0;
}

SEC("raw_tp/signal_generate")
int ipct_signal_raw(struct bpf_raw_tracepoint_args *ctx)
{
	signal_data_core((int)ctx->args[0], (struct kernel_siginfo *)ctx->args[1],
			 (struct task_struct *)ctx->args[2], (int)ctx->args[4]);
	return 0;
}
