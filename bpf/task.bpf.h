/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Kernel-only helpers: the identity of the current task (cgroup and
 * namespaces). Included by BPF programs only, after vmlinux.h.
 */
#ifndef IPCTRACE_TASK_BPF_H
#define IPCTRACE_TASK_BPF_H

#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>

#include "ipctrace.h"

/*
 * The task's active pid namespace: the one /proc/PID/ns/pid names, i.e. the
 * namespace of the task's pid at its deepest level (task_active_pid_ns()).
 * nsproxy->pid_ns_for_children differs from it after unshare(CLONE_NEWPID).
 */
static __always_inline __u32 task_pid_ns_inum(struct task_struct *task)
{
	struct pid *pid = BPF_CORE_READ(task, thread_pid);
	unsigned int level = BPF_CORE_READ(pid, level);
	struct upid upid = {};

	/* Nesting is capped at 32 (MAX_PID_NS_LEVEL); clamp for the verifier. */
	if (level > 32)
		return 0;
	bpf_core_read(&upid, sizeof(upid), &pid->numbers[level]);
	return BPF_CORE_READ(upid.ns, ns.inum);
}

static __always_inline void task_ns_ids(struct task_struct *task, struct ipct_ns_ids *ns)
{
	struct nsproxy *nsp = BPF_CORE_READ(task, nsproxy);

	ns->ipc = BPF_CORE_READ(nsp, ipc_ns, ns.inum);
	ns->net = BPF_CORE_READ(nsp, net_ns, ns.inum);
	ns->mnt = BPF_CORE_READ(nsp, mnt_ns, ns.inum);
	ns->uts = BPF_CORE_READ(nsp, uts_ns, ns.inum);
	ns->cgroup = BPF_CORE_READ(nsp, cgroup_ns, ns.inum);
	ns->user = BPF_CORE_READ(task, cred, user_ns, ns.inum);
	ns->pid = task_pid_ns_inum(task);
	ns->_pad = 0;
}

/*
 * The file name of the task's executable (mm->exe_file, set at exec: what /proc/PID/exe links
 * to, unlike comm, which the task sets itself), NUL-terminated, cut at size - 1 bytes; "" for
 * a task without a memory map (a kernel thread) or when the read fails.
 */
static __always_inline void task_exe_name(struct task_struct *task, char *buf, __u32 size)
{
	struct mm_struct *mm = BPF_CORE_READ(task, mm);
	const unsigned char *name;

	buf[0] = 0;
	if (!mm)
		return;
	name = BPF_CORE_READ(mm, exe_file, f_path.dentry, d_name.name);
	if (name && bpf_probe_read_kernel_str(buf, size, name) < 0)
		buf[0] = 0;
}

#endif /* IPCTRACE_TASK_BPF_H */
