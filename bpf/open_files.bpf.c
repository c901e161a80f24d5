// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The open files that channels can be, listed on demand: an iter/task_file program (Linux 5.8,
 * "bpf: add task and task/file iterator targets") visits every process's descriptors, one
 * process at a time (threads sharing its files table are skipped since 5.10), and writes one struct
 * ipct_open_file per pipe, FIFO, socket or POSIX message queue into the iterator's seq_file
 * (a TCP socket with its connection's addresses and ports).
 * The agent reads the list after a collection's read of the flow tables and releases the
 * channels none of whose objects any process holds (agent/kernel/open_files.h). Nothing is
 * attached to a hook: the program runs only when the agent reads the iterator, in its process.
 */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "ipctrace.h"
#include "consts.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/*
 * A TCP socket's connection as sock_key() (sock_key_body.bpf.h) keys its operations: network
 * namespace, family, local and remote port (host byte order) and addresses (network byte order,
 * IPv4 in the first 4 bytes). A socket file's private_data is its struct socket (sock_alloc_file()).
 */
static __always_inline bool tcp_socket(struct file *file, struct ipct_chan_inet *c)
{
	struct socket *sock = (struct socket *)BPF_CORE_READ(file, private_data);
	struct sock *sk = sock ? BPF_CORE_READ(sock, sk) : NULL;
	__u16 family;

	if (!sk)
		return false;
	family = BPF_CORE_READ(sk, __sk_common.skc_family);
	if ((family != IPCT_AF_INET && family != IPCT_AF_INET6) ||
	    BPF_CORE_READ(sk, sk_protocol) != IPCT_IPPROTO_TCP)
		return false;
	c->netns = BPF_CORE_READ(sk, __sk_common.skc_net.net, ns.inum);
	c->family = family;
	c->lport = BPF_CORE_READ(sk, __sk_common.skc_num);
	c->rport = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	if (family == IPCT_AF_INET) {
		__u32 laddr = BPF_CORE_READ(sk, __sk_common.skc_rcv_saddr);
		__u32 raddr = BPF_CORE_READ(sk, __sk_common.skc_daddr);

		__builtin_memcpy(c->laddr, &laddr, 4);
		__builtin_memcpy(c->raddr, &raddr, 4);
	} else {
		BPF_CORE_READ_INTO(&c->laddr, sk, __sk_common.skc_v6_rcv_saddr);
		BPF_CORE_READ_INTO(&c->raddr, sk, __sk_common.skc_v6_daddr);
	}
	return true;
}

SEC("iter/task_file")
int ipct_open_files(struct bpf_iter__task_file *ctx)
{
	struct seq_file *seq = ctx->meta->seq;
	struct file *file = ctx->file;
	struct ipct_open_file rec = {};
	struct inode *inode;
	__u16 mode;

	if (!file)
		return 0;
	inode = BPF_CORE_READ(file, f_inode);
	if (!inode)
		return 0;
	mode = BPF_CORE_READ(inode, i_mode) & IPCT_S_IFMT;
	if (mode == IPCT_S_IFIFO)
		rec.type = IPCT_OPEN_FIFO;
	else if (mode == IPCT_S_IFSOCK)
		rec.type = tcp_socket(file, &rec.inet) ? IPCT_OPEN_TCP : IPCT_OPEN_SOCKET;
	else if (BPF_CORE_READ(inode, i_sb, s_magic) == IPCT_MQUEUE_MAGIC)
		rec.type = IPCT_OPEN_MQUEUE;
	else
		return 0;
	rec.ino = BPF_CORE_READ(inode, i_ino);
	rec.dev = BPF_CORE_READ(inode, i_sb, s_dev);
	bpf_seq_write(seq, &rec, sizeof(rec));
	return 0;
}
