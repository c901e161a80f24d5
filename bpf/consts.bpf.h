/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The kernel constants vmlinux.h lacks (a #define never reaches BTF), each with the header that
 * defines it. The ABI ones are values userspace passes or reads, stable whichever header holds
 * them; the kernel-internal ones have kept their values in every kernel ipctrace runs on.
 */
#ifndef IPCTRACE_CONSTS_BPF_H
#define IPCTRACE_CONSTS_BPF_H

/* Magic numbers from include/uapi/linux/magic.h (stable ABI). */
#define IPCT_PIPEFS_MAGIC 0x50495045
#define IPCT_MQUEUE_MAGIC 0x19800202

/* File type bits of i_mode (include/uapi/linux/stat.h). */
#define IPCT_S_IFMT 00170000
#define IPCT_S_IFIFO 0010000
#define IPCT_S_IFSOCK 0140000

/* Address families (include/linux/socket.h; ABI: libc's AF_*). */
#define IPCT_AF_UNSPEC 0
#define IPCT_AF_UNIX 1
#define IPCT_AF_INET 2
#define IPCT_AF_INET6 10

/* Bytes of a struct sockaddr_un's sun_path (include/uapi/linux/un.h, UNIX_PATH_MAX). */
#define IPCT_UNIX_PATH_MAX 108

/* Socket types (include/linux/net.h, enum sock_type; ABI: libc's SOCK_*). */
#define IPCT_SOCK_STREAM 1
#define IPCT_SOCK_DGRAM 2
#define IPCT_SOCK_SEQPACKET 5

/* Protocols (include/uapi/linux/in.h). */
#define IPCT_IPPROTO_TCP 6
#define IPCT_IPPROTO_UDP 17

/* Receive flags (include/linux/socket.h; ABI: libc's MSG_*). */
#define IPCT_MSG_PEEK 2

/* IPC commands (include/uapi/linux/ipc.h). */
#define IPCT_IPC_RMID 0

/* msgrcv flags (include/uapi/linux/msg.h): copy the message at an index and leave it queued. */
#define IPCT_MSG_COPY 040000

/* How a signal was sent: si_code (include/uapi/asm-generic/siginfo.h). */
#define IPCT_SI_USER 0	   /* kill() */
#define IPCT_SI_QUEUE (-1) /* sigqueue() */
#define IPCT_SI_MESGQ (-3) /* a message arrived on an empty POSIX queue (mq_notify()) */
#define IPCT_SI_TKILL (-6) /* tkill(), tgkill() */

/* Kernel-internal: f_mode bits (include/linux/fs.h). */
#define IPCT_FMODE_WRITE 0x2

/* include/uapi/linux/io_uring.h: an io_uring splice's splice_fd_in is an index into the ring's
 * registered files, not a descriptor. */
#define IPCT_SPLICE_F_FD_IN_FIXED (1U << 31)

/* task_struct.flags (include/linux/sched.h): an io_uring worker (io-wq, SQPOLL) or another kernel
 * thread; such a thread's pt_regs are a copy of its creator's, not a syscall of its own. */
#define IPCT_PF_IO_WORKER 0x00000010
#define IPCT_PF_KTHREAD 0x00200000

/*
 * Kernel-internal: the siginfo argument of the signal functions when there is none
 * (include/linux/sched/signal.h): SEND_SIG_NOINFO (0) is a plain kill() from userspace,
 * SEND_SIG_PRIV (1) a signal the kernel sends.
 */
#define IPCT_SEND_SIG_NOINFO ((struct kernel_siginfo *)0)
#define IPCT_SEND_SIG_PRIV ((struct kernel_siginfo *)1)

/*
 * Kernel-internal: the `result` of signal:signal_generate (include/trace/events/signal.h, enum
 * trace_signal_result). Every result but OVERFLOW_FAIL is a signal the sender sent and the kernel
 * accepted (kill() returned 0): DELIVERED (queued), IGNORED (the target's disposition, or its
 * default action, ignores it: SIGCONT to a stopped process, SIGCHLD, SIG_IGN), ALREADY_PENDING (a
 * standard signal merged with a pending one), LOSE_INFO (queued without its siginfo).
 * OVERFLOW_FAIL: a real-time signal's queue was full and the sender got EAGAIN.
 */
#define IPCT_TRACE_SIGNAL_DELIVERED 0
#define IPCT_TRACE_SIGNAL_OVERFLOW_FAIL 3

#endif /* IPCTRACE_CONSTS_BPF_H */
