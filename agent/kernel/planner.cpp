#include "kernel/planner.h"

#include <fmt/format.h>
#include <sys/syscall.h>

#include <algorithm>
#include <set>

#include "kernel/mechanisms.h"

namespace ipctrace {
namespace {

// Which typed build of the syscall path a program is: Cast (bpf_rdonly_cast), NoCast, or Any.
enum class Flavour { Any, Cast, NoCast };

struct TracepointProgram {
  std::string_view point;
  HookFamily family;
  Flavour flavour;
  std::string_view program;
};

// Every tracepoint program in bpf/ (bpf/README.md has the flavours and their files).
constexpr TracepointProgram kTracepointPrograms[] = {
    {"sys_exit", HookFamily::TpBtf, Flavour::Cast, "ipct_sys_exit_cast"},
    {"sys_exit", HookFamily::TpBtf, Flavour::NoCast, "ipct_sys_exit_btf"},
    {"sys_exit", HookFamily::RawTp, Flavour::Any, "ipct_sys_exit_raw"},
    {"sys_enter", HookFamily::TpBtf, Flavour::Cast, "ipct_sys_enter_cast"},
    {"sys_enter", HookFamily::TpBtf, Flavour::NoCast, "ipct_sys_enter_btf"},
    {"sys_enter", HookFamily::RawTp, Flavour::Any, "ipct_sys_enter_raw"},
    {"sock_send_length", HookFamily::TpBtf, Flavour::Any, "ipct_sock_send_btf"},
    {"sock_send_length", HookFamily::RawTp, Flavour::Any, "ipct_sock_send_raw"},
    {"sock_recv_length", HookFamily::TpBtf, Flavour::Any, "ipct_sock_recv_btf"},
    {"sock_recv_length", HookFamily::RawTp, Flavour::Any, "ipct_sock_recv_raw"},
    {"signal_generate", HookFamily::TpBtf, Flavour::Any, "ipct_signal_btf"},
    {"signal_generate", HookFamily::RawTp, Flavour::Any, "ipct_signal_raw"},
    {"io_uring_complete", HookFamily::TpBtf, Flavour::Cast, "ipct_uring_cast"},
    {"io_uring_complete", HookFamily::TpBtf, Flavour::NoCast, "ipct_uring_btf"},
    {"io_uring_complete", HookFamily::RawTp, Flavour::Any, "ipct_uring_raw"},
    {"cgroup_mkdir", HookFamily::TpBtf, Flavour::Any, "ipct_cgroup_mkdir_btf"},
    {"cgroup_mkdir", HookFamily::RawTp, Flavour::Any, "ipct_cgroup_mkdir_raw"},
};

constexpr uint32_t bit(int kind) { return IPCT_KIND_BIT(kind); }
constexpr uint32_t kPipeKinds = bit(IPCT_KIND_PIPE) | bit(IPCT_KIND_FIFO);
constexpr uint32_t kSocketKinds = bit(IPCT_KIND_UNIX_STREAM) | bit(IPCT_KIND_UNIX_DGRAM) |
                                  bit(IPCT_KIND_UNIX_SEQPACKET) | bit(IPCT_KIND_TCP) | bit(IPCT_KIND_UDP);
// The sockets whose splice_read bypasses sock_recvmsg (tcp_splice_read, unix_stream_splice_read).
constexpr uint32_t kSpliceReadSockets = bit(IPCT_KIND_UNIX_STREAM) | bit(IPCT_KIND_TCP);

bool is_pipe_read_function(std::string_view function) {
  const auto fns = pipe_functions();
  return std::any_of(fns.begin(), fns.end(), [&](const PipeFunction& f) { return f.name == function && f.read; });
}

// What the planner builds up, hook by hook.
class Builder {
 public:
  explicit Builder(const PlanOptions& options) : options_(options) {}

