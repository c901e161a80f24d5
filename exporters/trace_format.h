// `ipctrace trace`: one line per event, as text or as a JSON object (JSON Lines).
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "identity/endpoint.h"
#include "kernel/abi.h"

namespace ipctrace {

// One event of the stream: a lifecycle event (ring buffer of the collector) or a data operation
// (`--data`), with what the kernel recorded.
struct TraceRecord {
  enum class Type { Lifecycle, Data };
  Type type = Type::Lifecycle;
  uint64_t boot_ns = 0;  // bpf_ktime_get_boot_ns()
  uint64_t cgroup_id = 0;
  uint32_t pid = 0;
  uint32_t tid = 0;
  ipct_ns_ids ns{};
  int kind = 0;
  std::string comm;
  // Data
  int dir = 0;
  uint64_t msgs = 0;
  uint64_t bytes = 0;
  ipct_chan ch{};
  // fifo, unix_*: the channel's path where the kernel knows it (model/paths.h: a FIFO's path as the
  // process sees it, a socket's bound name, its peer's if it has none), filled by the trace
  // command; "" unknown
  std::string path;
  // Lifecycle
  int op = 0;
  int64_t ret = 0;
  uint64_t id = 0;
  uint64_t aux = 0;
  uint64_t aux2 = 0;
  uint32_t dev = 0;
  std::string name;
  bool lookup = false;  // a create event that found an existing SysV object: op "lookup"
};

TraceRecord trace_record(const ipct_event& e);
TraceRecord trace_record(const ipct_data_event& e);

// "send", "receive" for data; "create", "lookup" (shmget/msgget of an existing key), "open", "attach"... for lifecycle.
std::string trace_op_name(const TraceRecord& r);

// Wall-clock time of a boot-clock timestamp: `realtime_minus_boot_ns` is CLOCK_REALTIME minus
// CLOCK_BOOTTIME, taken once at start.
std::string trace_time(uint64_t boot_ns, int64_t realtime_minus_boot_ns, bool utc_iso);

std::string trace_text_header();
std::string trace_text_line(const TraceRecord& r, const Endpoint& endpoint, int64_t realtime_minus_boot_ns);
nlohmann::json trace_json(const TraceRecord& r, const Endpoint& endpoint, int64_t realtime_minus_boot_ns);

}  // namespace ipctrace
