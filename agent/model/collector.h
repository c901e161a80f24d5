// The collection cycle: read the kernel's totals and events, join them into flows, keep
// per-flow counters that never go backwards, rates over the last interval, first and last
// seen, and forget what has been idle too long (in the table and in the kernel's map).
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "base/duration.h"
#include "base/log.h"
#include "kernel/open_files.h"
#include "kernel/tracer.h"
#include "model/flows.h"
#include "model/msgq.h"
#include "model/paths.h"
#include "model/shm.h"
#include "model/single_use.h"
#include "model/sysv.h"

namespace ipctrace {

struct FlowState {
  ChannelFlow flow;  // counters: accumulated since first seen (monotonic)
  // This flow's own number (from 1): made once when the collector first holds it, never reused. A
  // flow forgotten (idle, released) and seen again is a new one with a new serial, counted from
  // zero; whoever adds up per cycle keys what it counted by it (8 bytes, not the id's text).
  uint64_t serial = 0;
  double msgs_per_second = 0;
  double bytes_per_second = 0;
  std::chrono::system_clock::time_point first_seen;
  std::chrono::system_clock::time_point last_seen;  // last time a counter moved
  // Of msgs and bytes, what the flow took over when it was first seen, from each unknown peer's
  // flow (its serial; Collector::hand_over): counted before under that flow by whoever adds up
  // per cycle (the Prometheus counters), as far as it had counted it.
  struct TakenOver {
    uint64_t from = 0;  // the serial of the flow taken over from
    uint64_t msgs = 0;
    uint64_t bytes = 0;
  };
  std::vector<TakenOver> taken_over;
  // Channels released (model/single_use.h) and added up in this state besides flow.channel, same
  // kind, ends and processes (Collector::released_flows()): their ids are not kept.
  uint64_t unlisted_channels = 0;
};

struct CollectorOptions {
  Duration idle_timeout = std::chrono::minutes(5);
  std::string host_root = "/";  // for /proc, to tell which processes are gone
  // SysV objects reconciled against the kernel (model/sysv.h): the tables of every IPC namespace
  // each collection; the processes' maps when the attach counts disagree with the kernel's, and
  // at least every maps_interval.
  bool sysv_reconcile = true;
  Duration maps_interval = std::chrono::seconds(30);
  // A walk of the maps taking longer is abandoned (a process can keep its maps locked).
  std::chrono::milliseconds maps_walk_limit{2000};
  // Single-use channels (model/single_use.h) leave the kept flows and the table once idle for two
  // collections, long before idle_timeout; their flows are kept added up (released_flows()).
  bool release_single_use = true;
  // Closed channels (none of their objects open in any process: kernel/open_files.h) leave them at
  // the first collection after their last counts went out that lists the open files: every
  // collection while the tracer keeps at least 1/kClosedListFraction of its flows, else every
  // kClosedListEvery collections. Needs set_open_files(); without it, every list due is counted
  // as unavailable.
  bool release_closed = true;
};
inline constexpr uint64_t kClosedListFraction = 8;
inline constexpr uint64_t kClosedListEvery = 10;

struct CollectorStats {
  uint64_t cycles = 0;
  Duration last_cycle{0};
  size_t kernel_entries = 0;  // flow map entries after the last read
  uint32_t kernel_capacity = 0;
  // Entries of each CPU's flow tables (Tracer::cpu_table_entries(): sized by possible CPUs within
  // the kernel map budget) and the kernel memory of every map, estimated (Tracer::kernel_map_bytes()).
  uint32_t cpu_table_entries = 0;
  uint64_t kernel_map_bytes = 0;
  uint64_t kernel_evicted = 0;  // idle entries deleted from the kernel map
  uint64_t flows_expired = 0;   // idle flows forgotten
  // Channels released (model/single_use.h; ipctrace_channels_released_total), as the join names
  // them: single-use ones, and closed ones (no process holds any of their objects; also counted
  // in channels_closed).
  uint64_t channels_released = 0;
  uint64_t channels_closed = 0;
  // Lists of the open files (kernel/open_files.h; ipctrace_open_file_lists_total by result): made,
  // failed (logged, at most 5 a minute), unavailable (due, but no lister: logged once at start),
  // and how long the last one made took.
  uint64_t open_file_lists = 0;
  uint64_t open_file_list_errors = 0;
  uint64_t open_file_lists_unavailable = 0;
  Duration last_open_file_list{0};
  uint64_t events = 0;           // lifecycle events drained
  uint64_t errors = 0;           // cycles that failed (ipctrace_collection_errors_total)
  uint64_t failed_in_a_row = 0;  // failed cycles since the last one that succeeded
  // SysV reconciliation (ipctrace_sysv_read_errors_total by reason): namespaces and processes
  // that could not be read (not gone), table lines and maps lines that did not parse or match,
  // files cut at their bound, the shm device not learned (no maps walk at all), and walks of the
  // maps abandoned past their limit.
  uint64_t sysv_namespace_errors = 0;
  uint64_t sysv_process_errors = 0;
  uint64_t sysv_bad_lines = 0;
  uint64_t sysv_truncated = 0;
  uint64_t sysv_foreign_mappings = 0;
  uint64_t sysv_no_shm_device = 0;
  uint64_t sysv_walk_timeouts = 0;
  uint64_t sysv_maps_walks = 0;  // walks of the processes' maps
};

class Collector {
 public:
  Collector(std::unique_ptr<Tracer> tracer, CollectorOptions options);

