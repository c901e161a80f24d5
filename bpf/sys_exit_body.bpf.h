/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The syscall path:
 *  - at exit: pipes and FIFOs (read/write family, splice, sendfile, tee, vmsplice), sockets where the
 *    socket tracepoints are missing (read, write, send and receive calls), SysV queues and shared
 *    memory, POSIX message queues; and the end of a timed receiving call;
 *  - at entry (only with wait time on): the start of a receiving call.
 * sys_exit() and sys_enter() serve the sys_exit/sys_enter tracepoints (sys_exit_*.bpf.c) and the
 * syscall functions' fexit/fentry (functions.bpf.c).
 *
 * A body: the including .bpf.c defines first, for its program type and kernel,
 *   IPCT_CURRENT_TASK()            the current task (typed or not);
 *   IPCT_TASK_RD(task, f...)       reads from the current task (read.bpf.h);
 *   IPCT_FD_SLOT_READ(file, slot)  reads the struct file * in a descriptor-table slot into
 *                                  *file, 0 on success (a plain load or bpf_probe_read_kernel());
 *   IPCT_AS(ptr, type)             a pointer read through a helper, made readable with plain
 *                                  loads (bpf_rdonly_cast) or left as it is;
 *   IPCT_FILE_RD(ptr, f...)        reads behind such a pointer: a file and what hangs from it;
 *   IPCT_WAIT_START(now)           where a receive's start time is kept (wait.bpf.h),
 *   IPCT_WAIT_TAKE()               and taken back;
 *   IPCT_ENTRY_CLASSIFY            1 to time plain reads only on IPC descriptors, 0 to time
 *                                  every one (where a start is cheap: task-local storage);
 *   IPCT_CGROUP_ID()               the current task's cgroup v2 id;
 *   IPCT_IS_SELF()                 whether the current task belongs to the agent (never traced);
 * and the knobs of sock_key_body.bpf.h, which classifies the sockets found through a file.
 */
#ifndef IPCTRACE_SYS_EXIT_BODY_BPF_H
#define IPCTRACE_SYS_EXIT_BODY_BPF_H

#ifndef IPCT_CURRENT_TASK
#error "sys_exit_body.bpf.h: define IPCT_CURRENT_TASK() first"
#endif
#ifndef IPCT_TASK_RD
#error "sys_exit_body.bpf.h: define IPCT_TASK_RD(task, field...) first"
#endif
#ifndef IPCT_FD_SLOT_READ
#error "sys_exit_body.bpf.h: define IPCT_FD_SLOT_READ(file, slot) first"
#endif
#ifndef IPCT_AS
#error "sys_exit_body.bpf.h: define IPCT_AS(ptr, type) first"
#endif
#ifndef IPCT_FILE_RD
#error "sys_exit_body.bpf.h: define IPCT_FILE_RD(ptr, field...) first"
#endif
#ifndef IPCT_WAIT_START
#error "sys_exit_body.bpf.h: define IPCT_WAIT_START(now) first"
#endif
#ifndef IPCT_WAIT_TAKE
#error "sys_exit_body.bpf.h: define IPCT_WAIT_TAKE() first"
#endif
#ifndef IPCT_ENTRY_CLASSIFY
#error "sys_exit_body.bpf.h: define IPCT_ENTRY_CLASSIFY (0 or 1) first"
#endif
#ifndef IPCT_CGROUP_ID
#error "sys_exit_body.bpf.h: define IPCT_CGROUP_ID() first"
#endif
#ifndef IPCT_IS_SELF
#error "sys_exit_body.bpf.h: define IPCT_IS_SELF() first"
#endif

#include <bpf/bpf_helpers.h>

#include "consts.bpf.h"
#include "flow.bpf.h"
#include "regs.bpf.h"
#include "sock_key_body.bpf.h"
#include "wait.bpf.h"

/* The syscall's enum ipct_sys from the table the agent filled (zero: not followed). */
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

