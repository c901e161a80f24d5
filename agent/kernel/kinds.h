// IPC kinds: the `kind` label values and their ABI numbers (bpf/ipctrace.h).
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace ipctrace {

struct KindInfo {
  int value;  // enum ipct_kind
  std::string_view name;
};

// Every kind ipctrace reports, in ABI order (IPCT_KIND_PIPE .. IPCT_KIND_SIGNAL).
std::span<const KindInfo> all_kinds();
std::optional<int> parse_kind(std::string_view name);
std::string_view kind_name(int value);  // "unknown" for values outside the ABI

// A task's command as the kernel recorded it (task_struct.comm: up to 16 bytes, NUL-padded), made
// safe to print and to put in JSON: a process sets its own comm (prctl(PR_SET_NAME), exec) to
// any bytes, so control characters and bytes past ASCII become '?'.
std::string comm_text(const char* comm, size_t size);

}  // namespace ipctrace
