// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Syscall entry and exit, tp_btf on kernels with bpf_rdonly_cast: plain loads throughout,
 * receive start times in task-local storage.
 *
 * One program sees every syscall, keeps only those in the table the agent filled
 * (ipct_cfg_sys_table: syscall number -> enum ipct_sys, zero for the rest) and returns at once
 * for the others. Where: the `sys_exit` tracepoint in the syscall exit work
 * (syscall_exit_work -> trace_sys_exit), stable since Linux 3.7; tp_btf since 5.5.
 * The same handler, built for other kernels: sys_exit_btf.bpf.c, sys_exit_raw.bpf.c.
 */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "read.bpf.h"
#include "wait.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/*
 * Makes a pointer obtained through a helper read readable with plain loads (Linux 6.2, "bpf: Add
 * a kfunc for generic type cast"): the file behind a descriptor and everything behind it.
 */
extern void *bpf_rdonly_cast(const void *obj, __u32 btf_id) __ksym __weak;

#define IPCT_CAST(p, type) ((type *)bpf_rdonly_cast((p), bpf_core_type_id_kernel(type)))

#define IPCT_CURRENT_TASK() bpf_get_current_task_btf()
#define IPCT_TASK_RD IPCT_RD_BTF
/* A slot of the descriptor table, read as the first member of a struct that starts with a
 * struct file * (struct kiocb's ki_filp): a plain load instead of a bpf_probe_read_kernel(). */
#define IPCT_FD_SLOT_READ(file, slot) (*(file) = IPCT_CAST((slot), struct kiocb)->ki_filp, 0)
#define IPCT_AS(p, type) IPCT_CAST(p, type)
#define IPCT_FILE_RD IPCT_RD_BTF
#define IPCT_SK_RD IPCT_RD_BTF
#define IPCT_UNIX_SK(sk) IPCT_CAST(sk, struct unix_sock)
#define IPCT_WAIT_START wait_start_task
#define IPCT_WAIT_TAKE wait_take_task
#define IPCT_ENTRY_CLASSIFY 0
#define IPCT_CGROUP_ID() IPCT_TASK_CGROUP_ID(IPCT_CURRENT_TASK())
#define IPCT_IS_SELF() IPCT_TASK_IS_SELF(IPCT_CURRENT_TASK())
#include "sys_exit_body.bpf.h"

SEC("tp_btf/sys_exit")
int BPF_PROG(ipct_sys_exit_cast, struct pt_regs *regs, long ret)
{
	__u8 code = sys_code(IPCT_REGS_NR(regs));

	if (code != IPCT_SYS_NONE)
		sys_exit(regs, ret, code, ipct_cfg_sys_exit_kinds, ipct_cfg_wait_time);
	return 0;
}

/* Entry of receiving calls, for the time they block (attached only with wait time on). */
SEC("tp_btf/sys_enter")
int BPF_PROG(ipct_sys_enter_cast, struct pt_regs *regs, long id)
{
	__u8 code = sys_code(id);

	if (code != IPCT_SYS_NONE)
		sys_enter(regs, code);
	return 0;
}

/* io_uring's completions (uring_complete() in sys_exit_body.bpf.h): the request is untyped
 * (void *) in the tracepoint, made readable with plain loads by the cast. */
SEC("tp_btf/io_uring_complete")
int BPF_PROG(ipct_uring_cast, void *ring, void *req)
{
	uring_complete(req);
	return 0;
}