/* The open file behind descriptor `fd` of the current task, or NULL. */
static __always_inline struct file *fd_file(long fd)
{
	struct task_struct *task = IPCT_CURRENT_TASK();
	struct fdtable *fdt = IPCT_TASK_RD(task, files, fdt);
	struct file **fds;
	struct file *file = NULL;

	if (fd < 0 || fd >= (long)IPCT_TASK_RD(fdt, max_fds))
		return NULL;
	fds = IPCT_TASK_RD(fdt, fd);
	if (IPCT_FD_SLOT_READ(&file, &fds[fd & 0xffffff]) != 0) {
		count_drop(IPCT_DROP_READ_FAILED);
		return NULL;
	}
	return IPCT_AS(file, struct file);
}

/* Fills kind and channel if `file` is a pipe, a FIFO or an IPC socket. */
static __always_inline bool file_key(struct file *file, __u8 dir, struct ipct_flow_key *key)
{
	struct inode *inode;
	struct super_block *sb;
	struct socket *sock;
	__u16 mode;

	if (!file)
		return false;
	inode = IPCT_FILE_RD(file, f_inode);
	mode = IPCT_FILE_RD(inode, i_mode) & IPCT_S_IFMT;
	if (mode == IPCT_S_IFIFO) {
		sb = IPCT_FILE_RD(inode, i_sb);
		key->kind = IPCT_FILE_RD(sb, s_magic) == IPCT_PIPEFS_MAGIC ? IPCT_KIND_PIPE
									   : IPCT_KIND_FIFO;
		key->ch.obj.id = IPCT_FILE_RD(inode, i_ino);
		key->ch.obj.dev = IPCT_FILE_RD(sb, s_dev);
		return true;
	}
	if (mode == IPCT_S_IFSOCK) {
		/* A socket's file keeps its struct socket in private_data (sock_alloc_file()). */
		sock = IPCT_AS(IPCT_FILE_RD(file, private_data), struct socket);
		if (!sock)
			return false;
		return sock_key(IPCT_FILE_RD(sock, sk), dir, key);
	}
	return false;
}

/*
 * Counts a data operation on `key` if its kind is counted on this path: `kinds` is the
 * IPCT_KIND_BIT()s of the program's path (ipct_cfg_sys_exit_kinds on the syscall tracepoints,
 * ipct_cfg_fexit_kinds on the syscall functions), so two paths never count one call twice.
 */
static __always_inline void fd_record(struct ipct_flow_key *key, __u8 dir, __u64 msgs, __u64 bytes,
				      __u32 kinds)
{
	if (!(kinds & IPCT_KIND_BIT(key->kind)))
		return;
	key->dir = dir;
	record_flow_of(key, IPCT_CGROUP_ID(), msgs, bytes);
}

static __always_inline void fd_data(long fd, __u8 dir, long bytes, __u32 kinds)
{
	struct ipct_flow_key key = {};

	if (file_key(fd_file(fd), dir, &key))
		fd_record(&key, dir, 1, bytes, kinds);
}

/*
 * The kinds a splice or sendfile counts on a path counting `kinds`: the path that counts pipes
 * also counts the socket ends the socket tracepoints leave to it (sock_splicing()).
 */
static __always_inline __u32 transfer_kinds(__u32 kinds)
{
	if (kinds & (IPCT_KIND_BIT(IPCT_KIND_PIPE) | IPCT_KIND_BIT(IPCT_KIND_FIFO)))
		return kinds | ipct_cfg_splice_kinds;
	return kinds;
}

/* vmsplice moves user memory into a pipe opened for writing, or out of one opened for reading. */
static __always_inline void vmsplice_data(long fd, long bytes, __u32 kinds)
{
	struct ipct_flow_key key = {};
	struct file *file = fd_file(fd);
	__u8 dir;

	if (!file)
		return;
	dir = (IPCT_FILE_RD(file, f_mode) & IPCT_FMODE_WRITE) ? IPCT_DIR_SEND : IPCT_DIR_RECV;
	if (file_key(file, dir, &key))
		fd_record(&key, dir, 1, bytes, kinds);
}

