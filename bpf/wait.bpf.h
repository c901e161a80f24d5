/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Where a thread's receiving call keeps its start time, between the entry hook and the exit hook.
 * Task-local storage (ipct_wait_starts) is a slot in the task itself: no hashing, no locking,
 * nothing to delete; it needs a BTF-typed program and a kernel that allows it in tracing programs
 * (Linux 5.12, "bpf: Enable task local storage for tracing programs"; the map type itself is 5.11,
 * for BPF LSM only). Elsewhere an LRU hash keyed by thread id (ipct_inflight), so a thread killed
 * inside a call cannot leak its entry.
 */
#ifndef IPCTRACE_WAIT_BPF_H
#define IPCTRACE_WAIT_BPF_H

#include <bpf/bpf_helpers.h>

#include "maps.bpf.h"

static __always_inline void wait_start_task(__u64 now)
{
	struct ipct_wait_start *w = bpf_task_storage_get(
		&ipct_wait_starts, bpf_get_current_task_btf(), 0, BPF_LOCAL_STORAGE_GET_F_CREATE);

	if (w)
		w->ns = now;
}

static __always_inline __u64 wait_take_task(void)
{
	struct ipct_wait_start *w =
		bpf_task_storage_get(&ipct_wait_starts, bpf_get_current_task_btf(), 0, 0);
	__u64 began;

	if (!w)
		return 0;
	began = w->ns;
	w->ns = 0;
	return began;
}

static __always_inline void wait_start_lru(__u64 now)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();

	bpf_map_update_elem(&ipct_inflight, &tid, &now, BPF_ANY);
}

static __always_inline __u64 wait_take_lru(void)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	__u64 *start = bpf_map_lookup_elem(&ipct_inflight, &tid);
	__u64 began;

	if (!start)
		return 0;
	began = *start;
	bpf_map_delete_elem(&ipct_inflight, &tid);
	return began;
}

#endif /* IPCTRACE_WAIT_BPF_H */
