// The IPC mechanisms ipctrace traces, in one table: for each, its name, the kinds it reports
// and the system calls that carry it on the syscall path (name, number on this architecture,
// the code the BPF programs know it by, and its role). Everything that depends on "which
// syscalls belong to which mechanism" derives from this table: the hook candidates
// (kernel/hooks.cpp: the syscall functions a function-hook candidate attaches to), the syscall
// table handed to the sys_exit programs, the kind masks of each path and the receiving calls whose
// blocked time is wait time (kernel/planner.cpp). Adding a mechanism is a row here, its kernel code
// in bpf/ and, if it has one, its program row in kernel/planner.cpp.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

namespace ipctrace {

enum class Mechanism { PipeFifo, Unix, Inet, SysvMsg, PosixMq, SysvShm, Signal };

enum class SyscallRole {
  Send,       // moves data into a channel: write, sendmsg, msgsnd, mq_timedsend...
  Receive,    // takes data out, and may block: the time it blocks is wait time (read, recvmsg, msgrcv...)
  Transfer,   // moves data between two descriptors (a pipe or a socket at either end), or user memory
              // into or out of a pipe: splice, sendfile, tee, vmsplice
  Lifecycle,  // creates, opens, attaches, detaches or removes an object: msgget, shmat, mq_open...
};

struct SyscallInfo {
  std::string_view name;  // as in the syscall table and the syscall wrapper's name: "pread64"
  long nr;                // its number on this architecture (<sys/syscall.h>)
  uint8_t code;           // enum ipct_sys (bpf/ipctrace.h): what the sys_exit programs dispatch on
  SyscallRole role;
};

struct MechanismInfo {
  Mechanism mechanism;
  std::string_view name;              // "pipe_fifo", as `ipctrace probe` and the metrics say it
  std::vector<int> kinds;             // the enum ipct_kind values it reports, in ABI order
  std::vector<SyscallInfo> syscalls;  // what the syscall path follows for it; empty: none (signals)
};

// Every mechanism, in the order of enum Mechanism.
std::span<const MechanismInfo> all_mechanisms();
const MechanismInfo& mechanism_info(Mechanism m);
inline constexpr Mechanism kAllMechanisms[] = {Mechanism::PipeFifo, Mechanism::Unix,    Mechanism::Inet,
                                               Mechanism::SysvMsg,  Mechanism::PosixMq, Mechanism::SysvShm,
                                               Mechanism::Signal};

std::string_view mechanism_name(Mechanism m);                // "pipe_fifo", "unix", "inet", ...
std::vector<std::string_view> mechanism_kinds(Mechanism m);  // the `kind` labels: {"pipe", "fifo"}
// IPCT_KIND_BIT() of the kinds whose data a syscall path counts once it serves the mechanism: every
// kind of a mechanism with a sending, receiving or transferring syscall; none for sysv_shm (its
// syscalls only create, attach, detach and remove) and signal (not on the syscall paths).
uint32_t counted_kind_bits(Mechanism m);
// The mechanism's syscalls of one role, in table order.
std::vector<SyscallInfo> mechanism_syscalls(Mechanism m, SyscallRole role);
// Every receiving call of every mechanism, each once: the calls whose blocked time is measured.
std::vector<SyscallInfo> receiving_syscalls();

// The pipe's own read_iter/write_iter functions, the fentry/fexit targets of pipes and FIFOs, under
// the names of each kernel (which names on which kernel, and why: kernel/hooks.cpp).
struct PipeFunction {
  std::string_view name;     // the kernel function
  std::string_view program;  // what bpf/functions.bpf.c's programs for it are called after it:
                             // ipct_fx_<program> (exit), ipct_fe_<program> (entry, reads only)
  bool read;                 // a receive: its entry starts the wait clock
  bool split;                // anon_pipe_*/fifo_pipe_* (6.15+); else pipe_read/pipe_write (before)
};
std::span<const PipeFunction> pipe_functions();

}  // namespace ipctrace