/*
 * sendmmsg() and recvmmsg(): `n` messages on one descriptor, one entry for the call. On the
 * syscall paths an unconnected datagram socket's messages are not told apart by destination (an
 * unknown peer): reading each message's name at exit is a loop over sock_dest() that 6.1's
 * verifier refuses (the socket tracepoints key them per message, sock_mmsg_index()).
 */
static __always_inline void mmsg_data(long fd, __u8 dir, long n, struct mmsghdr *vec, __u32 kinds)
{
	struct ipct_flow_key key = {};

	if (n <= 0 || !file_key(fd_file(fd), dir, &key))
		return;
	if (!(kinds & IPCT_KIND_BIT(key.kind)))
		return;
	fd_record(&key, dir, n, mmsg_bytes(vec, n), kinds);
}

/*
 * A write or send: on a UDP or unix datagram socket, to the destination a sendto() or sendmsg()
 * names, if it names one (sock_dest()). One call site (each inlined copy of a classification
 * costs the verifier).
 */
static __always_inline void send_data(struct pt_regs *regs, __u8 code, long bytes, __u32 kinds)
{
	struct ipct_flow_key key = {};
	struct file *file = fd_file(IPCT_REGS_ARG0(regs));
	struct socket *sock;
	struct sock *sk;

	if (!file_key(file, IPCT_DIR_SEND, &key))
		return;
	if ((key.kind == IPCT_KIND_UDP || key.kind == IPCT_KIND_UNIX_DGRAM) &&
	    (code == IPCT_SYS_SENDTO || code == IPCT_SYS_SENDMSG)) {
		sock = IPCT_AS(IPCT_FILE_RD(file, private_data), struct socket);
		sk = IPCT_FILE_RD(sock, sk);
		if (code == IPCT_SYS_SENDTO)
			sock_dest(sk, &key, (const void *)IPCT_REGS_ARG4(regs),
				  (__u32)IPCT_REGS_ARG5(regs));
		else
			sock_msg_dest(sk, &key, (const void *)IPCT_REGS_ARG1(regs));
	}
	fd_record(&key, IPCT_DIR_SEND, 1, bytes, kinds);
}

static __always_inline __u32 ipc_ns(void)
{
	struct task_struct *task = IPCT_CURRENT_TASK();

	return IPCT_TASK_RD(task, nsproxy, ipc_ns, ns.inum);
}

static __always_inline void msg_data(long msqid, __u8 dir, long bytes, __u32 kinds)
{
	struct ipct_flow_key key = {};

	if (!(kinds & IPCT_KIND_BIT(IPCT_KIND_SYSV_MSG)))
		return;
	key.kind = IPCT_KIND_SYSV_MSG;
	key.dir = dir;
	key.ch.obj.id = (__u64)msqid;
	key.ch.obj.dev = ipc_ns();
	record_flow_of(&key, IPCT_CGROUP_ID(), 1, bytes);
}

/* The mqueue inode behind descriptor `fd`: id and device. */
static __always_inline bool mq_inode(long fd, __u64 *ino, __u32 *dev)
{
	struct file *file = fd_file(fd);
	struct inode *inode;

	if (!file)
		return false;
	inode = IPCT_FILE_RD(file, f_inode);
	*ino = IPCT_FILE_RD(inode, i_ino);
	*dev = IPCT_FILE_RD(inode, i_sb, s_dev);
	return true;
}

static __always_inline void mq_data(long fd, __u8 dir, long bytes, __u32 kinds)
{
	struct ipct_flow_key key = {};

	if (!(kinds & IPCT_KIND_BIT(IPCT_KIND_POSIX_MQ)))
		return;
	if (!mq_inode(fd, &key.ch.obj.id, &key.ch.obj.dev))
		return;
	key.kind = IPCT_KIND_POSIX_MQ;
	key.dir = dir;
	record_flow_of(&key, IPCT_CGROUP_ID(), 1, bytes);
}