  // One cycle. `steady` and `wall` are injectable for tests; normally now(). A failed cycle is
  // counted in stats() (errors, failed_in_a_row) and changes no flow, wait or drop figure: what it
  // read stays in the tracer for the next one. Lifecycle events drained before a failure are kept.
  Status collect(std::chrono::steady_clock::time_point steady = std::chrono::steady_clock::now(),
                 std::chrono::system_clock::time_point wall = std::chrono::system_clock::now());

  [[nodiscard]] std::vector<FlowState> flows() const;
  // The same, not copied: valid until the next collect() or update() (what the agent's cycle
  // reads: a copy of 65,536 flows would double the agent's memory at its peak).
  [[nodiscard]] std::vector<const FlowState*> flow_refs() const;
  // The flows of released channels (model/single_use.h), for the reports (not the metrics, which
  // counted them as flows()): one per kind, ends and their processes' executables, counts added
  // up, first and last seen the earliest and latest, the first channel's id kept and the others
  // counted (FlowState::unlisted_channels); their paths within kReleasedPathBytes in all;
  // forgotten once idle for idle_timeout, as flows are.
  // At most kMaxReleasedFlows told apart by executable (about 1 KiB each: a container that runs a
  // new executable for every channel it churns must not grow the agent); past that, one per kind
  // and ends, no process named.
  [[nodiscard]] std::vector<FlowState> released_flows() const;
  [[nodiscard]] std::vector<const FlowState*> released_flow_refs() const;  // as flow_refs()
  static constexpr size_t kMaxReleasedFlows = 4096;
  static constexpr size_t kReleasedPathBytes = size_t{4} << 20;
  // Operations folded (FlowSample::folded: flows to or from EndpointRef::other()) per cgroup,
  // messages sent and received, since the folded flows held were first seen. Reads the table in
  // place: no flow is copied.
  [[nodiscard]] std::map<uint64_t, uint64_t> folded_messages() const;
  [[nodiscard]] const std::vector<WaitSample>& waits() const { return waits_; }
  [[nodiscard]] const DropCounts& drops() const { return drops_; }
  [[nodiscard]] const CollectorStats& stats() const { return stats_; }
  [[nodiscard]] const ChannelPathsStats& path_stats() const { return paths_.stats(); }
  [[nodiscard]] Tracer& tracer() { return *tracer_; }
  // The lister of open files for releasing closed channels (CollectorOptions::release_closed);
  // nullptr where it could not be loaded.
  void set_open_files(std::unique_ptr<OpenFileLister> lister) { open_files_ = std::move(lister); }
  // For a stream that drains the lifecycle events itself (`ipctrace trace`): takes one in as a
  // collection would, and says whether a create event was a lookup of an existing object.
  bool is_lookup(const ipct_event& e);

  // The table logic alone (no kernel), for tests: feed joined flows of one cycle.
  void update(std::vector<ChannelFlow> joined, std::chrono::steady_clock::time_point steady,
              std::chrono::system_clock::time_point wall);
  // The table logic of a release alone, for tests: moves the flows on `channels`
  // (ChannelFlow::channel) to released_flows().
  void forget_channels(const std::set<std::string>& channels);

