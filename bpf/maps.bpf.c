// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Definitions of the configuration globals declared in maps.bpf.h. */
#include "vmlinux.h"

#include "maps.bpf.h"

const volatile __u32 ipct_cfg_self_tgid = 0;
const volatile __u64 ipct_cfg_only_cgroup = 0;
const volatile __u32 ipct_cfg_sys_exit_kinds = 0;
const volatile __u8 ipct_cfg_wait_time = 0;
const volatile __u32 ipct_cfg_fexit_kinds = 0;
const volatile __u8 ipct_cfg_fn_wait = 0;
const volatile __u32 ipct_cfg_splice_kinds = 0;
const volatile __s32 ipct_cfg_nr_splice = -1;
const volatile __s32 ipct_cfg_nr_sendfile = -1;
const volatile __s32 ipct_cfg_nr_sendto = -1;
const volatile __s32 ipct_cfg_nr_sendmsg = -1;
const volatile __s32 ipct_cfg_nr_sendmmsg = -1;
const volatile __u32 ipct_cfg_uring_rw_kinds = 0;
const volatile __u32 ipct_cfg_uring_splice_out_kinds = 0;
const volatile __u32 ipct_cfg_uring_splice_in_kinds = 0;
const volatile __u8 ipct_cfg_sys_table[IPCT_SYS_TABLE_SIZE] = {};
const volatile __u32 ipct_cfg_flow_cap = 1024;
const volatile __u32 ipct_cfg_flow_buckets = 4096;
const volatile __u32 ipct_cfg_flow_share = 16;
const volatile __u64 ipct_cfg_share_seed = 0;
const volatile __u8 ipct_cfg_trace_data = 0;
const volatile __u32 ipct_cfg_trace_kinds = 0;
const volatile __u8 ipct_cfg_trace_pids = 0;
const volatile __u8 ipct_cfg_trace_skip = 0;
