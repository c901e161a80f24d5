// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Syscall exit: one program sees every syscall, keeps only those in the table the agent
 * filled (ipct_cfg_sys_table: syscall number -> enum ipct_sys, zero for the rest) and
 * returns at once for the others. Where: the raw `sys_exit` tracepoint in the syscall
 * exit work (syscall_exit_work -> trace_sys_exit), stable since Linux 3.7; tp_btf since 5.5.
 */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "core_fixes.bpf.h"
#include "flow.bpf.h"
#include "read.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

static __always_inline __u8 sys_code(long nr)
{
	if (nr < 0 || nr >= IPCT_SYS_TABLE_SIZE)
		return IPCT_SYS_NONE;
	return ipct_cfg_sys_table[nr];
}

#define IPCT_RD IPCT_RD_BTF
#define IPCT_FN(name) name##_btf
#define IPCT_CURRENT_TASK() bpf_get_current_task_btf()
#include "sys_exit.bpf.inc"
#undef IPCT_RD
#undef IPCT_FN
#undef IPCT_CURRENT_TASK

#define IPCT_RD IPCT_RD_CORE
#define IPCT_FN(name) name##_core
#define IPCT_CURRENT_TASK() ((struct task_struct *)bpf_get_current_task())
#include "sys_exit.bpf.inc"
#undef IPCT_RD
#undef IPCT_FN
#undef IPCT_CURRENT_TASK

SEC("tp_btf/sys_exit")
int BPF_PROG(ipct_sys_exit_btf, struct pt_regs *regs, long ret)
{
	__u8 code = sys_code(IPCT_REGS_NR(regs));

	if (code != IPCT_SYS_NONE)
		sys_exit_btf(regs, ret, code);
	return 0;
}

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
	sys_exit_core(&regs, (long)ctx->args[1], code);
	return 0;
}
