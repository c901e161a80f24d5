#include "exporters/metrics.h"

#include <prometheus/text_serializer.h>

#include <algorithm>
#include <sstream>

#include "base/text.h"
#include "kernel/hooks.h"
#include "kernel/kinds.h"

namespace ipctrace {

namespace {

constexpr const char* kOverflow = "__overflow__";
constexpr size_t kMaxFoldedRemembered = 100000;
constexpr size_t kMaxLabelBytes = 256;  // README: "Security"

// Wait histogram bucket bounds: slot i holds waits below 2^i microseconds; the last slot is +Inf.
prometheus::Histogram::BucketBoundaries wait_buckets() {
  prometheus::Histogram::BucketBoundaries b;
  for (int i = 0; i + 1 < IPCT_WAIT_SLOTS; ++i) b.push_back(wait_slot_upper_seconds(i));
  return b;
}

std::string strip_port(const std::string& address) {
  if (!address.empty() && address.front() == '[') {  // [v6]:port
    const size_t end = address.find(']');
    return end == std::string::npos ? address : address.substr(1, end - 1);
  }
  const size_t colon = address.rfind(':');
  return colon == std::string::npos ? address : address.substr(0, colon);
}

}  // namespace

namespace {

// A name a container chose, as a label value: valid UTF-8 (the exposition format requires it;
// invalid bytes escaped, distinct names kept distinct) of at most kMaxLabelBytes.
std::string label_value(const std::string& name) { return bounded(valid_utf8(name), kMaxLabelBytes); }

EndpointLabels endpoint_names(const EndpointRef& ref, const TaskHint& task, const Namer& namer) {
  switch (ref.type) {
    case EndpointRef::Type::Unknown:
    case EndpointRef::Type::Other:
      return {};
    case EndpointRef::Type::Remote:
      return {"", "", strip_port(ref.remote)};
    case EndpointRef::Type::Cgroup:
      break;
  }
  if (!namer) return {"", "", "cgroup#" + std::to_string(ref.cgroup_id)};
  Endpoint e = namer(ref.cgroup_id);
  e.name_host_process(task.exe);
  if (!e.pod.empty() || !e.k8s_namespace.empty()) return {e.k8s_namespace, e.pod, e.container, e.pending};
  if (e.cgroup.runtime == "systemd" && !e.cgroup.unit.empty()) return {"", "", e.cgroup.unit, e.pending};
  if (!e.host_process.empty()) return {"", "", e.container, e.pending};  // "host:dockerd"
  if (e.cgroup.runtime == "host" && !e.cgroup.path.empty()) return {"", "", e.cgroup.path, e.pending};
  return {"", "", e.container, e.pending};
}

// Adds to each counter of `family` (label `label` = the key) what its running total `now` grew
// by since `last` (all of it if it went back: a source restarted), and remembers it.
void add_deltas(prometheus::Family<prometheus::Counter>& family, const std::string& label,
                const std::map<std::string, uint64_t>& now, std::map<std::string, uint64_t>& last) {
  for (const auto& [key, total] : now) {
    uint64_t& before = last[key];
    family.Add({{label, key}}).Increment(static_cast<double>(total >= before ? total - before : total));
    before = total;
  }
}

}  // namespace

EndpointLabels endpoint_labels(const EndpointRef& ref, const TaskHint& task, const Namer& namer) {
  EndpointLabels l = endpoint_names(ref, task, namer);
  l.k8s_namespace = label_value(l.k8s_namespace);
  l.pod = label_value(l.pod);
  l.container = label_value(l.container);
  return l;
}

MetricsExporter::MetricsExporter(MetricsOptions options, const BuildInfo& build)
    : options_(options),
      registry_(std::make_shared<prometheus::Registry>()),
      bytes_(prometheus::BuildCounter()
                 .Name("ipctrace_ipc_bytes_total")
                 .Help("Bytes moved by successful sends and writes, from the sending endpoint to the receiving one; "
                       "side=\"receive\": received from a remote peer, counted at this node's receiving end.")
                 .Register(*registry_)),
      msgs_(prometheus::BuildCounter()
                .Name("ipctrace_ipc_messages_total")
                .Help("Successful send and write calls (one per message of sendmmsg), from sender to receiver; "
                      "side=\"receive\": receive calls from a remote peer, counted at this node's receiving end.")
                .Register(*registry_)),
      folded_bytes_(prometheus::BuildCounter()
                        .Name("ipctrace_ipc_folded_bytes_total")
                        .Help("Bytes of a container's successful calls whose flows could not be kept (a full flow "
                              "table, or the container's share of it), by kind and direction (send, receive): its "
                              "totals stay exact, its peers are not known.")
                        .Register(*registry_)),
      folded_msgs_(prometheus::BuildCounter()
                       .Name("ipctrace_ipc_folded_messages_total")
                       .Help("A container's successful calls whose flows could not be kept (a full flow table, or the "
                             "container's share of it), by kind and direction (send, receive).")
                       .Register(*registry_)),
      wait_(prometheus::BuildHistogram()
                .Name("ipctrace_ipc_wait_seconds")
                .Help("Time receiving calls spent blocked, by kind and receiving container.")
                .Register(*registry_)),
      shm_(prometheus::BuildGauge()
               .Name("ipctrace_shm_attached_bytes")
               .Help("Bytes of SysV shared memory attached: segment size times attachments in place, by segment "
                     "owner (src) and attacher (dst).")
               .Register(*registry_)),
      lost_(prometheus::BuildCounter()
                .Name("ipctrace_records_lost_total")
                .Help("Records the kernel side could not keep, by reason.")
                .Register(*registry_)),
      map_entries_(prometheus::BuildGauge()
                       .Name("ipctrace_map_entries")
                       .Help("Entries in a BPF map after the last collection.")
                       .Register(*registry_)),
      map_capacity_(prometheus::BuildGauge()
                        .Name("ipctrace_map_capacity_entries")
                        .Help("Entries a BPF map can hold: flows, the flows the agent keeps "
                              "(--flow-map-entries); cpu_flow_table, each CPU's table of flows first seen "
                              "between two collections (sized within the kernel map budget).")
                        .Register(*registry_)),
      kernel_map_bytes_(prometheus::BuildGauge()
                            .Name("ipctrace_kernel_map_bytes")
                            .Help("Kernel memory of the agent's BPF maps, estimated for this node's possible CPUs "
                                  "(at most 64 MiB at the defaults).")
                            .Register(*registry_)),
      hook_(prometheus::BuildGauge()
                .Name("ipctrace_hook_info")
                .Help("The hook family serving each IPC mechanism (value 1).")
                .Register(*registry_)),
      series_dropped_(prometheus::BuildCounter()
                          .Name("ipctrace_series_dropped_total")
                          .Help("Label sets folded into the overflow series by the cardinality cap.")
                          .Register(*registry_)),
      cycle_seconds_(prometheus::BuildGauge()
                         .Name("ipctrace_collection_duration_seconds")
                         .Help("How long the last collection cycle took.")
                         .Register(*registry_)),
      cycles_(prometheus::BuildCounter()
                  .Name("ipctrace_collections_total")
                  .Help("Collection cycles completed.")
                  .Register(*registry_)),
      collection_errors_(
          prometheus::BuildCounter()
              .Name("ipctrace_collection_errors_total")
              .Help("Collection cycles that failed (reading the kernel's maps or ring buffer); three in a "
                    "row turn /readyz to 503 until one succeeds.")
              .Register(*registry_)),
      identity_errors_(prometheus::BuildCounter()
                           .Name("ipctrace_identity_errors_total")
                           .Help("Endpoints whose names could not be fully resolved (unreadable or malformed runtime "
                                 "state, vanished cgroups).")
                           .Register(*registry_)),
      sysv_errors_(
          prometheus::BuildCounter()
              .Name("ipctrace_sysv_read_errors_total")
              .Help("SysV reconciliation against /proc that degraded, by reason: namespace and process "
                    "(could not be read, not gone: their state is kept), malformed (lines not understood), "
                    "truncated (files cut at their bound), foreign_mapping (a mapping named like a segment "
                    "that is none), no_shm_device (attachments from events only), walk_timeout (a walk of the maps "
                    "abandoned past its limit).")
              .Register(*registry_)),
      cgroup_watch_(prometheus::BuildCounter()
                        .Name("ipctrace_cgroups_watched_total")
                        .Help("Cgroups of the unified hierarchy the agent learned of as they were made "
                              "(cgroup:cgroup_mkdir), by event: made, named_late (named by a quick retry once "
                              "the runtime's state appeared), unusable_path (the event's path could not be read: "
                              "looked up instead), backlog_full (too many cgroups waited for their runtime's "
                              "state: left to the collections).")
                        .Register(*registry_)),
      channel_paths_(prometheus::BuildCounter()
                         .Name("ipctrace_channel_path_lookups_total")
                         .Help("Lookups of a FIFO's path or a unix socket's bound name through the processes "
                               "using the channel, by result: found, not_found (none, or every user gone), cut "
                               "(stopped by a bound: descriptors of a process, lookups per collection, a socket "
                               "table's size), ambiguous (a socket listed twice in its table: a forged line).")
                         .Register(*registry_)),
      http_rejected_(prometheus::BuildCounter()
                         .Name("ipctrace_http_rejected_total")
                         .Help("Connections the agent's HTTP server closed and requests it refused, by reason: "
                               "request_timeout (no whole request in time), connection_limit (over the limit of "
                               "open connections), lifetime (open too long), busy (answered 503).")
                         .Register(*registry_)),
      flows_tracked_(prometheus::BuildGauge()
                         .Name("ipctrace_flows_tracked")
                         .Help("Channel flows held by the collector.")
                         .Register(*registry_)),
      channels_released_(prometheus::BuildCounter()
                             .Name("ipctrace_channels_released_total")
                             .Help("Channels released from the kept flows, by reason: single_use (used within two "
                                   "collections, then idle for two: pipes, FIFOs, POSIX queues, unix sockets, "
                                   "signals), closed (no process holds any of its pipe, FIFO, queue or socket "
                                   "open); used again, a channel is a new flow.")
                             .Register(*registry_)),
      open_file_lists_(prometheus::BuildCounter()
                           .Name("ipctrace_open_file_lists_total")
                           .Help("Lists of every process's open pipes, FIFOs, sockets and queues (a task_file "
                                 "iterator), made to release closed channels, by result: made, failed, "
                                 "unavailable (due, but the iterator could not be loaded: see the agent's log).")
                           .Register(*registry_)),
      open_file_list_seconds_(prometheus::BuildGauge()
                                  .Name("ipctrace_open_file_list_duration_seconds")
                                  .Help("How long the last list of the open files took, in seconds.")
                                  .Register(*registry_)),
      build_info_(prometheus::BuildGauge()
                      .Name("ipctrace_build_info")
                      .Help("Build and platform information (value 1).")
                      .Register(*registry_)) {
  build_info_
      .Add({{"version", build.version}, {"commit", build.commit}, {"kernel", build.kernel}, {"libbpf", build.libbpf}})
      .Set(1);
  for (int r = 0; r < IPCT_DROP_MAX; ++r) lost_.Add({{"reason", std::string(drop_reason_name(r))}});
  series_dropped_.Add({});
  cycles_.Add({});
  for (const char* r : {"single_use", "closed"}) channels_released_.Add({{"reason", r}});
  for (const char* r : {"made", "failed", "unavailable"}) open_file_lists_.Add({{"result", r}});
  open_file_list_seconds_.Add({});
  collection_errors_.Add({});
  identity_errors_.Add({});
  for (const char* r :
       {"namespace", "process", "malformed", "truncated", "foreign_mapping", "no_shm_device", "walk_timeout"})
    sysv_errors_.Add({{"reason", r}});
  for (const char* r : kHttpRejectReasons) http_rejected_.Add({{"reason", r}});
  for (const char* e : {"made", "named_late", "unusable_path", "backlog_full"}) cgroup_watch_.Add({{"event", e}});
  for (const char* r : {"found", "not_found", "cut", "ambiguous"}) channel_paths_.Add({{"result", r}});
}

void MetricsExporter::update_http(const std::map<std::string, uint64_t>& totals) {
  const std::lock_guard<std::mutex> lock(http_mu_);
  for (const auto& [reason, now] : totals) {
    uint64_t& last = last_http_[reason];
    http_rejected_.Add({{"reason", reason}}).Increment(static_cast<double>(now >= last ? now - last : now));
    last = now;
  }
}

std::string MetricsExporter::scrape() const {
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, registry_->Collect());
  return out.str();
}

