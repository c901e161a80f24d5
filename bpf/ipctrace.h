/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * ipctrace kernel/userspace ABI.
 *
 * Included by the BPF programs (after vmlinux.h) and by the C++ agent (after
 * <linux/types.h>). It holds only fixed-width types with explicit padding and
 * includes nothing itself; the agent pins every size and offset with
 * static_assert (agent/abi.h), so a change here that moves a field fails the
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

#endif /* IPCTRACE_ABI_H */
