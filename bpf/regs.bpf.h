/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Syscall number and arguments from the pt_regs the sys_exit and sys_enter tracepoints pass, per
 * architecture: IPCT_REGS_*(r) are plain loads (BTF-typed programs, or a copy on the stack),
 * IPCT_REGS_*_CORE(r) are CO-RE reads (raw tracepoints, before the copy); IPCT_REGS_*_FIELD
 * name the fields holding the number and the first arguments, for a body's own read knob.
 * At syscall exit the argument registers still hold the original arguments (the
 * syscall wrappers read them from pt_regs; nothing writes them back), except the
 * return register, which is why arguments are read here and never the return value.
 */
#ifndef IPCTRACE_REGS_BPF_H
#define IPCTRACE_REGS_BPF_H

#include <bpf/bpf_core_read.h>

#if defined(__TARGET_ARCH_x86)
#define IPCT_REGS_NR_FIELD orig_ax
#define IPCT_REGS_ARG0_FIELD di
#define IPCT_REGS_ARG1_FIELD si
#define IPCT_REGS_ARG2_FIELD dx
#define IPCT_REGS_ARG4_FIELD r8
#define IPCT_REGS_ARG5_FIELD r9
#define IPCT_REGS_NR(r) ((long)(r)->orig_ax)
#define IPCT_REGS_ARG0(r) ((r)->di)
#define IPCT_REGS_ARG1(r) ((r)->si)
#define IPCT_REGS_ARG2(r) ((r)->dx)
#define IPCT_REGS_ARG3(r) ((r)->r10)
#define IPCT_REGS_ARG4(r) ((r)->r8)
#define IPCT_REGS_ARG5(r) ((r)->r9)
#define IPCT_REGS_NR_CORE(r) ((long)BPF_CORE_READ((r), orig_ax))
#define IPCT_REGS_ARG0_CORE(r) BPF_CORE_READ((r), di)
#define IPCT_REGS_ARG1_CORE(r) BPF_CORE_READ((r), si)
#define IPCT_REGS_ARG2_CORE(r) BPF_CORE_READ((r), dx)
#define IPCT_REGS_ARG3_CORE(r) BPF_CORE_READ((r), r10)
#define IPCT_REGS_ARG4_CORE(r) BPF_CORE_READ((r), r8)
#elif defined(__TARGET_ARCH_arm64)
/* arm64: x0 is overwritten by the return value; the original is kept in orig_x0. */
#define IPCT_REGS_NR_FIELD syscallno
#define IPCT_REGS_ARG0_FIELD orig_x0
#define IPCT_REGS_ARG1_FIELD regs[1]
#define IPCT_REGS_ARG2_FIELD regs[2]
#define IPCT_REGS_ARG4_FIELD regs[4]
#define IPCT_REGS_ARG5_FIELD regs[5]
#define IPCT_REGS_NR(r) ((long)(r)->syscallno)
#define IPCT_REGS_ARG0(r) ((r)->orig_x0)
#define IPCT_REGS_ARG1(r) ((r)->regs[1])
#define IPCT_REGS_ARG2(r) ((r)->regs[2])
#define IPCT_REGS_ARG3(r) ((r)->regs[3])
#define IPCT_REGS_ARG4(r) ((r)->regs[4])
#define IPCT_REGS_ARG5(r) ((r)->regs[5])
#define IPCT_REGS_NR_CORE(r) ((long)BPF_CORE_READ((r), syscallno))
#define IPCT_REGS_ARG0_CORE(r) BPF_CORE_READ((r), orig_x0)
#define IPCT_REGS_ARG1_CORE(r) BPF_CORE_READ((r), regs[1])
#define IPCT_REGS_ARG2_CORE(r) BPF_CORE_READ((r), regs[2])
#define IPCT_REGS_ARG3_CORE(r) BPF_CORE_READ((r), regs[3])
#define IPCT_REGS_ARG4_CORE(r) BPF_CORE_READ((r), regs[4])
#else
#error "ipctrace: unsupported BPF target architecture"
#endif

#endif /* IPCTRACE_REGS_BPF_H */
