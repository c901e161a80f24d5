// Flows as reports show them: per (kind, source, destination) over every channel between the two,
// each end named (identity/) once, when the report is made. What `flows`, `top`, the agent's
// /api/v1/flows and their formats (exporters/flows_format.h) are made from.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "identity/endpoint.h"
#include "kernel/planner.h"
#include "kernel/tracer.h"
#include "model/collector.h"
#include "model/flows.h"

namespace ipctrace {

// One end of a flow.
struct FlowEnd {
  EndpointRef ref;
  Endpoint endpoint;  // a cgroup end's names as the namer gave them (cgroup_id only, without a namer)
  TaskHint task;      // a process of this end, as the kernel recorded it (tgid 0: none)

  // The name shown: Endpoint::display() of a cgroup, a remote address, "?" for an unknown peer.
  [[nodiscard]] std::string name() const;
};

// A channel of a flow: its stable text id and, where the kernel knows one, its path.
struct ChannelView {
  std::string id;    // ChannelFlow::channel: "fifo:ino=123,dev=0:14", "unix_stream:ino=456"
  std::string path;  // ChannelFlow::path: "/run/app.fifo", "/run/containerd/containerd.sock"; "" unknown
  // clang-tidy 14 sees the literal 0 of the synthesized comparison as a null pointer.
  auto operator<=>(const ChannelView&) const = default;  // NOLINT(modernize-use-nullptr)
};

struct FlowView {
  int kind = 0;  // enum ipct_kind
  FlowEnd src;
  FlowEnd dst;
  uint64_t msgs = 0;  // counted at the sending end; at the receiving end if counted_at_receiver
  uint64_t bytes = 0;
  uint64_t recv_msgs = 0;  // what the receiving end read
  uint64_t recv_bytes = 0;
  bool counted_at_receiver = false;  // from a remote peer: ChannelFlow::counted_at_receiver
  // Over the last collection interval, as the collector keeps them (the agent's /api/v1/flows, top's
  // local source); over the whole report in `ipctrace flows` (rates_over_report()).
  double msgs_per_second = 0;
  double bytes_per_second = 0;
  std::chrono::system_clock::time_point first_seen;
  std::chrono::system_clock::time_point last_seen;
  std::vector<ChannelView> channels;  // sorted by id
  // Single-use channels released and added up into the flow whose ids were not kept
  // (FlowState::unlisted_channels): channels seen = channels.size() + unlisted_channels.
  uint64_t unlisted_channels = 0;
  uint64_t shm_size = 0;      // sysv_shm: sizes of the segments, in bytes
  uint64_t shm_attached = 0;  // sysv_shm: attachments in place
};

// One view per (kind, src, dst), each cgroup end named with `namer` (no namer: "cgroup#<id>"), an
// end in the host's root cgroup one per executable (Endpoint::name_host_process: "host:dockerd");
// sorted by bytes, then messages, descending.
std::vector<FlowView> aggregate_flows(const std::vector<const FlowState*>& flows, const Namer& namer);
std::vector<FlowView> aggregate_flows(const std::vector<FlowState>& flows, const Namer& namer);

// Everything a flows report says (the JSON schema: exporters/flows_format.h).
struct FlowsReport {
  std::string node;    // the node's name ($NODE_NAME, else the host name)
  std::string kernel;  // the kernel release
  double duration_seconds = 0;
  std::vector<FlowView> flows;
  std::vector<WaitSample> waits;
  DropCounts drops{};
  std::vector<AttachedHook> hooks;
};

// Each flow's rates as its totals over the report's whole duration_seconds (what `ipctrace flows`
// prints: the traced duration, not the last interval); 0 when the duration is not positive.
void rates_over_report(FlowsReport& report);

}  // namespace ipctrace