size_t MetricsExporter::ipc_series() const { return ipc_.size(); }

void MetricsExporter::update(const MetricsCycle& cycle, const Namer& namer) {
  update_ipc(cycle, namer);
  update_folded(cycle, namer);
  update_waits(cycle, namer);
  update_shm(cycle, namer);
  update_self(cycle);
}

MetricsExporter::IpcSeries& MetricsExporter::add_ipc_series(const Labels& labels,
                                                            std::chrono::steady_clock::time_point now) {
  IpcSeries s;
  s.bytes = &bytes_.Add(labels);
  s.msgs = &msgs_.Add(labels);
  s.last_active = now;
  return ipc_.emplace(labels, s).first->second;
}

void MetricsExporter::update_ipc(const MetricsCycle& cycle, const Namer& namer) {
  add_ipc_deltas(ipc_deltas(cycle, namer), cycle.now);
  // Series of endpoints idle (or gone) for the idle time go.
  for (auto it = ipc_.begin(); it != ipc_.end();) {
    if (cycle.now - it->second.last_active >= options_.idle_timeout) {
      bytes_.Remove(it->second.bytes);
      msgs_.Remove(it->second.msgs);
      folded_.erase(it->first);
      it = ipc_.erase(it);
    } else {
      ++it;
    }
  }
}

