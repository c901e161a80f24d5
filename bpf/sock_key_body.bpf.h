/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Sockets: classification of a struct sock as unix_{stream,dgram,seqpacket}, tcp or udp with its
 * channel; any other socket (netlink, raw, packet...) is not IPC. Used by the socket tracepoints
 * (sock_btf.bpf.c, sock_raw.bpf.c) and by the syscall path for sockets found through a
 * descriptor (sys_exit_body.bpf.h).
 *
 * A body: the including .bpf.c defines first, for the way it may read the socket,
 *   IPCT_SK_RD(sk, field...)  reads behind the struct sock, and the task's pt_regs (read.bpf.h:
 *                             IPCT_RD_BTF/IPCT_RD_CORE);
 *   IPCT_UNIX_SK(sk)          the struct sock as a struct unix_sock, or NULL.
 */
#ifndef IPCTRACE_SOCK_KEY_BODY_BPF_H
#define IPCTRACE_SOCK_KEY_BODY_BPF_H

#ifndef IPCT_SK_RD
#error "sock_key_body.bpf.h: define IPCT_SK_RD(sk, field...) first"
#endif
#ifndef IPCT_UNIX_SK
#error "sock_key_body.bpf.h: define IPCT_UNIX_SK(sk) first"
#endif

#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "consts.bpf.h"
#include "ipctrace.h"
#include "maps.bpf.h"
#include "regs.bpf.h"

/* The inode number of the socket's file: what /proc/PID/fd shows as socket:[N]. */
static __always_inline __u64 sock_ino(struct sock *sk)
{
	if (!sk)
		return 0;
	return IPCT_SK_RD(sk, sk_socket, file, f_inode, i_ino);
}

/*
 * ipct_chan_obj.sk_tag of the struct sock `*slot` points to (0 for none): its address, read as a
 * number (a typed pointer cannot be multiplied), times an odd constant.
 */
static __always_inline __u64 sock_tag(struct sock **slot)
{
	__u64 addr = 0;

	if (bpf_probe_read_kernel(&addr, sizeof(addr), slot))
		return 0;
	return addr * 0x9e3779b97f4a7c15ULL;
}

/*
 * ipct_chan_obj.sk_tag of a unix datagram socket's name: `path` is a sun_path (108 bytes), of
 * which the first `n` are the name (a filesystem name ends at its NUL; an abstract one begins
 * with a NUL, has the length its address gives, and lives in a network namespace: `netns` is
 * mixed in). FNV-1a; never 0. The same for the name a socket is bound to (the kernel's copy,
 * unix_sk(sk)->addr) and for a destination named with the same bytes, so the join can find the
 * receiving socket a send names (agent/model/flows.cpp).
 */
static __always_inline __u64 unix_name_tag(const char *path, __u32 n, __u32 netns)
{
	bool abstract = path[0] == 0;
	__u64 h = 0xcbf29ce484222325ULL;

	for (int i = 0; i < IPCT_UNIX_PATH_MAX; i++) {
		if (i >= n || (!abstract && !path[i]))
			break;
		h = (h ^ (__u8)path[i]) * 0x100000001b3ULL;
	}
	if (abstract)
		h = (h ^ netns) * 0x100000001b3ULL;
	return h | 1;
}

/*
 * Fills kind and channel of `sk` for a transfer in direction `dir`; false if it is not an IPC
 * socket. A unix receive is keyed by the receiving socket alone: data goes into a socket and
 * its readers take it out whoever sent it, and a peer that has closed is orphaned (no file),
 * while its data may still be read. A stream or seqpacket send into a peer without a file yet
 * (before accept()) carries sk_tag; a stream or seqpacket receive carries sk_tag and, while the
 * sending end is open, its inode as peer.
 */
