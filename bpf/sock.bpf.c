// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Sockets: the sock:sock_send_length and sock:sock_recv_length tracepoints (Linux 6.3,
 * "net: add sock_send_length and sock_recv_length tracepoints"). They fire in
 * sock_sendmsg_nosec() and sock_recvmsg_nosec() once per successful send or receive on
 * any socket, whatever the syscall (write, writev, send*, sendmmsg per message, read*,
 * recv*), with the bytes moved, and cost nothing on other syscalls.
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

/* A typed sock may only become a unix_sock through the checked helper (Linux 5.16+). */
#define IPCT_RD IPCT_RD_BTF
#define IPCT_FN(name) name##_btf
#define IPCT_UNIX_SK(sk) bpf_skc_to_unix_sock(sk)
#include "sock.bpf.inc"
#include "flavour_end.bpf.h"

/* struct unix_sock begins with its struct sock. */
#define IPCT_RD IPCT_RD_CORE
#define IPCT_FN(name) name##_core
#define IPCT_UNIX_SK(sk) ((struct unix_sock *)(sk))
#include "sock.bpf.inc"
#include "flavour_end.bpf.h"

static __always_inline void sock_data_btf(struct sock *sk, int ret, __u8 dir)
{
	struct ipct_flow_key key = {};

	if (ret <= 0 || IPCT_TASK_IS_SELF(bpf_get_current_task_btf()) ||
	    !sock_key_btf(sk, dir, &key))
		return;
	key.dir = dir;
	record_flow_of(&key, IPCT_TASK_CGROUP_ID(bpf_get_current_task_btf()), 1, ret);
}

static __always_inline void sock_data_core(struct sock *sk, int ret, __u8 dir)
{
	struct ipct_flow_key key = {};

	if (ret <= 0 || is_self() || !sock_key_core(sk, dir, &key))
		return;
	key.dir = dir;
	record_flow(&key, 1, ret);
}

SEC("tp_btf/sock_send_length")
int BPF_PROG(ipct_sock_send_btf, struct sock *sk, int ret, int flags)
{
	sock_data_btf(sk, ret, IPCT_DIR_SEND);
	return 0;
}

/* A MSG_PEEK receive leaves the data queued: it moved nothing. */
SEC("tp_btf/sock_recv_length")
int BPF_PROG(ipct_sock_recv_btf, struct sock *sk, int ret, int flags)
{
	if (!(flags & IPCT_MSG_PEEK))
		sock_data_btf(sk, ret, IPCT_DIR_RECV);
	return 0;
}

SEC("raw_tp/sock_send_length")
int ipct_sock_send_raw(struct bpf_raw_tracepoint_args *ctx)
{
	sock_data_core((struct sock *)ctx->args[0], (int)ctx->args[1], IPCT_DIR_SEND);
	return 0;
}

SEC("raw_tp/sock_recv_length")
int ipct_sock_recv_raw(struct bpf_raw_tracepoint_args *ctx)
{
	if (!((int)ctx->args[2] & IPCT_MSG_PEEK))
		sock_data_core((struct sock *)ctx->args[0], (int)ctx->args[1], IPCT_DIR_RECV);
	return 0;
}