 private:
  // A flow of the table, which is ordered by its id (ChannelFlow::id() of state.flow, EntryIdLess)
  // and holds it once: every member changes in place but the id, which is set when the entry is
  // made (hence mutable: a set's elements are const).
  struct Entry {
    mutable FlowState state;
    mutable uint64_t raw_msgs = 0;  // last totals as joined, to take deltas from
    mutable uint64_t raw_bytes = 0;
    mutable uint64_t raw_recv_msgs = 0;
    mutable uint64_t raw_recv_bytes = 0;
    mutable std::chrono::steady_clock::time_point last_moved;
    mutable bool handed_over = false;  // a flow with an unknown peer whose counts the known peers took over
    // Whether it holds anything to show: not an unknown peer's flow whose counts all moved away.
    [[nodiscard]] bool shown() const {
      const ChannelFlow& f = state.flow;
      return !handed_over || f.msgs + f.bytes + f.recv_msgs + f.recv_bytes > 0 || f.shm_attached > 0;
    }
  };
  struct Totals {
    uint64_t msgs = 0, bytes = 0, recv_msgs = 0, recv_bytes = 0;
  };
  // Where a new flow starts when it takes over an unknown peer's counts: the kernel totals it
  // counts from, and what it has counted already (moved from the unknown flow).
  struct Start {
    Totals raw;
    Totals counted;
    std::vector<FlowState::TakenOver> sent_from;  // of counted.msgs and .bytes, from which flow
  };
  using FlowId = std::tuple<int, std::string, EndpointRef, EndpointRef>;
  // Orders entries, joined flows and ids alike by the id (a lookup copies nothing).
  struct EntryIdLess {
    using is_transparent = void;
    static auto id(const ChannelFlow& f) { return std::tie(f.kind, f.channel, f.src, f.dst); }
    static auto id(const Entry& e) {
      const ChannelFlow& f = e.state.flow;
      return std::tie(f.kind, f.channel, f.src, f.dst);
    }
    static auto id(const FlowId& i) { return std::tie(std::get<0>(i), std::get<1>(i), std::get<2>(i), std::get<3>(i)); }
    template <class A, class B>
    bool operator()(const A& a, const B& b) const {
      return id(a) < id(b);
    }
    // The flows of one channel (kind and ChannelFlow::channel), whatever their ends.
    struct Channel {
      int kind = 0;
      const std::string* channel = nullptr;
    };
    bool operator()(const Channel& a, const Entry& b) const {
      return std::tie(a.kind, *a.channel) < std::tie(b.state.flow.kind, b.state.flow.channel);
    }
    bool operator()(const Entry& a, const Channel& b) const {
      return std::tie(a.state.flow.kind, a.state.flow.channel) < std::tie(b.kind, *b.channel);
    }
  };
  std::map<FlowId, Start> hand_over(const std::vector<ChannelFlow>& joined);

  Status cycle(std::chrono::steady_clock::time_point steady, std::chrono::system_clock::time_point wall);
  void reconcile_sysv(std::chrono::steady_clock::time_point steady);
  void forget_msg_queues(const std::vector<FlowSample>& samples);
  void evict_idle_kernel_entries(const std::vector<FlowSample>& samples, std::chrono::steady_clock::time_point now);
  void release_channels(const std::vector<FlowSample>& samples);
  // The open files, when a list is due this collection (CollectorOptions::release_closed).
  std::optional<OpenObjects> list_open_files();
  void add_released(const FlowState& s, std::chrono::steady_clock::time_point last_moved);

  std::unique_ptr<Tracer> tracer_;
  CollectorOptions options_;
  ShmTracker shm_;
  MsgQueueTracker msgq_;
  ChannelPaths paths_;  // fifo and unix channels' paths
  std::unique_ptr<SysvReader> sysv_;
  std::optional<std::chrono::steady_clock::time_point> last_maps_walk_;
  RateLimitedLog sysv_log_{5, std::chrono::minutes(1), [](uint64_t n) {
                             return "sysv: " + std::to_string(n) +
                                    " more reconciliations degraded in the last minute (counted in "
                                    "ipctrace_sysv_read_errors_total)";
                           }};
  std::set<Entry, EntryIdLess> table_;
  uint64_t serials_ = 0;  // FlowState::serial of the last flow made
  ReleasedChannels released_channels_;
  uint64_t exported_read_ = 0;      // the tracer's read of the last cycle that succeeded
  size_t released_path_bytes_ = 0;  // of the released flows' paths
  std::unique_ptr<OpenFileLister> open_files_;
  uint64_t cycles_since_list_ = 0;
  RateLimitedLog open_files_log_{5, std::chrono::minutes(1), [](uint64_t n) {
                                   return "collector: " + std::to_string(n) +
                                          " more lists of the open files failed in the last minute (counted in "
                                          "ipctrace_open_file_lists_total)";
                                 }};
  // (kind, src, src's executable, dst, dst's executable) -> the released flows.
  struct Released {
    FlowState state;
    std::chrono::steady_clock::time_point last_moved;
  };
  std::map<std::tuple<int, EndpointRef, std::string, EndpointRef, std::string>, Released> released_;
  // The tracer's reads (Tracer::reads()) of the collections within idle_timeout, and the one before
  // them -> when they were made: when a key's counts last grew (evict_idle_kernel_entries()).
  std::map<uint64_t, std::chrono::steady_clock::time_point> read_times_;
  std::optional<std::chrono::steady_clock::time_point> last_update_;
  std::vector<WaitSample> waits_;
  DropCounts drops_{};
  CollectorStats stats_;
};

}  // namespace ipctrace
