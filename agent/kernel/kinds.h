// IPC kinds: the `kind` label values and their ABI numbers (bpf/ipctrace.h).
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "kernel/abi.h"

namespace ipctrace {

struct KindInfo {
  int value;  // enum ipct_kind
  std::string_view name;
};

// Every kind ipctrace reports, in ABI order (IPCT_KIND_PIPE .. IPCT_KIND_SIGNAL).
std::span<const KindInfo> all_kinds();
std::optional<int> parse_kind(std::string_view name);
std::string_view kind_name(int value);  // "unknown" for values outside the ABI

// The unix socket kinds (stream, datagram, seqpacket): channels with an inode and, when bound, a
// name in /proc/net/unix.
constexpr bool is_unix_kind(int kind) {
  return kind == IPCT_KIND_UNIX_STREAM || kind == IPCT_KIND_UNIX_DGRAM || kind == IPCT_KIND_UNIX_SEQPACKET;
}
// The inet kinds (TCP, UDP): channels named by their address pair.
constexpr bool is_inet_kind(int kind) { return kind == IPCT_KIND_TCP || kind == IPCT_KIND_UDP; }

// A task's command as the kernel recorded it (task_struct.comm: up to 16 bytes, NUL-padded): its
// bytes up to the first NUL. A process sets its own comm (prctl(PR_SET_NAME), exec) to any bytes:
// kept as they are, so that two names stay two; every writer makes them safe (base/text.h).
std::string comm_text(const char* comm, size_t size);

}  // namespace ipctrace