// A container's operations whose flows could not be kept: what each (kind, direction,
// container) moved since the last cycle, from the collector's totals of its folded flows.
void MetricsExporter::update_folded(const MetricsCycle& cycle, const Namer& namer) {
  std::map<std::tuple<int, std::string, EndpointRef, EndpointRef>, FlowTotals> seen;
  for (const FlowState* fp : cycle.flows) {
    const FlowState& f = *fp;
    const ChannelFlow& c = f.flow;
    const bool sent = c.dst.type == EndpointRef::Type::Other;
    if (!sent && c.src.type != EndpointRef::Type::Other) continue;
    const auto id = c.id();
    FlowTotals before;
    if (auto it = folded_totals_.find(id); it != folded_totals_.end()) before = it->second;
    const uint64_t msgs = sent ? c.msgs : c.recv_msgs;
    const uint64_t bytes = sent ? c.bytes : c.recv_bytes;
    seen[id] = {msgs, bytes};
    const EndpointLabels e =
        sent ? endpoint_labels(c.src, c.src_task, namer) : endpoint_labels(c.dst, c.dst_task, namer);
    if (e.pending) {
      seen[id] = before;  // counts wait for the name the container will keep
      continue;
    }
    const uint64_t dm = msgs >= before.msgs ? msgs - before.msgs : msgs;
    const uint64_t db = bytes >= before.bytes ? bytes - before.bytes : bytes;
    const Labels labels = {{"kind", std::string(kind_name(c.kind))},
                           {"direction", sent ? "send" : "receive"},
                           {"namespace", e.k8s_namespace},
                           {"pod", e.pod},
                           {"container", e.container}};
    auto it = folded_series_.find(labels);
    if (it == folded_series_.end()) {
      IpcSeries series;
      series.bytes = &folded_bytes_.Add(labels);
      series.msgs = &folded_msgs_.Add(labels);
      series.last_active = cycle.now;
      it = folded_series_.emplace(labels, series).first;
    }
    it->second.bytes->Increment(static_cast<double>(db));
    it->second.msgs->Increment(static_cast<double>(dm));
    if (dm + db > 0) it->second.last_active = cycle.now;
  }
  folded_totals_ = std::move(seen);
  for (auto it = folded_series_.begin(); it != folded_series_.end();) {
    if (cycle.now - it->second.last_active >= options_.idle_timeout) {
      folded_bytes_.Remove(it->second.bytes);
      folded_msgs_.Remove(it->second.msgs);
      it = folded_series_.erase(it);
    } else {
      ++it;
    }
  }
}

