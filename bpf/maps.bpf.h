/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The maps and configuration shared by every tracing program. Maps are declared
 * __weak here and merged by `bpftool gen object`; configuration is defined once
 * in maps.bpf.c and declared extern here.
 */
#ifndef IPCTRACE_MAPS_BPF_H
#define IPCTRACE_MAPS_BPF_H

#include <bpf/bpf_helpers.h>

#include "ipctrace.h"

/* Configuration, set by the agent between open and load (read-only afterwards). */
extern const volatile __u32 ipct_cfg_self_tgid;	  /* never trace the agent itself (0: trace all) */
extern const volatile __u64 ipct_cfg_only_cgroup; /* trace only this cgroup v2 id (0: all) */
extern const volatile __u32 ipct_cfg_sys_exit_kinds; /* IPCT_KIND_BIT()s counted on sys_exit */
extern const volatile __u8 ipct_cfg_wait_time;	  /* the syscall tracepoints time receiving calls */
extern const volatile __u32 ipct_cfg_fexit_kinds; /* IPCT_KIND_BIT()s counted on function hooks */
extern const volatile __u8 ipct_cfg_fn_wait;	  /* function hooks time receiving calls */
/* IPCT_KIND_BIT()s of the sockets on the socket tracepoints, whose ends of splice and sendfile
 * the path counting pipes counts instead (the tracepoints skip them: see sock_splicing()). */
extern const volatile __u32 ipct_cfg_splice_kinds;
extern const volatile __s32 ipct_cfg_nr_splice;	  /* syscall numbers of splice and sendfile64 */
extern const volatile __s32 ipct_cfg_nr_sendfile; /* (-1: none) */
/* syscall numbers of sendto, sendmsg and sendmmsg, whose destination a datagram send on the
 * socket tracepoints takes from the call (sock_call_dest()); -1: none. sendmmsg's is set only
 * where the socket tracepoints count its messages off (ipct_mmsg_pos), and its exit ends the
 * count. */
extern const volatile __s32 ipct_cfg_nr_sendto;
extern const volatile __s32 ipct_cfg_nr_sendmsg;
extern const volatile __s32 ipct_cfg_nr_sendmmsg;
/* IPCT_KIND_BIT()s io_uring's completions count (uring_complete() in sys_exit_body.bpf.h): the
 * reads and writes, sends and receives no other hook sees; the output and the input of a splice
 * or tee. */
extern const volatile __u32 ipct_cfg_uring_rw_kinds;
extern const volatile __u32 ipct_cfg_uring_splice_out_kinds;
extern const volatile __u32 ipct_cfg_uring_splice_in_kinds;
extern const volatile __u8
	ipct_cfg_sys_table[IPCT_SYS_TABLE_SIZE];   /* syscall nr -> enum ipct_sys */
extern const volatile __u32 ipct_cfg_flow_cap;	   /* entries of each flow table */
extern const volatile __u32 ipct_cfg_flow_buckets; /* index buckets of each (a power of two) */
extern const volatile __u32 ipct_cfg_flow_share;   /* cap / IPCT_FLOW_SHARE_DIVISOR, at least 1 */
extern const volatile __u64 ipct_cfg_share_seed;   /* random per load: ipct_flow_share's hash key */
/* `ipctrace trace --data`: stream each data operation, filtered here as far as possible. */
extern const volatile __u8 ipct_cfg_trace_data;	  /* stream data operations at all */
extern const volatile __u32 ipct_cfg_trace_kinds; /* IPCT_KIND_BIT()s streamed (0: all) */
extern const volatile __u8 ipct_cfg_trace_pids;	  /* only processes in ipct_trace_pids */
extern const volatile __u8 ipct_cfg_trace_skip;	  /* not cgroups in ipct_trace_skip */

/*
 * Data operations, aggregated per CPU: (cgroup, kind, channel, direction) -> calls and bytes.
 * Each CPU fills one of two tables while the agent reads the other, which is why no helper call
 * is on this path (a hash map's lookup is one: about 50 ns a call on this project's machine,
 * half of what the whole accounting may cost). A table is `ipct_cfg_flow_cap` entries of
 * ipct_flow_entries, allocated in order (ipct_flow_used counts them), and an open-addressing
 * index of `ipct_cfg_flow_buckets` buckets in ipct_flow_index: (generation << 32) | (entry + 1),
 * where a bucket of another generation is empty, so a table is emptied by counting it empty and
 * moving its generation on. ipct_flow_ctl says which table is filled and each one's generation.
 * The agent switches tables, waits for the programs that may still fill the old one (an RCU
 * grace period) and reads it: see Tracer::read_flows(). All sized by the agent before load.
 */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 2 * 1024);
	__type(key, __u32);
	__type(value, struct ipct_flow_entry);
} ipct_flow_entries SEC(".maps") __weak;

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 2 * 4096);
	__type(key, __u32);
	__type(value, __u64);
} ipct_flow_index SEC(".maps") __weak;

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u64);
} ipct_flow_used SEC(".maps") __weak;

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ipct_flow_ctl);
} ipct_flow_ctl SEC(".maps") __weak;

