// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Feature probe programs for `ipctrace probe`.
 *
 * Each program is the smallest one of its type and attach point. The agent
 * loads them one at a time (every other program's autoload switched off),
 * attaches it, triggers it from its own process and reads `hits` back: a
 * feature is claimed only when the program loaded, attached and fired.
 */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "ipctrace.h"
#include "task.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Set by the agent before load. */
const volatile __u32 target_tgid = 0;
const volatile __s64 trigger_syscall_nr = -1;

/* How many times the loaded program saw the target process trigger it. */
__u64 hits = 0;

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} probe_events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} probe_percpu SEC(".maps");

static __always_inline bool from_target(void)
{
	return (bpf_get_current_pid_tgid() >> 32) == target_tgid;
}

static __always_inline void count_hit(void)
{
	__sync_fetch_and_add(&hits, 1);
}

/* Per-syscall tracepoint: needs tracefs for the event id. */
SEC("tracepoint/syscalls/sys_enter_getppid")
int probe_tracepoint(void *ctx)
{
	if (from_target())
		count_hit();
	return 0;
}

/* Raw tracepoint: the generic syscall entry, args[1] is the syscall number. */
SEC("raw_tp/sys_enter")
int probe_raw_tp(struct bpf_raw_tracepoint_args *ctx)
{
	if (from_target() && (__s64)ctx->args[1] == trigger_syscall_nr)
		count_hit();
	return 0;
}

/* BTF-typed raw tracepoint: same point, typed arguments, plain loads. */
SEC("tp_btf/sys_enter")
int BPF_PROG(probe_tp_btf, struct pt_regs *regs, long id)
{
	if (from_target() && id == trigger_syscall_nr)
		count_hit();
	return 0;
}

/* Trampoline programs on a function every kernel has. */
SEC("fentry/vfs_read")
int BPF_PROG(probe_fentry, struct file *file)
{
	if (from_target())
		count_hit();
	return 0;
}

SEC("fexit/vfs_read")
int BPF_PROG(probe_fexit, struct file *file, char *buf, size_t count, loff_t *pos, ssize_t ret)
{
	if (from_target())
		count_hit();
	return 0;
}

SEC("kprobe/vfs_read")
int probe_kprobe(struct pt_regs *ctx)
{
	if (from_target())
		count_hit();
	return 0;
}

/*
 * Ring buffer, per-CPU array and CO-RE in one program: it sends the task's
 * cgroup and namespace ids, which userspace compares with /proc/self.
 */
SEC("raw_tp/sys_enter")
int probe_ringbuf(struct bpf_raw_tracepoint_args *ctx)
{
	struct ipct_probe_event *e;
	struct task_struct *task;
	__u32 zero = 0;
	__u64 *slot;
	__u64 id;

	if (!from_target() || (__s64)ctx->args[1] != trigger_syscall_nr)
		return 0;

	slot = bpf_map_lookup_elem(&probe_percpu, &zero);
	if (slot)
		*slot += 1;

	e = bpf_ringbuf_reserve(&probe_events, sizeof(*e), 0);
	if (!e)
		return 0;
	id = bpf_get_current_pid_tgid();
	task = (struct task_struct *)bpf_get_current_task();
	e->tgid = id >> 32;
	e->tid = (__u32)id;
	e->cgroup_id = bpf_get_current_cgroup_id();
	task_ns_ids(task, &e->ns);
	count_hit();
	bpf_ringbuf_submit(e, 0);
	return 0;
}
