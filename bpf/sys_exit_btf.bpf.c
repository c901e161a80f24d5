// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Syscall entry and exit, tp_btf on kernels without bpf_rdonly_cast (before 6.2): the task is
 * walked with plain loads, the file behind a descriptor and what hangs from it with CO-RE reads
 * (a pointer a helper read is untyped), receive start times in the LRU hash.
 * See sys_exit_cast.bpf.c for the hook.
 */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "read.bpf.h"
#include "wait.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#include "sys_exit_btf.bpf.h"

SEC("tp_btf/sys_exit")
int BPF_PROG(ipct_sys_exit_btf, struct pt_regs *regs, long ret)
{
	__u8 code = sys_code(IPCT_REGS_NR(regs));

	if (code != IPCT_SYS_NONE)
		sys_exit(regs, ret, code, ipct_cfg_sys_exit_kinds, ipct_cfg_wait_time);
	return 0;
}

/* Entry of receiving calls, for the time they block (attached only with wait time on). */
SEC("tp_btf/sys_enter")
int BPF_PROG(ipct_sys_enter_btf, struct pt_regs *regs, long id)
{
	__u8 code = sys_code(id);

	if (code != IPCT_SYS_NONE)
		sys_enter(regs, code);
	return 0;
}

/* io_uring's completions (uring_complete() in sys_exit_body.bpf.h), the request read with CO-RE. */
SEC("tp_btf/io_uring_complete")
int BPF_PROG(ipct_uring_btf, void *ring, void *req)
{
	uring_complete(req);
	return 0;
}
