/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Recording: data operations into the per-CPU flow map, lifecycle events into the
 * ring buffer, and the drop counters for whatever could not be recorded.
 */
#ifndef IPCTRACE_FLOW_BPF_H
#define IPCTRACE_FLOW_BPF_H

#include <bpf/bpf_helpers.h>

#include "maps.bpf.h"
#include "task.bpf.h"

static __always_inline void count_drop(__u32 reason)
{
	__u64 *n = bpf_map_lookup_elem(&ipct_drops, &reason);

	if (n)
		*n += 1; /* per-CPU: no other writer */
}

static __always_inline bool is_self(void)
{
	return ipct_cfg_self_tgid != 0 && (bpf_get_current_pid_tgid() >> 32) == ipct_cfg_self_tgid;
}

/* The same for BTF-typed programs, with a plain load instead of a helper call. */
#define IPCT_TASK_IS_SELF(task) (ipct_cfg_self_tgid != 0 && (task)->tgid == ipct_cfg_self_tgid)

/*
 * `ipctrace trace --data`: one record for this data operation, unless a filter says no. Never
 * waits: a full buffer is counted and the operation goes on. Submitted without a wakeup; the
 * consumer drains on a timer.
 */
static __always_inline void trace_data(const struct ipct_flow_key *key, __u64 msgs, __u64 bytes)
{
	struct ipct_data_event *e;
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32;

	if (ipct_cfg_trace_kinds != 0 && !(ipct_cfg_trace_kinds & IPCT_KIND_BIT(key->kind)))
		return;
	if (ipct_cfg_trace_pids && !bpf_map_lookup_elem(&ipct_trace_pids, &tgid))
		return;
	if (ipct_cfg_trace_skip && bpf_map_lookup_elem(&ipct_trace_skip, &key->cgroup_id))
		return;
	e = bpf_ringbuf_reserve(&ipct_trace, sizeof(*e), 0);
	if (!e) {
		count_drop(IPCT_DROP_TRACE_FULL);
		return;
	}
	e->ts_ns = bpf_ktime_get_boot_ns();
	e->cgroup_id = key->cgroup_id;
	e->tgid = tgid;
	e->tid = (__u32)id;
	task_ns_ids((struct task_struct *)bpf_get_current_task(), &e->ns);
	e->kind = key->kind;
	e->dir = key->dir;
	__builtin_memset(e->_pad, 0, sizeof(e->_pad));
	e->msgs = msgs;
	e->bytes = bytes;
	__builtin_memcpy(&e->ch, &key->ch, sizeof(e->ch));
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	bpf_ringbuf_submit(e, BPF_RB_NO_WAKEUP);
}

/*
 * The current task's cgroup v2 id with plain loads (task_dfl_cgroup(), then cgroup_id(): the
 * kernfs node id since 5.5), for BTF-typed programs: about 40 ns a call cheaper on 6.18 than
 * the bpf_get_current_cgroup_id() helper, measured with kernel.bpf_stats_enabled.
 */
#define IPCT_TASK_CGROUP_ID(task) ((task)->cgroups->dfl_cgrp->kn->id)

/*
 * A multiply-xorshift hash of a flow key's eight words, inline (no helper call). A multiplication
 * carries a difference only towards the high bits, so each word is folded (its high half onto its
 * low half) before it is mixed in, and the sum is finished with an xorshift-multiply-xorshift
 * (MurmurHash3's fmix64): without them, keys that differ only in a high byte of a word (a TCP or
 * UDP port, bits 48-63 of its word) all hash to one run of buckets, and past IPCT_FLOW_PROBES of
 * them every operation takes an entry of its own until the table is full.
 */
static __always_inline __u64 flow_fold(__u64 w)
{
	return w ^ (w >> 32);
}

static __always_inline __u32 flow_hash(const struct ipct_flow_key *key)
{
	const __u64 *w = (const __u64 *)key;
	__u64 h = flow_fold(w[0]) * 0x9E3779B97F4A7C15ULL;

	h = (h ^ flow_fold(w[1])) * 0xC2B2AE3D27D4EB4FULL;
	h = (h ^ flow_fold(w[2])) * 0x9E3779B97F4A7C15ULL;
	h = (h ^ flow_fold(w[3]) ^ (flow_fold(w[4]) << 1)) * 0xC2B2AE3D27D4EB4FULL;
	h = (h ^ flow_fold(w[5]) ^ (flow_fold(w[6]) << 1) ^ (flow_fold(w[7]) << 2)) *
	    0x9E3779B97F4A7C15ULL;
	h ^= h >> 33;
	h *= 0xFF51AFD7ED558CCDULL;
	h ^= h >> 33;
	return (__u32)h;
}

static __always_inline bool flow_key_eq(const struct ipct_flow_key *a,
					const struct ipct_flow_key *b)
{
	const __u64 *x = (const __u64 *)a;
	const __u64 *y = (const __u64 *)b;

	return x[0] == y[0] && x[1] == y[1] && x[2] == y[2] && x[3] == y[3] && x[4] == y[4] &&
	       x[5] == y[5] && x[6] == y[6] && x[7] == y[7];
}