// What each label set moved since the last cycle, from the collector's flow totals.
std::map<MetricsExporter::Labels, MetricsExporter::FlowTotals> MetricsExporter::ipc_deltas(const MetricsCycle& cycle,
                                                                                           const Namer& namer) {
  std::map<Labels, FlowTotals> deltas;
  // flow_totals_ is updated in place, each flow here marked with this cycle and the others let go
  // at the end (a second map of every flow's id would be held beside it at the cycle's peak).
  const uint64_t mark = ++delta_cycles_;
  std::map<uint64_t, HeldFlow> waiting;  // by FlowState::serial, as every map here
  // What the flows taken over held and their series had not counted yet (their labels waited
  // for a name): a flow that took them over counts that much itself.
  std::map<uint64_t, FlowTotals> uncounted;
  for (const FlowState* fp : cycle.flows) {
    const FlowState& f = *fp;
    if (flow_totals_.contains(f.serial)) continue;  // took over when it was first seen, counted since
    for (const FlowState::TakenOver& t : f.taken_over) {
      auto it = flow_totals_.find(t.from);
      if (it == flow_totals_.end() || uncounted.contains(t.from)) continue;
      const FlowCounted& u = it->second;
      uncounted[t.from] = {u.total.msgs - std::min(u.total.msgs, u.counted.msgs),
                           u.total.bytes - std::min(u.total.bytes, u.counted.bytes)};
    }
  }
  for (const FlowState* fp : cycle.flows) {
    const FlowState& f = *fp;
    const ChannelFlow& c = f.flow;
    if (c.kind == IPCT_KIND_SYSV_SHM) continue;  // no data flow: ipctrace_shm_attached_bytes
    // Folded operations have their own families (update_folded()).
    if (c.src.type == EndpointRef::Type::Other || c.dst.type == EndpointRef::Type::Other) continue;
    const uint64_t id = f.serial;
    // A flow seen for the first time starts from what it took over from unknown peers' flows, as
    // far as their series counted it (counters do not go backwards, nor count twice).
    FlowTotals before;
    auto known = flow_totals_.find(id);
    if (known != flow_totals_.end()) {
      before = known->second.counted;
    } else {
      for (const FlowState::TakenOver& t : f.taken_over) {
        FlowTotals& left = uncounted[t.from];
        const uint64_t m = std::min(t.msgs, left.msgs);
        const uint64_t b = std::min(t.bytes, left.bytes);
        left.msgs -= m;
        left.bytes -= b;
        before.msgs += t.msgs - m;
        before.bytes += t.bytes - b;
      }
    }
    // The collector's totals are monotonic for as long as it holds the flow; one it forgot and
    // sees again starts from zero.
    const uint64_t dm = c.msgs >= before.msgs ? c.msgs - before.msgs : c.msgs;
    const uint64_t db = c.bytes >= before.bytes ? c.bytes - before.bytes : c.bytes;
    FlowCounted& seen = known != flow_totals_.end() ? known->second : flow_totals_[id];
    seen = {{c.msgs, c.bytes}, {c.msgs, c.bytes}, mark};
    if (c.msgs == 0 && c.bytes == 0) continue;  // received-only: nothing sent to count
    HeldFlow ends{c.kind, c.src, c.dst, c.src_task, c.dst_task, c.counted_at_receiver, {}};
    const std::optional<Labels> labels = ipc_labels(ends, namer, false);
    if (!labels) {
      // An endpoint not named yet (a container made a moment ago): its counts wait, whole, for
      // the labels it will keep, which a later cycle adds them to.
      seen.counted = before;
      waiting.emplace(id, std::move(ends));
      continue;
    }
    FlowTotals& delta = deltas[*labels];
    delta.msgs += dm;
    delta.bytes += db;
  }
  // Flows the collector let go (released, idle) while their counts waited for a name: held for it.
  for (auto& [id, ends] : waiting_) {
    const FlowCounted& c = flow_totals_.at(id);
    if (c.cycle == mark || uncounted.contains(id)) continue;  // here, or taken over (counted there)
    ends.left = {c.total.msgs - std::min(c.total.msgs, c.counted.msgs),
                 c.total.bytes - std::min(c.total.bytes, c.counted.bytes)};
    if (ends.left.msgs + ends.left.bytes == 0) continue;
    auto [it, fresh] = held_.try_emplace(id, ends);
    if (!fresh) {
      it->second.left.msgs += ends.left.msgs;
      it->second.left.bytes += ends.left.bytes;
    }
  }
  for (auto it = held_.begin(); it != held_.end();) {
    const std::optional<Labels> labels = ipc_labels(it->second, namer, held_.size() > kMaxHeldFlows);
    if (!labels) {
      ++it;
      continue;
    }
    FlowTotals& delta = deltas[*labels];
    delta.msgs += it->second.left.msgs;
    delta.bytes += it->second.left.bytes;
    it = held_.erase(it);
  }
  std::erase_if(flow_totals_, [&](const auto& f) { return f.second.cycle != mark; });
  waiting_ = std::move(waiting);
  return deltas;
}