static __always_inline void ipc_event(__u8 kind, __u8 op, long ret, __u64 id, __u64 aux, __u64 aux2)
{
	struct ipct_event *e = event_reserve(kind, op, ret);

	if (!e)
		return;
	e->id = id;
	e->aux = aux;
	e->aux2 = aux2;
	e->dev = ipc_ns();
	event_submit(e);
}

static __always_inline void mq_event(__u8 op, long ret, long fd, const char *uname)
{
	struct ipct_event *e = event_reserve(IPCT_KIND_POSIX_MQ, op, ret);

	if (!e)
		return;
	if (fd >= 0)
		mq_inode(fd, &e->id, &e->dev);
	if (uname && bpf_probe_read_user_str(e->name, sizeof(e->name), uname) < 0)
		e->name[0] = 0;
	event_submit(e);
}

/*
 * Entry of a receiving call: remember when it started. Plain reads are only followed on
 * pipes, FIFOs and sockets, so reads of ordinary files never touch the map.
 */
static __always_inline void sys_enter(struct pt_regs *regs, __u8 code)
{
	struct ipct_flow_key key = {};

	if (!is_receive(code) || IPCT_IS_SELF())
		return;
	if (IPCT_ENTRY_CLASSIFY &&
	    (code == IPCT_SYS_READ || code == IPCT_SYS_READV || code == IPCT_SYS_PREAD) &&
	    !file_key(fd_file(IPCT_REGS_ARG0(regs)), IPCT_DIR_RECV, &key))
		return;
	IPCT_WAIT_START(bpf_ktime_get_ns());
}

/* Exit of a receiving call: how long it was blocked, under `kind` (UNKNOWN: just forget it). */
static __always_inline void wait_done(__u8 kind)
{
	__u64 began = IPCT_WAIT_TAKE();

	if (began != 0 && kind != IPCT_KIND_UNKNOWN)
		record_wait_of(kind, IPCT_CGROUP_ID(), bpf_ktime_get_ns() - began);
}

/* A receive on a descriptor: data (if counted here) and the wait, from one classification. */
static __always_inline void fd_receive(long fd, long ret, struct mmsghdr *vec, __u32 kinds,
				       bool wait)
{
	struct ipct_flow_key key = {};
	bool ipc = file_key(fd_file(fd), IPCT_DIR_RECV, &key);

	if (ipc && ret > 0) {
		if (vec)
			fd_record(&key, IPCT_DIR_RECV, ret, mmsg_bytes(vec, ret), kinds);
		else
			fd_record(&key, IPCT_DIR_RECV, 1, ret, kinds);
	}
	/* A start left by a receive that was not IPC (an ordinary file's read) is harmless: every
	 * IPC receive's own entry writes a fresh one. So such reads skip the lookup here. */
	if (wait && ipc)
		wait_done(key.kind);
}

/* A MSG_PEEK receive leaves the data queued: it moved nothing (its wait still ends). */
static __always_inline bool peeked(__u8 code, struct pt_regs *regs)
{
	if (code == IPCT_SYS_RECVFROM) /* recvfrom(fd, buf, len, flags, ...) */
		return IPCT_REGS_ARG3(regs) & IPCT_MSG_PEEK;
	if (code == IPCT_SYS_RECVMSG) /* recvmsg(fd, msg, flags) */
		return IPCT_REGS_ARG2(regs) & IPCT_MSG_PEEK;
	return false;
}

/*
 * One syscall's exit. `regs` holds the original arguments; `code` is the syscall's
 * enum ipct_sys (never NONE); `kinds` the kinds whose data this path counts (lifecycle events
 * come only from the path their mechanism chose); `wait` whether it ends receive waits.
 * Failed calls (ret < 0: errors, EAGAIN, EINTR) count nothing.
 */
