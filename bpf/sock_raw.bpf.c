// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Sockets, raw_tp: the socket tracepoints of sock_btf.bpf.c on kernels without tp_btf, the
 * socket read with CO-RE reads.
 */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "flow.bpf.h"
#include "read.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define IPCT_SK_RD IPCT_RD_CORE
/* struct unix_sock begins with its struct sock. */
#define IPCT_UNIX_SK(sk) ((struct unix_sock *)(sk))
#include "sock_key_body.bpf.h"

static __always_inline void sock_data(struct sock *sk, int ret, __u8 dir)
{
	struct ipct_flow_key key = {};

	/* A send of no bytes still goes through the destination (sendmmsg's messages are counted off
	 * there), and counts nothing. */
	if (ret < 0 || (ret == 0 && dir == IPCT_DIR_RECV) || is_self() || !sock_key(sk, dir, &key))
		return;
	if (sock_splicing(sk, key.kind))
		return;
	if (dir == IPCT_DIR_SEND && (key.kind == IPCT_KIND_UDP || key.kind == IPCT_KIND_UNIX_DGRAM))
		sock_call_dest(sk, &key);
	if (ret == 0)
		return;
	key.dir = dir;
	record_flow(&key, 1, ret);
}

SEC("raw_tp/sock_send_length")
int ipct_sock_send_raw(struct bpf_raw_tracepoint_args *ctx)
{
	sock_data((struct sock *)ctx->args[0], (int)ctx->args[1], IPCT_DIR_SEND);
	return 0;
}

/* A MSG_PEEK receive leaves the data queued: it moved nothing. */
SEC("raw_tp/sock_recv_length")
int ipct_sock_recv_raw(struct bpf_raw_tracepoint_args *ctx)
{
	if (!((int)ctx->args[2] & IPCT_MSG_PEEK))
		sock_data((struct sock *)ctx->args[0], (int)ctx->args[1], IPCT_DIR_RECV);
	return 0;
}
