// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Syscall entry and exit: one program sees every syscall, keeps only those in the table the agent
 * filled (ipct_cfg_sys_table: syscall number -> enum ipct_sys, zero for the rest) and
 * returns at once for the others. Where: the raw `sys_exit` tracepoint in the syscall
 * exit work (syscall_exit_work -> trace_sys_exit), stable since Linux 3.7; tp_btf since 5.5.
 */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
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

/*
 * sendmmsg/recvmmsg return the number of messages; the bytes of each are in the
 * msg_len the kernel wrote back into the caller's array. vlen is capped at
 * UIO_MAXIOV (1024) by the kernel, so the loop covers every message.
 */
static __always_inline __u64 mmsg_bytes(struct mmsghdr *vec, long n)
{
	__u64 total = 0;
	__u32 len;

	for (int i = 0; i < 1024; i++) {
		if (i >= n)
			break;
		len = 0;
		if (bpf_probe_read_user(&len, sizeof(len), &vec[i].msg_len) != 0) {
			count_drop(IPCT_DROP_READ_FAILED);
			break;
		}
		total += len;
	}
	return total;
}

static __always_inline bool is_receive(__u8 code)
{
	return code == IPCT_SYS_READ || code == IPCT_SYS_READV || code == IPCT_SYS_PREAD ||
	       code == IPCT_SYS_RECVFROM || code == IPCT_SYS_RECVMSG || code == IPCT_SYS_RECVMMSG ||
	       code == IPCT_SYS_MSGRCV || code == IPCT_SYS_MQ_TIMEDRECEIVE;
}

/*
 * Receive start times. Task-local storage (Linux 5.11+, BTF-typed programs only) is a slot
 * in the task itself: no hashing, no locking, nothing to delete. Elsewhere an LRU hash keyed
 * by thread id, so a thread killed inside a call cannot leak its entry.
 */
struct ipct_wait_start {
	__u64 ns;
};

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct ipct_wait_start);
} ipct_wait_starts SEC(".maps");

static __always_inline void wait_start_task(__u64 now)
{
	struct ipct_wait_start *w = bpf_task_storage_get(
		&ipct_wait_starts, bpf_get_current_task_btf(), 0, BPF_LOCAL_STORAGE_GET_F_CREATE);

	if (w)
		w->ns = now;
}

static __always_inline __u64 wait_take_task(void)
{
	struct ipct_wait_start *w =
		bpf_task_storage_get(&ipct_wait_starts, bpf_get_current_task_btf(), 0, 0);
	__u64 began;

	if (!w)
		return 0;
	began = w->ns;
	w->ns = 0;
	return began;
}

static __always_inline void wait_start_lru(__u64 now)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();

	bpf_map_update_elem(&ipct_inflight, &tid, &now, BPF_ANY);
}

static __always_inline __u64 wait_take_lru(void)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	__u64 *start = bpf_map_lookup_elem(&ipct_inflight, &tid);
	__u64 began;

	if (!start)
		return 0;
	began = *start;
	bpf_map_delete_elem(&ipct_inflight, &tid);
	return began;
}

/* Makes a pointer obtained through a helper read readable with plain loads (Linux 6.2+). */
extern void *bpf_rdonly_cast(const void *obj, __u32 btf_id) __ksym __weak;

/* Sockets reached through a descriptor: CO-RE reads, or plain loads after a cast. */
#define IPCT_RD IPCT_RD_CORE
#define IPCT_FN(name) name##_core
#define IPCT_UNIX_SK(sk) ((struct unix_sock *)(sk))
#include "sock.bpf.inc"
#include "flavour_end.bpf.h"

#define IPCT_RD IPCT_RD_BTF
#define IPCT_FN(name) name##_cast
#define IPCT_UNIX_SK(sk)                                                                           \
	((struct unix_sock *)bpf_rdonly_cast(sk, bpf_core_type_id_kernel(struct unix_sock)))
#include "sock.bpf.inc"
#include "flavour_end.bpf.h"

