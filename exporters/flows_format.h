// Flows as people and programs read them: aggregated per (kind, source, destination) over
// channels, filtered, named, rendered as a table (human units) or JSON (stable schema).
#pragma once

#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "collector.h"
#include "filters.h"
#include "identity.h"

namespace ipctrace {

struct FlowView {
  int kind = 0;
  EndpointRef src;
  EndpointRef dst;
  uint64_t msgs = 0;
  uint64_t bytes = 0;
  uint64_t recv_msgs = 0;
  uint64_t recv_bytes = 0;
  double msgs_per_second = 0;
  double bytes_per_second = 0;
  std::chrono::system_clock::time_point first_seen;
  std::chrono::system_clock::time_point last_seen;
  std::vector<std::string> channels;
  uint64_t shm_size = 0;
  uint64_t shm_attached = 0;
  TaskHint src_task;
  TaskHint dst_task;
};

// One view per (kind, src, dst); sorted by bytes, then messages, descending.
std::vector<FlowView> aggregate_flows(const std::vector<FlowState>& flows);

// Names an endpoint reference (a cgroup through the identity resolver).
using Namer = std::function<Endpoint(uint64_t cgroup_id)>;

// Keeps the views matching every given filter (kinds, namespaces, pods, containers: either end
// matches; containers also match a container id prefix; pids: the process recorded at either end).
std::vector<FlowView> filter_flows(const std::vector<FlowView>& views, const Filters& filters, const Namer& namer);

std::string human_bytes(double bytes);  // "0 B", "999 B", "9.8 KiB", "1.5 MiB"
std::string human_count(double n);      // "999", "1.2k", "3.4M"

// The name shown for an endpoint: Endpoint::display(), a remote address, or "?" (unknown).
std::string endpoint_name(const EndpointRef& ref, const Namer& namer);

// JSON schema (stable; README.md "flows --output json"):
// { "node", "kernel", "duration_seconds", "flows": [ { "kind", "src": ENDPOINT, "dst": ENDPOINT, "messages", "bytes",
//   "received_messages", "received_bytes", "messages_per_second", "bytes_per_second",
//   "first_seen", "last_seen" (RFC 3339 UTC), "channels": [..], "receiver_wait": WAIT|null,
//   "shm": {"size_bytes", "attached"}|null } ],
//   "lost": {"<reason>": n}, "hooks": {"<mechanism>": "<family>"} }
// ENDPOINT: {"type": "cgroup"|"remote"|"unknown", "name", "cgroup_id", "cgroup_path", "runtime",
//   "container_id", "namespace", "pod", "pod_uid", "container", "unit", "partial", "pid", "comm",
//   "namespaces": {"ipc", "net", "pid", "mnt", "uts", "cgroup", "user"}, "address"}
// WAIT: {"count", "sum_seconds", "buckets": [{"le_seconds", "count"}]} (cumulative, Prometheus style)
struct FlowsReport {
  std::string node;    // the node's name ($NODE_NAME, else the host name)
  std::string kernel;  // the kernel release
  double duration_seconds = 0;
  std::vector<FlowView> flows;
  std::vector<WaitSample> waits;
  DropCounts drops{};
  std::vector<AttachedHook> hooks;
};
nlohmann::json flows_to_json(const FlowsReport& report, const Namer& namer);
std::string flows_to_table(const FlowsReport& report, const Namer& namer);

}  // namespace ipctrace
