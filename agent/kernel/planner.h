// The program planner: from the hook chosen for each mechanism (kernel/hooks.h) to what the Tracer
// loads and attaches. Pure: no kernel, no BPF object, so every hook setup is unit-tested
// (tests/unit/kernel/planner_test.cpp).
//
// Which program serves an attach point is a table (kernel/planner.cpp), per hook family and, on the
// syscall path, per flavour: with bpf_rdonly_cast (Linux 6.2, "bpf: Add a kfunc for generic type
// cast") the typed sys_exit/sys_enter programs read everything behind a file with plain loads and
// keep receive start times in task-local storage; without it, CO-RE reads and an LRU hash.
// Mechanisms that share an attach point (four on sys_exit; unix and inet on the socket tracepoints
// or the socket syscalls' functions) share its program, loaded once: attached twice it would count
// twice. Each path counts only the kinds of the mechanisms it serves (the kind masks), so a call
// two paths see is counted once.
//
// Wait time (time blocked in receiving calls) is timed by exactly one path: where a sys_exit program
// is in use anyway, its sys_enter twin starts the clock for the receiving syscalls (added to the
// sys_exit table); otherwise, where function hooks are in use, fentry on the pipe's read functions
// and on the receiving syscalls' functions, with their fexit where the mechanism's own path does not
// have them already; else nothing can time receives (WaitPath::None).
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"
#include "kernel/abi.h"
#include "kernel/hooks.h"

namespace ipctrace {

// A mechanism and the programs serving it, as `ipctrace probe`, the flows document and the metrics
// report it.
struct AttachedHook {
  Mechanism mechanism;
  HookFamily family;
  std::vector<std::string> programs;
  bool operator==(const AttachedHook&) const = default;
};

struct PlanOptions {
  bool wait_time = true;     // time blocked receiving calls
  bool rdonly_cast = false;  // the kernel has bpf_rdonly_cast (Linux 6.2+)
  // io_uring:io_uring_complete passes the request (struct io_kiocb) as its second argument, per
  // the kernel's BTF (6.1 and 6.18 do; 5.10 passes only ctx, user_data and res).
  bool io_uring_request = false;
  // Cgroups as they are made (the cgroup_mkdir program): names for containers that live less than
  // a collection.
  bool cgroup_events = true;
};

struct PlannedProgram {
  std::string name;      // the program in bpf/: "ipct_sys_exit_cast", "ipct_fx_msgsnd"
  std::string function;  // fentry/fexit: the kernel function it attaches to; "" for tracepoints
  bool operator==(const PlannedProgram&) const = default;
};

enum class WaitPath {
  None,       // wait time off, or no hook in use can time receives
  SysEnter,   // the sys_exit program's sys_enter twin (tracepoint families)
  Functions,  // fentry/fexit on the receiving functions (function hooks)
};

struct ProgramPlan {
  std::vector<PlannedProgram> programs;  // each once: the mechanisms' in hook order, then the wait path's
  std::vector<AttachedHook> hooks;       // per mechanism with a hook; the wait path's programs last, under pipe_fifo
  uint32_t sys_exit_kinds = 0;           // ipct_cfg_sys_exit_kinds: IPCT_KIND_BIT()s counted on sys_exit
  uint32_t fexit_kinds = 0;              // ipct_cfg_fexit_kinds: ... counted on function hooks
  // ipct_cfg_splice_kinds: the socket kinds on the socket tracepoints, whose ends of splice and
  // sendfile the path counting pipes counts, once per call (the tracepoints skip those calls);
  // 0 when pipes have no hook (the tracepoints then count them, once per batch of pipe buffers).
  uint32_t splice_kinds = 0;
  // ipct_cfg_nr_sendmmsg set: datagram sockets are on the socket tracepoints, which count
  // sendmmsg's messages off per thread; the call's exit (sys_exit, or sendmmsg's fexit) ends the
  // count (bpf/sock_key_body.bpf.h, add_mmsg_path()).
  bool mmsg_index = false;
  // ipct_cfg_uring_*: what io_uring's completion program counts (bpf/sys_exit_body.bpf.h,
  // uring_complete()): reads, writes, sends and receives of the kinds whose hook does not see
  // io_uring's (the syscall paths: sys_exit and the syscalls' functions; not the pipe's own
  // functions, not the socket tracepoints); the output of a splice or tee (pipes, and the sockets
  // on the syscall paths: the socket tracepoints see a splice into a socket); the input of a
  // splice (those, and TCP and unix stream sockets on the tracepoints, which their splice_read
  // bypasses). All 0, and no program, without io_uring_request.
  uint32_t uring_rw_kinds = 0;
  uint32_t uring_splice_out_kinds = 0;
  uint32_t uring_splice_in_kinds = 0;
  std::array<uint8_t, IPCT_SYS_TABLE_SIZE> sys_table{};  // ipct_cfg_sys_table: syscall nr -> enum ipct_sys
  WaitPath wait = WaitPath::None;
  bool task_storage = false;  // receive start times in task-local storage (map ipct_wait_starts)
  bool inflight_lru = false;  // ... in the LRU hash by thread id (map ipct_inflight)
  // The cgroup:cgroup_mkdir program (bpf/cgroup.bpf.c), in the tracepoint family in use (tp_btf
  // with function hooks alone): "" without cgroup_events. Not under any mechanism's hook.
  std::string cgroup_program;

  [[nodiscard]] bool has(std::string_view program) const;
};

// Errors: a chosen attach point with no program in bpf/ for its family, one attach point chosen in
// two families (it would count twice), no mechanism with a hook at all.
Result<ProgramPlan> plan_programs(const std::vector<HookChoice>& hooks, const PlanOptions& options);

// The ways data of mechanism `m` moves that the hooks chosen (`hooks`, planned with `options`) do
// not see, one phrase each, as `ipctrace probe` lists them: io_uring requests where no hook sees
// them (a kernel whose io_uring_complete passes no request), or those io_uring posts no
// completion for; Linux AIO on the syscall paths. Empty for a mechanism without a hook, and for
// the queues, which neither io_uring nor AIO can reach.
std::vector<std::string> paths_not_seen(const std::vector<HookChoice>& hooks, Mechanism m, const PlanOptions& options);

// The program serving a tracepoint attach point ("sys_exit", "sock_send_length"...) in a family;
// nullopt when bpf/ has none.
std::optional<std::string> tracepoint_program(std::string_view point, HookFamily family, bool rdonly_cast);
// The fexit (or, with `entry`, fentry) program written for a kernel function: a syscall's function
// ("__x64_sys_msgsnd" -> "ipct_fx_msgsnd") or a pipe function ("anon_pipe_read" ->
// "ipct_fx_pipe_read_anon"); nullopt for other functions. Named by rule, not looked up: a name the
// object lacks fails Tracer::start ("no program ... in the BPF object"), and planner_test checks
// that every name the planner can produce is in the object, and every program in it can be chosen.
std::optional<std::string> function_program(std::string_view function, bool entry);

}  // namespace ipctrace