static __always_inline bool sock_key(struct sock *sk, __u8 dir, struct ipct_flow_key *key)
{
	struct unix_sock *us;
	__u16 family;
	__u16 type;
	__u16 proto;

	if (!sk)
		return false;
	family = IPCT_SK_RD(sk, __sk_common.skc_family);
	type = IPCT_SK_RD(sk, sk_type);

	if (family == IPCT_AF_UNIX) {
		if (type == IPCT_SOCK_STREAM)
			key->kind = IPCT_KIND_UNIX_STREAM;
		else if (type == IPCT_SOCK_DGRAM)
			key->kind = IPCT_KIND_UNIX_DGRAM;
		else if (type == IPCT_SOCK_SEQPACKET)
			key->kind = IPCT_KIND_UNIX_SEQPACKET;
		else
			return false;
		key->ch.obj.id = sock_ino(sk);
		if (dir == IPCT_DIR_SEND) {
			us = IPCT_UNIX_SK(sk);
			if (!us)
				return false;
			key->ch.obj.peer = sock_ino(IPCT_SK_RD(us, peer));
			if (!key->ch.obj.peer && type != IPCT_SOCK_DGRAM)
				key->ch.obj.sk_tag = sock_tag(&us->peer);
		} else if (type != IPCT_SOCK_DGRAM) {
			/* The receiving socket has a file: its struct socket points back to it. */
			struct socket *sock = IPCT_SK_RD(sk, sk_socket);

			if (sock)
				key->ch.obj.sk_tag = sock_tag(&sock->sk);
			/* The sending end, while it is open: what tells a reused sk_tag apart. */
			us = IPCT_UNIX_SK(sk);
			if (us)
				key->ch.obj.peer = sock_ino(IPCT_SK_RD(us, peer));
		} else {
			/* A datagram receive: the tag of the name the socket is bound to, if any. */
			struct unix_address *addr;
			char path[IPCT_UNIX_PATH_MAX] = {};
			int len;

			us = IPCT_UNIX_SK(sk);
			addr = us ? IPCT_SK_RD(us, addr) : NULL;
			if (addr) {
				len = IPCT_SK_RD(addr, len);
				if (len > 2 &&
				    !bpf_core_read(path, sizeof(path), &addr->name[0].sun_path))
					key->ch.obj.sk_tag = unix_name_tag(
						path, len - 2,
						IPCT_SK_RD(sk, __sk_common.skc_net.net, ns.inum));
			}
		}
		return true;
	}
	if (family != IPCT_AF_INET && family != IPCT_AF_INET6)
		return false;
	proto = IPCT_SK_RD(sk, sk_protocol);
	if (proto == IPCT_IPPROTO_TCP)
		key->kind = IPCT_KIND_TCP;
	else if (proto == IPCT_IPPROTO_UDP)
		key->kind = IPCT_KIND_UDP;
	else
		return false;
	key->ch.inet.netns = IPCT_SK_RD(sk, __sk_common.skc_net.net, ns.inum);
	key->ch.inet.family = family;
	key->ch.inet.lport = IPCT_SK_RD(sk, __sk_common.skc_num);
	key->ch.inet.rport = bpf_ntohs(IPCT_SK_RD(sk, __sk_common.skc_dport));
	if (family == IPCT_AF_INET) {
		__u32 laddr = IPCT_SK_RD(sk, __sk_common.skc_rcv_saddr);
		__u32 raddr = IPCT_SK_RD(sk, __sk_common.skc_daddr);

		__builtin_memcpy(key->ch.inet.laddr, &laddr, 4);
		__builtin_memcpy(key->ch.inet.raddr, &raddr, 4);
	} else {
		BPF_CORE_READ_INTO(&key->ch.inet.laddr, sk, __sk_common.skc_v6_rcv_saddr);
		BPF_CORE_READ_INTO(&key->ch.inet.raddr, sk, __sk_common.skc_v6_daddr);
	}
	return true;
}

/*
 * The head of a struct sockaddr_in or sockaddr_in6 (uapi/linux/in.h, in6.h): family, port
 * (network byte order), then sin_addr, or sin6_flowinfo and sin6_addr.
 */
