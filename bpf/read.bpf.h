/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * One handler source, two program flavours. Handlers (*.bpf.inc) read kernel memory
 * only through IPCT_RD(ptr, field, field...) and name their functions with
 * IPCT_FN(name); each program file includes them twice:
 *   - BTF-typed programs (tp_btf, fentry): IPCT_RD is a plain pointer chain, which the
 *     verifier turns into direct loads (no helper call per step);
 *   - raw tracepoints: IPCT_RD is BPF_CORE_READ, a bpf_probe_read_kernel() per step.
 */
#ifndef IPCTRACE_READ_BPF_H
#define IPCTRACE_READ_BPF_H

#include <bpf/bpf_core_read.h>

/* libbpf's own pointer-chain helper (bpf_core_read.h): ___arrow(a, b, c) is a->b->c. */
#define IPCT_RD_BTF(...) ___arrow(__VA_ARGS__)
#define IPCT_RD_CORE(...) BPF_CORE_READ(__VA_ARGS__)

#endif /* IPCTRACE_READ_BPF_H */
