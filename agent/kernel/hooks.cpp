#include "kernel/hooks.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>

namespace ipctrace {

std::string_view family_name(HookFamily family) {
  switch (family) {
    case HookFamily::Fentry:
      return "fentry";
    case HookFamily::TpBtf:
      return "tp_btf";
    case HookFamily::RawTp:
      return "raw_tp";
    case HookFamily::Tracepoint:
      return "tracepoint";
  }
  return "?";
}

std::string syscall_function(std::string_view name) {
  // The architecture's syscall wrappers (CONFIG_ARCH_HAS_SYSCALL_WRAPPER: x86_64 since 4.17,
  // arm64 since 4.19) are the functions BTF and the trampolines know a syscall by.
#if defined(__x86_64__)
  return "__x64_sys_" + std::string(name);
#elif defined(__aarch64__)
  return "__arm64_sys_" + std::string(name);
#else
#error "ipctrace: unsupported architecture"
#endif
}

std::optional<std::string_view> syscall_of_function(std::string_view function) {
  const std::string prefix = syscall_function("");
  if (!function.starts_with(prefix)) return std::nullopt;
  return function.substr(prefix.size());
}

std::optional<HookFamily> parse_family(std::string_view name) {
  for (HookFamily f : kAllHookFamilies) {
    if (family_name(f) == name) return f;
  }
  return std::nullopt;
}

namespace {

using Type = AttachPoint::Type;

AttachPoint btf_tp(std::string name) { return {Type::BtfTracepoint, {std::move(name)}}; }
AttachPoint fn(std::string name) { return {Type::Function, {std::move(name)}}; }
AttachPoint sys_fn(std::string_view name) { return fn(syscall_function(name)); }

// The generic syscall-exit path: one program on sys_exit sees every syscall, returns at once
// for the ones ipctrace does not follow, and reads the original arguments from pt_regs.
std::vector<HookCandidate> sys_exit_path() {
  return {{HookFamily::TpBtf, {btf_tp("sys_exit")}, "syscall exit, typed: plain loads"},
          {HookFamily::RawTp, {btf_tp("sys_exit")}, "syscall exit, untyped: a helper call per read"}};
}

// Function hooks on a mechanism's syscalls (of one role, or all of them): fexit on each
// syscall's own function costs nothing on other syscalls, where a sys_exit tracepoint sends every
// syscall of every task through the slow exit path.
HookCandidate syscall_functions(Mechanism m, std::optional<SyscallRole> role, std::string_view note) {
  HookCandidate c{HookFamily::Fentry, {}, note};
  for (const SyscallInfo& s : mechanism_info(m).syscalls) {
    if (!role || s.role == *role) c.points.push_back(sys_fn(s.name));
  }
  return c;
}

std::vector<HookCandidate> with_sys_exit(std::vector<HookCandidate> first) {
  for (HookCandidate& c : sys_exit_path()) first.push_back(std::move(c));
  return first;
}

// The pipe's own read_iter/write_iter, per kernel, with the syscall functions of the calls that
// move pipe data without them (splice_pipe_to_pipe, iter_file_splice_write...: splice, tee,
// vmsplice). They run only for pipes and FIFOs: ordinary files pay nothing.
HookCandidate pipe_candidate(bool split, std::string_view note) {
  HookCandidate c{HookFamily::Fentry, {}, note};
  for (const PipeFunction& f : pipe_functions()) {
    if (f.split == split) c.points.push_back(fn(std::string(f.name)));
  }
  const HookCandidate transfers = syscall_functions(Mechanism::PipeFifo, SyscallRole::Transfer, note);
  c.points.insert(c.points.end(), transfers.points.begin(), transfers.points.end());
  return c;
}

// Only candidates with programs in bpf/ are listed. Kernel-version differences of hook
// choice live here, each citing the kernel change it answers. Per-syscall tracepoints
// (the tracefs `syscalls` events) are not in the table: they cost what sys_exit costs.
std::vector<HookCandidate> build(Mechanism m) {
  switch (m) {
    case Mechanism::PipeFifo:
      // Linux 6.15 ("pipe: introduce struct file_operations pipeanon_fops") split pipe_read and
      // pipe_write into anon_pipe_* (pipes) and fifo_pipe_* (FIFOs).
      return with_sys_exit(
          {pipe_candidate(true, "pipe and FIFO functions (Linux 6.15+), splice/tee/vmsplice syscall functions"),
           pipe_candidate(false, "pipe_read/pipe_write (before Linux 6.15), splice/tee/vmsplice syscall functions")});
    case Mechanism::SysvMsg:
      return with_sys_exit({syscall_functions(m, std::nullopt, "SysV queue syscall functions")});
    case Mechanism::PosixMq:
      return with_sys_exit({syscall_functions(m, std::nullopt, "POSIX queue syscall functions")});
    case Mechanism::SysvShm:
      return with_sys_exit({syscall_functions(m, std::nullopt, "SysV shm syscall functions")});
    case Mechanism::Unix:
    case Mechanism::Inet:
      // sock:sock_send_length / sock_recv_length (Linux 6.3, "net: add sock_send_length and
      // sock_recv_length tracepoints") fire once per successful send or receive on any socket,
      // whatever the syscall, with the bytes moved, and cost nothing on other syscalls: as cheap
      // as a function hook, and exact where sock_sendmsg/sock_recvmsg are not (sendmmsg and
      // recvmmsg reach their _nosec twins, which are inlined).
      // Before 6.3: the socket syscalls' functions, else the sys_exit path; both find the
      // socket through the descriptor.
      return with_sys_exit(
          {{HookFamily::TpBtf,
            {btf_tp("sock_send_length"), btf_tp("sock_recv_length")},
            "socket length tracepoints (Linux 6.3+), typed"},
           {HookFamily::RawTp,
            {btf_tp("sock_send_length"), btf_tp("sock_recv_length")},
            "socket length tracepoints (Linux 6.3+), untyped"},
           syscall_functions(m, std::nullopt, "socket syscall functions, socket found through the descriptor")});
    case Mechanism::Signal:
      return {{HookFamily::TpBtf, {btf_tp("signal_generate")}, "signal:signal_generate, typed"},
              {HookFamily::RawTp, {btf_tp("signal_generate")}, "signal:signal_generate, untyped"}};
  }
  return {};
}

}  // namespace

const std::vector<HookCandidate>& hook_candidates(Mechanism m) {
  static const std::vector<std::vector<HookCandidate>> table = [] {
    std::vector<std::vector<HookCandidate>> t;
    for (Mechanism mech : kAllMechanisms) t.push_back(build(mech));
    return t;
  }();
  return table.at(static_cast<size_t>(m));
}

bool family_allows(HookFamily forced, HookFamily candidate) {
  if (forced == HookFamily::Tracepoint) return candidate != HookFamily::Fentry;
  return forced == candidate;
}

HookChoice choose_hook(Mechanism m, const KernelFacts& facts, std::optional<HookFamily> only) {
  HookChoice choice{m, std::nullopt, {}, {}};
  // Candidates that lost for the same reason (two of one family) say it once.
  auto reject = [&choice](std::string why) {
    if (std::find(choice.rejected.begin(), choice.rejected.end(), why) == choice.rejected.end()) {
      choice.rejected.push_back(std::move(why));
    }
  };
  for (const HookCandidate& c : hook_candidates(m)) {
    const std::string fam(family_name(c.family));
    if (only && !family_allows(*only, c.family)) {
      reject(fmt::format("{}: not the forced hook family", fam));
      continue;
    }
    if (!facts.working.contains(c.family)) {
      reject(fmt::format("{0}: {0} programs do not work on this kernel", fam));
      continue;
    }
    std::vector<std::string> resolved;
    std::string missing;
    for (const AttachPoint& p : c.points) {
      std::optional<std::string> found;
      for (const std::string& name : p.names) {
        bool present = false;
        switch (p.type) {
          case Type::Function:
            present = facts.has_function && facts.has_function(name);
            break;
          case Type::BtfTracepoint:
            present = facts.has_btf_tracepoint && facts.has_btf_tracepoint(name);
            break;
          case Type::TracefsEvent:
            present = facts.has_tracefs_event && facts.has_tracefs_event(name);
            break;
        }
        if (present) {
          found = name;
          break;
        }
      }
      if (!found) {
        missing = fmt::format("{} not found", fmt::join(p.names, " or "));
        break;
      }
      resolved.push_back(*found);
    }
    if (!missing.empty()) {
      reject(fmt::format("{}: {}", fam, missing));
      continue;
    }
    choice.family = c.family;
    choice.attach = std::move(resolved);
    break;
  }
  return choice;
}

std::vector<HookChoice> choose_hooks(const KernelFacts& facts, std::optional<HookFamily> only) {
  std::vector<HookChoice> out;
  for (Mechanism m : kAllMechanisms) out.push_back(choose_hook(m, facts, only));
  return out;
}

}  // namespace ipctrace