struct ipct_user_sockaddr {
	__u16 family;
	__u16 port;
	__u32 v4; /* sin_addr; sin6_flowinfo */
	__u8 v6[16];
};

/*
 * The destination a UDP send names with the call (sendto()'s dest_addr, sendmsg()'s msg_name,
 * `len` bytes at `uaddr`), taken as udp_sendmsg() and udpv6_sendmsg() take it, into key's remote
 * address and port: on an IPv4 socket AF_INET or AF_UNSPEC with sin_addr; on an IPv6 socket
 * AF_INET6 with sin6_addr, or AF_INET as the IPv4-mapped address (AF_UNSPEC there names none, and
 * the connected peer stays). The unspecified address sends to this host: the socket's own
 * address, else loopback. An address the kernel refuses fails the call, which counts nothing.
 * Read from the caller's memory, which the kernel copied just before (move_addr_to_kernel()):
 * another thread of the caller can rewrite it in between, and so misdirect only the caller's
 * own sends.
 */
static __always_inline void udp_dest(struct ipct_flow_key *key, const void *uaddr, __u32 len)
{
	struct ipct_user_sockaddr sa = {};
	struct ipct_chan_inet *c = &key->ch.inet;
	bool any = true;

	if (!uaddr || len < 16 || bpf_probe_read_user(&sa, 16, uaddr))
		return;
	if (c->family == IPCT_AF_INET) {
		if (sa.family != IPCT_AF_INET && sa.family != IPCT_AF_UNSPEC)
			return;
		__builtin_memset(c->raddr, 0, sizeof(c->raddr));
		__builtin_memcpy(c->raddr, &sa.v4, 4);
		if (!sa.v4)
			__builtin_memcpy(c->raddr, c->laddr, 4);
		any = !c->raddr[0] && !c->raddr[1] && !c->raddr[2] && !c->raddr[3];
		if (any) /* 127.0.0.1 */
			c->raddr[0] = 127, c->raddr[3] = 1;
	} else if (sa.family == IPCT_AF_INET) {
		__builtin_memset(c->raddr, 0, sizeof(c->raddr));
		c->raddr[10] = 0xff;
		c->raddr[11] = 0xff;
		__builtin_memcpy(&c->raddr[12], &sa.v4, 4);
		if (!sa.v4)
			c->raddr[12] = 127, c->raddr[15] = 1;
	} else if (sa.family == IPCT_AF_INET6 && len >= 24) {
		if (bpf_probe_read_user(&sa, 24, uaddr))
			return;
		for (int i = 0; i < 16; i++)
			any = any && !sa.v6[i];
		__builtin_memcpy(c->raddr, any ? c->laddr : sa.v6, 16);
		any = true;
		for (int i = 0; i < 16; i++)
			any = any && !c->raddr[i];
		if (any) /* ::1 */
			c->raddr[15] = 1;
	} else {
		return;
	}
	c->rport = bpf_ntohs(sa.port);
}

/*
 * The destination a unix datagram send names with the call (a struct sockaddr_un, `len` bytes
 * at `uaddr`): it goes there whether the socket is connected or not (unix_dgram_sendmsg()), so
 * the key names no peer and carries the name's tag (unix_name_tag()), which the join matches
 * with the receiving socket bound to that name. Read from the caller's memory, as for udp_dest();
 * a filesystem name is matched as written, so a relative one (or one reached through another
 * path) finds no receiver and stays a flow to an unknown peer.
 */
static __always_inline void unix_dest(struct sock *sk, struct ipct_flow_key *key, const void *uaddr,
				      __u32 len)
{
	char sun[2 + IPCT_UNIX_PATH_MAX] = {};

	if (!uaddr || len <= 2)
		return;
	if (len > sizeof(sun))
		len = sizeof(sun);
	if (bpf_probe_read_user(sun, len & 0xff, uaddr))
		return;
	key->ch.obj.peer = 0;
	key->ch.obj.sk_tag =
		unix_name_tag(&sun[2], len - 2, IPCT_SK_RD(sk, __sk_common.skc_net.net, ns.inum));
}