/* tp_btf on kernels with bpf_rdonly_cast: plain loads throughout, task-local wait starts. */
#define IPCT_RD IPCT_RD_BTF
#define IPCT_FN(name) name##_cast
#define IPCT_CURRENT_TASK() bpf_get_current_task_btf()
#define IPCT_AS(p, type) ((type *)bpf_rdonly_cast((p), bpf_core_type_id_kernel(type)))
#define IPCT_FRD IPCT_RD_BTF
#define IPCT_SOCK_KEY sock_key_cast
#define IPCT_WAIT_START wait_start_task
#define IPCT_WAIT_TAKE wait_take_task
#define IPCT_ENTRY_CLASSIFY 0
#define IPCT_CGROUP_ID() IPCT_TASK_CGROUP_ID(IPCT_CURRENT_TASK())
#define IPCT_IS_SELF() IPCT_TASK_IS_SELF(IPCT_CURRENT_TASK())
/* A slot of the descriptor table, read as the first member of a struct that starts with a
 * struct file * (struct kiocb's ki_filp): a plain load instead of a bpf_probe_read_kernel(). */
#define IPCT_FD_SLOT(slot)                                                                         \
	(((struct kiocb *)bpf_rdonly_cast((slot), bpf_core_type_id_kernel(struct kiocb)))->ki_filp)
#include "sys_exit.bpf.inc"
#include "flavour_end.bpf.h"

/* tp_btf before 6.2: typed task walk, CO-RE reads behind a file. */
#define IPCT_RD IPCT_RD_BTF
#define IPCT_FN(name) name##_btf
#define IPCT_CURRENT_TASK() bpf_get_current_task_btf()
#define IPCT_AS(p, type) ((type *)(p))
#define IPCT_FRD IPCT_RD_CORE
#define IPCT_SOCK_KEY sock_key_core
#define IPCT_WAIT_START wait_start_lru
#define IPCT_WAIT_TAKE wait_take_lru
#define IPCT_ENTRY_CLASSIFY 1
#define IPCT_CGROUP_ID() IPCT_TASK_CGROUP_ID(IPCT_CURRENT_TASK())
#define IPCT_IS_SELF() IPCT_TASK_IS_SELF(IPCT_CURRENT_TASK())
#include "sys_exit.bpf.inc"
#include "flavour_end.bpf.h"

/* raw_tp: CO-RE reads throughout. */
#define IPCT_RD IPCT_RD_CORE
#define IPCT_FN(name) name##_core
#define IPCT_CURRENT_TASK() ((struct task_struct *)bpf_get_current_task())
#define IPCT_AS(p, type) ((type *)(p))
#define IPCT_FRD IPCT_RD_CORE
#define IPCT_SOCK_KEY sock_key_core
#define IPCT_WAIT_START wait_start_lru
#define IPCT_WAIT_TAKE wait_take_lru
#define IPCT_ENTRY_CLASSIFY 1
#define IPCT_CGROUP_ID() bpf_get_current_cgroup_id()
#define IPCT_IS_SELF() is_self()
#include "sys_exit.bpf.inc"
#include "flavour_end.bpf.h"

SEC("tp_btf/sys_exit")
int BPF_PROG(ipct_sys_exit_cast, struct pt_regs *regs, long ret)
{
	__u8 code = sys_code(IPCT_REGS_NR(regs));

	if (code != IPCT_SYS_NONE)
		sys_exit_cast(regs, ret, code, ipct_cfg_sys_exit_kinds, ipct_cfg_wait_time);
	return 0;
}

SEC("tp_btf/sys_enter")
int BPF_PROG(ipct_sys_enter_cast, struct pt_regs *regs, long id)
{
	__u8 code = sys_code(id);

	if (code != IPCT_SYS_NONE)
		sys_enter_cast(regs, code);
	return 0;
}

SEC("tp_btf/sys_exit")
int BPF_PROG(ipct_sys_exit_btf, struct pt_regs *regs, long ret)
{
	__u8 code = sys_code(IPCT_REGS_NR(regs));

	if (code != IPCT_SYS_NONE)
		sys_exit_btf(regs, ret, code, ipct_cfg_sys_exit_kinds, ipct_cfg_wait_time);
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
	sys_exit_core(&regs, (long)ctx->args[1], code, ipct_cfg_sys_exit_kinds, ipct_cfg_wait_time);
	return 0;
}

