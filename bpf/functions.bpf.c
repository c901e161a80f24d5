// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Function hooks, for kernels that allow fentry/fexit (BPF trampolines, Linux 5.5). Nothing runs
 * on the syscalls ipctrace does not follow, unlike the sys_exit tracepoint, whose mere presence
 * sends every syscall of every task through the slow exit path. The attach targets are set by
 * the agent (agent/kernel/hooks.cpp names them per kernel, agent/kernel/planner.cpp picks the program): each program is written for one function's
 * arguments, never for one name.
 *
 * Syscall functions (__x64_sys_msgsnd...) take the caller's pt_regs, so the syscall-exit handler
 * serves them unchanged, built as for tp_btf without bpf_rdonly_cast (sys_exit_btf.bpf.c), which
 * runs on every such kernel. Each counts the kinds of the mechanisms on function hooks
 * (ipct_cfg_fexit_kinds), except that read, write and the socket calls leave pipes and FIFOs to
 * the pipe's own functions below; with function hooks timing receives (ipct_cfg_fn_wait), the
 * fentry twins start the clock.
 */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "read.bpf.h"
#include "wait.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* The syscall-exit handler in the build of sys_exit_btf.bpf.c (typed task, CO-RE reads behind a
 * file, the LRU hash): fentry/fexit programs are typed, and every kernel that allows them has it. */
#include "sys_exit_btf.bpf.h"

#define IPCT_PIPE_KINDS (IPCT_KIND_BIT(IPCT_KIND_PIPE) | IPCT_KIND_BIT(IPCT_KIND_FIFO))
#define IPCT_FD_KINDS (ipct_cfg_fexit_kinds & ~IPCT_PIPE_KINDS)

/* The fexit program `prog` of one syscall function: syscall `code`, counting `kinds`. */
#define IPCT_FEXIT_SYSCALL(prog, code, kinds)                                                      \
	SEC("fexit")                                                                               \
	int BPF_PROG(prog, struct pt_regs *regs, long ret)                                         \
	{                                                                                          \
		sys_exit(regs, ret, code, kinds, ipct_cfg_fn_wait);                                \
		return 0;                                                                          \
	}

/* The fentry program `prog` of one receiving syscall's function: the start of its wait. */
#define IPCT_FENTRY_SYSCALL(prog, code)                                                            \
	SEC("fentry")                                                                              \
	int BPF_PROG(prog, struct pt_regs *regs)                                                   \
	{                                                                                          \
		sys_enter(regs, code);                                                             \
		return 0;                                                                          \
	}