std::optional<MetricsExporter::Labels> MetricsExporter::ipc_labels(const HeldFlow& f, const Namer& namer, bool now) {
  const EndpointLabels s = endpoint_labels(f.src, f.src_task, namer);
  const EndpointLabels d = endpoint_labels(f.dst, f.dst_task, namer);
  if ((s.pending || d.pending) && !now) return std::nullopt;
  return Labels{{"kind", std::string(kind_name(f.kind))},
                {"src_namespace", s.k8s_namespace},
                {"src_pod", s.pod},
                {"src_container", s.container},
                {"dst_namespace", d.k8s_namespace},
                {"dst_pod", d.pod},
                {"dst_container", d.container},
                {"side", f.counted_at_receiver ? "receive" : "send"}};
}

// Existing series first; then new label sets, largest first, while the cap allows.
void MetricsExporter::add_ipc_deltas(const std::map<Labels, FlowTotals>& deltas,
                                     std::chrono::steady_clock::time_point now) {
  std::vector<std::pair<Labels, FlowTotals>> fresh;
  for (auto& [labels, delta] : deltas) {
    auto it = ipc_.find(labels);
    if (it == ipc_.end()) {
      fresh.emplace_back(labels, delta);
      continue;
    }
    it->second.bytes->Increment(static_cast<double>(delta.bytes));
    it->second.msgs->Increment(static_cast<double>(delta.msgs));
    if (delta.bytes > 0 || delta.msgs > 0) it->second.last_active = now;
  }
  std::stable_sort(fresh.begin(), fresh.end(), [](const auto& a, const auto& b) {
    return a.second.bytes != b.second.bytes ? a.second.bytes > b.second.bytes : a.second.msgs > b.second.msgs;
  });
  for (auto& [labels, delta] : fresh) {
    size_t regular = ipc_.size();
    for (const auto& [l, s] : ipc_) regular -= l.at("src_container") == kOverflow ? 1 : 0;
    IpcSeries* series = nullptr;
    if (regular < options_.max_series) {
      series = &add_ipc_series(labels, now);
    } else {
      const Labels overflow = {{"kind", labels.at("kind")},  {"src_namespace", ""},      {"src_pod", ""},
                               {"src_container", kOverflow}, {"dst_namespace", ""},      {"dst_pod", ""},
                               {"dst_container", kOverflow}, {"side", labels.at("side")}};
      auto it = ipc_.find(overflow);
      series = it != ipc_.end() ? &it->second : &add_ipc_series(overflow, now);
      if (folded_.size() < kMaxFoldedRemembered && folded_.insert(labels).second) {
        ++dropped_total_;
        series_dropped_.Add({}).Increment();
      }
    }
    series->bytes->Increment(static_cast<double>(delta.bytes));
    series->msgs->Increment(static_cast<double>(delta.msgs));
    series->last_active = now;
  }
}

