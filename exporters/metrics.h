// Prometheus metrics (prometheus-cpp's registry and text serializer): the flows, wait-time
// histograms and shared memory of ../shared/DESIGN.md's contract, and the agent's own health.
//
// Counters only go up while the agent runs: each cycle adds what every flow moved since the
// previous cycle (a flow the collector forgot and sees again counts from zero, never backwards;
// a flow that took over an unknown peer's counts, FlowState::taken_over, adds only what that
// flow's series had not counted: the rest stays there).
// A label set idle for `idle_timeout` is removed. At most `max_series` label sets per IPC family:
// past that, new label sets (the smallest of a cycle first) are folded into one overflow series
// per kind (src_container and dst_container "__overflow__") and counted in
// ipctrace_series_dropped_total. Operations whose flows the tracer could not keep (a full flow
// table: EndpointRef::Type::Other, model/flows.h) are counted per (kind, direction, container) in
// ipctrace_ipc_folded_messages_total and ipctrace_ipc_folded_bytes_total, with no peer labels;
// a container has at most one such series per kind and direction, so no cap applies.
#pragma once

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <array>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "base/duration.h"
#include "identity/endpoint.h"
#include "kernel/planner.h"
#include "model/collector.h"

namespace ipctrace {

struct MetricsOptions {
  uint32_t max_series = 10000;
  Duration idle_timeout = std::chrono::minutes(5);
};

// Why the agent's HTTP server closed a connection or refused a request (app/agent/http_server.h):
// no whole request within the request timeout, over the connection limit, open past the
// connection lifetime, the workers' queue full (503).
inline constexpr std::array<const char*, 4> kHttpRejectReasons = {"request_timeout", "connection_limit", "lifetime",
                                                                  "busy"};

struct BuildInfo {
  std::string version, commit, kernel, libbpf;
};

// What one collection cycle hands the exporter.
struct MetricsCycle {
  // The collector's flows, not copied (Collector::flow_refs(): valid until its next collection).
  std::vector<const FlowState*> flows;
  std::vector<WaitSample> waits;
  DropCounts drops{};
  CollectorStats stats;
  std::vector<AttachedHook> hooks;
  uint64_t identity_errors = 0;
  // The cgroup watch's running totals (app/cgroup_watch.h), by event: "made" (cgroups learned of
  // as they were made), "named_late" (named by a quick retry), "unusable_path" (no usable path in
  // the event: looked up instead), "backlog_full" (too many waiting: left to the collections).
  std::map<std::string, uint64_t> cgroup_watch;
  // The channel path lookups' running totals (Collector::path_stats(), model/paths.h).
  ChannelPathsStats channel_paths;
  std::chrono::steady_clock::time_point now;
};

// The labels an endpoint gets: Kubernetes namespace, pod and container; for other containers
// the container's name (or short id); host processes their systemd unit, "host:<executable>" (a
// process of the root cgroup whose executable the kernel recorded: "host:dockerd") or their cgroup
// path ("/": the root cgroup's, executable unknown) in `container`; a remote peer its address
// without the port; an unknown peer empty strings.
struct EndpointLabels {
  std::string k8s_namespace, pod, container;
  bool pending = false;  // the namer will know more later (Endpoint::pending): hold the counts back
};
// The labels of an endpoint: names as valid UTF-8 (invalid bytes escaped as base/text.h says), each
// at most 256 bytes (a longer one cut, with a hash of the whole: bounded()). `task`: the process
// of that end that used the channel (ChannelFlow::src_task, dst_task; {} for none).
EndpointLabels endpoint_labels(const EndpointRef& ref, const TaskHint& task, const Namer& namer);

class MetricsExporter {
 public:
  MetricsExporter(MetricsOptions options, const BuildInfo& build);

  // One cycle's figures. Not to be called from two threads at once; scrape() may run meanwhile.
  void update(const MetricsCycle& cycle, const Namer& namer);
  // A cycle that failed: only the collector's own figures (ipctrace_collection_errors_total).
  void update_failed(const CollectorStats& stats);
  // The agent's HTTP server's refusals so far, by reason (kHttpRejectReasons), as totals since
  // start: ipctrace_http_rejected_total{reason}. Any thread but the scraping one may call it.
  void update_http(const std::map<std::string, uint64_t>& totals);
  // The Prometheus text exposition format.
  [[nodiscard]] std::string scrape() const;

  [[nodiscard]] size_t ipc_series() const;
  [[nodiscard]] uint64_t series_dropped() const { return dropped_total_; }

 private:
  using Labels = std::map<std::string, std::string>;
  struct IpcSeries {
    prometheus::Counter* bytes = nullptr;
    prometheus::Counter* msgs = nullptr;
    std::chrono::steady_clock::time_point last_active;
  };
  struct WaitSeries {
    prometheus::Histogram* histogram = nullptr;
    std::chrono::steady_clock::time_point last_active;
  };
  struct FlowTotals {
    uint64_t msgs = 0;
    uint64_t bytes = 0;
  };
  struct WaitTotals {
    std::array<uint64_t, IPCT_WAIT_SLOTS> slots{};
    uint64_t sum_ns = 0;
  };