static __always_inline void sys_exit(struct pt_regs *regs, long ret, __u8 code, __u32 kinds,
				     bool wait)
{
	if (IPCT_IS_SELF())
		return;
	/* The socket tracepoints' count of a sendmmsg's messages (sock_mmsg_index()) ends with the
	 * call, failed or not: a call can send a message and still fail (EFAULT writing its length). */
	if (code == IPCT_SYS_SENDMMSG && ipct_cfg_nr_sendmmsg >= 0) {
		__u64 tid = bpf_get_current_pid_tgid();

		bpf_map_delete_elem(&ipct_mmsg_pos, &tid);
	}
	if (ret < 0) {
		if (wait && is_receive(code))
			wait_done(IPCT_KIND_UNKNOWN); /* forget the entry */
		return;
	}

	switch (code) {
	/*
	 * One call site for the receives (each inlined copy of fd_receive costs the verifier: on
	 * 6.1 three of them with the socket classification went past its complexity limit).
	 */
	case IPCT_SYS_READ:
	case IPCT_SYS_READV:
	case IPCT_SYS_PREAD:
	case IPCT_SYS_RECVFROM:
	case IPCT_SYS_RECVMSG:
		fd_receive(IPCT_REGS_ARG0(regs), peeked(code, regs) ? 0 : ret, NULL, kinds, wait);
		break;
	case IPCT_SYS_RECVMMSG: /* recvmmsg(fd, vec, vlen, flags, timeout) */
		fd_receive(IPCT_REGS_ARG0(regs), (IPCT_REGS_ARG3(regs) & IPCT_MSG_PEEK) ? 0 : ret,
			   (struct mmsghdr *)IPCT_REGS_ARG1(regs), kinds, wait);
		break;
	case IPCT_SYS_WRITE:
	case IPCT_SYS_WRITEV:
	case IPCT_SYS_PWRITE:
	case IPCT_SYS_SENDTO:
	case IPCT_SYS_SENDMSG:
		if (ret > 0)
			send_data(regs, code, ret, kinds);
		break;
	case IPCT_SYS_SENDMMSG:
		mmsg_data(IPCT_REGS_ARG0(regs), IPCT_DIR_SEND, ret,
			  (struct mmsghdr *)IPCT_REGS_ARG1(regs), kinds);
		break;
	/* One call site for both (each inlined copy of a transfer's two classifications costs the
	 * verifier): splice(fd_in, off_in, fd_out, ...), either end a pipe or a socket (or both);
	 * sendfile64(out_fd, in_fd, ...), from a file or a socket into a socket or (Linux 5.12+)
	 * a pipe. Neither passes through the pipe's read/write functions, and a socket end is
	 * counted here for the sockets on the socket tracepoints too (transfer_kinds()). */
	case IPCT_SYS_SPLICE:
	case IPCT_SYS_SENDFILE:
		if (ret > 0) {
			bool splice = code == IPCT_SYS_SPLICE;

			fd_data(splice ? IPCT_REGS_ARG0(regs) : IPCT_REGS_ARG1(regs), IPCT_DIR_RECV,
				ret, transfer_kinds(kinds));
			fd_data(splice ? IPCT_REGS_ARG2(regs) : IPCT_REGS_ARG0(regs), IPCT_DIR_SEND,
				ret, transfer_kinds(kinds));
		}
		break;
	case IPCT_SYS_TEE: /* tee(fd_in, fd_out, ...) copies without consuming fd_in */
		if (ret > 0)
			fd_data(IPCT_REGS_ARG1(regs), IPCT_DIR_SEND, ret, kinds);
		break;
	case IPCT_SYS_VMSPLICE:
		if (ret > 0)
			vmsplice_data(IPCT_REGS_ARG0(regs), ret, kinds);
		break;
	case IPCT_SYS_MSGSND: /* all or nothing: 0 on success, msgsz bytes moved */
		if (ret == 0)
			msg_data(IPCT_REGS_ARG0(regs), IPCT_DIR_SEND, IPCT_REGS_ARG2(regs), kinds);
		break;
	case IPCT_SYS_MSGRCV: /* bytes of mtext copied; an empty message is a message */
		/* MSG_COPY (Linux 3.8, for checkpoint/restore) copies a message and leaves it
		 * queued: like a peek, not a receive. */
		if (!(IPCT_REGS_ARG4(regs) & IPCT_MSG_COPY))
			msg_data(IPCT_REGS_ARG0(regs), IPCT_DIR_RECV, ret, kinds);
		if (wait)
			wait_done(IPCT_KIND_SYSV_MSG);
		break;
	case IPCT_SYS_MSGGET:
		ipc_event(IPCT_KIND_SYSV_MSG, IPCT_OP_CREATE, ret, ret, IPCT_REGS_ARG0(regs), 0);
		break;
	case IPCT_SYS_MSGCTL:
		if ((IPCT_REGS_ARG1(regs) & 0xff) == IPCT_IPC_RMID)
			ipc_event(IPCT_KIND_SYSV_MSG, IPCT_OP_REMOVE, ret, IPCT_REGS_ARG0(regs), 0,
				  0);
		break;
	case IPCT_SYS_MQ_TIMEDSEND: /* all or nothing: 0 on success, msg_len bytes moved */
		if (ret == 0)
			mq_data(IPCT_REGS_ARG0(regs), IPCT_DIR_SEND, IPCT_REGS_ARG2(regs), kinds);
		break;
	case IPCT_SYS_MQ_TIMEDRECEIVE:
		mq_data(IPCT_REGS_ARG0(regs), IPCT_DIR_RECV, ret, kinds);
		if (wait)
			wait_done(IPCT_KIND_POSIX_MQ);
		break;
	case IPCT_SYS_MQ_OPEN:
		mq_event(IPCT_OP_OPEN, ret, ret, (const char *)IPCT_REGS_ARG0(regs));
		break;
	case IPCT_SYS_MQ_UNLINK:
		mq_event(IPCT_OP_UNLINK, ret, -1, (const char *)IPCT_REGS_ARG0(regs));
		break;
	case IPCT_SYS_MQ_NOTIFY:
		mq_event(IPCT_OP_NOTIFY, IPCT_REGS_ARG1(regs) != 0, IPCT_REGS_ARG0(regs), NULL);
		break;
	case IPCT_SYS_SHMGET:
		ipc_event(IPCT_KIND_SYSV_SHM, IPCT_OP_CREATE, ret, ret, IPCT_REGS_ARG0(regs),
			  IPCT_REGS_ARG1(regs));
		break;
	case IPCT_SYS_SHMAT:
		ipc_event(IPCT_KIND_SYSV_SHM, IPCT_OP_ATTACH, 0, IPCT_REGS_ARG0(regs), ret, 0);
		break;
	case IPCT_SYS_SHMDT:
		ipc_event(IPCT_KIND_SYSV_SHM, IPCT_OP_DETACH, ret, 0, IPCT_REGS_ARG0(regs), 0);
		break;
	case IPCT_SYS_SHMCTL:
		if ((IPCT_REGS_ARG1(regs) & 0xff) == IPCT_IPC_RMID)
			ipc_event(IPCT_KIND_SYSV_SHM, IPCT_OP_REMOVE, ret, IPCT_REGS_ARG0(regs), 0,
				  0);
		break;
	default:
		break;
	}
}

