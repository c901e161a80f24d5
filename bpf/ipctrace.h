/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * ipctrace kernel/userspace ABI.
 *
 * Included by the BPF programs (after vmlinux.h) and by the C++ agent (after
 * <linux/types.h>). It holds only fixed-width types with explicit padding and
 * includes nothing itself; the agent pins every size and offset with
 * static_assert (agent/kernel/abi.h), so a change here that moves a field fails the
 * build instead of corrupting records.
 */
#ifndef IPCTRACE_ABI_H
#define IPCTRACE_ABI_H

/* IPC mechanisms, as exported in the `kind` label. Values are ABI. */
enum ipct_kind {
	IPCT_KIND_UNKNOWN = 0,
	IPCT_KIND_PIPE = 1,
	IPCT_KIND_FIFO = 2,
	IPCT_KIND_UNIX_STREAM = 3,
	IPCT_KIND_UNIX_DGRAM = 4,
	IPCT_KIND_UNIX_SEQPACKET = 5,
	IPCT_KIND_TCP = 6,
	IPCT_KIND_UDP = 7,
	IPCT_KIND_SYSV_MSG = 8,
	IPCT_KIND_POSIX_MQ = 9,
	IPCT_KIND_SYSV_SHM = 10,
	IPCT_KIND_SIGNAL = 11,
	IPCT_KIND_MAX = 12,
};

/*
 * Namespace inode numbers of a task: what `readlink /proc/PID/ns/NAME` prints
 * between the brackets. Inode numbers of nsfs are 32-bit (ns_common.inum).
 */
struct ipct_ns_ids {
	__u32 ipc;
	__u32 net;
	__u32 pid;
	__u32 mnt;
	__u32 uts;
	__u32 cgroup;
	__u32 user;
	__u32 _pad;
};

/*
 * Feature probe (bpf/probe/feature.bpf.c): every probe program counts its hits
 * for the target process only, and the ring-buffer probe sends one of these.
 * The namespace ids prove that CO-RE relocations resolved on this kernel.
 */
struct ipct_probe_event {
	__u32 tgid;
	__u32 tid;
	__u64 cgroup_id;
	struct ipct_ns_ids ns;
};

/* Direction of a data operation on a channel. */
enum ipct_dir {
	IPCT_DIR_SEND = 0,
	IPCT_DIR_RECV = 1,
};

/*
 * Channel identity of the object kinds (all but tcp/udp):
 *   pipe, fifo, posix_mq: id = inode number, dev = superblock device (kernel encoding)
 *   unix_*:               id = this socket's inode, peer = the connected peer's inode (0: none;
 *                         on a dgram receive always 0: its senders are many), and sk_tag
 *                         (below)
 *   sysv_msg, sysv_shm:   id = msqid / shmid, dev = IPC namespace inode
 *   signal:               id = target cgroup id, peer = target process (tgid), dev = signal number,
 *                         comm = the target's command (a process that execs is another target)
 */
struct ipct_chan_obj {
	__u64 id;
	__u64 peer;
	__u32 dev;
	__u32 _pad;
	char comm[16]; /* signal only; zero for the other kinds */
	/*
	 * unix_stream, unix_seqpacket: the identity of the struct sock data goes into, known before
	 * that socket has a file (and so an inode). A client's data sent before the server's
	 * accept() goes into the embryo socket accept() will return: its sends carry peer = 0 and
	 * the embryo's sk_tag; every receive carries its own socket's sk_tag, so the join finds
	 * the accepted socket (agent/model/flows.cpp). Zero on sends to a peer with an inode, and
	 * for the other kinds.
	 * unix_dgram: the tag of a name (unix_name_tag(), sock_key_body.bpf.h): a send that names
	 * its destination carries that name's (and peer = 0), a receive its own socket's bound
	 * name's, so the join finds the socket a send was addressed to. Zero for an unbound
	 * receiver and a send that names no destination. The socket's address times an odd constant (which hides nothing: it
	 * only spreads the bits): valid for the lifetime of the socket and reused after it, so the
	 * join also matches the sender's inode against the receive's peer; internal to the join,
	 * never printed or exported.
	 */
	__u64 sk_tag;
};