void MetricsExporter::update_waits(const MetricsCycle& cycle, const Namer& namer) {
  std::map<std::pair<uint64_t, int>, WaitTotals> seen;
  for (const WaitSample& w : cycle.waits) {
    const auto key = std::make_pair(w.cgroup_id, w.kind);
    WaitTotals before;
    if (auto it = wait_totals_.find(key); it != wait_totals_.end()) before = it->second;
    WaitTotals now;
    now.slots = w.slots;
    now.sum_ns = w.sum_ns;
    seen[key] = now;
    bool restarted = w.sum_ns < before.sum_ns;
    for (size_t i = 0; i < w.slots.size(); ++i) restarted = restarted || w.slots[i] < before.slots[i];
    if (restarted) before = {};
    std::vector<double> increments(w.slots.size(), 0.0);
    uint64_t total = 0;
    for (size_t i = 0; i < w.slots.size(); ++i) {
      increments[i] = static_cast<double>(w.slots[i] - before.slots[i]);
      total += w.slots[i] - before.slots[i];
    }
    const EndpointLabels e = endpoint_labels(EndpointRef::cgroup(w.cgroup_id), {}, namer);
    if (e.pending) {
      seen[key] = before;  // observed once the container has its name, as in update_ipc()
      continue;
    }
    const Labels labels = {{"kind", std::string(kind_name(w.kind))},
                           {"namespace", e.k8s_namespace},
                           {"pod", e.pod},
                           {"container", e.container}};
    auto it = waits_.find(labels);
    if (it == waits_.end()) {
      if (total == 0) continue;
      WaitSeries s;
      s.histogram = &wait_.Add(labels, wait_buckets());
      it = waits_.emplace(labels, s).first;
    }
    if (total == 0) continue;
    it->second.histogram->ObserveMultiple(increments, static_cast<double>(w.sum_ns - before.sum_ns) * 1e-9);
    it->second.last_active = cycle.now;
  }
  wait_totals_ = std::move(seen);
  for (auto it = waits_.begin(); it != waits_.end();) {
    if (cycle.now - it->second.last_active >= options_.idle_timeout) {
      wait_.Remove(it->second.histogram);
      it = waits_.erase(it);
    } else {
      ++it;
    }
  }
}