  Status add_hook(const HookChoice& h) {
    chosen_.insert(h.mechanism);
    AttachedHook a{h.mechanism, *h.family, {}};
    for (const std::string& point : h.attach) {
      std::optional<std::string> name = *h.family == HookFamily::Fentry
                                            ? function_program(point, false)
                                            : tracepoint_program(point, *h.family, options_.rdonly_cast);
      if (!name) {
        return Error::msg(
            fmt::format("no {} program for {} ({})", family_name(*h.family), point, mechanism_name(h.mechanism)));
      }
      const bool function = *h.family == HookFamily::Fentry;
      add(*name, function ? point : std::string());
      a.programs.push_back(*name);
      if (function) {
        plan_.fexit_kinds |= counted_kind_bits(h.mechanism);
        functions_ = true;
      }
      if (point == "sock_send_length") socket_tracepoint_kinds_ |= counted_kind_bits(h.mechanism);
      if (!function) tracepoint_family_ = *h.family;
      if (point == "sys_exit") {
        plan_.sys_exit_kinds |= counted_kind_bits(h.mechanism);
        exit_family_ = *h.family;
        follow(mechanism_info(h.mechanism).syscalls);
      }
    }
    plan_.hooks.push_back(std::move(a));
    return Ok{};
  }

  void add_wait_path() {
    if (!options_.wait_time) return;
    if (exit_family_) {
      const std::string enter = *tracepoint_program("sys_enter", *exit_family_, options_.rdonly_cast);
      add(enter, {});
      follow(receiving_syscalls());
      plan_.wait = WaitPath::SysEnter;
      plan_.hooks.push_back({Mechanism::PipeFifo, *exit_family_, {enter}});
    } else if (functions_) {
      add_function_wait_path();
    }
  }

  // io_uring's completion program, in the family of the syscall path (else of any tracepoint in
  // use), where it has something to count.
  void add_uring_path() {
    if (!options_.io_uring_request) return;
    const uint32_t syscall_paths = plan_.sys_exit_kinds | plan_.fexit_kinds;
    plan_.uring_rw_kinds = (plan_.sys_exit_kinds | (plan_.fexit_kinds & ~kPipeKinds)) & (kPipeKinds | kSocketKinds);
    plan_.uring_splice_out_kinds =
        (chosen_.contains(Mechanism::PipeFifo) ? kPipeKinds : 0U) | (syscall_paths & kSocketKinds);
    plan_.uring_splice_in_kinds = plan_.uring_splice_out_kinds | (socket_tracepoint_kinds_ & kSpliceReadSockets);
    // Only where a tracepoint family is in use at all: with function hooks alone (--hooks fentry)
    // there is none to take, and io_uring goes unseen (paths_not_seen() says so).
    const std::optional<HookFamily> family = exit_family_ ? exit_family_ : tracepoint_family_;
    if ((plan_.uring_rw_kinds | plan_.uring_splice_out_kinds | plan_.uring_splice_in_kinds) == 0 || !family) {
      plan_.uring_rw_kinds = plan_.uring_splice_out_kinds = plan_.uring_splice_in_kinds = 0;
      return;
    }
    const std::string program = *tracepoint_program("io_uring_complete", *family, options_.rdonly_cast);
    add(program, {});
    // Listed under the first mechanism it serves that has a hook (the flows document and the
    // metrics take a mechanism's first entry as its hook).
    const Mechanism serves = chosen_.contains(Mechanism::PipeFifo) ? Mechanism::PipeFifo
                             : chosen_.contains(Mechanism::Unix)   ? Mechanism::Unix
                                                                   : Mechanism::Inet;
    plan_.hooks.push_back({serves, *family, {program}});
  }

