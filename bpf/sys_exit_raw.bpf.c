// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Syscall entry and exit, raw_tp (kernels without tp_btf): CO-RE reads throughout, on a copy of
 * the caller's registers, receive start times in the LRU hash. See sys_exit_cast.bpf.c for the
 * hook.
 */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "read.bpf.h"
#include "wait.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define IPCT_CURRENT_TASK() ((struct task_struct *)bpf_get_current_task())
#define IPCT_TASK_RD IPCT_RD_CORE
#define IPCT_FD_SLOT_READ(file, slot) bpf_probe_read_kernel((file), sizeof(*(file)), (slot))
#define IPCT_AS(p, type) ((type *)(p))
#define IPCT_FILE_RD IPCT_RD_CORE
#define IPCT_SK_RD IPCT_RD_CORE
/* struct unix_sock begins with its struct sock. */
#define IPCT_UNIX_SK(sk) ((struct unix_sock *)(sk))
#define IPCT_WAIT_START wait_start_lru
#define IPCT_WAIT_TAKE wait_take_lru
#define IPCT_ENTRY_CLASSIFY 1
#define IPCT_CGROUP_ID() bpf_get_current_cgroup_id()
#define IPCT_IS_SELF() is_self()
#include "sys_exit_body.bpf.h"

SEC("raw_tp/sys_exit")
int ipct_sys_exit_raw(struct bpf_raw_tracepoint_args *ctx)
{
	struct pt_regs *uregs = (struct pt_regs *)ctx->args[0];
	__u8 code = sys_code(IPCT_REGS_NR_CORE(uregs));
	struct pt_regs regs;

	if (code == IPCT_SYS_NONE)
		return 0;
	if (bpf_probe_read_kernel(&regs, sizeof(regs), uregs) != 0) {
		count_drop(IPCT_DROP_READ_FAILED);
		return 0;
	}
	sys_exit(&regs, (long)ctx->args[1], code, ipct_cfg_sys_exit_kinds, ipct_cfg_wait_time);
	return 0;
}

/* Entry of receiving calls, for the time they block (attached only with wait time on). */
SEC("raw_tp/sys_enter")
int ipct_sys_enter_raw(struct bpf_raw_tracepoint_args *ctx)
{
	__u8 code = sys_code((long)ctx->args[1]);
	struct pt_regs regs;

	if (code == IPCT_SYS_NONE)
		return 0;
	if (bpf_probe_read_kernel(&regs, sizeof(regs), (void *)ctx->args[0]) != 0) {
		count_drop(IPCT_DROP_READ_FAILED);
		return 0;
	}
	sys_enter(&regs, code);
	return 0;
}

/* io_uring's completions (uring_complete() in sys_exit_body.bpf.h): args[1] is the request. */
SEC("raw_tp/io_uring_complete")
int ipct_uring_raw(struct bpf_raw_tracepoint_args *ctx)
{
	uring_complete((void *)ctx->args[1]);
	return 0;
}