/*
 * tcp, udp: network namespace and both addresses; IPv4 addresses in the first 4 bytes. The
 * remote end of a UDP send that names its destination (sendto, sendmsg) is that destination
 * (udp_dest(), sock_key_body.bpf.h); of an unconnected UDP receive, none (zero).
 */
struct ipct_chan_inet {
	__u32 netns;
	__u16 family; /* AF_INET or AF_INET6 */
	__u16 lport;  /* host byte order */
	__u16 rport;  /* host byte order */
	__u16 _pad;
	__u32 _pad2;
	__u8 laddr[16]; /* network byte order */
	__u8 raddr[16];
};

union ipct_chan {
	struct ipct_chan_obj obj;
	struct ipct_chan_inet inet;
};

/* Key of the per-CPU flow map: who (cgroup), what (kind, channel) and which way. */
struct ipct_flow_key {
	__u64 cgroup_id;
	__u8 kind; /* enum ipct_kind */
	__u8 dir;  /* enum ipct_dir */
	__u8 _pad[6];
	union ipct_chan ch;
};

/*
 * Per-CPU value: successful calls (messages) and bytes they moved, plus who created the
 * entry on this CPU (namespaces, process, command, executable), written once.
 */
#define IPCT_EXE_LEN 24
struct ipct_flow_val {
	__u64 msgs;
	__u64 bytes;
	struct ipct_ns_ids ns;
	__u32 tgid;
	__u32 _pad;
	char comm[16]; /* task->comm: the process sets it (prctl PR_SET_NAME) */
	/*
	 * The file name of the process's executable (mm->exe_file, set by execve: what
	 * /proc/PID/exe links to; the dentry's name now, so a file renamed since shows its new
	 * name). Unlike comm, no prctl(PR_SET_NAME) changes it: replacing it takes
	 * PR_SET_MM_EXE_FILE and CAP_SYS_RESOURCE. NUL-terminated, cut at IPCT_EXE_LEN - 1 bytes;
	 * "" for a kernel thread.
	 */
	char exe[IPCT_EXE_LEN];
};

/* An entry of a per-CPU flow table (see ipct_flow_entries in maps.bpf.h). */
struct ipct_flow_entry {
	struct ipct_flow_key key;
	struct ipct_flow_val val;
};

/* Which flow table the programs fill, and each table's generation (its index's valid buckets). */
struct ipct_flow_ctl {
	__u32 active; /* 0 or 1 */
	__u32 gen[2];
	__u32 _pad;
};

/* Index buckets a flow's lookup probes before it takes an entry without one. */
#define IPCT_FLOW_PROBES 16

/*
 * Fairness of a flow table (the agent's kept flows and each CPU's tables alike): its last
 * 1/IPCT_FLOW_RESERVE_DIVISOR is for cgroups that took fewer than 1/IPCT_FLOW_SHARE_DIVISOR of it.
 */
#define IPCT_FLOW_RESERVE_DIVISOR 4
#define IPCT_FLOW_SHARE_DIVISOR 64

/* Lifecycle operations, sent through the ring buffer. */
enum ipct_op {
	IPCT_OP_CREATE = 1, /* shmget/msgget returned an id (aux = key, aux2 = size for shm) */
	IPCT_OP_OPEN = 2,   /* mq_open returned a descriptor (name; id = inode) */
	IPCT_OP_ATTACH = 3, /* shmat (id = shmid, aux = address) */
	IPCT_OP_DETACH = 4, /* shmdt (aux = address) */
	IPCT_OP_REMOVE = 5, /* msgctl/shmctl(IPC_RMID) */
	IPCT_OP_UNLINK = 6, /* mq_unlink (name) */
	IPCT_OP_NOTIFY = 7, /* mq_notify (id = inode) */
};