/*
 * An operation whose flow table `t` has no room for: counted all the same, in the coarser entry
 * of its (cgroup, kind, direction) for that table (ipct_folded), so that no container's totals
 * are lost when a neighbour fills the table. Atomic adds: the entry is shared by the CPUs. Only
 * a full fold map loses the operation, counted.
 */
static __always_inline void fold_op(__u32 t, const struct ipct_flow_key *key, __u64 msgs,
				    __u64 bytes)
{
	struct ipct_fold_key k = {};
	struct ipct_fold_val zero = {};
	struct ipct_fold_val *v;

	k.cgroup_id = key->cgroup_id;
	k.kind = key->kind;
	k.dir = key->dir;
	k.table = t;
	v = bpf_map_lookup_elem(&ipct_folded, &k);
	if (!v) {
		bpf_map_update_elem(&ipct_folded, &k, &zero, BPF_NOEXIST);
		v = bpf_map_lookup_elem(&ipct_folded, &k);
		if (!v) {
			count_drop(IPCT_DROP_FOLD_MAP_FULL);
			return;
		}
	}
	__sync_fetch_and_add(&v->msgs, msgs);
	__sync_fetch_and_add(&v->bytes, bytes);
}

/*
 * Takes the next free entry of table `t` for `key`, with the task's identity, and points
 * `bucket` (if any) at it. The entry is claimed with an atomic add, so a program that interrupts
 * this one on the same CPU (signal_generate in an interrupt) takes another; two entries of one
 * key are harmless, the agent sums entries by key. With the table full, the operation is folded
 * (fold_op()); so it is once the table is three quarters full for the cgroups of a share slot
 * that took ipct_cfg_flow_share entries of it already (ipct_flow_share): a cgroup churning
 * channels cannot take the last quarter from the quiet ones. One fold_op() and one call site
 * (record_flow_of()): the syscall exit programs are near the verifier's limit on Linux 6.1.
 */
static __always_inline void flow_insert(__u32 t, __u64 *bucket, __u64 gen,
					const struct ipct_flow_key *key, __u64 msgs, __u64 bytes)
{
	__u32 slot =
		(__u32)(((key->cgroup_id ^ ipct_cfg_share_seed) * 0x9E3779B97F4A7C15ULL) >> 56);
	__u64 *used = bpf_map_lookup_elem(&ipct_flow_used, &t);
	struct ipct_flow_share *share = bpf_map_lookup_elem(&ipct_flow_share, &slot);
	__u64 mark = (gen << 1) | t;
	struct ipct_flow_entry *e;
	__u64 n;
	__u32 i;

	if (!used || !share)
		return;
	if (share->mark != mark) {
		share->mark = mark;
		share->count = 0;
	}
	if (share->count < ipct_cfg_flow_share ||
	    *used < ipct_cfg_flow_cap - ipct_cfg_flow_cap / IPCT_FLOW_RESERVE_DIVISOR) {
		n = __sync_fetch_and_add(used, 1);
		if (n < ipct_cfg_flow_cap) {
			share->count++;
			i = t * ipct_cfg_flow_cap + (__u32)n;
			e = bpf_map_lookup_elem(&ipct_flow_entries, &i);
			if (!e)
				return;
			__builtin_memcpy(&e->key, key, sizeof(*key));
			e->val.msgs = msgs;
			e->val.bytes = bytes;
			e->val.tgid = bpf_get_current_pid_tgid() >> 32;
			e->val._pad = 0;
			task_ns_ids((struct task_struct *)bpf_get_current_task(), &e->val.ns);
			bpf_get_current_comm(e->val.comm, sizeof(e->val.comm));
			task_exe_name((struct task_struct *)bpf_get_current_task(), e->val.exe,
				      sizeof(e->val.exe));
			if (bucket)
				*bucket = (gen << 32) | (n + 1);
			return;
		}
	}
	fold_op(t, key, msgs, bytes);
}

/*
 * Adds `msgs` messages of `bytes` in all to the flow `key` of cgroup `cgroup_id`, in this CPU's
 * table that the programs fill (maps.bpf.h): array lookups only, which the verifier inlines.
 * The first operation of a flow in a table takes an entry with the task's identity.
 */