/*
 * io_uring. A request moves data without a read, write, send or receive call of its own, so
 * neither sys_exit nor a syscall's function sees it; its completion does: the
 * io_uring:io_uring_complete tracepoint fires once per completion posted for a request, with the
 * request (struct io_kiocb: its opcode, its file, cqe.res the bytes moved), in the task
 * completing it: the submitter, an io-wq worker of its process, or the SQPOLL thread of the
 * ring creator's process (their cgroup). The request is the tracepoint's second argument on the kernels whose BTF says so
 * (6.1: ctx, req, user_data, res...; 6.18: ctx, req, cqe): the planner checks.
 * Counted here, one message per successful completion:
 *  - reads and writes, sends and receives (the vectored, fixed-buffer and zero-copy variants) on
 *    the kinds in ipct_cfg_uring_rw_kinds: those no other hook sees. The pipe's own functions
 *    and the socket tracepoints see io_uring's reads and writes; sys_exit and the syscalls'
 *    functions do not;
 *  - splice and tee: the output (the request's file) for ipct_cfg_uring_splice_out_kinds, the
 *    input of a splice (splice_fd_in, a descriptor of the submitter's table) for
 *    ipct_cfg_uring_splice_in_kinds.
 * Not seen: completions posted without the request (the intermediate completions of multishot
 * receives; READ_MULTISHOT is not counted at all), completions that overflow the completion queue
 * (traced without the request, if at all), requests with IOSQE_CQE_SKIP_SUCCESS (no completion),
 * the input of a splice from a registered file (SPLICE_F_FD_IN_FIXED).
 */
