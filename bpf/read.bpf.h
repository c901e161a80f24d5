/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The two ways a handler body reads kernel memory; each .bpf.c picks one per body through the
 * body's read knobs (IPCT_TASK_RD, IPCT_FILE_RD, IPCT_SK_RD, IPCT_SIG_RD):
 *   - IPCT_RD_BTF, in BTF-typed programs (tp_btf, fentry/fexit) on typed pointers: a plain
 *     pointer chain, which the verifier turns into direct loads (no helper call per step);
 *   - IPCT_RD_CORE, in raw tracepoints or on pointers a helper returned: BPF_CORE_READ, a
 *     bpf_probe_read_kernel() per step.
 */
#ifndef IPCTRACE_READ_BPF_H
#define IPCTRACE_READ_BPF_H

#include <bpf/bpf_core_read.h>

/* libbpf's own pointer-chain helper (bpf_core_read.h): ___arrow(a, b, c) is a->b->c. */
#define IPCT_RD_BTF(...) ___arrow(__VA_ARGS__)
#define IPCT_RD_CORE(...) BPF_CORE_READ(__VA_ARGS__)

#endif /* IPCTRACE_READ_BPF_H */