/* The destination a send names, for `key` of socket `sk`: UDP and unix datagram sockets. */
static __always_inline void sock_dest(struct sock *sk, struct ipct_flow_key *key, const void *uaddr,
				      __u32 len)
{
	if (key->kind == IPCT_KIND_UDP)
		udp_dest(key, uaddr, len);
	else if (key->kind == IPCT_KIND_UNIX_DGRAM)
		unix_dest(sk, key, uaddr, len);
}

/* The name sendmsg()'s struct user_msghdr at `umsg` points to (msg_name, msg_namelen). */
static __always_inline void sock_msg_dest(struct sock *sk, struct ipct_flow_key *key,
					  const void *umsg)
{
	struct {
		const void *name;
		__u32 namelen;
	} head = {};

	if (umsg && !bpf_probe_read_user(&head, sizeof(head), umsg))
		sock_dest(sk, key, head.name, head.namelen);
}

/* The open file in descriptor `fd` of `task`, or NULL (read with a helper: this runs rarely). */
static __always_inline struct file *sock_task_fd(struct task_struct *task, long fd)
{
	struct fdtable *fdt = IPCT_SK_RD(task, files, fdt);
	struct file **fds;
	struct file *file = NULL;

	if (!fdt || fd < 0 || fd >= (long)IPCT_SK_RD(fdt, max_fds))
		return NULL;
	fds = IPCT_SK_RD(fdt, fd);
	if (bpf_probe_read_kernel(&file, sizeof(file), &fds[fd & 0xffffff]))
		return NULL;
	return file;
}

/*
 * Whether a socket tracepoint fires for `sk` (of `kind`, in ipct_cfg_splice_kinds) inside a splice
 * or sendfile call on that very socket: such a call is counted once, at its exit, by the path that
 * counts pipes (sys_exit_body.bpf.h), where the tracepoints see one send per batch of up to 16
 * pipe buffers (splice_to_socket(), Linux 6.5, "splice, net: Add a splice_to_socket() helper") and
 * nothing of a TCP or unix stream receive (tcp_splice_read() and unix_stream_splice_read() bypass
 * sock_recvmsg()). The call is the one in the task's own pt_regs (bpf_task_pt_regs(), Linux 5.15:
 * every kernel with the socket tracepoints has it), and the socket must be in one of its two
 * descriptors: io_uring task_work run on the call's way out sends and receives on other sockets
 * under the same syscall number. An io_uring worker or kernel thread has a copy of its creator's
 * registers, not a call of its own: never skipped.
 */
static __always_inline bool sock_splicing(struct sock *sk, __u8 kind)
{
	struct task_struct *task;
	struct pt_regs *regs;
	struct file *own;
	long nr;
	long in;
	long out;

	if (!(ipct_cfg_splice_kinds & IPCT_KIND_BIT(kind)))
		return false;
	task = bpf_get_current_task_btf();
	if (IPCT_SK_RD(task, flags) & (IPCT_PF_IO_WORKER | IPCT_PF_KTHREAD))
		return false;
	regs = (struct pt_regs *)bpf_task_pt_regs(task);
	if (!regs)
		return false;
	nr = (long)IPCT_SK_RD(regs, IPCT_REGS_NR_FIELD);
	if (nr == ipct_cfg_nr_splice) { /* splice(fd_in, off_in, fd_out, ...) */
		in = (long)IPCT_SK_RD(regs, IPCT_REGS_ARG0_FIELD);
		out = (long)IPCT_SK_RD(regs, IPCT_REGS_ARG2_FIELD);
	} else if (nr == ipct_cfg_nr_sendfile) { /* sendfile64(out_fd, in_fd, ...) */
		out = (long)IPCT_SK_RD(regs, IPCT_REGS_ARG0_FIELD);
		in = (long)IPCT_SK_RD(regs, IPCT_REGS_ARG1_FIELD);
	} else {
		return false;
	}
	own = IPCT_SK_RD(sk, sk_socket, file);
	return own && (sock_task_fd(task, in) == own || sock_task_fd(task, out) == own);
}