IPCT_FEXIT_SYSCALL(ipct_fx_read, IPCT_SYS_READ, IPCT_FD_KINDS)
IPCT_FEXIT_SYSCALL(ipct_fx_readv, IPCT_SYS_READV, IPCT_FD_KINDS)
IPCT_FEXIT_SYSCALL(ipct_fx_write, IPCT_SYS_WRITE, IPCT_FD_KINDS)
IPCT_FEXIT_SYSCALL(ipct_fx_writev, IPCT_SYS_WRITEV, IPCT_FD_KINDS)
IPCT_FEXIT_SYSCALL(ipct_fx_sendto, IPCT_SYS_SENDTO, IPCT_FD_KINDS)
IPCT_FEXIT_SYSCALL(ipct_fx_sendmsg, IPCT_SYS_SENDMSG, IPCT_FD_KINDS)
IPCT_FEXIT_SYSCALL(ipct_fx_sendmmsg, IPCT_SYS_SENDMMSG, IPCT_FD_KINDS)
IPCT_FEXIT_SYSCALL(ipct_fx_recvfrom, IPCT_SYS_RECVFROM, IPCT_FD_KINDS)
IPCT_FEXIT_SYSCALL(ipct_fx_recvmsg, IPCT_SYS_RECVMSG, IPCT_FD_KINDS)
IPCT_FEXIT_SYSCALL(ipct_fx_recvmmsg, IPCT_SYS_RECVMMSG, IPCT_FD_KINDS)
IPCT_FEXIT_SYSCALL(ipct_fx_splice, IPCT_SYS_SPLICE, ipct_cfg_fexit_kinds)
IPCT_FEXIT_SYSCALL(ipct_fx_tee, IPCT_SYS_TEE, ipct_cfg_fexit_kinds)
IPCT_FEXIT_SYSCALL(ipct_fx_vmsplice, IPCT_SYS_VMSPLICE, ipct_cfg_fexit_kinds)
IPCT_FEXIT_SYSCALL(ipct_fx_sendfile64, IPCT_SYS_SENDFILE, ipct_cfg_fexit_kinds)
IPCT_FEXIT_SYSCALL(ipct_fx_msgsnd, IPCT_SYS_MSGSND, ipct_cfg_fexit_kinds)
IPCT_FEXIT_SYSCALL(ipct_fx_msgrcv, IPCT_SYS_MSGRCV, ipct_cfg_fexit_kinds)
IPCT_FEXIT_SYSCALL(ipct_fx_msgget, IPCT_SYS_MSGGET, ipct_cfg_fexit_kinds)
IPCT_FEXIT_SYSCALL(ipct_fx_msgctl, IPCT_SYS_MSGCTL, ipct_cfg_fexit_kinds)
IPCT_FEXIT_SYSCALL(ipct_fx_mq_open, IPCT_SYS_MQ_OPEN, ipct_cfg_fexit_kinds)
IPCT_FEXIT_SYSCALL(ipct_fx_mq_unlink, IPCT_SYS_MQ_UNLINK, ipct_cfg_fexit_kinds)
IPCT_FEXIT_SYSCALL(ipct_fx_mq_timedsend, IPCT_SYS_MQ_TIMEDSEND, ipct_cfg_fexit_kinds)
IPCT_FEXIT_SYSCALL(ipct_fx_mq_timedreceive, IPCT_SYS_MQ_TIMEDRECEIVE, ipct_cfg_fexit_kinds)
IPCT_FEXIT_SYSCALL(ipct_fx_mq_notify, IPCT_SYS_MQ_NOTIFY, ipct_cfg_fexit_kinds)
IPCT_FEXIT_SYSCALL(ipct_fx_shmget, IPCT_SYS_SHMGET, ipct_cfg_fexit_kinds)
IPCT_FEXIT_SYSCALL(ipct_fx_shmat, IPCT_SYS_SHMAT, ipct_cfg_fexit_kinds)
IPCT_FEXIT_SYSCALL(ipct_fx_shmdt, IPCT_SYS_SHMDT, ipct_cfg_fexit_kinds)
IPCT_FEXIT_SYSCALL(ipct_fx_shmctl, IPCT_SYS_SHMCTL, ipct_cfg_fexit_kinds)

/* Entries of receiving calls, for the time they block (function hooks time the receives). */
IPCT_FENTRY_SYSCALL(ipct_fe_read, IPCT_SYS_READ)
IPCT_FENTRY_SYSCALL(ipct_fe_readv, IPCT_SYS_READV)
IPCT_FENTRY_SYSCALL(ipct_fe_recvfrom, IPCT_SYS_RECVFROM)
IPCT_FENTRY_SYSCALL(ipct_fe_recvmsg, IPCT_SYS_RECVMSG)
IPCT_FENTRY_SYSCALL(ipct_fe_recvmmsg, IPCT_SYS_RECVMMSG)
IPCT_FENTRY_SYSCALL(ipct_fe_msgrcv, IPCT_SYS_MSGRCV)
IPCT_FENTRY_SYSCALL(ipct_fe_mq_timedreceive, IPCT_SYS_MQ_TIMEDRECEIVE)

