#include "model/report.h"

#include <algorithm>
#include <map>
#include <tuple>

namespace ipctrace {
namespace {

// Names each cgroup once per report (the namer takes the resolver's lock).
class EndNamer {
 public:
  explicit EndNamer(const Namer& namer) : namer_(namer) {}

  // One end: its cgroup's names, and for the host's root cgroup, its process's executable.
  FlowEnd operator()(const EndpointRef& ref, const TaskHint& task) {
    FlowEnd end{ref, {}, task};
    if (ref.type != EndpointRef::Type::Cgroup) return end;
    auto [it, fresh] = named_.try_emplace(ref.cgroup_id);
    if (fresh) {
      if (namer_) {
        it->second = namer_(ref.cgroup_id);
      } else {
        it->second.cgroup_id = ref.cgroup_id;
      }
    }
    end.endpoint = it->second;
    end.endpoint.name_host_process(task.exe);
    return end;
  }

 private:
  const Namer& namer_;
  std::map<uint64_t, Endpoint> named_;
};

}  // namespace

std::string FlowEnd::name() const {
  switch (ref.type) {
    case EndpointRef::Type::Cgroup:
      return endpoint.display();
    case EndpointRef::Type::Remote:
      return ref.remote;
    case EndpointRef::Type::Unknown:
      return "?";
    case EndpointRef::Type::Other:
      return "(other)";
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
  std::vector<const FlowState*> refs;
  refs.reserve(flows.size());
  for (const FlowState& s : flows) refs.push_back(&s);
  return aggregate_flows(refs, namer);
}

std::vector<FlowView> aggregate_flows(const std::vector<const FlowState*>& flows, const Namer& namer) {
  // A view per kind and pair of ends; the host's root cgroup is one end per executable.
  std::map<std::tuple<int, EndpointRef, std::string, EndpointRef, std::string>, FlowView> by;
  EndNamer name_end(namer);
  for (const FlowState* state : flows) {
    const FlowState& s = *state;
    const ChannelFlow& f = s.flow;
    FlowEnd src = name_end(f.src, f.src_task);
    FlowEnd dst = name_end(f.dst, f.dst_task);
    auto [it, fresh] = by.try_emplace({f.kind, f.src, src.endpoint.host_process, f.dst, dst.endpoint.host_process});
    FlowView& v = it->second;
    if (fresh) {
      v.kind = f.kind;
      v.src = std::move(src);
      v.dst = std::move(dst);
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
    v.channels.push_back({f.channel, f.path});
    v.unlisted_channels += s.unlisted_channels;
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