/*
 * The index of the message of sendmmsg(fd, vec, ...) the socket tracepoint fires for: 0 for the
 * first message of a call, then one more each time (ipct_mmsg_pos). False when the position
 * cannot be kept (a full table evicts the least recently used thread's, whose next message is
 * then taken for its call's first: that thread's own sends misdirected, no other's).
 */
static __always_inline bool sock_mmsg_index(__u64 vec, __u32 *index)
{
	__u64 tid = bpf_get_current_pid_tgid();
	struct ipct_mmsg_pos *pos = bpf_map_lookup_elem(&ipct_mmsg_pos, &tid);
	struct ipct_mmsg_pos first = {.vec = vec, .next = 1};

	if (pos && pos->vec == vec) {
		*index = pos->next;
		pos->next++; /* the thread's own entry: no other CPU writes it */
		return true;
	}
	*index = 0;
	return bpf_map_update_elem(&ipct_mmsg_pos, &tid, &first, BPF_ANY) == 0;
}

/*
 * A UDP or unix datagram send on a socket tracepoint: the destination the call names, if it
 * names one (udp_dest(), unix_dest()). The call is the one in the task's own pt_regs (as for
 * sock_splicing()), a sendto, sendmsg or sendmmsg on this very socket (sendmmsg: the message the
 * tracepoint fires for, sock_mmsg_index()); a send io_uring makes keeps the connected peer (none:
 * an unknown destination). Called for every send on such a socket, of no bytes too, so that
 * sendmmsg's messages are counted off in order.
 */
static __always_inline void sock_call_dest(struct sock *sk, struct ipct_flow_key *key)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct pt_regs *regs;
	struct file *own;
	long nr;

	if (IPCT_SK_RD(task, flags) & (IPCT_PF_IO_WORKER | IPCT_PF_KTHREAD))
		return;
	regs = (struct pt_regs *)bpf_task_pt_regs(task);
	if (!regs)
		return;
	nr = (long)IPCT_SK_RD(regs, IPCT_REGS_NR_FIELD);
	if (nr != ipct_cfg_nr_sendto && nr != ipct_cfg_nr_sendmsg && nr != ipct_cfg_nr_sendmmsg)
		return;
	own = IPCT_SK_RD(sk, sk_socket, file);
	if (!own || sock_task_fd(task, (long)IPCT_SK_RD(regs, IPCT_REGS_ARG0_FIELD)) != own)
		return;
	if (nr == ipct_cfg_nr_sendto) { /* sendto(fd, buf, len, flags, dest_addr, addrlen) */
		sock_dest(sk, key, (const void *)IPCT_SK_RD(regs, IPCT_REGS_ARG4_FIELD),
			  (__u32)IPCT_SK_RD(regs, IPCT_REGS_ARG5_FIELD));
	} else if (nr == ipct_cfg_nr_sendmsg) { /* sendmsg(fd, msg, flags) */
		sock_msg_dest(sk, key, (const void *)IPCT_SK_RD(regs, IPCT_REGS_ARG1_FIELD));
	} else { /* sendmmsg(fd, vec, vlen, flags): vlen capped at UIO_MAXIOV (1024) */
		__u64 vec = (__u64)IPCT_SK_RD(regs, IPCT_REGS_ARG1_FIELD);
		__u32 vlen = (__u32)IPCT_SK_RD(regs, IPCT_REGS_ARG2_FIELD);
		__u32 i;

		if (!sock_mmsg_index(vec, &i) || i >= vlen || i >= 1024)
			return;
		sock_msg_dest(sk, key, (const void *)(vec + (__u64)i * sizeof(struct mmsghdr)));
	}
}

#endif /* IPCTRACE_SOCK_KEY_BODY_BPF_H */
