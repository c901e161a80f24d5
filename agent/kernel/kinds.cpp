#include "kernel/kinds.h"

#include <array>
#include <cstring>

#include "kernel/abi.h"

namespace ipctrace {
namespace {

constexpr std::array<KindInfo, IPCT_KIND_MAX - 1> kKinds{{
    {IPCT_KIND_PIPE, "pipe"},
    {IPCT_KIND_FIFO, "fifo"},
    {IPCT_KIND_UNIX_STREAM, "unix_stream"},
    {IPCT_KIND_UNIX_DGRAM, "unix_dgram"},
    {IPCT_KIND_UNIX_SEQPACKET, "unix_seqpacket"},
    {IPCT_KIND_TCP, "tcp"},
    {IPCT_KIND_UDP, "udp"},
    {IPCT_KIND_SYSV_MSG, "sysv_msg"},
    {IPCT_KIND_POSIX_MQ, "posix_mq"},
    {IPCT_KIND_SYSV_SHM, "sysv_shm"},
    {IPCT_KIND_SIGNAL, "signal"},
}};

}  // namespace

std::span<const KindInfo> all_kinds() { return kKinds; }

std::optional<int> parse_kind(std::string_view name) {
  for (const auto& k : kKinds) {
    if (k.name == name) return k.value;
  }
  return std::nullopt;
}

std::string_view kind_name(int value) {
  for (const auto& k : kKinds) {
    if (k.value == value) return k.name;
  }
  return "unknown";
}

std::string comm_text(const char* comm, size_t size) { return {comm, strnlen(comm, size)}; }

}  // namespace ipctrace
