#include "hooks.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

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

std::optional<HookFamily> parse_family(std::string_view name) {
  for (HookFamily f : kAllHookFamilies) {
    if (family_name(f) == name) return f;
  }
  return std::nullopt;
}

std::string_view mechanism_name(Mechanism m) {
  switch (m) {
    case Mechanism::PipeFifo:
      return "pipe_fifo";
    case Mechanism::Unix:
      return "unix";
    case Mechanism::Inet:
      return "inet";
    case Mechanism::SysvMsg:
      return "sysv_msg";
    case Mechanism::PosixMq:
      return "posix_mq";
    case Mechanism::SysvShm:
      return "sysv_shm";
    case Mechanism::Signal:
      return "signal";
  }
  return "?";
}

std::string_view mechanism_kinds(Mechanism m) {
  switch (m) {
    case Mechanism::PipeFifo:
      return "pipe, fifo";
    case Mechanism::Unix:
      return "unix_stream, unix_dgram, unix_seqpacket";
    case Mechanism::Inet:
      return "tcp, udp";
    case Mechanism::SysvMsg:
      return "sysv_msg";
    case Mechanism::PosixMq:
      return "posix_mq";
    case Mechanism::SysvShm:
      return "sysv_shm";
    case Mechanism::Signal:
      return "signal";
  }
  return "?";
}

namespace {

using Type = AttachPoint::Type;

AttachPoint btf_tp(std::string name) { return {Type::BtfTracepoint, {std::move(name)}}; }

// The generic syscall-exit path: one program on sys_exit sees every syscall, returns at once
// for the ones ipctrace does not follow, and reads the original arguments from pt_regs.
std::vector<HookCandidate> sys_exit_path() {
  return {{HookFamily::TpBtf, {btf_tp("sys_exit")}, "syscall exit, typed: plain loads"},
          {HookFamily::RawTp, {btf_tp("sys_exit")}, "syscall exit, untyped: a helper call per read"}};
}

// Only candidates with programs in bpf/ are listed. Kernel-version differences of hook
// choice live here, each citing the kernel change it answers. Function hooks (fentry/fexit,
// for kernels that allow them) and per-syscall tracepoints are not in the table yet.
std::vector<HookCandidate> build(Mechanism m) {
  switch (m) {
    case Mechanism::PipeFifo:
      // No function hook can replace this one: splice, vmsplice and tee move pipe data without
      // pipe_write()/pipe_read() (splice_pipe_to_pipe, iter_file_splice_write...).
    case Mechanism::SysvMsg:
    case Mechanism::PosixMq:
    case Mechanism::SysvShm:
      return sys_exit_path();
    case Mechanism::Unix:
    case Mechanism::Inet:
      // sock:sock_send_length / sock_recv_length (Linux 6.3, "net: add sock_send_length and
      // sock_recv_length tracepoints") fire once per successful send or receive on any socket,
      // whatever the syscall, with the bytes moved, and cost nothing on other syscalls.
      // Before 6.3: the sys_exit path finds the socket through the descriptor of each read,
      // write, send and receive call (a few helper reads more per call).
      return {{HookFamily::TpBtf,
               {btf_tp("sock_send_length"), btf_tp("sock_recv_length")},
               "socket length tracepoints (Linux 6.3+), typed"},
              {HookFamily::RawTp,
               {btf_tp("sock_send_length"), btf_tp("sock_recv_length")},
               "socket length tracepoints (Linux 6.3+), untyped"},
              {HookFamily::TpBtf, {btf_tp("sys_exit")}, "syscall exit, socket found through the descriptor"},
              {HookFamily::RawTp, {btf_tp("sys_exit")}, "syscall exit, untyped"}};
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

HookChoice choose_hook(Mechanism m, const KernelFacts& facts, std::optional<HookFamily> only) {
  HookChoice choice{m, std::nullopt, {}, {}};
  for (const HookCandidate& c : hook_candidates(m)) {
    const std::string fam(family_name(c.family));
    if (only && *only != c.family) {
      choice.rejected.push_back(fmt::format("{}: not the forced hook family", fam));
      continue;
    }
    if (!facts.working.contains(c.family)) {
      choice.rejected.push_back(fmt::format("{0}: {0} programs do not work on this kernel", fam));
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
      choice.rejected.push_back(fmt::format("{}: {}", fam, missing));
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