static __always_inline void uring_complete(void *ptr)
{
	struct io_kiocb *req = IPCT_AS(ptr, struct io_kiocb);
	struct ipct_flow_key key = {};
	struct io_splice *sp;
	__u32 kinds;
	__u8 dir;
	__u8 op;
	int res;

	if (!req || IPCT_IS_SELF())
		return;
	res = IPCT_FILE_RD(req, cqe.res);
	if (res <= 0)
		return;
	op = IPCT_FILE_RD(req, opcode);
	switch (op) {
	case IORING_OP_READV:
	case IORING_OP_READ_FIXED:
	case IORING_OP_READV_FIXED:
	case IORING_OP_READ:
	case IORING_OP_RECVMSG:
	case IORING_OP_RECV:
		dir = IPCT_DIR_RECV;
		kinds = ipct_cfg_uring_rw_kinds;
		break;
	case IORING_OP_WRITEV:
	case IORING_OP_WRITE_FIXED:
	case IORING_OP_WRITEV_FIXED:
	case IORING_OP_WRITE:
	case IORING_OP_SENDMSG:
	case IORING_OP_SEND:
	case IORING_OP_SEND_ZC:
	case IORING_OP_SENDMSG_ZC:
		dir = IPCT_DIR_SEND;
		kinds = ipct_cfg_uring_rw_kinds;
		break;
	case IORING_OP_SPLICE:
		/* struct io_splice lives in the request's command area (io_kiocb.cmd). */
		sp = IPCT_AS((void *)&req->cmd, struct io_splice);
		if (!(IPCT_FILE_RD(sp, flags) & IPCT_SPLICE_F_FD_IN_FIXED) &&
		    file_key(fd_file(IPCT_FILE_RD(sp, splice_fd_in)), IPCT_DIR_RECV, &key))
			fd_record(&key, IPCT_DIR_RECV, 1, res, ipct_cfg_uring_splice_in_kinds);
		__builtin_memset(&key, 0, sizeof(key));
		dir = IPCT_DIR_SEND;
		kinds = ipct_cfg_uring_splice_out_kinds;
		break;
	case IORING_OP_TEE: /* copies without consuming its input */
		dir = IPCT_DIR_SEND;
		kinds = ipct_cfg_uring_splice_out_kinds;
		break;
	default:
		return;
	}
	if (file_key(IPCT_AS(IPCT_FILE_RD(req, file), struct file), dir, &key))
		fd_record(&key, dir, 1, res, kinds);
}

#endif /* IPCTRACE_SYS_EXIT_BODY_BPF_H */
