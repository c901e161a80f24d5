// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Cgroups as they are made: the cgroup:cgroup_mkdir tracepoint (cgroup_mkdir() in
 * kernel/cgroup/cgroup.c through TRACE_CGROUP_PATH; arguments the new cgroup and its path from
 * the hierarchy's root, Linux 4.20+), tp_btf where the kernel has BTF for it, else raw_tp with
 * CO-RE reads. One event per cgroup of the unified hierarchy into ipct_cgroups (struct
 * ipct_cgroup_event); a full ring buffer counts IPCT_DROP_CGROUP_FULL. Nothing of the creating
 * task is recorded: the runtime makes the cgroup, not the container.
 */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "ipctrace.h"
#include "maps.bpf.h"
#include "flow.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

static __always_inline void cgroup_made(struct cgroup *cgrp, const char *path)
{
	struct ipct_cgroup_event *e;

	/* The unified hierarchy is cgrp_dfl_root, hierarchy id 0; v1 hierarchies are 1 and up. */
	if (BPF_CORE_READ(cgrp, root, hierarchy_id) != 0)
		return;
	e = bpf_ringbuf_reserve(&ipct_cgroups, sizeof(*e), 0);
	if (!e) {
		count_drop(IPCT_DROP_CGROUP_FULL);
		return;
	}
	e->ts_ns = bpf_ktime_get_boot_ns();
	e->cgroup_id = BPF_CORE_READ(cgrp, kn, id);
	e->level = BPF_CORE_READ(cgrp, level);
	e->path_len = bpf_probe_read_kernel_str(e->path, sizeof(e->path), path);
	bpf_ringbuf_submit(e, 0);
}

SEC("tp_btf/cgroup_mkdir")
int BPF_PROG(ipct_cgroup_mkdir_btf, struct cgroup *cgrp, const char *path)
{
	cgroup_made(cgrp, path);
	return 0;
}

SEC("raw_tp/cgroup_mkdir")
int ipct_cgroup_mkdir_raw(struct bpf_raw_tracepoint_args *ctx)
{
	cgroup_made((struct cgroup *)ctx->args[0], (const char *)ctx->args[1]);
	return 0;
}
