/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Every architecture and kernel-version difference of the BPF side, in one place.
 * Each entry names the change it answers.
 */
#ifndef IPCTRACE_CORE_FIXES_BPF_H
#define IPCTRACE_CORE_FIXES_BPF_H

#include <bpf/bpf_core_read.h>

/* Magic numbers from include/uapi/linux/magic.h (stable ABI). */
#define IPCT_PIPEFS_MAGIC 0x50495045
#define IPCT_MQUEUE_MAGIC 0x19800202

/* File type bits of i_mode (include/uapi/linux/stat.h). */
#define IPCT_S_IFMT 00170000
#define IPCT_S_IFIFO 0010000
#define IPCT_S_IFSOCK 0140000

#define IPCT_FMODE_WRITE 0x2
#define IPCT_AF_UNIX 1
#define IPCT_AF_INET 2
#define IPCT_AF_INET6 10
#define IPCT_SOCK_STREAM 1
#define IPCT_SOCK_DGRAM 2
#define IPCT_SOCK_SEQPACKET 5
#define IPCT_IPPROTO_TCP 6
#define IPCT_IPPROTO_UDP 17
#define IPCT_MSG_PEEK 2
#define IPCT_IPC_RMID 0

/*
 * Syscall number and arguments from the pt_regs the sys_exit tracepoint passes.
 * At syscall exit the argument registers still hold the original arguments (the
 * syscall wrappers read them from pt_regs; nothing writes them back), except the
 * return register, which is why arguments are read here and never the return value.
 */
#if defined(__TARGET_ARCH_x86)
#define IPCT_REGS_NR(r) ((long)(r)->orig_ax)
#define IPCT_REGS_ARG0(r) ((r)->di)
#define IPCT_REGS_ARG1(r) ((r)->si)
#define IPCT_REGS_ARG2(r) ((r)->dx)
#define IPCT_REGS_ARG3(r) ((r)->r10)
#define IPCT_REGS_NR_CORE(r) ((long)BPF_CORE_READ((r), orig_ax))
#define IPCT_REGS_ARG0_CORE(r) BPF_CORE_READ((r), di)
#define IPCT_REGS_ARG1_CORE(r) BPF_CORE_READ((r), si)
#define IPCT_REGS_ARG2_CORE(r) BPF_CORE_READ((r), dx)
#define IPCT_REGS_ARG3_CORE(r) BPF_CORE_READ((r), r10)
#elif defined(__TARGET_ARCH_arm64)
/* arm64: x0 is overwritten by the return value; the original is kept in orig_x0. */
#define IPCT_REGS_NR(r) ((long)(r)->syscallno)
#define IPCT_REGS_ARG0(r) ((r)->orig_x0)
#define IPCT_REGS_ARG1(r) ((r)->regs[1])
#define IPCT_REGS_ARG2(r) ((r)->regs[2])
#define IPCT_REGS_ARG3(r) ((r)->regs[3])
#define IPCT_REGS_NR_CORE(r) ((long)BPF_CORE_READ((r), syscallno))
#define IPCT_REGS_ARG0_CORE(r) BPF_CORE_READ((r), orig_x0)
#define IPCT_REGS_ARG1_CORE(r) BPF_CORE_READ((r), regs[1])
#define IPCT_REGS_ARG2_CORE(r) BPF_CORE_READ((r), regs[2])
#define IPCT_REGS_ARG3_CORE(r) BPF_CORE_READ((r), regs[3])
#else
#error "ipctrace: unsupported BPF target architecture"
#endif

#endif /* IPCTRACE_CORE_FIXES_BPF_H */