/*
 * Fairness of each CPU's flow tables (flow_insert()): 256 slots per CPU, a cgroup's chosen by a
 * hash of its id keyed with a secret of the agent's (ipct_cfg_share_seed: cgroup ids are
 * sequential and visible, a container must not be able to pick another's slot), each counting the entries its cgroups took of a table (mark: which table, and
 * its generation). Once a table is three quarters full, the cgroups of a slot that took
 * ipct_cfg_flow_share entries (1/64 of the table) are folded, so the last quarter is left to the
 * quiet ones. A quiet cgroup that shares a slot with a churning one (1 in 256) is folded with
 * it, in that table: its totals stay exact, its channels are not kept while the other churns.
 */
struct ipct_flow_share {
	__u64 mark; /* (generation << 1) | table */
	__u32 count;
	__u32 _pad;
};
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 256);
	__type(key, __u32);
	__type(value, struct ipct_flow_share);
} ipct_flow_share SEC(".maps") __weak;

/*
 * Operations of flows a full table could not keep, per (cgroup, kind, direction, table): every
 * container's totals stay exact when channel detail cannot be kept (flow_insert()). The agent
 * deletes a table's entries when it reads them. Preallocated (about 3 MiB, whatever the number
 * of CPUs): a tracing program may not allocate (before Linux 6.1, the verifier refuses a
 * raw_tp program a run-time allocated hash map on PREEMPT_RT and warns otherwise). 32,768
 * entries shared by both tables: every kind both ways for 585 cgroups that all overflowed within
 * the same collection; beyond that, IPCT_DROP_FOLD_MAP_FULL.
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 2 * 16384);
	__type(key, struct ipct_fold_key);
	__type(value, struct ipct_fold_val);
} ipct_folded SEC(".maps") __weak;

/*
 * Object lifecycle: create, open, attach, detach, remove... Read as they come by the agent's
 * reader thread (event_submit()); 1,365 records of 192 bytes.
 */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} ipct_events SEC(".maps") __weak;

/*
 * Cgroups made in the unified hierarchy (struct ipct_cgroup_event, 536 bytes), read as they
 * come: about 3,900 fit, a burst of pod starts on a busy node and then some.
 */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 2 * 1024 * 1024);
} ipct_cgroups SEC(".maps") __weak;

/* What could not be recorded, per reason (enum ipct_drop). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, IPCT_DROP_MAX);
	__type(key, __u32);
	__type(value, __u64);
} ipct_drops SEC(".maps") __weak;

/*
 * Receiving calls in progress: thread id -> entry time (wait.bpf.h). LRU, so a thread killed
 * inside a call cannot leak its entry.
 */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, __u64);
} ipct_inflight SEC(".maps") __weak;

/*
 * sendmmsg() in progress on the socket tracepoints, per thread (pid_tgid): the call's message
 * vector and the index of its next message (sock_mmsg_index()). The tracepoints fire once per
 * message, in order, and say nothing of which: counting them in the thread tells. The call's
 * exit (sys_exit, and the function hooks' sendmmsg exit) deletes the entry, so the next call
 * starts at 0 even with the same vector. Only sendmmsg on a datagram socket makes an entry.
 */
struct ipct_mmsg_pos {
	__u64 vec;
	__u32 next;
	__u32 pad;
};
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, __u64);
	__type(value, struct ipct_mmsg_pos);
} ipct_mmsg_pos SEC(".maps") __weak;

/*
 * Time blocked in receiving calls: (cgroup, kind) -> log2 histogram, added to atomically. One
 * for all CPUs (about 2.75 MiB): per CPU it took 2.2 MiB each, 420 MiB on a 192-CPU node.
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 8192);
	__type(key, struct ipct_wait_key);
	__type(value, struct ipct_wait_val);
} ipct_waits SEC(".maps") __weak;

/* Traced data operations (struct ipct_data_event); sized by the agent, a page when unused. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} ipct_trace SEC(".maps") __weak;

/* The processes (tgid) whose data operations are streamed, with ipct_cfg_trace_pids. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, __u8);
} ipct_trace_pids SEC(".maps") __weak;

/*
 * Cgroups userspace found not to match the trace's container/pod/namespace filters: their data
 * operations are not streamed. LRU: an evicted cgroup only costs records userspace drops again.
 */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, __u8);
} ipct_trace_skip SEC(".maps") __weak;

/*
 * Receiving calls in progress, in task-local storage (wait.bpf.h): thread -> entry time. Created
 * only for the programs that use it (sys_exit_cast.bpf.c).
 */
struct ipct_wait_start {
	__u64 ns;
};

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct ipct_wait_start);
} ipct_wait_starts SEC(".maps") __weak;

#endif /* IPCTRACE_MAPS_BPF_H */
