// The kernel/userspace ABI (bpf/ipctrace.h) as C++ sees it, with its layout pinned:
// a field moved on one side fails the build here rather than corrupting records.
#pragma once

#include <linux/types.h>

#include <cstddef>

#include "bpf/ipctrace.h"

static_assert(sizeof(ipct_ns_ids) == 32);
static_assert(offsetof(ipct_ns_ids, ipc) == 0);
static_assert(offsetof(ipct_ns_ids, net) == 4);
static_assert(offsetof(ipct_ns_ids, pid) == 8);
static_assert(offsetof(ipct_ns_ids, mnt) == 12);
static_assert(offsetof(ipct_ns_ids, uts) == 16);
static_assert(offsetof(ipct_ns_ids, cgroup) == 20);
static_assert(offsetof(ipct_ns_ids, user) == 24);

static_assert(sizeof(ipct_probe_event) == 48);
static_assert(offsetof(ipct_probe_event, tgid) == 0);
static_assert(offsetof(ipct_probe_event, tid) == 4);
static_assert(offsetof(ipct_probe_event, cgroup_id) == 8);
static_assert(offsetof(ipct_probe_event, ns) == 16);

static_assert(IPCT_KIND_MAX == 12,
              "update kKinds in agent/kernel/kinds.cpp and the table in agent/kernel/mechanisms.cpp");

static_assert(sizeof(ipct_chan_obj) == 48);
static_assert(offsetof(ipct_chan_obj, comm) == 24);
static_assert(offsetof(ipct_chan_obj, sk_tag) == 40);
static_assert(sizeof(ipct_chan_inet) == 48);
static_assert(sizeof(ipct_flow_key) == 64);
static_assert(sizeof(ipct_flow_val) == 96);
static_assert(offsetof(ipct_flow_val, comm) == 56);
static_assert(offsetof(ipct_flow_val, exe) == 72);
static_assert(sizeof(ipct_flow_entry) == 160);

static_assert(sizeof(ipct_data_event) == 144);
static_assert(offsetof(ipct_data_event, ts_ns) == 0);
static_assert(offsetof(ipct_data_event, cgroup_id) == 8);
static_assert(offsetof(ipct_data_event, tgid) == 16);
static_assert(offsetof(ipct_data_event, ns) == 24);
static_assert(offsetof(ipct_data_event, kind) == 56);
static_assert(offsetof(ipct_data_event, dir) == 57);
static_assert(offsetof(ipct_data_event, msgs) == 64);
static_assert(offsetof(ipct_data_event, bytes) == 72);
static_assert(offsetof(ipct_data_event, ch) == 80);
static_assert(offsetof(ipct_data_event, comm) == 128);
static_assert(sizeof(ipct_open_file) == 64);
static_assert(offsetof(ipct_open_file, inet) == 16);
static_assert(offsetof(ipct_open_file, dev) == 8);
static_assert(offsetof(ipct_open_file, type) == 12);
