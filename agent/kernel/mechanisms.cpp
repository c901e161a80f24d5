#include "kernel/mechanisms.h"

#include <sys/syscall.h>

#include <algorithm>

#include "kernel/abi.h"
#include "kernel/kinds.h"

namespace ipctrace {
namespace {

using R = SyscallRole;

// The syscalls every socket mechanism is read and written with, where the socket tracepoints
// (Linux 6.3) are missing: the socket is found through the descriptor. splice and sendfile reach
// a TCP or unix stream socket without its recvmsg, and (before Linux 6.5) without its sendmsg.
std::vector<SyscallInfo> socket_syscalls() {
  return {{"read", SYS_read, IPCT_SYS_READ, R::Receive},
          {"readv", SYS_readv, IPCT_SYS_READV, R::Receive},
          {"write", SYS_write, IPCT_SYS_WRITE, R::Send},
          {"writev", SYS_writev, IPCT_SYS_WRITEV, R::Send},
          {"sendto", SYS_sendto, IPCT_SYS_SENDTO, R::Send},
          {"sendmsg", SYS_sendmsg, IPCT_SYS_SENDMSG, R::Send},
          {"sendmmsg", SYS_sendmmsg, IPCT_SYS_SENDMMSG, R::Send},
          {"recvfrom", SYS_recvfrom, IPCT_SYS_RECVFROM, R::Receive},
          {"recvmsg", SYS_recvmsg, IPCT_SYS_RECVMSG, R::Receive},
          {"recvmmsg", SYS_recvmmsg, IPCT_SYS_RECVMMSG, R::Receive},
          {"splice", SYS_splice, IPCT_SYS_SPLICE, R::Transfer},
          {"sendfile64", SYS_sendfile, IPCT_SYS_SENDFILE, R::Transfer}};
}

std::vector<MechanismInfo> build() {
  return {
      {Mechanism::PipeFifo,
       "pipe_fifo",
       {IPCT_KIND_PIPE, IPCT_KIND_FIFO},
       {{"read", SYS_read, IPCT_SYS_READ, R::Receive},
        {"readv", SYS_readv, IPCT_SYS_READV, R::Receive},
        {"pread64", SYS_pread64, IPCT_SYS_PREAD, R::Receive},
        {"preadv", SYS_preadv, IPCT_SYS_PREAD, R::Receive},
        {"preadv2", SYS_preadv2, IPCT_SYS_PREAD, R::Receive},
        {"write", SYS_write, IPCT_SYS_WRITE, R::Send},
        {"writev", SYS_writev, IPCT_SYS_WRITEV, R::Send},
        {"pwrite64", SYS_pwrite64, IPCT_SYS_PWRITE, R::Send},
        {"pwritev", SYS_pwritev, IPCT_SYS_PWRITE, R::Send},
        {"pwritev2", SYS_pwritev2, IPCT_SYS_PWRITE, R::Send},
        {"splice", SYS_splice, IPCT_SYS_SPLICE, R::Transfer},
        {"tee", SYS_tee, IPCT_SYS_TEE, R::Transfer},
        {"vmsplice", SYS_vmsplice, IPCT_SYS_VMSPLICE, R::Transfer},
        {"sendfile64", SYS_sendfile, IPCT_SYS_SENDFILE, R::Transfer}}},
      {Mechanism::Unix,
       "unix",
       {IPCT_KIND_UNIX_STREAM, IPCT_KIND_UNIX_DGRAM, IPCT_KIND_UNIX_SEQPACKET},
       socket_syscalls()},
      {Mechanism::Inet, "inet", {IPCT_KIND_TCP, IPCT_KIND_UDP}, socket_syscalls()},
      {Mechanism::SysvMsg,
       "sysv_msg",
       {IPCT_KIND_SYSV_MSG},
       {{"msgsnd", SYS_msgsnd, IPCT_SYS_MSGSND, R::Send},
        {"msgrcv", SYS_msgrcv, IPCT_SYS_MSGRCV, R::Receive},
        {"msgget", SYS_msgget, IPCT_SYS_MSGGET, R::Lifecycle},
        {"msgctl", SYS_msgctl, IPCT_SYS_MSGCTL, R::Lifecycle}}},
      {Mechanism::PosixMq,
       "posix_mq",
       {IPCT_KIND_POSIX_MQ},
       {{"mq_open", SYS_mq_open, IPCT_SYS_MQ_OPEN, R::Lifecycle},
        {"mq_unlink", SYS_mq_unlink, IPCT_SYS_MQ_UNLINK, R::Lifecycle},
        {"mq_timedsend", SYS_mq_timedsend, IPCT_SYS_MQ_TIMEDSEND, R::Send},
        {"mq_timedreceive", SYS_mq_timedreceive, IPCT_SYS_MQ_TIMEDRECEIVE, R::Receive},
        {"mq_notify", SYS_mq_notify, IPCT_SYS_MQ_NOTIFY, R::Lifecycle}}},
      {Mechanism::SysvShm,
       "sysv_shm",
       {IPCT_KIND_SYSV_SHM},
       {{"shmget", SYS_shmget, IPCT_SYS_SHMGET, R::Lifecycle},
        {"shmat", SYS_shmat, IPCT_SYS_SHMAT, R::Lifecycle},
        {"shmdt", SYS_shmdt, IPCT_SYS_SHMDT, R::Lifecycle},
        {"shmctl", SYS_shmctl, IPCT_SYS_SHMCTL, R::Lifecycle}}},
      // signal:signal_generate sees every signal, whatever the syscall (kill, tgkill, sigqueue...).
      {Mechanism::Signal, "signal", {IPCT_KIND_SIGNAL}, {}},
  };
}

const std::vector<MechanismInfo>& table() {
  static const std::vector<MechanismInfo> t = build();
  return t;
}

}  // namespace

std::span<const MechanismInfo> all_mechanisms() { return table(); }

const MechanismInfo& mechanism_info(Mechanism m) { return table().at(static_cast<size_t>(m)); }

std::string_view mechanism_name(Mechanism m) { return mechanism_info(m).name; }

std::vector<std::string_view> mechanism_kinds(Mechanism m) {
  std::vector<std::string_view> out;
  for (int k : mechanism_info(m).kinds) out.push_back(kind_name(k));
  return out;
}

uint32_t counted_kind_bits(Mechanism m) {
  const auto& syscalls = mechanism_info(m).syscalls;
  const bool data = std::any_of(syscalls.begin(), syscalls.end(),
                                [](const SyscallInfo& s) { return s.role != SyscallRole::Lifecycle; });
  uint32_t bits = 0;
  if (data) {
    for (int k : mechanism_info(m).kinds) bits |= IPCT_KIND_BIT(k);
  }
  return bits;
}

std::span<const PipeFunction> pipe_functions() {
  static constexpr PipeFunction kPipeFunctions[] = {
      {"anon_pipe_read", "pipe_read_anon", true, true}, {"anon_pipe_write", "pipe_write_anon", false, true},
      {"fifo_pipe_read", "pipe_read_fifo", true, true}, {"fifo_pipe_write", "pipe_write_fifo", false, true},
      {"pipe_read", "pipe_read_any", true, false},      {"pipe_write", "pipe_write_any", false, false},
  };
  return kPipeFunctions;
}

std::vector<SyscallInfo> mechanism_syscalls(Mechanism m, SyscallRole role) {
  std::vector<SyscallInfo> out;
  for (const SyscallInfo& s : mechanism_info(m).syscalls) {
    if (s.role == role) out.push_back(s);
  }
  return out;
}

std::vector<SyscallInfo> receiving_syscalls() {
  std::vector<SyscallInfo> out;
  for (const MechanismInfo& m : table()) {
    for (const SyscallInfo& s : m.syscalls) {
      const bool seen = std::any_of(out.begin(), out.end(), [&](const SyscallInfo& o) { return o.nr == s.nr; });
      if (s.role == SyscallRole::Receive && !seen) out.push_back(s);
    }
  }
  return out;
}

}  // namespace ipctrace
