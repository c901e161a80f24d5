#include "model/collector.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <numeric>
#include <optional>
#include <set>
#include <span>
#include <string_view>
#include <tuple>
#include <utility>

#include "base/files.h"
#include "kernel/kinds.h"
#include "model/single_use.h"

namespace ipctrace {

Collector::Collector(std::unique_ptr<Tracer> tracer, CollectorOptions options)
    : tracer_(std::move(tracer)),
      options_(std::move(options)),
      paths_(ChannelPathsOptions{.proc = join_path(options_.host_root, "proc")}) {
  if (tracer_) {
    stats_.kernel_capacity = tracer_->flow_map_capacity();
    stats_.cpu_table_entries = tracer_->cpu_table_entries();
    stats_.kernel_map_bytes = tracer_->kernel_map_bytes();
  }
  if (tracer_ && options_.sysv_reconcile) {
    SysvReader::Options so;
    so.host_root = options_.host_root;
    if (auto dev = learn_shm_dev(); dev) {
      so.shm_dev = *dev;
    } else {
      // Degraded: attachments from events only (fork, exec and lost records go unseen).
      stats_.sysv_no_shm_device++;
      spdlog::warn("sysv: shared memory attachments are not reconciled with the processes' maps: {}",
                   dev.error().message());
    }
    sysv_ = std::make_unique<SysvReader>(so);
    // The inventory at start: segments created before the agent, with their real owners, and a
    // shmget of an existing key seen from now on is a lookup.
    reconcile_sysv(std::chrono::steady_clock::now());
  }
}

void Collector::reconcile_sysv(std::chrono::steady_clock::time_point steady) {
  SysvSnapshot snap = sysv_->read();
  const bool due = !last_maps_walk_ || steady - *last_maps_walk_ >= options_.maps_interval;
  if (due || shm_.attachments_disagree(snap)) {
    if (sysv_->walk_maps_within(snap, options_.maps_walk_limit)) {
      stats_.sysv_maps_walks++;
      last_maps_walk_ = steady;
    }
  }
  const uint64_t foreign = shm_.foreign_mappings();
  shm_.reconcile(snap);
  msgq_.reconcile(snap);
  stats_.sysv_namespace_errors += snap.namespace_errors;
  stats_.sysv_process_errors += snap.process_errors;
  stats_.sysv_bad_lines += snap.bad_lines;
  stats_.sysv_truncated += snap.truncated;
  stats_.sysv_walk_timeouts += snap.walk_timeouts;
  stats_.sysv_foreign_mappings += shm_.foreign_mappings() - foreign;
  if (snap.namespace_errors + snap.process_errors + snap.bad_lines + snap.truncated > 0) {
    sysv_log_.warn(
        fmt::format("sysv: {} namespaces and {} processes not readable, {} lines not understood, {} "
                    "files cut at their bound (kept what was known for them)",
                    snap.namespace_errors, snap.process_errors, snap.bad_lines, snap.truncated));
  }
}

namespace {

// ChannelFlow::id() order, without copying the ids.
bool same_id_less(const ChannelFlow* a, const ChannelFlow* b) {
  return std::tie(a->kind, a->channel, a->src, a->dst) < std::tie(b->kind, b->channel, b->src, b->dst);
}

// (ns, msqid) of a queue's channel as the join names it ("sysv_msg:msqid=Q,ipcns=N").
std::optional<std::pair<uint32_t, uint64_t>> msg_channel(std::string_view ch) {
  constexpr std::string_view kQueue = "sysv_msg:msqid=";
  constexpr std::string_view kNs = ",ipcns=";
  if (ch.substr(0, kQueue.size()) != kQueue) return std::nullopt;
  ch.remove_prefix(kQueue.size());
  const size_t comma = ch.find(kNs);
  if (comma == std::string_view::npos) return std::nullopt;
  uint64_t id = 0;
  uint32_t ns = 0;
  const std::string_view ids = ch.substr(0, comma);
  const std::string_view nss = ch.substr(comma + kNs.size());
  auto [p1, e1] = std::from_chars(ids.data(), ids.data() + ids.size(), id);
  auto [p2, e2] = std::from_chars(nss.data(), nss.data() + nss.size(), ns);
  if (e1 != std::errc() || e2 != std::errc() || p1 != ids.data() + ids.size() || p2 != nss.data() + nss.size())
    return std::nullopt;
  return std::make_pair(ns, id);
}

uint64_t delta(uint64_t now, uint64_t before) {
  // A total below the last one means the kernel entry was evicted and started again.
  return now >= before ? now - before : now;
}

}  // namespace

// A collection can fall between a write and the read that takes it out: the join then gives the
// writer's totals to an unknown reader, and a later one splits the same totals (they only grow)
// among the readers since seen. Counted again from zero, the unknown flow's share would be
// counted twice. So the unknown flow's counts move to the new flows of that writer on that
// channel, shared in proportion to their totals (largest remainder, as the join), and the new
// flows count from their share of its kernel totals on (Start::raw); the unknown flow is marked
// taken over and, holding nothing, is not shown. The same for receipts of a reader whose writer
// was unknown. No counter goes backwards: what moved is the new flows' from their first sight.
std::map<Collector::FlowId, Collector::Start> Collector::hand_over(const std::vector<ChannelFlow>& joined) {
  std::map<FlowId, Start> start;
  // Of the flows joined, those with an unknown end (what a take-over asks after), and the new ones
  // with both ends known (what takes over), grouped further down by what they share with an unknown
  // peer's flow; pointers, not copies of their ids, which would hold every new flow twice.
  std::set<const ChannelFlow*, decltype(&same_id_less)> present(&same_id_less);
  std::vector<const ChannelFlow*> known;
  for (const ChannelFlow& f : joined) {
    if (f.src.type == EndpointRef::Type::Unknown || f.dst.type == EndpointRef::Type::Unknown) {
      present.insert(&f);
    } else if (!table_.contains(f)) {
      known.push_back(&f);
    }
  }
  auto is_present = [&](const FlowId& id) {
    ChannelFlow probe;
    std::tie(probe.kind, probe.channel, probe.src, probe.dst) = id;
    return present.contains(&probe);
  };
  auto take = [&](const FlowId& unknown, std::span<const ChannelFlow* const> fresh, bool sent) {
    auto it = table_.find(unknown);
    if (it == table_.end() || it->handed_over || is_present(unknown)) return;
    const Entry& u = *it;
    u.handed_over = true;
    std::vector<uint64_t> msgs;
    std::vector<uint64_t> bytes;
    for (const ChannelFlow* f : fresh) {
      msgs.push_back(sent ? f->msgs : f->recv_msgs);
      bytes.push_back(sent ? f->bytes : f->recv_bytes);
    }
    const uint64_t all_msgs = std::accumulate(msgs.begin(), msgs.end(), uint64_t{0});
    const uint64_t all_bytes = std::accumulate(bytes.begin(), bytes.end(), uint64_t{0});
    uint64_t& counted_msgs = sent ? u.state.flow.msgs : u.state.flow.recv_msgs;
    uint64_t& counted_bytes = sent ? u.state.flow.bytes : u.state.flow.recv_bytes;
    const uint64_t had_msgs = sent ? u.raw_msgs : u.raw_recv_msgs;
    const uint64_t had_bytes = sent ? u.raw_bytes : u.raw_recv_bytes;
    // What the unknown flow counted moves whole. The new flows count on from its kernel totals,
    // unless they hold less: then the kernel's entry was evicted and counted again from zero
    // since, and all they hold is new.
    const auto cm = apportion(all_msgs > 0 ? counted_msgs : 0, msgs);
    const auto cb = apportion(all_bytes > 0 ? counted_bytes : 0, bytes);
    const auto rm = apportion(all_msgs >= had_msgs ? had_msgs : 0, msgs);
    const auto rb = apportion(all_bytes >= had_bytes ? had_bytes : 0, bytes);
    for (size_t i = 0; i < fresh.size(); ++i) {
      Start& s = start[fresh[i]->id()];  // a flow can take over from two (model/flows.h)
      (sent ? s.raw.msgs : s.raw.recv_msgs) += rm[i];
      (sent ? s.raw.bytes : s.raw.recv_bytes) += rb[i];
      (sent ? s.counted.msgs : s.counted.recv_msgs) += cm[i];
      (sent ? s.counted.bytes : s.counted.recv_bytes) += cb[i];
      if (sent && cm[i] + cb[i] > 0) s.sent_from.push_back({u.state.serial, cm[i], cb[i]});
    }
    if (all_msgs > 0) counted_msgs = 0;
    if (all_bytes > 0) counted_bytes = 0;
  };
  // Each group of flows sharing `side` (in the order joined), with that side.
  auto groups = [](std::vector<const ChannelFlow*>& flows, auto side, auto each) {
    std::stable_sort(flows.begin(), flows.end(),
                     [&](const ChannelFlow* a, const ChannelFlow* b) { return side(*a) < side(*b); });
    for (size_t i = 0; i < flows.size();) {
      size_t j = i + 1;
      while (j < flows.size() && !(side(*flows[i]) < side(*flows[j]))) ++j;
      each(*flows[i], std::span<const ChannelFlow* const>(flows.data() + i, j - i));
      i = j;
    }
  };
  std::vector<const ChannelFlow*> known_by_dst = known;  // grouped again, from the order joined
  auto by_src = [](const ChannelFlow& f) { return std::tie(f.kind, f.channel, f.src); };
  auto by_dst = [](const ChannelFlow& f) { return std::tie(f.kind, f.channel, f.dst); };
  groups(known, by_src, [&](const ChannelFlow& f, std::span<const ChannelFlow* const> fresh) {
    take({f.kind, f.channel, f.src, EndpointRef::unknown()}, fresh, true);
  });
  // Flows that were joined under another channel before (model/flows.h: taken_over_from).
  std::vector<const ChannelFlow*> earlier;
  for (const ChannelFlow& f : joined) {
    if (!f.taken_over_from.empty() && !table_.contains(f) && f.dst.type != EndpointRef::Type::Unknown)
      earlier.push_back(&f);
  }
  groups(
      earlier, [](const ChannelFlow& f) { return std::tie(f.kind, f.taken_over_from, f.src); },
      [&](const ChannelFlow& f, std::span<const ChannelFlow* const> fresh) {
        take({f.kind, f.taken_over_from, f.src, EndpointRef::unknown()}, fresh, true);
      });
  // Never more than a new flow holds, whatever it took over from.
  for (const ChannelFlow& f : joined) {
    auto it = start.find(f.id());
    if (it == start.end()) continue;
    Totals& raw = it->second.raw;
    raw.msgs = std::min(raw.msgs, f.msgs);
    raw.bytes = std::min(raw.bytes, f.bytes);
    raw.recv_msgs = std::min(raw.recv_msgs, f.recv_msgs);
    raw.recv_bytes = std::min(raw.recv_bytes, f.recv_bytes);
  }
  groups(known_by_dst, by_dst, [&](const ChannelFlow& f, std::span<const ChannelFlow* const> fresh) {
    take({f.kind, f.channel, EndpointRef::unknown(), f.dst}, fresh, false);
  });
  return start;
}

void Collector::update(std::vector<ChannelFlow> joined, std::chrono::steady_clock::time_point steady,
                       std::chrono::system_clock::time_point wall) {
  const double interval = last_update_ ? std::chrono::duration<double>(steady - *last_update_).count() : 0.0;
  for (const Entry& e : table_) {
    e.state.msgs_per_second = 0;
    e.state.bytes_per_second = 0;
  }
  const std::map<FlowId, Start> start = hand_over(joined);
  for (ChannelFlow& f : joined) {
    const Totals raw{f.msgs, f.bytes, f.recv_msgs, f.recv_bytes};
    auto it = table_.lower_bound(f);
    const bool fresh = it == table_.end() || table_.key_comp()(f, *it);
    const Start* took = nullptr;
    if (fresh) {
      if (auto s = start.find(f.id()); s != start.end()) took = &s->second;
      Entry made;
      if (took) {
        made.raw_msgs = took->raw.msgs;
        made.raw_bytes = took->raw.bytes;
        made.raw_recv_msgs = took->raw.recv_msgs;
        made.raw_recv_bytes = took->raw.recv_bytes;
      }
      made.state.serial = ++serials_;
      made.state.flow = std::move(f);  // its strings moved, not copied: joined is this cycle's alone
      it = table_.insert(it, std::move(made));
    } else {
      ChannelFlow& k = it->state.flow;
      k.counted_at_receiver = f.counted_at_receiver;
      k.shm_size = f.shm_size;
      k.shm_attached = f.shm_attached;
      if (!f.path.empty()) k.path = std::move(f.path);
      // The first process seen at each end stays (a root cgroup end is named by it): a later join
      // that puts another one first does not move the flow's name; the same process's news (a
      // segment's creator gone) is taken.
      for (auto [now, kept] : {std::pair{&f.src_task, &k.src_task}, std::pair{&f.dst_task, &k.dst_task}}) {
        if (now->tgid != 0 && (kept->tgid == 0 || kept->tgid == now->tgid)) *kept = std::move(*now);
      }
    }
    const Entry& e = *it;
    e.handed_over = false;  // counting again: what it counts from now on may be taken over later
    const uint64_t dm = delta(raw.msgs, e.raw_msgs);
    const uint64_t db = delta(raw.bytes, e.raw_bytes);
    const uint64_t drm = delta(raw.recv_msgs, e.raw_recv_msgs);
    const uint64_t drb = delta(raw.recv_bytes, e.raw_recv_bytes);
    if (fresh) {
      e.state.flow.msgs = took ? took->counted.msgs : 0;
      e.state.flow.bytes = took ? took->counted.bytes : 0;
      e.state.flow.recv_msgs = took ? took->counted.recv_msgs : 0;
      e.state.flow.recv_bytes = took ? took->counted.recv_bytes : 0;
      if (took) e.state.taken_over = took->sent_from;
      e.state.first_seen = wall;
      e.state.last_seen = wall;
      e.last_moved = steady;
    }
    e.state.flow.msgs += dm;
    e.state.flow.bytes += db;
    e.state.flow.recv_msgs += drm;
    e.state.flow.recv_bytes += drb;
    e.raw_msgs = raw.msgs;
    e.raw_bytes = raw.bytes;
    e.raw_recv_msgs = raw.recv_msgs;
    e.raw_recv_bytes = raw.recv_bytes;
    if (dm + db + drm + drb > 0 || e.state.flow.shm_attached > 0) {
      e.state.last_seen = wall;
      e.last_moved = steady;
    }
    if (interval > 0 && !fresh) {
      e.state.msgs_per_second = static_cast<double>(dm) / interval;
      e.state.bytes_per_second = static_cast<double>(db) / interval;
    }
  }
  for (auto it = table_.begin(); it != table_.end();) {
    if (steady - it->last_moved > options_.idle_timeout) {
      it = table_.erase(it);
      stats_.flows_expired++;
    } else {
      ++it;
    }
  }
  std::erase_if(released_, [&](const auto& r) {
    if (steady - r.second.last_moved <= options_.idle_timeout) return false;
    released_path_bytes_ -= r.second.state.flow.path.size();
    return true;
  });
  last_update_ = steady;
}

void Collector::evict_idle_kernel_entries(const std::vector<FlowSample>& samples,
                                          std::chrono::steady_clock::time_point now) {
  std::vector<ipct_flow_key> idle;
  // When each key's counts last grew, from the read that took it in or saw it grow
  // (FlowSample::first_read, last_read) and when that read was: no table of the keys is kept
  // beside the tracer's (65,536 of them at its peak).
  read_times_[tracer_->reads()] = now;
  while (read_times_.size() > 1 && now - std::next(read_times_.begin())->second > options_.idle_timeout)
    read_times_.erase(read_times_.begin());  // the first left is older than idle_timeout: all before it are
  for (const FlowSample& s : samples) {
    // A read no collection finished (a failed one) is timed by the next that did.
    const auto it = read_times_.lower_bound(std::max(s.first_read, s.last_read));
    if (it != read_times_.end() && now - it->second > options_.idle_timeout) idle.push_back(s.key);
  }
  if (idle.empty()) return;
  if (auto st = tracer_->delete_flows(idle); !st) {
    spdlog::warn("collector: {}", st.error().message());
    return;
  }
  stats_.kernel_evicted += idle.size();
}

// The open files (kernel/open_files.h), listed after this cycle's read when a list is due:
// every collection while the tracer keeps 1/kClosedListFraction of its flows or more (a list
// costs a pass over every descriptor on the node), else every kClosedListEvery collections.
std::optional<OpenObjects> Collector::list_open_files() {
  if (!options_.release_closed) return std::nullopt;
  const bool busy = stats_.kernel_entries * kClosedListFraction >= tracer_->flow_map_capacity();
  if (!busy && ++cycles_since_list_ < kClosedListEvery) return std::nullopt;
  cycles_since_list_ = 0;
  if (!open_files_) {
    stats_.open_file_lists_unavailable++;
    return std::nullopt;
  }
  const auto started = std::chrono::steady_clock::now();
  auto open = open_files_->list();
  if (!open) {
    stats_.open_file_list_errors++;
    open_files_log_.warn("collector: listing the open files: " + open.error().message());
    return std::nullopt;
  }
  stats_.open_file_lists++;
  stats_.last_open_file_list = std::chrono::steady_clock::now() - started;
  return std::move(open).value();
}

// Channels used within two collections and idle for two since, and channels closed
// (model/single_use.h): their keys leave the tracer's kept flows, making room, and their flows
// the table. Their last counts went out with a collection before this one (releasable_channels()'
// `exported`). Kept: a channel whose join has an unknown end (its other end may still come: data
// in a queue, in a socket a listener has not accepted yet, which no descriptor holds), unless it
// is a closed pipe or FIFO, whose data went with its last descriptor, or a closed unix channel whose
// every send named its peer socket (the data went with that socket); and one released before and used again (a
// long-lived channel used in bursts) unless it is closed now (no more bursts come; a file in flight in a unix socket's
// queue or registered with io_uring is released again each time it looks closed, its flows added up in the reports as
// released flows are).
void Collector::release_channels(const std::vector<FlowSample>& samples) {
  if (!options_.release_single_use && !options_.release_closed) return;
  const std::optional<OpenObjects> open = list_open_files();
  std::vector<ipct_flow_key> keys;
  std::set<std::string> channels;
  size_t released_channels = 0;
  size_t closed_channels = 0;
  for (const ReleasableChannel& c :
       releasable_channels(samples, tracer_->reads(), exported_read_, open ? &*open : nullptr)) {
    if (!c.closed && !options_.release_single_use) continue;
    std::vector<const FlowSample*> sub;
    sub.reserve(c.keys.size());
    for (size_t i : c.keys) sub.push_back(&samples[i]);
    // The channel as the join named it: all of its keys are here, and they join alone as they
    // did with the rest.
    const std::vector<ChannelFlow> flows = join_flows(sub);
    // A closed unix channel's unread data went with its sockets, as a closed pipe's does, when
    // every send named the socket it went into (its peer's inode): data sent before accept(), or
    // to a name, is in a socket no descriptor holds yet (kept: its reader may still come).
    const bool unix_sends_named = std::all_of(sub.begin(), sub.end(), [](const FlowSample* k) {
      return !is_unix_kind(k->key.kind) || k->key.dir != IPCT_DIR_SEND || k->key.ch.obj.peer != 0;
    });
    const bool keep = std::any_of(flows.begin(), flows.end(), [&](const ChannelFlow& f) {
      const bool unknown_end = f.src.type == EndpointRef::Type::Unknown || f.dst.type == EndpointRef::Type::Unknown;
      const bool data_gone = c.closed && (f.kind == IPCT_KIND_PIPE || f.kind == IPCT_KIND_FIFO ||
                                          (is_unix_kind(f.kind) && unix_sends_named));
      return (unknown_end && !data_gone) || (!c.closed && released_channels_.reused(f.channel));
    });
    if (keep) continue;
    std::set<std::string> names;
    for (const ChannelFlow& f : flows) {
      names.insert(f.channel);
      if (!f.taken_over_from.empty()) channels.insert(f.taken_over_from);  // joined under it before
    }
    for (const std::string& n : names) released_channels_.released(n);
    released_channels += names.size();
    if (c.closed) closed_channels += names.size();
    channels.insert(names.begin(), names.end());
    for (const FlowSample* k : sub) keys.push_back(k->key);
  }
  if (keys.empty()) return;
  if (auto st = tracer_->delete_flows(keys); !st) {
    spdlog::warn("collector: releasing channels: {}", st.error().message());
    return;
  }
  stats_.channels_released += released_channels;
  stats_.channels_closed += closed_channels;
  forget_channels(channels);
}

void Collector::forget_channels(const std::set<std::string>& channels) {
  for (auto it = table_.begin(); it != table_.end();) {
    const Entry& e = *it;
    if (!channels.contains(e.state.flow.channel)) {
      ++it;
      continue;
    }
    if (e.shown()) add_released(e.state, e.last_moved);
    it = table_.erase(it);
  }
}

void Collector::add_released(const FlowState& s, std::chrono::steady_clock::time_point last_moved) {
  const ChannelFlow& f = s.flow;
  auto key = std::make_tuple(f.kind, f.src, f.src_task.exe, f.dst, f.dst_task.exe);
  const bool anonymous = released_.size() >= kMaxReleasedFlows && !released_.contains(key);
  if (anonymous) {
    std::get<2>(key).clear();
    std::get<4>(key).clear();
  }
  auto [it, fresh] = released_.try_emplace(key, Released{s, last_moved});
  if (fresh && anonymous) {  // its processes are not told apart: none of them names it
    it->second.state.flow.src_task = TaskHint{};
    it->second.state.flow.dst_task = TaskHint{};
  }
  if (fresh) {
    // Paths (a FIFO's can be kilobytes) within kReleasedPathBytes; past that the channel id only.
    std::string& path = it->second.state.flow.path;
    if (released_path_bytes_ + path.size() > kReleasedPathBytes) path.clear();
    released_path_bytes_ += path.size();
  }
  it->second.last_moved = std::max(it->second.last_moved, last_moved);
  FlowState& r = it->second.state;
  r.msgs_per_second = 0;
  r.bytes_per_second = 0;
  r.taken_over.clear();
  if (fresh) return;
  r.flow.msgs += f.msgs;
  r.flow.bytes += f.bytes;
  r.flow.recv_msgs += f.recv_msgs;
  r.flow.recv_bytes += f.recv_bytes;
  r.flow.counted_at_receiver = r.flow.counted_at_receiver && f.counted_at_receiver;
  r.first_seen = std::min(r.first_seen, s.first_seen);
  r.last_seen = std::max(r.last_seen, s.last_seen);
  r.unlisted_channels += 1 + s.unlisted_channels;
}

std::vector<FlowState> Collector::released_flows() const {
  std::vector<FlowState> out;
  out.reserve(released_.size());
  for (const auto& [key, r] : released_) out.push_back(r.state);
  return out;
}

std::vector<const FlowState*> Collector::released_flow_refs() const {
  std::vector<const FlowState*> out;
  out.reserve(released_.size());
  for (const auto& [key, r] : released_) out.push_back(&r.state);
  return out;
}

bool Collector::is_lookup(const ipct_event& e) {
  const ShmTracker::Seen a = shm_.on_event(e);
  const ShmTracker::Seen b = msgq_.on_event(e);
  return a == ShmTracker::Seen::LookedUp || b == ShmTracker::Seen::LookedUp;
}

// The kernel entries of queues that are gone, once their last counts were reported: a new queue
// at the same (ns, msqid) starts from zero instead of inheriting them.
void Collector::forget_msg_queues(const std::vector<FlowSample>& samples) {
  const auto gone = msgq_.take_forgotten();
  if (gone.empty()) return;
  const std::set<std::pair<uint32_t, uint64_t>> set(gone.begin(), gone.end());
  std::vector<ipct_flow_key> keys;
  for (const FlowSample& s : samples) {
    if (s.key.kind == IPCT_KIND_SYSV_MSG && set.contains({s.key.ch.obj.dev, s.key.ch.obj.id})) keys.push_back(s.key);
  }
  if (keys.empty()) return;
  if (auto st = tracer_->delete_flows(keys); !st) spdlog::warn("collector: {}", st.error().message());
}

Status Collector::collect(std::chrono::steady_clock::time_point steady, std::chrono::system_clock::time_point wall) {
  Status st = cycle(steady, wall);
  if (st) {
    stats_.failed_in_a_row = 0;
  } else {
    stats_.errors++;
    stats_.failed_in_a_row++;
  }
  return st;
}

Status Collector::cycle(std::chrono::steady_clock::time_point steady, std::chrono::system_clock::time_point wall) {
  const auto started = std::chrono::steady_clock::now();
  // Everything read first: a read that fails leaves the figures as they were (what the tracer took
  // in stays in it for the next cycle).
  auto read = tracer_->read_flows_in_place();  // the tracer's own: as they were all cycle long
  if (!read) return read.error();
  const std::vector<FlowSample>* samples = *read;
  auto waits = tracer_->read_waits();
  if (!waits) return waits.error();
  // Lifecycle events go into the shm tracker as they are drained (a ring buffer is consumed once).
  auto drained = tracer_->drain_events([&](const ipct_event& e) {
    shm_.on_event(e);
    msgq_.on_event(e);
  });
  if (!drained) return drained.error();
  stats_.events += *drained;
  // Flows kept (ipctrace_map_entries{map="flows"}, against --flow-map-entries); not the folded.
  stats_.kernel_entries = static_cast<size_t>(
      std::count_if(samples->begin(), samples->end(), [](const FlowSample& s) { return !s.folded; }));
  const std::string proc = options_.host_root == "/" ? "/proc/" : options_.host_root + "/proc/";
  shm_.detach_gone([&](uint32_t tgid) {
    const std::string p = proc + std::to_string(tgid);
    return access(p.c_str(), F_OK) == 0;
  });
  if (sysv_) reconcile_sysv(steady);

  // The channels with a key that moved since the last collection whose figures went out: the
  // others' flows are as they were (a join of every kept key would hold all of them twice more at
  // the collection's peak).
  std::vector<ChannelFlow> joined = join_flows(moved_channels(*samples, exported_read_));
  // A queue's channel carries its generation (model/msgq.h).
  for (ChannelFlow& f : joined) {
    if (f.kind != IPCT_KIND_SYSV_MSG) continue;
    const auto q = msg_channel(f.channel);
    if (!q) continue;
    if (const uint64_t gen = msgq_.generation(q->first, q->second); gen != 0) f.channel += fmt::format(",gen={}", gen);
  }
  for (ChannelFlow& f : shm_.flows()) joined.push_back(std::move(f));
  paths_.annotate(joined, steady, [&](int kind, const std::string& channel) {
    return table_.contains(EntryIdLess::Channel{kind, &channel});
  });
  for (const ChannelFlow& f : joined) released_channels_.seen(f.channel);
  update(std::move(joined), steady, wall);
  // Only once reported: a segment created, used and removed within one collection still shows.
  shm_.forget_removed();
  forget_msg_queues(*samples);
  evict_idle_kernel_entries(*samples, steady);
  release_channels(*samples);
  exported_read_ = tracer_->reads();  // this cycle's figures go out
  waits_ = std::move(waits).value();
  drops_ = tracer_->read_drops();
  stats_.cycles++;
  stats_.last_cycle = std::chrono::steady_clock::now() - started;
  return Ok{};
}

std::vector<FlowState> Collector::flows() const {
  std::vector<FlowState> out;
  out.reserve(table_.size());
  for (const Entry& e : table_) {
    if (e.shown()) out.push_back(e.state);
  }
  return out;
}

std::vector<const FlowState*> Collector::flow_refs() const {
  std::vector<const FlowState*> out;
  out.reserve(table_.size());
  for (const Entry& e : table_) {
    if (e.shown()) out.push_back(&e.state);
  }
  return out;
}

std::map<uint64_t, uint64_t> Collector::folded_messages() const {
  std::map<uint64_t, uint64_t> out;
  for (const Entry& e : table_) {
    const ChannelFlow& c = e.state.flow;
    if (c.dst.type == EndpointRef::Type::Other && c.src.type == EndpointRef::Type::Cgroup) {
      out[c.src.cgroup_id] += c.msgs;
    } else if (c.src.type == EndpointRef::Type::Other && c.dst.type == EndpointRef::Type::Cgroup) {
      out[c.dst.cgroup_id] += c.recv_msgs;
    }
  }
  return out;
}

}  // namespace ipctrace