  // sendmmsg on datagram sockets on the socket tracepoints: the tracepoints count a call's messages
  // off per thread, and the call's exit forgets the count (sock_mmsg_index() in
  // bpf/sock_key_body.bpf.h). The exit is the syscall path's sys_exit where there is one (it
  // follows sendmmsg for that), else sendmmsg's own function exit where function hooks load (one
  // syscall's trampoline, not every syscall's exit), else sys_exit in the tracepoints' family. The
  // sockets are not among those programs' kinds: they only end the count there.
  void add_mmsg_path() {
    constexpr uint32_t kDatagrams = bit(IPCT_KIND_UDP) | bit(IPCT_KIND_UNIX_DGRAM);
    if ((socket_tracepoint_kinds_ & kDatagrams) == 0 || !tracepoint_family_) return;
    const Mechanism serves = (socket_tracepoint_kinds_ & bit(IPCT_KIND_UDP)) != 0 ? Mechanism::Inet : Mechanism::Unix;
    plan_.mmsg_index = true;
    if (!exit_family_ && functions_) {
      const std::string function = syscall_function("sendmmsg");
      const std::string program = *function_program(function, false);
      add(program, function);
      plan_.hooks.push_back({serves, HookFamily::Fentry, {program}});
      return;
    }
    follow({{"sendmmsg", SYS_sendmmsg, IPCT_SYS_SENDMMSG, SyscallRole::Send}});
    if (exit_family_) return;
    const std::string program = *tracepoint_program("sys_exit", *tracepoint_family_, options_.rdonly_cast);
    add(program, {});
    plan_.hooks.push_back({serves, *tracepoint_family_, {program}});
  }

  // The cgroup_mkdir program, in the family of the tracepoints in use; tp_btf with function hooks
  // alone (both need the kernel's BTF).
  void add_cgroup_path() {
    if (!options_.cgroup_events) return;
    const std::optional<HookFamily> family = exit_family_         ? exit_family_
                                             : tracepoint_family_ ? tracepoint_family_
                                             : functions_         ? std::optional(HookFamily::TpBtf)
                                                                  : std::nullopt;
    if (!family) return;
    plan_.cgroup_program = *tracepoint_program("cgroup_mkdir", *family, options_.rdonly_cast);
    add(plan_.cgroup_program, {});
  }

  Status check() const {
    if (plan_.programs.empty()) return Error::msg("no IPC mechanism has a usable hook on this kernel");
    for (const TracepointProgram& row : kTracepointPrograms) {
      for (const TracepointProgram& other : kTracepointPrograms) {
        if (row.point == other.point && row.family != other.family && plan_.has(row.program) &&
            plan_.has(other.program)) {
          return Error::msg(fmt::format("{} chosen in two hook families", row.point));
        }
      }
    }
    return Ok{};
  }

  ProgramPlan finish() {
    if (chosen_.contains(Mechanism::PipeFifo)) plan_.splice_kinds = socket_tracepoint_kinds_;
    plan_.task_storage = plan_.has("ipct_sys_enter_cast");
    plan_.inflight_lru = (plan_.wait == WaitPath::SysEnter && !plan_.task_storage) || plan_.wait == WaitPath::Functions;
    return std::move(plan_);
  }

 private:
  void add(const std::string& name, const std::string& function) {
    if (!plan_.has(name)) plan_.programs.push_back({name, function});
  }

  void follow(const std::vector<SyscallInfo>& syscalls) {
    for (const SyscallInfo& s : syscalls) {
      if (s.nr >= 0 && s.nr < IPCT_SYS_TABLE_SIZE) plan_.sys_table[static_cast<size_t>(s.nr)] = s.code;
    }
  }

  // fentry on the pipe's read functions in use, and on the receiving syscalls' functions of the
  // other mechanisms with a hook, each with its fexit (which counts only the kinds of mechanisms on
  // function hooks: for the others it only ends the wait).
  void add_function_wait_path() {
    AttachedHook a{Mechanism::PipeFifo, HookFamily::Fentry, {}};
    auto add_wait = [&](const std::string& name, const std::string& function) {
      add(name, function);
      a.programs.push_back(name);
    };
    const std::vector<PlannedProgram> before = plan_.programs;
    for (const PlannedProgram& p : before) {
      if (is_pipe_read_function(p.function)) add_wait(*function_program(p.function, true), p.function);
    }
    std::vector<SyscallInfo> receives;
    for (Mechanism m : chosen_) {
      if (m == Mechanism::PipeFifo) continue;
      for (const SyscallInfo& s : mechanism_syscalls(m, SyscallRole::Receive)) {
        const bool seen = std::any_of(receives.begin(), receives.end(), [&](const auto& r) { return r.nr == s.nr; });
        if (!seen) receives.push_back(s);
      }
    }
    for (const SyscallInfo& s : receives) {
      const std::string function = syscall_function(s.name);
      const std::string exit = *function_program(function, false);
      if (!plan_.has(exit)) add_wait(exit, function);
      add_wait(*function_program(function, true), function);
    }
    plan_.wait = WaitPath::Functions;
    plan_.hooks.push_back(std::move(a));
  }