struct ipct_event {
	__u64 ts_ns; /* bpf_ktime_get_boot_ns() */
	__u64 cgroup_id;
	__u32 tgid;
	__u32 tid;
	struct ipct_ns_ids ns;
	__u8 kind;
	__u8 op;
	__u8 _pad[6];
	__s64 ret;
	__u64 id;
	__u64 aux;
	__u64 aux2;
	__u32 dev;
	__u32 _pad2;
	char comm[16];
	char name[64];
};

/*
 * A data operation, one record per call: streamed only by `ipctrace trace --data`, through
 * its own ring buffer (never in the default mode, where data operations are aggregated).
 */
struct ipct_data_event {
	__u64 ts_ns; /* bpf_ktime_get_boot_ns() */
	__u64 cgroup_id;
	__u32 tgid;
	__u32 tid;
	struct ipct_ns_ids ns;
	__u8 kind; /* enum ipct_kind */
	__u8 dir;  /* enum ipct_dir */
	__u8 _pad[6];
	__u64 msgs;
	__u64 bytes;
	union ipct_chan ch;
	char comm[16];
};

/*
 * A cgroup made in the unified (cgroup v2) hierarchy: the cgroup:cgroup_mkdir tracepoint, through
 * its own ring buffer (ipct_cgroups), so the agent can name a container the moment its cgroup
 * exists, however short its life. On a hybrid host the tracepoint fires for every v1 hierarchy
 * too: only hierarchy 0 (cgrp_dfl_root, the unified one) is sent.
 */
#define IPCT_CGROUP_PATH_MAX 512
struct ipct_cgroup_event {
	__u64 ts_ns; /* bpf_ktime_get_boot_ns() */
	__u64 cgroup_id; /* the new cgroup's id: its kernfs node id, what bpf_get_current_cgroup_id() gives */
	__u32 level; /* depth below the root (the root is 0) */
	/*
	 * bpf_probe_read_kernel_str()'s result: the path's bytes with the NUL; negative if it could
	 * not be read; IPCT_CGROUP_PATH_MAX when it may have been cut (the path is then not used).
	 */
	__s32 path_len;
	/* From the hierarchy's root ("/a/b"), as kernfs_path() writes it for the tracepoint. */
	char path[IPCT_CGROUP_PATH_MAX];
};

/*
 * One open file of a process that a channel can be (bpf/open_files.bpf.c, an iter/task_file
 * program, Linux 5.8+): what `ls -l /proc/PID/fd` would show of pipes, FIFOs, sockets and POSIX
 * message queues, in the identity the flow keys use (ipct_chan_obj): the inode number and its
 * superblock's device (kernel encoding). A process's descriptors are listed once (threads sharing
 * its files table are skipped since Linux 5.10; before, the same files once per thread); a file
 * open twice is listed twice.
 */
enum ipct_open_type {
	IPCT_OPEN_FIFO = 1,   /* S_IFIFO: an anonymous pipe (pipefs) or a FIFO on any filesystem */
	IPCT_OPEN_SOCKET = 2, /* S_IFSOCK: a socket (sockfs); the inode unix keys carry */
	IPCT_OPEN_MQUEUE = 3, /* a file of an mqueue filesystem (MQUEUE_MAGIC) */
	/* a TCP socket: `inet` as the flow keys of its operations carry it (sock_key_body.bpf.h) */
	IPCT_OPEN_TCP = 4,
};

struct ipct_open_file {
	__u64 ino;
	__u32 dev;
	__u8 type; /* enum ipct_open_type */
	__u8 _pad[3];
	struct ipct_chan_inet inet; /* IPCT_OPEN_TCP only; zero for the others */
};

/*
 * A coarser entry for operations whose flow a full table could not keep (ipct_folded): the
 * cgroup, kind and direction are kept, the channel is not. `table` is the flow table (0 or 1)
 * being filled when the operation happened, so that the agent reads one half while the programs
 * fill the other, as the flow tables.
 */
struct ipct_fold_key {
	__u64 cgroup_id;
	__u8 kind; /* enum ipct_kind */
	__u8 dir;  /* enum ipct_dir */
	__u8 table;
	__u8 _pad[5];
};

struct ipct_fold_val {
	__u64 msgs; /* successful calls */
	__u64 bytes;
};