static __always_inline void record_flow_of(struct ipct_flow_key *key, __u64 cgroup_id, __u64 msgs,
					   __u64 bytes)
{
	const __u32 zero = 0;
	struct ipct_flow_ctl *ctl;
	struct ipct_flow_entry *e;
	__u64 *bucket, *into;
	__u32 t, h, b, i;
	__u64 gen, v;

	key->cgroup_id = cgroup_id;
	if (ipct_cfg_only_cgroup != 0 && key->cgroup_id != ipct_cfg_only_cgroup)
		return;
	if (ipct_cfg_trace_data)
		trace_data(key, msgs, bytes);
	ctl = bpf_map_lookup_elem(&ipct_flow_ctl, &zero);
	if (!ctl)
		return;
	t = ctl->active & 1;
	gen = ctl->gen[t];
	h = flow_hash(key);
	/* Every probed bucket holds another flow: an entry no bucket finds, counted all the same. */
	into = NULL;
#pragma clang loop unroll(disable)
	for (__u32 p = 0; p < IPCT_FLOW_PROBES; p++) {
		b = t * ipct_cfg_flow_buckets + ((h + p) & (ipct_cfg_flow_buckets - 1));
		bucket = bpf_map_lookup_elem(&ipct_flow_index, &b);
		if (!bucket)
			return;
		v = *bucket;
		if ((v >> 32) != gen || (__u32)v == 0) {
			into = bucket;
			break;
		}
		i = t * ipct_cfg_flow_cap + ((__u32)v - 1);
		e = bpf_map_lookup_elem(&ipct_flow_entries, &i);
		if (!e)
			return;
		if (flow_key_eq(&e->key, key)) {
			/* Plain adds: the entry is this CPU's, and a program that interrupts this
			 * one (signal_generate) counts signal keys, never this entry's. */
			e->val.msgs += msgs;
			e->val.bytes += bytes;
			return;
		}
	}
	/* One call site: flow_insert() is inlined once into every program. */
	flow_insert(t, into, gen, key, msgs, bytes);
}

static __always_inline void record_flow(struct ipct_flow_key *key, __u64 msgs, __u64 bytes)
{
	record_flow_of(key, bpf_get_current_cgroup_id(), msgs, bytes);
}

static __always_inline __u32 log2_u64(__u64 v)
{
	__u32 r = 0;

	if (v >> 32) {
		v >>= 32;
		r += 32;
	}
	if (v >> 16) {
		v >>= 16;
		r += 16;
	}
	if (v >> 8) {
		v >>= 8;
		r += 8;
	}
	if (v >> 4) {
		v >>= 4;
		r += 4;
	}
	if (v >> 2) {
		v >>= 2;
		r += 2;
	}
	if (v >> 1)
		r += 1;
	return r;
}

/* Adds one receiving call that was blocked `wait_ns` to the histogram of (cgroup, kind). */
static __always_inline void record_wait_of(__u8 kind, __u64 cgroup_id, __u64 wait_ns)
{
	struct ipct_wait_key key = {};
	struct ipct_wait_val *val;
	__u64 us = wait_ns / 1000;
	__u32 slot = us == 0 ? 0 : log2_u64(us) + 1;

	if (slot >= IPCT_WAIT_SLOTS)
		slot = IPCT_WAIT_SLOTS - 1;
	key.cgroup_id = cgroup_id;
	if (ipct_cfg_only_cgroup != 0 && key.cgroup_id != ipct_cfg_only_cgroup)
		return;
	key.kind = kind;
	val = bpf_map_lookup_elem(&ipct_waits, &key);
	if (!val) {
		static const struct ipct_wait_val zero = {};

		bpf_map_update_elem(&ipct_waits, &key, &zero, BPF_NOEXIST);
		val = bpf_map_lookup_elem(&ipct_waits, &key);
		if (!val) {
			count_drop(IPCT_DROP_WAIT_MAP_FULL);
			return;
		}
	}
	/* Shared by all CPUs (ipct_waits): atomic adds, no lost update. */
	__sync_fetch_and_add(&val->slots[slot & (IPCT_WAIT_SLOTS - 1)], 1);
	__sync_fetch_and_add(&val->count, 1);
	__sync_fetch_and_add(&val->sum_ns, wait_ns);
}

/* Reserves a lifecycle event with the task's identity filled in; NULL (counted) if full. */
static __always_inline struct ipct_event *event_reserve(__u8 kind, __u8 op, long ret)
{
	struct ipct_event *e;
	struct task_struct *task;
	__u64 id;

	if (ipct_cfg_only_cgroup != 0 && bpf_get_current_cgroup_id() != ipct_cfg_only_cgroup)
		return NULL;
	e = bpf_ringbuf_reserve(&ipct_events, sizeof(*e), 0);
	if (!e) {
		count_drop(IPCT_DROP_RINGBUF_FULL);
		return NULL;
	}
	id = bpf_get_current_pid_tgid();
	task = (struct task_struct *)bpf_get_current_task();
	e->ts_ns = bpf_ktime_get_boot_ns();
	e->cgroup_id = bpf_get_current_cgroup_id();
	e->tgid = id >> 32;
	e->tid = (__u32)id;
	task_ns_ids(task, &e->ns);
	e->kind = kind;
	e->op = op;
	__builtin_memset(e->_pad, 0, sizeof(e->_pad));
	e->ret = ret;
	e->id = 0;
	e->aux = 0;
	e->aux2 = 0;
	e->dev = 0;
	e->_pad2 = 0;
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	e->name[0] = 0;
	return e;
}

/*
 * Lifecycle events wake the agent's reader (Tracer's event thread), which takes them out as they
 * come: a collection's worth at 10,000 a second would not fit the ring. The kernel's adaptive
 * wakeup (flags 0) wakes it only for a record written while it had read everything: records
 * that come faster than it reads share a wakeup.
 */
static __always_inline void event_submit(struct ipct_event *e)
{
	bpf_ringbuf_submit(e, 0);
}

#endif /* IPCTRACE_FLOW_BPF_H */
