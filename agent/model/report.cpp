#include "model/report.h"

#include <algorithm>
#include <map>
#include <tuple>

namespace ipctrace {
namespace {

FlowEnd end_of(const EndpointRef& ref, const TaskHint& task, const Namer& namer) {
  FlowEnd end{ref, {}, task};
  if (ref.type == EndpointRef::Type::Cgroup) {
    if (namer) {
      end.endpoint = namer(ref.cgroup_id);
    } else {
      end.endpoint.cgroup_id = ref.cgroup_id;
    }
  }
  return end;
}

}  // namespace

std::string FlowEnd::name() const {
  switch (ref.type) {
    case EndpointRef::Type::Cgroup:
      return endpoint.display();
    case EndpointRef::Type::Remote:
      return ref.remote;
    case EndpointRef::Type::Unknown:
      return "?";
  }
  return "?";
}

void rates_over_report(FlowsReport& report) {
  for (FlowView& v : report.flows) {
    const bool timed = report.duration_seconds > 0;
    v.msgs_per_second = timed ? static_cast<double>(v.msgs) / report.duration_seconds : 0;
    v.bytes_per_second = timed ? static_cast<double>(v.bytes) / report.duration_seconds : 0;
  }
}

std::vector<FlowView> aggregate_flows(const std::vector<FlowState>& flows, const Namer& namer) {
  std::map<std::tuple<int, EndpointRef, EndpointRef>, FlowView> by;
  for (const FlowState& s : flows) {
    const ChannelFlow& f = s.flow;
    auto [it, fresh] = by.try_emplace({f.kind, f.src, f.dst});
    FlowView& v = it->second;
    if (fresh) {
      v.kind = f.kind;
      v.src = end_of(f.src, f.src_task, namer);
      v.dst = end_of(f.dst, f.dst_task, namer);
      v.first_seen = s.first_seen;
      v.last_seen = s.last_seen;
      v.counted_at_receiver = f.counted_at_receiver;
    }
    v.counted_at_receiver = v.counted_at_receiver && f.counted_at_receiver;
    v.msgs += f.msgs;
    v.bytes += f.bytes;
    v.recv_msgs += f.recv_msgs;
    v.recv_bytes += f.recv_bytes;
    v.msgs_per_second += s.msgs_per_second;
    v.bytes_per_second += s.bytes_per_second;
    v.first_seen = std::min(v.first_seen, s.first_seen);
    v.last_seen = std::max(v.last_seen, s.last_seen);
    v.channels.push_back(f.channel);
    v.shm_size += f.shm_size;
    v.shm_attached += f.shm_attached;
  }
  std::vector<FlowView> out;
  out.reserve(by.size());
  for (auto& [k, v] : by) {
    std::sort(v.channels.begin(), v.channels.end());
    out.push_back(std::move(v));
  }
  std::stable_sort(out.begin(), out.end(), [](const FlowView& a, const FlowView& b) {
    if (a.bytes != b.bytes) return a.bytes > b.bytes;
    return a.msgs > b.msgs;
  });
  return out;
}

}  // namespace ipctrace