void MetricsExporter::update_shm(const MetricsCycle& cycle, const Namer& namer) {
  std::map<Labels, double> values;
  for (const FlowState* fp : cycle.flows) {
    const FlowState& f = *fp;
    const ChannelFlow& c = f.flow;
    if (c.kind != IPCT_KIND_SYSV_SHM) continue;
    const EndpointLabels s = endpoint_labels(c.src, c.src_task, namer);
    const EndpointLabels d = endpoint_labels(c.dst, c.dst_task, namer);
    if (s.pending || d.pending) continue;  // shown once named, not under "cgroup#<id>" meanwhile
    const Labels labels = {{"src_namespace", s.k8s_namespace}, {"src_pod", s.pod}, {"src_container", s.container},
                           {"dst_namespace", d.k8s_namespace}, {"dst_pod", d.pod}, {"dst_container", d.container}};
    values[labels] += static_cast<double>(c.shm_size) * static_cast<double>(c.shm_attached);
  }
  // A gauge tells what is attached now: label sets no longer attached anywhere go at once.
  for (auto it = shm_series_.begin(); it != shm_series_.end();) {
    if (values.count(it->first) == 0) {
      shm_.Remove(it->second);
      it = shm_series_.erase(it);
    } else {
      ++it;
    }
  }
  for (const auto& [labels, v] : values) {
    auto it = shm_series_.find(labels);
    if (it == shm_series_.end()) it = shm_series_.emplace(labels, &shm_.Add(labels)).first;
    it->second->Set(v);
  }
}