  void update_ipc(const MetricsCycle& cycle, const Namer& namer);
  std::map<Labels, FlowTotals> ipc_deltas(const MetricsCycle& cycle, const Namer& namer);
  void add_ipc_deltas(const std::map<Labels, FlowTotals>& deltas, std::chrono::steady_clock::time_point now);
  void update_folded(const MetricsCycle& cycle, const Namer& namer);
  void update_waits(const MetricsCycle& cycle, const Namer& namer);
  void update_shm(const MetricsCycle& cycle, const Namer& namer);
  void update_self(const MetricsCycle& cycle);
  IpcSeries& add_ipc_series(const Labels& labels, std::chrono::steady_clock::time_point now);

  MetricsOptions options_;
  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Counter>& bytes_;
  prometheus::Family<prometheus::Counter>& msgs_;
  prometheus::Family<prometheus::Counter>& folded_bytes_;
  prometheus::Family<prometheus::Counter>& folded_msgs_;
  prometheus::Family<prometheus::Histogram>& wait_;
  prometheus::Family<prometheus::Gauge>& shm_;
  prometheus::Family<prometheus::Counter>& lost_;
  prometheus::Family<prometheus::Gauge>& map_entries_;
  prometheus::Family<prometheus::Gauge>& map_capacity_;
  prometheus::Family<prometheus::Gauge>& kernel_map_bytes_;
  prometheus::Family<prometheus::Gauge>& hook_;
  prometheus::Family<prometheus::Counter>& series_dropped_;
  prometheus::Family<prometheus::Gauge>& cycle_seconds_;
  prometheus::Family<prometheus::Counter>& cycles_;
  prometheus::Family<prometheus::Counter>& collection_errors_;
  prometheus::Family<prometheus::Counter>& identity_errors_;
  prometheus::Family<prometheus::Counter>& sysv_errors_;
  prometheus::Family<prometheus::Counter>& cgroup_watch_;
  prometheus::Family<prometheus::Counter>& channel_paths_;
  prometheus::Family<prometheus::Counter>& http_rejected_;
  prometheus::Family<prometheus::Gauge>& flows_tracked_;
  prometheus::Family<prometheus::Counter>& channels_released_;
  prometheus::Family<prometheus::Counter>& open_file_lists_;
  prometheus::Family<prometheus::Gauge>& open_file_list_seconds_;
  prometheus::Family<prometheus::Gauge>& build_info_;

  std::map<Labels, IpcSeries> ipc_;
  std::set<Labels> folded_;  // label sets folded into overflow, counted once each
  uint64_t dropped_total_ = 0;
  // Per flow: what its series counted of its totals, and its totals (more while its labels wait
  // for a name, EndpointLabels::pending).
  struct FlowCounted {
    FlowTotals counted;
    FlowTotals total;
    uint64_t cycle = 0;  // the last ipc_deltas() that saw the flow (delta_cycles_)
  };
  std::map<uint64_t, FlowCounted> flow_totals_;  // by FlowState::serial
  uint64_t delta_cycles_ = 0;                    // ipc_deltas() calls
  // A flow whose labels wait for a name, as far as they need: this cycle's (waiting_), and those
  // the collector let go meanwhile (released, idle) with what their series have not counted
  // (held_, at most kMaxHeldFlows: past that, counted under the labels they have now).
  struct HeldFlow {
    int kind = 0;
    EndpointRef src;
    EndpointRef dst;
    TaskHint src_task;
    TaskHint dst_task;
    bool counted_at_receiver = false;
    FlowTotals left;
  };
  static constexpr size_t kMaxHeldFlows = 65536;
  // The labels of a flow's series; nullopt while an end waits for its name (unless `now`).
  static std::optional<Labels> ipc_labels(const HeldFlow& f, const Namer& namer, bool now);
  std::map<uint64_t, HeldFlow> waiting_;  // by FlowState::serial
  std::map<uint64_t, HeldFlow> held_;
  std::map<Labels, IpcSeries> folded_series_;  // ipctrace_ipc_folded_*_total
  std::map<std::tuple<int, std::string, EndpointRef, EndpointRef>, FlowTotals> folded_totals_;
  std::map<Labels, WaitSeries> waits_;
  std::map<std::pair<uint64_t, int>, WaitTotals> wait_totals_;
  std::map<Labels, prometheus::Gauge*> shm_series_;
  std::map<std::string, prometheus::Gauge*> hooks_;
  DropCounts last_drops_{};
  uint64_t last_collection_errors_ = 0;
  uint64_t last_identity_errors_ = 0;
  std::map<std::string, uint64_t> last_channels_released_;
  std::map<std::string, uint64_t> last_open_file_lists_;
  std::map<std::string, uint64_t> last_sysv_errors_;
  std::map<std::string, uint64_t> last_cgroup_watch_;
  std::map<std::string, uint64_t> last_channel_paths_;
  std::mutex http_mu_;
  std::map<std::string, uint64_t> last_http_;
};

}  // namespace ipctrace
