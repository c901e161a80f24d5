/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Signals: one signal sent by the current task to another process and accepted by the kernel,
 * whatever the target's disposition (a SIGCONT to a stopped process is "ignored" by its default
 * action, and still a signal sent). Signals the kernel raises itself (SIGCHLD at exit, SIGSEGV,
 * SIGPIPE, timers), a process signalling itself, and a real-time signal whose queue was full (the
 * sender got EAGAIN) are left out. Used by signal_btf.bpf.c and signal_raw.bpf.c.
 *
 * A body: the including .bpf.c defines first
 *   IPCT_SIG_RD(ptr, field...)  reads behind the target task (read.bpf.h).
 * The siginfo and the target's command are read with a helper in every flavour (signals are
 * rare). The siginfo must be: it may be SEND_SIG_NOINFO or SEND_SIG_PRIV (0 and 1), not an
 * object, and the verifier of newer kernels types this argument of signal_generate as a scalar
 * for that reason ("marking pointer arg1 as scalar as it may encode error", 6.18.44), so a plain
 * load of it no longer loads.
 */
#ifndef IPCTRACE_SIGNAL_BODY_BPF_H
#define IPCTRACE_SIGNAL_BODY_BPF_H

#ifndef IPCT_SIG_RD
#error "signal_body.bpf.h: define IPCT_SIG_RD(ptr, field...) first"
#endif

#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>

#include "consts.bpf.h"
#include "flow.bpf.h"

/* `result` and the rest as signal:signal_generate passes them. */
static __always_inline void signal_data(int sig, struct kernel_siginfo *info,
					struct task_struct *target, int result)
{
	struct ipct_flow_key key = {};
	int code;

	if (result == IPCT_TRACE_SIGNAL_OVERFLOW_FAIL || is_self())
		return;
	/* No siginfo: SEND_SIG_NOINFO is a plain kill() (kept), SEND_SIG_PRIV the kernel. */
	if (info == IPCT_SEND_SIG_PRIV)
		return;
	if (info != IPCT_SEND_SIG_NOINFO) {
		code = BPF_CORE_READ(info, si_code);
		if (code != IPCT_SI_USER && code != IPCT_SI_QUEUE && code != IPCT_SI_TKILL &&
		    code != IPCT_SI_MESGQ)
			return;
	}
	if (IPCT_SIG_RD(target, tgid) == (bpf_get_current_pid_tgid() >> 32))
		return;
	key.kind = IPCT_KIND_SIGNAL;
	key.dir = IPCT_DIR_SEND;
	key.ch.obj.id = IPCT_SIG_RD(target, cgroups, dfl_cgrp, kn, id);
	key.ch.obj.peer = IPCT_SIG_RD(target, tgid);
	key.ch.obj.dev = sig;
	BPF_CORE_READ_STR_INTO(&key.ch.obj.comm, target, comm);
	record_flow(&key, 1, 0);
}

#endif /* IPCTRACE_SIGNAL_BODY_BPF_H */