void MetricsExporter::update_failed(const CollectorStats& stats) {
  const uint64_t errors = stats.errors;
  collection_errors_.Add({}).Increment(
      static_cast<double>(errors >= last_collection_errors_ ? errors - last_collection_errors_ : errors));
  last_collection_errors_ = errors;
}

void MetricsExporter::update_self(const MetricsCycle& cycle) {
  for (int r = 0; r < IPCT_DROP_MAX; ++r) {
    const auto i = static_cast<size_t>(r);
    const uint64_t now = cycle.drops[i];
    const uint64_t delta = now >= last_drops_[i] ? now - last_drops_[i] : now;
    lost_.Add({{"reason", std::string(drop_reason_name(r))}}).Increment(static_cast<double>(delta));
  }
  last_drops_ = cycle.drops;
  map_entries_.Add({{"map", "flows"}}).Set(static_cast<double>(cycle.stats.kernel_entries));
  map_capacity_.Add({{"map", "flows"}}).Set(static_cast<double>(cycle.stats.kernel_capacity));
  map_capacity_.Add({{"map", "cpu_flow_table"}}).Set(static_cast<double>(cycle.stats.cpu_table_entries));
  kernel_map_bytes_.Add({}).Set(static_cast<double>(cycle.stats.kernel_map_bytes));
  for (const AttachedHook& h : cycle.hooks) {
    const std::string mech(mechanism_name(h.mechanism));
    if (hooks_.count(mech) != 0) continue;
    hooks_[mech] = &hook_.Add({{"mechanism", mech}, {"family", std::string(family_name(h.family))}});
    hooks_[mech]->Set(1);
  }
  cycle_seconds_.Add({}).Set(std::chrono::duration<double>(cycle.stats.last_cycle).count());
  cycles_.Add({}).Increment();
  update_failed(cycle.stats);
  const uint64_t errors = cycle.identity_errors;
  identity_errors_.Add({}).Increment(
      static_cast<double>(errors >= last_identity_errors_ ? errors - last_identity_errors_ : errors));
  last_identity_errors_ = errors;
  const CollectorStats& st = cycle.stats;
  add_deltas(sysv_errors_, "reason",
             {{"namespace", st.sysv_namespace_errors},
              {"process", st.sysv_process_errors},
              {"malformed", st.sysv_bad_lines},
              {"truncated", st.sysv_truncated},
              {"foreign_mapping", st.sysv_foreign_mappings},
              {"no_shm_device", st.sysv_no_shm_device},
              {"walk_timeout", st.sysv_walk_timeouts}},
             last_sysv_errors_);
  add_deltas(cgroup_watch_, "event", cycle.cgroup_watch, last_cgroup_watch_);
  const ChannelPathsStats& paths = cycle.channel_paths;
  add_deltas(channel_paths_, "result",
             {{"found", paths.found},
              {"not_found", paths.not_found},
              {"cut", paths.truncated},
              {"ambiguous", paths.ambiguous}},
             last_channel_paths_);
  flows_tracked_.Add({}).Set(static_cast<double>(cycle.flows.size()));
  const uint64_t closed = std::min(st.channels_closed, st.channels_released);
  add_deltas(channels_released_, "reason", {{"single_use", st.channels_released - closed}, {"closed", closed}},
             last_channels_released_);
  add_deltas(open_file_lists_, "result",
             {{"made", st.open_file_lists},
              {"failed", st.open_file_list_errors},
              {"unavailable", st.open_file_lists_unavailable}},
             last_open_file_lists_);
  open_file_list_seconds_.Add({}).Set(std::chrono::duration<double>(st.last_open_file_list).count());
}

}  // namespace ipctrace