/*
 * The pipe's own read_iter/write_iter: they run only for pipes and FIFOs, so ordinary files pay
 * nothing, and the file comes typed (plain loads, no descriptor lookup). read, readv, write,
 * writev and io_uring all end here; splice, sendfile, tee and vmsplice move pipe buffers without
 * them and keep their syscall hooks. `kinds` is what the function serves: pipe_read/pipe_write both
 * (pipefifo_fops, before 6.15); since 6.15 ("pipe: introduce struct file_operations
 * pipeanon_fops") anon_pipe_* serve pipes and fifo_pipe_* FIFOs, and a FIFO may pass through
 * both, so each counts only its own.
 */
static __always_inline void pipe_rw_exit(struct kiocb *iocb, long ret, __u8 dir, __u32 kinds)
{
	struct ipct_flow_key key = {};
	struct task_struct *task = bpf_get_current_task_btf();
	struct file *file = iocb->ki_filp;
	struct inode *inode = file->f_inode;
	struct super_block *sb = inode->i_sb;
	__u64 began = 0;

	if (IPCT_TASK_IS_SELF(task))
		return;
	key.kind = sb->s_magic == IPCT_PIPEFS_MAGIC ? IPCT_KIND_PIPE : IPCT_KIND_FIFO;
	if (!(kinds & IPCT_KIND_BIT(key.kind)))
		return;
	if (dir == IPCT_DIR_RECV && ipct_cfg_fn_wait)
		began = wait_take_lru();
	if (ret < 0)
		return;
	if (began != 0)
		record_wait_of(key.kind, IPCT_TASK_CGROUP_ID(task), bpf_ktime_get_ns() - began);
	if (ret == 0 || !(ipct_cfg_fexit_kinds & IPCT_KIND_BIT(key.kind)))
		return;
	key.dir = dir;
	key.ch.obj.id = inode->i_ino;
	key.ch.obj.dev = sb->s_dev;
	record_flow_of(&key, IPCT_TASK_CGROUP_ID(task), 1, ret);
}

/*
 * The three programs of one pair of pipe functions serving `kinds`: fexit on the read function
 * (`read_prog`), fexit on the write function (`write_prog`), fentry on the read function
 * (`entry_prog`, the start of a wait).
 */
#define IPCT_PIPE_FUNCTIONS(read_prog, write_prog, entry_prog, kinds)                              \
	SEC("fexit")                                                                               \
	int BPF_PROG(read_prog, struct kiocb *iocb, struct iov_iter *to, long ret)                 \
	{                                                                                          \
		pipe_rw_exit(iocb, ret, IPCT_DIR_RECV, kinds);                                     \
		return 0;                                                                          \
	}                                                                                          \
	SEC("fexit")                                                                               \
	int BPF_PROG(write_prog, struct kiocb *iocb, struct iov_iter *from, long ret)              \
	{                                                                                          \
		pipe_rw_exit(iocb, ret, IPCT_DIR_SEND, kinds);                                     \
		return 0;                                                                          \
	}                                                                                          \
	SEC("fentry")                                                                              \
	int BPF_PROG(entry_prog, struct kiocb *iocb, struct iov_iter *to)                          \
	{                                                                                          \
		if (!IPCT_TASK_IS_SELF(bpf_get_current_task_btf()))                                \
			wait_start_lru(bpf_ktime_get_ns());                                        \
		return 0;                                                                          \
	}

/* pipe_read, pipe_write (before 6.15). */
IPCT_PIPE_FUNCTIONS(ipct_fx_pipe_read_any, ipct_fx_pipe_write_any, ipct_fe_pipe_read_any,
		    IPCT_PIPE_KINDS)
/* anon_pipe_read, anon_pipe_write (6.15+). */
IPCT_PIPE_FUNCTIONS(ipct_fx_pipe_read_anon, ipct_fx_pipe_write_anon, ipct_fe_pipe_read_anon,
		    IPCT_KIND_BIT(IPCT_KIND_PIPE))
/* fifo_pipe_read, fifo_pipe_write (6.15+). */
IPCT_PIPE_FUNCTIONS(ipct_fx_pipe_read_fifo, ipct_fx_pipe_write_fifo, ipct_fe_pipe_read_fifo,
		    IPCT_KIND_BIT(IPCT_KIND_FIFO))
