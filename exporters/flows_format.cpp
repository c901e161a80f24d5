#include "exporters/flows_format.h"

#include <fmt/chrono.h>
#include <fmt/format.h>

#include <algorithm>
#include <map>

#include "base/text.h"
#include "kernel/kinds.h"

namespace ipctrace {

std::string human_bytes(double bytes) {
  static constexpr const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
  size_t u = 0;
  while (bytes >= 1024 && u + 1 < std::size(kUnits)) {
    bytes /= 1024;
    ++u;
  }
  if (u == 0) return fmt::format("{:.0f} B", bytes);
  const int decimals = bytes < 10 ? 2 : bytes < 100 ? 1 : 0;
  return fmt::format("{:.{}f} {}", bytes, decimals, kUnits[u]);
}

std::string human_count(double n) {
  static constexpr const char* kUnits[] = {"", "k", "M", "G", "T"};
  size_t u = 0;
  while (n >= 1000 && u + 1 < std::size(kUnits)) {
    n /= 1000;
    ++u;
  }
  if (u == 0) return fmt::format("{:.0f}", n);
  const int decimals = n < 10 ? 2 : n < 100 ? 1 : 0;
  return fmt::format("{:.{}f}{}", n, decimals, kUnits[u]);
}

namespace {

std::string rfc3339(std::chrono::system_clock::time_point t) {
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
  const std::time_t secs = static_cast<std::time_t>(ms / 1000);
  return fmt::format("{:%Y-%m-%dT%H:%M:%S}.{:03d}Z", fmt::gmtime(secs), static_cast<int>(ms % 1000));
}

nlohmann::json endpoint_json(const FlowEnd& end) {
  using nlohmann::json;
  json j;
  switch (end.ref.type) {
    case EndpointRef::Type::Unknown:
      j["type"] = "unknown";
      break;
    case EndpointRef::Type::Remote:
      j["type"] = "remote";
      break;
    case EndpointRef::Type::Other:
      j["type"] = "other";  // operations whose flows could not be kept (model/flows.h)
      break;
    case EndpointRef::Type::Cgroup:
      j["type"] = "cgroup";
      break;
  }
  j["name"] = end.name();
  if (end.ref.type == EndpointRef::Type::Remote) j["address"] = end.ref.remote;
  if (end.ref.type == EndpointRef::Type::Cgroup) {
    const Endpoint& e = end.endpoint;
    j["cgroup_id"] = end.ref.cgroup_id;
    j["cgroup_path"] = e.cgroup.path;
    j["runtime"] = e.runtime;
    j["container_id"] = e.cgroup.container_id;
    j["namespace"] = e.k8s_namespace;
    j["pod"] = e.pod;
    j["pod_uid"] = e.pod_uid;
    j["container"] = e.container;
    j["unit"] = e.cgroup.unit;
    j["sandbox"] = e.sandbox;
    j["partial"] = e.partial;
  }
  const TaskHint& task = end.task;
  if (task.tgid != 0) {
    j["pid"] = task.tgid;
    j["comm"] = task.comm;
    if (!task.exe.empty()) j["exe"] = task.exe;
    if (task.exited) j["exited"] = true;
    if (task.ns.ipc != 0) {
      j["namespaces"] = {{"ipc", task.ns.ipc}, {"net", task.ns.net},       {"pid", task.ns.pid},  {"mnt", task.ns.mnt},
                         {"uts", task.ns.uts}, {"cgroup", task.ns.cgroup}, {"user", task.ns.user}};
    }
  }
  return j;
}

nlohmann::json wait_json(const WaitSample& w) {
  nlohmann::json buckets = nlohmann::json::array();
  uint64_t cumulative = 0;
  for (size_t i = 0; i < w.slots.size(); ++i) {
    cumulative += w.slots[i];
    if (w.slots[i] == 0 && cumulative != w.count) continue;
    buckets.push_back({{"le_seconds", wait_slot_upper_seconds(static_cast<int>(i))}, {"count", cumulative}});
    if (cumulative == w.count) break;
  }
  return {{"count", w.count}, {"sum_seconds", static_cast<double>(w.sum_ns) * 1e-9}, {"buckets", buckets}};
}

const WaitSample* wait_of(const std::vector<WaitSample>& waits, const FlowView& v) {
  if (v.dst.ref.type != EndpointRef::Type::Cgroup) return nullptr;
  for (const auto& w : waits) {
    if (w.cgroup_id == v.dst.ref.cgroup_id && w.kind == v.kind) return &w;
  }
  return nullptr;
}

}  // namespace

nlohmann::json flows_to_json(const FlowsReport& report) {
  using nlohmann::json;
  json flows = json::array();
  for (const FlowView& v : report.flows) {
    json f;
    f["kind"] = kind_name(v.kind);
    f["src"] = endpoint_json(v.src);
    f["dst"] = endpoint_json(v.dst);
    f["messages"] = v.msgs;
    f["bytes"] = v.bytes;
    f["received_messages"] = v.recv_msgs;
    f["received_bytes"] = v.recv_bytes;
    f["counted_at"] = v.counted_at_receiver ? "receiver" : "sender";
    f["messages_per_second"] = v.msgs_per_second;
    f["bytes_per_second"] = v.bytes_per_second;
    f["first_seen"] = rfc3339(v.first_seen);
    f["last_seen"] = rfc3339(v.last_seen);
    json channels = json::array();
    for (const ChannelView& c : v.channels)
      channels.push_back({{"id", c.id}, {"path", c.path.empty() ? json(nullptr) : json(c.path)}});
    f["channels"] = std::move(channels);
    f["unlisted_channels"] = v.unlisted_channels;
    const WaitSample* w = wait_of(report.waits, v);
    f["receiver_wait"] = w != nullptr ? wait_json(*w) : json(nullptr);
    f["shm"] =
        v.kind == IPCT_KIND_SYSV_SHM ? json{{"size_bytes", v.shm_size}, {"attached", v.shm_attached}} : json(nullptr);
    flows.push_back(std::move(f));
  }
  json lost = json::object();
  for (int r = 0; r < IPCT_DROP_MAX; ++r) lost[std::string(drop_reason_name(r))] = report.drops[static_cast<size_t>(r)];
  json hooks = json::object();
  for (const auto& h : report.hooks) {
    if (!hooks.contains(mechanism_name(h.mechanism)))
      hooks[std::string(mechanism_name(h.mechanism))] = family_name(h.family);
  }
  return {
      {"node", report.node}, {"kernel", report.kernel}, {"duration_seconds", report.duration_seconds}, {"flows", flows},
      {"lost", lost},        {"hooks", hooks}};
}

std::string flows_to_table(const FlowsReport& report, bool wide) {
  std::string out = fmt::format("{:<14} {:<40} {:<40} {:>8} {:>10} {:>9} {:>11} {:>10}", "KIND", "SOURCE",
                                "DESTINATION", "MSGS", "BYTES", "MSGS/S", "BYTES/S", "WAIT AVG");
  out += wide ? fmt::format(" {:<24} {}\n", "SRC PROCESS", "DST PROCESS") : "\n";
  // Escaped for the terminal (base/text.h), then cut on a character boundary to n characters,
  // keeping the end: the container name.
  auto clip = [](const std::string& name, int n) {
    std::string s = visible(name);
    if (code_points(s) <= n) return s;
    return "…" + last_code_points(s, n - 1);
  };
  for (const FlowView& v : report.flows) {
    const WaitSample* w = wait_of(report.waits, v);
    std::string wait = "-";
    if (w != nullptr && w->count > 0) {
      const double avg_s = static_cast<double>(w->sum_ns) * 1e-9 / static_cast<double>(w->count);
      wait = avg_s >= 1      ? fmt::format("{:.1f}s", avg_s)
             : avg_s >= 1e-3 ? fmt::format("{:.1f}ms", avg_s * 1e3)
                             : fmt::format("{:.0f}us", avg_s * 1e6);
    }
    std::string bytes = v.kind == IPCT_KIND_SYSV_SHM ? human_bytes(static_cast<double>(v.shm_size)) + "*"
                                                     : human_bytes(static_cast<double>(v.bytes));
    out += fmt::format("{:<14} {:<40} {:<40} {:>8} {:>10} {:>9} {:>11} {:>10}", kind_name(v.kind),
                       clip(v.src.name(), 40), clip(v.dst.name(), 40), human_count(static_cast<double>(v.msgs)), bytes,
                       human_count(v.msgs_per_second), human_bytes(v.bytes_per_second) + "/s", wait);
    if (wide) {
      // A task name is the process's own choice (prctl): escaped, and cut like a name.
      auto process = [&](const TaskHint& t) {
        return t.tgid == 0 ? std::string("-") : clip(fmt::format("{}[{}]", t.comm, t.tgid), 24);
      };
      out += fmt::format(" {:<24} {}", process(v.src.task), process(v.dst.task));
    }
    out += "\n";
  }
  uint64_t lost = 0;
  for (uint64_t d : report.drops) lost += d;
  out += fmt::format("\n{} flows over {:.1f}s; {} records lost", report.flows.size(), report.duration_seconds, lost);
  if (std::any_of(report.flows.begin(), report.flows.end(),
                  [](const FlowView& v) { return v.kind == IPCT_KIND_SYSV_SHM; })) {
    out += "; sysv_shm: * segment size, msgs = attach calls";
  }
  out += "\n";
  return out;
}

}  // namespace ipctrace