/* Entry of receiving calls, for the time they block (attached only with wait time on). */
SEC("tp_btf/sys_enter")
int BPF_PROG(ipct_sys_enter_btf, struct pt_regs *regs, long id)
{
	__u8 code = sys_code(id);

	if (code != IPCT_SYS_NONE)
		sys_enter_btf(regs, code);
	return 0;
}

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
	sys_enter_core(&regs, code);
	return 0;
}

/*
 * Function hooks, for kernels that allow fentry/fexit (BPF trampolines, Linux 5.5). Nothing runs
 * on the syscalls ipctrace does not follow, unlike the sys_exit tracepoint, whose mere presence
 * sends every syscall of every task through the slow exit path. The attach targets are set by
 * the agent (agent/hooks.cpp names them per kernel): each program is written for one function's
 * arguments, never for one name.
 *
 * Syscall functions (__x64_sys_msgsnd...) take the caller's pt_regs, so the syscall-exit handler
 * serves them unchanged; the typed flavour without bpf_rdonly_cast runs on every such kernel.
 * Each counts the kinds of the mechanisms on function hooks (ipct_cfg_fexit_kinds), except that
 * read, write and the socket calls leave pipes and FIFOs to the pipe's own functions below; with
 * function hooks timing receives (ipct_cfg_fn_wait), the fentry twins start the clock.
 */
#define IPCT_PIPE_KINDS (IPCT_KIND_BIT(IPCT_KIND_PIPE) | IPCT_KIND_BIT(IPCT_KIND_FIFO))
#define IPCT_FD_KINDS (ipct_cfg_fexit_kinds & ~IPCT_PIPE_KINDS)

