// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Sockets, tp_btf: the sock:sock_send_length and sock:sock_recv_length tracepoints (Linux 6.3,
 * "net: add sock_send_length and sock_recv_length tracepoints"). They fire in
 * sock_sendmsg_nosec() and sock_recvmsg_nosec() once per successful send or receive on
 * any socket, whatever the syscall (write, writev, send*, sendmmsg per message, read*,
 * recv*), with the bytes moved, and cost nothing on other syscalls.
 * The typed socket is read with plain loads. The same hooks untyped: sock_raw.bpf.c.
 */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "flow.bpf.h"
#include "read.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define IPCT_SK_RD IPCT_RD_BTF
/* A typed sock may only become a unix_sock through the checked helper (Linux 5.16, "bpf: Add
 * bpf_skc_to_unix_sock() helper"). */
#define IPCT_UNIX_SK(sk) bpf_skc_to_unix_sock(sk)
#include "sock_key_body.bpf.h"

static __always_inline void sock_data(struct sock *sk, int ret, __u8 dir)
{
	struct ipct_flow_key key = {};

	/* A send of no bytes still goes through the destination (sendmmsg's messages are counted off
	 * there), and counts nothing. */
	if (ret < 0 || (ret == 0 && dir == IPCT_DIR_RECV) ||
	    IPCT_TASK_IS_SELF(bpf_get_current_task_btf()) || !sock_key(sk, dir, &key))
		return;
	if (sock_splicing(sk, key.kind))
		return;
	if (dir == IPCT_DIR_SEND && (key.kind == IPCT_KIND_UDP || key.kind == IPCT_KIND_UNIX_DGRAM))
		sock_call_dest(sk, &key);
	if (ret == 0)
		return;
	key.dir = dir;
	record_flow_of(&key, IPCT_TASK_CGROUP_ID(bpf_get_current_task_btf()), 1, ret);
}

SEC("tp_btf/sock_send_length")
int BPF_PROG(ipct_sock_send_btf, struct sock *sk, int ret, int flags)
{
	sock_data(sk, ret, IPCT_DIR_SEND);
	return 0;
}

/* A MSG_PEEK receive leaves the data queued: it moved nothing. */
SEC("tp_btf/sock_recv_length")
int BPF_PROG(ipct_sock_recv_btf, struct sock *sk, int ret, int flags)
{
	if (!(flags & IPCT_MSG_PEEK))
		sock_data(sk, ret, IPCT_DIR_RECV);
	return 0;
}
