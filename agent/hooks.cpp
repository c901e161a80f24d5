#include "hooks.h"

#include <fmt/format.h>

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

AttachPoint fn(std::vector<std::string> names) { return {Type::Function, std::move(names)}; }
AttachPoint btf_tp(std::string name) { return {Type::BtfTracepoint, {std::move(name)}}; }
AttachPoint event(std::string name) { return {Type::TracefsEvent, {std::move(name)}}; }

std::vector<AttachPoint> syscall_events(std::initializer_list<const char*> syscalls) {
  std::vector<AttachPoint> points;
  for (const char* s : syscalls) points.push_back(event(std::string("syscalls/sys_exit_") + s));
  return points;
}

// The generic syscall-exit path: one program on sys_exit sees every syscall, exits early on
// the ones ipctrace does not follow, and reads the original arguments from pt_regs.
HookCandidate sys_exit_tp_btf() {
  return {HookFamily::TpBtf, {btf_tp("sys_exit")}, "syscall exit, typed; one program for every syscall mechanism"};
}
HookCandidate sys_exit_raw_tp() {
  return {HookFamily::RawTp, {AttachPoint{Type::BtfTracepoint, {"sys_exit"}}}, "syscall exit, untyped arguments"};
}

// Kernel-version differences of the userspace side live in this table; each
// alternative name cites the kernel change it answers.
std::vector<HookCandidate> build(Mechanism m) {
  switch (m) {
    case Mechanism::PipeFifo:
      // No fentry candidate: splice, vmsplice and tee move pipe data without pipe_write()/pipe_read()
      // (splice_pipe_to_pipe, iter_file_splice_write...), so a function hook would miss them.
      return {sys_exit_tp_btf(),
              sys_exit_raw_tp(),
              {HookFamily::Tracepoint,
               syscall_events({"write", "writev", "pwritev", "pwritev2", "read", "readv", "preadv", "preadv2", "splice",
                               "vmsplice", "tee"}),
               "one tracepoint per syscall, slowest"}};
    case Mechanism::Unix:
    case Mechanism::Inet:
      return {
          // sock:sock_send_length / sock_recv_length (Linux 6.3, "net: add sock_send_length and
          // sock_recv_length tracepoints") fire once per successful send or receive on any socket,
          // whatever the syscall, with the bytes moved, and cost nothing on other syscalls.
          {HookFamily::TpBtf,
           {btf_tp("sock_send_length"), btf_tp("sock_recv_length")},
           "socket length tracepoints (Linux 6.3+)"},
          // Before 6.3: every send path (send*, write, writev, sendmmsg per message) passes
          // sock_sendmsg(), every receive path sock_recvmsg().
          {HookFamily::Fentry, {fn({"sock_sendmsg"}), fn({"sock_recvmsg"})}, "fexit on the socket layer"},
          {HookFamily::RawTp,
           {btf_tp("sock_send_length"), btf_tp("sock_recv_length")},
           "socket length tracepoints, untyped"},
          sys_exit_tp_btf(),
          sys_exit_raw_tp(),
          {HookFamily::Tracepoint,
           syscall_events({"sendto", "sendmsg", "sendmmsg", "recvfrom", "recvmsg", "recvmmsg", "write", "writev",
                           "read", "readv"}),
           "one tracepoint per syscall, slowest"},
      };
    case Mechanism::SysvMsg:
      return {{HookFamily::Fentry,
               {fn({"do_msgsnd"}), fn({"do_msgrcv"}), fn({"ksys_msgget"}), fn({"ksys_msgctl"})},
               "fexit on the message queue functions"},
              sys_exit_tp_btf(),
              sys_exit_raw_tp(),
              {HookFamily::Tracepoint, syscall_events({"msgsnd", "msgrcv", "msgget", "msgctl"}),
               "one tracepoint per syscall"}};
    case Mechanism::PosixMq:
      return {{HookFamily::Fentry,
               {fn({"do_mq_timedsend"}), fn({"do_mq_timedreceive"}), fn({"do_mq_open"})},
               "fexit on the mqueue functions"},
              sys_exit_tp_btf(),
              sys_exit_raw_tp(),
              {HookFamily::Tracepoint,
               syscall_events({"mq_timedsend", "mq_timedreceive", "mq_open", "mq_unlink", "mq_notify"}),
               "one tracepoint per syscall"}};
    case Mechanism::SysvShm:
      return {{HookFamily::Fentry,
               {fn({"do_shmat"}), fn({"ksys_shmdt"}), fn({"ksys_shmget"}), fn({"ksys_shmctl"})},
               "fexit on the shared memory functions"},
              sys_exit_tp_btf(),
              sys_exit_raw_tp(),
              {HookFamily::Tracepoint, syscall_events({"shmget", "shmat", "shmdt", "shmctl"}),
               "one tracepoint per syscall"}};
    case Mechanism::Signal:
      return {{HookFamily::TpBtf, {btf_tp("signal_generate")}, "signal:signal_generate, typed"},
              {HookFamily::RawTp, {btf_tp("signal_generate")}, "signal:signal_generate, untyped"},
              {HookFamily::Tracepoint, {event("signal/signal_generate")}, "signal:signal_generate via tracefs"}};
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