#define IPCT_FEXIT_SYSCALL(name, code, kinds)                                                      \
	SEC("fexit")                                                                               \
	int BPF_PROG(ipct_fx_##name, struct pt_regs *regs, long ret)                               \
	{                                                                                          \
		sys_exit_btf(regs, ret, code, kinds, ipct_cfg_fn_wait);                            \
		return 0;                                                                          \
	}

#define IPCT_FENTRY_SYSCALL(name, code)                                                            \
	SEC("fentry")                                                                              \
	int BPF_PROG(ipct_fe_##name, struct pt_regs *regs)                                         \
	{                                                                                          \
		sys_enter_btf(regs, code);                                                         \
		return 0;                                                                          \
	}

IPCT_FEXIT_SYSCALL(read, IPCT_SYS_READ, IPCT_FD_KINDS)
IPCT_FEXIT_SYSCALL(readv, IPCT_SYS_READV, IPCT_FD_KINDS)
IPCT_FEXIT_SYSCALL(write, IPCT_SYS_WRITE, IPCT_FD_KINDS)
IPCT_FEXIT_SYSCALL(writev, IPCT_SYS_WRITEV, IPCT_FD_KINDS)
IPCT_FEXIT_SYSCALL(sendto, IPCT_SYS_SENDTO, IPCT_FD_KINDS)
IPCT_FEXIT_SYSCALL(sendmsg, IPCT_SYS_SENDMSG, IPCT_FD_KINDS)
IPCT_FEXIT_SYSCALL(sendmmsg, IPCT_SYS_SENDMMSG, IPCT_FD_KINDS)
IPCT_FEXIT_SYSCALL(recvfrom, IPCT_SYS_RECVFROM, IPCT_FD_KINDS)
IPCT_FEXIT_SYSCALL(recvmsg, IPCT_SYS_RECVMSG, IPCT_FD_KINDS)
IPCT_FEXIT_SYSCALL(recvmmsg, IPCT_SYS_RECVMMSG, IPCT_FD_KINDS)
IPCT_FEXIT_SYSCALL(splice, IPCT_SYS_SPLICE, ipct_cfg_fexit_kinds)
IPCT_FEXIT_SYSCALL(tee, IPCT_SYS_TEE, ipct_cfg_fexit_kinds)
IPCT_FEXIT_SYSCALL(vmsplice, IPCT_SYS_VMSPLICE, ipct_cfg_fexit_kinds)
IPCT_FEXIT_SYSCALL(msgsnd, IPCT_SYS_MSGSND, ipct_cfg_fexit_kinds)
IPCT_FEXIT_SYSCALL(msgrcv, IPCT_SYS_MSGRCV, ipct_cfg_fexit_kinds)
IPCT_FEXIT_SYSCALL(msgget, IPCT_SYS_MSGGET, ipct_cfg_fexit_kinds)
IPCT_FEXIT_SYSCALL(msgctl, IPCT_SYS_MSGCTL, ipct_cfg_fexit_kinds)
IPCT_FEXIT_SYSCALL(mq_open, IPCT_SYS_MQ_OPEN, ipct_cfg_fexit_kinds)
IPCT_FEXIT_SYSCALL(mq_unlink, IPCT_SYS_MQ_UNLINK, ipct_cfg_fexit_kinds)
IPCT_FEXIT_SYSCALL(mq_timedsend, IPCT_SYS_MQ_TIMEDSEND, ipct_cfg_fexit_kinds)
IPCT_FEXIT_SYSCALL(mq_timedreceive, IPCT_SYS_MQ_TIMEDRECEIVE, ipct_cfg_fexit_kinds)
IPCT_FEXIT_SYSCALL(mq_notify, IPCT_SYS_MQ_NOTIFY, ipct_cfg_fexit_kinds)
IPCT_FEXIT_SYSCALL(shmget, IPCT_SYS_SHMGET, ipct_cfg_fexit_kinds)
IPCT_FEXIT_SYSCALL(shmat, IPCT_SYS_SHMAT, ipct_cfg_fexit_kinds)
IPCT_FEXIT_SYSCALL(shmdt, IPCT_SYS_SHMDT, ipct_cfg_fexit_kinds)
IPCT_FEXIT_SYSCALL(shmctl, IPCT_SYS_SHMCTL, ipct_cfg_fexit_kinds)

/* Entries of receiving calls, for the time they block (function hooks time the receives). */
IPCT_FENTRY_SYSCALL(read, IPCT_SYS_READ)
IPCT_FENTRY_SYSCALL(readv, IPCT_SYS_READV)
IPCT_FENTRY_SYSCALL(recvfrom, IPCT_SYS_RECVFROM)
IPCT_FENTRY_SYSCALL(recvmsg, IPCT_SYS_RECVMSG)
IPCT_FENTRY_SYSCALL(recvmmsg, IPCT_SYS_RECVMMSG)
IPCT_FENTRY_SYSCALL(msgrcv, IPCT_SYS_MSGRCV)
IPCT_FENTRY_SYSCALL(mq_timedreceive, IPCT_SYS_MQ_TIMEDRECEIVE)

/*
 * The pipe's own read_iter/write_iter: they run only for pipes and FIFOs, so ordinary files pay
 * nothing, and the file comes typed (plain loads, no descriptor lookup). read, readv, write,
 * writev and io_uring all end here; splice, tee and vmsplice move pipe buffers without them and
 * keep their syscall hooks. `kinds` is what the function serves: pipe_read/pipe_write both
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

#define IPCT_PIPE_FUNCTIONS(suffix, kinds)                                                         \
	SEC("fexit")                                                                               \
	int BPF_PROG(ipct_fx_pipe_read_##suffix, struct kiocb *iocb, struct iov_iter *to,          \
		     long ret)                                                                     \
	{                                                                                          \
		pipe_rw_exit(iocb, ret, IPCT_DIR_RECV, kinds);                                     \
		return 0;                                                                          \
	}                                                                                          \
	SEC("fexit")                                                                               \
	int BPF_PROG(ipct_fx_pipe_write_##suffix, struct kiocb *iocb, struct iov_iter *from,       \
		     long ret)                                                                     \
	{                                                                                          \
		pipe_rw_exit(iocb, ret, IPCT_DIR_SEND, kinds);                                     \
		return 0;                                                                          \
	}                                                                                          \
	SEC("fentry")                                                                              \
	int BPF_PROG(ipct_fe_pipe_read_##suffix, struct kiocb *iocb, struct iov_iter *to)          \
	{                                                                                          \
		if (!IPCT_TASK_IS_SELF(bpf_get_current_task_btf()))                                \
			wait_start_lru(bpf_ktime_get_ns());                                        \
		return 0;                                                                          \
	}

IPCT_PIPE_FUNCTIONS(any, IPCT_PIPE_KINDS)
IPCT_PIPE_FUNCTIONS(anon, IPCT_KIND_BIT(IPCT_KIND_PIPE))
IPCT_PIPE_FUNCTIONS(fifo, IPCT_KIND_BIT(IPCT_KIND_FIFO))