/* Why something was not recorded; one per-CPU counter each. */
enum ipct_drop {
	/*
	 * an operation whose flow found its CPU's flow table full, and whose (cgroup, kind,
	 * direction) found the fold map full too: lost entirely
	 */
	IPCT_DROP_FOLD_MAP_FULL = 0,
	IPCT_DROP_RINGBUF_FULL = 1,  /* a lifecycle event found the ring buffer full */
	IPCT_DROP_READ_FAILED = 2,   /* a kernel read (fd table, socket) failed */
	IPCT_DROP_WAIT_MAP_FULL = 3, /* a new (cgroup, kind) found the wait map full */
	IPCT_DROP_TRACE_FULL = 4,    /* a traced data operation found the trace ring buffer full */
	IPCT_DROP_CGROUP_FULL = 5,   /* a cgroup made found the cgroup ring buffer full */
	/*
	 * a lifecycle event read from the ring buffer found the agent's queue full (counted by the
	 * agent, never by the programs: agent/kernel/tracer.h)
	 */
	IPCT_DROP_EVENT_QUEUE_FULL = 6,
	/*
	 * a read of a flow table failed part-way, after the table was emptied: each per-CPU entry
	 * not added yet, one each (a flow seen on k CPUs, k) (counted by the agent, never by the
	 * programs: agent/kernel/tracer.cpp)
	 */
	IPCT_DROP_FLOW_READ_FAILED = 7,
	IPCT_DROP_MAX = 8,
};

/*
 * Time blocked in receiving calls, per (cgroup, kind): a log2 histogram of microseconds.
 * Slot 0 holds waits under 1 us; slot i >= 1 holds [2^(i-1), 2^i) us; the last slot
 * holds everything longer.
 */
#define IPCT_WAIT_SLOTS 32

struct ipct_wait_key {
	__u64 cgroup_id;
	__u8 kind;
	__u8 _pad[7];
};

struct ipct_wait_val {
	__u64 slots[IPCT_WAIT_SLOTS];
	__u64 count;
	__u64 sum_ns;
};

/* Codes of the syscalls the sys_exit path follows; userspace maps syscall numbers onto them. */
enum ipct_sys {
	IPCT_SYS_NONE = 0,
	IPCT_SYS_READ,
	IPCT_SYS_READV,
	IPCT_SYS_PREAD, /* pread64, preadv, preadv2 */
	IPCT_SYS_WRITE,
	IPCT_SYS_WRITEV,
	IPCT_SYS_PWRITE, /* pwrite64, pwritev, pwritev2 */
	IPCT_SYS_SPLICE,
	IPCT_SYS_TEE,
	IPCT_SYS_VMSPLICE,
	IPCT_SYS_MSGSND,
	IPCT_SYS_MSGRCV,
	IPCT_SYS_MSGGET,
	IPCT_SYS_MSGCTL,
	IPCT_SYS_MQ_OPEN,
	IPCT_SYS_MQ_UNLINK,
	IPCT_SYS_MQ_TIMEDSEND,
	IPCT_SYS_MQ_TIMEDRECEIVE,
	IPCT_SYS_MQ_NOTIFY,
	IPCT_SYS_SHMGET,
	IPCT_SYS_SHMAT,
	IPCT_SYS_SHMDT,
	IPCT_SYS_SHMCTL,
	IPCT_SYS_SENDTO,
	IPCT_SYS_SENDMSG,
	IPCT_SYS_SENDMMSG,
	IPCT_SYS_RECVFROM,
	IPCT_SYS_RECVMSG,
	IPCT_SYS_RECVMMSG,
	IPCT_SYS_SENDFILE, /* sendfile64 (sendfile on 64-bit): out_fd, in_fd */
	IPCT_SYS_MAX,
};

/* Size of the syscall-number -> ipct_sys table (covers x86_64 and arm64 numbers). */
#define IPCT_SYS_TABLE_SIZE 512

/* Mechanisms the sys_exit path handles (bit = 1 << kind). */
#define IPCT_KIND_BIT(k) (1U << (k))

#endif /* IPCTRACE_ABI_H */
