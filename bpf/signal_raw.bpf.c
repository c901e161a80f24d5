// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Signals, raw_tp: the signal:signal_generate tracepoint of signal_btf.bpf.c on kernels without
 * tp_btf, the siginfo and the target task read with CO-RE reads.
 */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "read.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define IPCT_SIG_RD IPCT_RD_CORE
#include "signal_body.bpf.h"

SEC("raw_tp/signal_generate")
int ipct_signal_raw(struct bpf_raw_tracepoint_args *ctx)
{
	signal_data((int)ctx->args[0], (struct kernel_siginfo *)ctx->args[1],
		    (struct task_struct *)ctx->args[2], (int)ctx->args[4]);
	return 0;
}
