/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The syscall path's body (sys_exit_body.bpf.h) in its typed build without bpf_rdonly_cast: the
 * task walked with plain loads, everything behind a file read with CO-RE, receive start times in
 * the LRU hash. The flavour of sys_exit_btf.bpf.c (tp_btf before 6.2) and of functions.bpf.c
 * (fentry/fexit serve the same handler); one knob set for both.
 */
#ifndef IPCTRACE_SYS_EXIT_BTF_BPF_H
#define IPCTRACE_SYS_EXIT_BTF_BPF_H

#define IPCT_CURRENT_TASK() bpf_get_current_task_btf()
#define IPCT_TASK_RD IPCT_RD_BTF
#define IPCT_FD_SLOT_READ(file, slot) bpf_probe_read_kernel((file), sizeof(*(file)), (slot))
#define IPCT_AS(p, type) ((type *)(p))
#define IPCT_FILE_RD IPCT_RD_CORE
#define IPCT_SK_RD IPCT_RD_CORE
/* struct unix_sock begins with its struct sock. */
#define IPCT_UNIX_SK(sk) ((struct unix_sock *)(sk))
#define IPCT_WAIT_START wait_start_lru
#define IPCT_WAIT_TAKE wait_take_lru
#define IPCT_ENTRY_CLASSIFY 1
#define IPCT_CGROUP_ID() IPCT_TASK_CGROUP_ID(IPCT_CURRENT_TASK())
#define IPCT_IS_SELF() IPCT_TASK_IS_SELF(IPCT_CURRENT_TASK())
#include "sys_exit_body.bpf.h"

#endif /* IPCTRACE_SYS_EXIT_BTF_BPF_H */