  PlanOptions options_;
  ProgramPlan plan_;
  std::set<Mechanism> chosen_;
  std::optional<HookFamily> exit_family_;
  uint32_t socket_tracepoint_kinds_ = 0;
  std::optional<HookFamily> tracepoint_family_;
  bool functions_ = false;
};

}  // namespace

bool ProgramPlan::has(std::string_view program) const {
  return std::any_of(programs.begin(), programs.end(), [&](const PlannedProgram& p) { return p.name == program; });
}

std::optional<std::string> tracepoint_program(std::string_view point, HookFamily family, bool rdonly_cast) {
  const Flavour flavour = rdonly_cast ? Flavour::Cast : Flavour::NoCast;
  for (const TracepointProgram& row : kTracepointPrograms) {
    if (row.point == point && row.family == family && (row.flavour == Flavour::Any || row.flavour == flavour)) {
      return std::string(row.program);
    }
  }
  return std::nullopt;
}

std::optional<std::string> function_program(std::string_view function, bool entry) {
  const std::string prefix = entry ? "ipct_fe_" : "ipct_fx_";
  if (auto sys = syscall_of_function(function)) return prefix + std::string(*sys);
  for (const PipeFunction& f : pipe_functions()) {
    if (f.name == function) return prefix + std::string(f.program);
  }
  return std::nullopt;
}

Result<ProgramPlan> plan_programs(const std::vector<HookChoice>& hooks, const PlanOptions& options) {
  Builder b(options);
  for (const HookChoice& h : hooks) {
    if (!h.family) continue;
    if (Status st = b.add_hook(h); !st) return st.error();
  }
  b.add_wait_path();
  b.add_uring_path();
  b.add_mmsg_path();
  b.add_cgroup_path();
  if (Status st = b.check(); !st) return st.error();
  return b.finish();
}

std::vector<std::string> paths_not_seen(const std::vector<HookChoice>& hooks, Mechanism m, const PlanOptions& options) {
  std::vector<std::string> out;
  const auto h = std::find_if(hooks.begin(), hooks.end(), [&](const HookChoice& c) { return c.mechanism == m; });
  if (h == hooks.end() || !h->family || (m != Mechanism::PipeFifo && m != Mechanism::Unix && m != Mechanism::Inet)) {
    return out;
  }
  const auto plan = plan_programs(hooks, options);
  if (!plan) return out;
  const uint32_t kinds = counted_kind_bits(m);
  // The pipe's own functions and the socket tracepoints see io_uring's and AIO's reads and writes.
  const bool own = std::any_of(h->attach.begin(), h->attach.end(), [](const std::string& point) {
    return point == "sock_send_length" || is_pipe_read_function(point);
  });
  if (!own) {
    if ((plan->uring_rw_kinds & kinds) == 0) {
      out.emplace_back("io_uring reads and writes, sends and receives (no usable io_uring_complete hook here)");
    } else {
      out.emplace_back(
          "io_uring requests with IOSQE_CQE_SKIP_SUCCESS (no completion is posted), completions that overflow the "
          "completion queue, multishot reads and the intermediate completions of multishot receives");
    }
    out.emplace_back("Linux AIO (io_submit) reads and writes");
  }
  if ((plan->uring_splice_out_kinds & kinds) == 0 && (plan->uring_splice_in_kinds & kinds) == 0) {
    out.emplace_back("io_uring splice and tee (no usable io_uring_complete hook here)");
  } else {
    out.emplace_back("the input of an io_uring splice from a registered file (SPLICE_F_FD_IN_FIXED)");
  }
  if (m != Mechanism::PipeFifo && (plan->uring_splice_out_kinds & kinds) == 0 && own) {
    out.emplace_back("io_uring splice into a socket: one send per batch of 16 pipe buffers, not per request");
  }
  return out;
}

}  // namespace ipctrace
