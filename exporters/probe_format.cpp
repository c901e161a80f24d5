#include "exporters/probe_format.h"

#include <fmt/format.h>

#include <algorithm>

namespace ipctrace {
namespace {

constexpr Cap kReportedCaps[] = {Cap::Bpf,       Cap::Perfmon,       Cap::SysAdmin, Cap::SysResource,
                                 Cap::SysPtrace, Cap::DacReadSearch, Cap::Kill};

}  // namespace

nlohmann::json probe_to_json(const ProbeReport& r) {
  using nlohmann::json;
  json j;
  j["kernel"] = {
      {"release", r.kernel.release}, {"major", r.kernel.major}, {"minor", r.kernel.minor}, {"patch", r.kernel.patch}};
  j["btf"] = {{"available", r.btf}, {"detail", r.btf_detail}};
  j["tracefs"] = {{"mounted", r.tracefs.has_value()},
                  {"path", r.tracefs ? json(*r.tracefs) : json(nullptr)},
                  {"detail", r.tracefs_detail}};
  json caps = json::array();
  for (Cap c : kReportedCaps) {
    if (r.caps.has(c)) caps.push_back(cap_name(c));
  }
  j["privileges"] = {{"sufficient", r.missing_caps.empty()},
                     {"missing", r.missing_caps},
                     {"effective", fmt::format("{:#018x}", r.caps.effective())},
                     {"capabilities", caps}};
  json features = json::object();
  for (const auto& f : r.features) {
    features[std::string(feature_name(f.feature))] = {
        {"works", f.works}, {"stage", f.stage}, {"detail", f.detail}, {"errno", f.error}};
  }
  j["features"] = features;
  j["forced_hook_family"] = r.forced_family ? json(family_name(*r.forced_family)) : json(nullptr);
  json hooks = json::object();
  for (const auto& h : r.hooks) {
    hooks[std::string(mechanism_name(h.mechanism))] = {
        {"kinds", mechanism_kinds(h.mechanism)},
        {"family", h.family ? json(family_name(*h.family)) : json(nullptr)},
        {"attach", h.attach},
        {"rejected", h.rejected},
        {"not_seen", r.not_seen.contains(h.mechanism) ? r.not_seen.at(h.mechanism) : std::vector<std::string>{}}};
  }
  j["hooks"] = hooks;
  if (r.memory) {
    const KernelMemory& m = *r.memory;
    j["memory"] = {{"possible_cpus", m.possible_cpus},
                   {"this_node", m.this_node},
                   {"flow_map_entries", m.flow_map_entries},
                   {"cpu_table_entries", m.cpu_table_entries},
                   {"kernel_map_bytes", m.kernel_map_bytes},
                   {"kernel_map_budget_bytes", m.budget_bytes},
                   {"read_buffer_bytes", m.read_buffer_bytes()},
                   {"agent_rss_bytes", m.agent_rss_bytes()},
                   {"detail", r.memory_detail}};
  } else {
    j["memory"] = {{"detail", r.memory_detail}};
  }
  j["agent_can_run"] = r.agent_can_run();
  j["blockers"] = r.blockers();
  return j;
}

std::string probe_to_text(const ProbeReport& r) {
  std::string out;
  auto line = [&out](const std::string& s) { out += s + "\n"; };

  line(fmt::format("Kernel        {}", r.kernel.release));
  line(fmt::format("BTF           {}", r.btf ? "yes (" + r.btf_detail + ")" : "no: " + r.btf_detail));
  line(fmt::format("tracefs       {}", r.tracefs ? *r.tracefs : "not mounted: " + r.tracefs_detail));
  std::string held;
  for (Cap c : kReportedCaps) {
    if (!r.caps.has(c)) continue;
    if (!held.empty()) held += ' ';
    held += cap_name(c);
  }
  if (r.missing_caps.empty()) {
    line(fmt::format("Privileges    sufficient ({})", held));
  } else {
    line(fmt::format("Privileges    INSUFFICIENT: missing {} (held: {})", fmt::join(r.missing_caps, ", "),
                     held.empty() ? "none" : held));
  }

  line("");
  line("Program types and maps (each loaded, attached and triggered here):");
  for (const auto& f : r.features) {
    line(fmt::format("  {:<20} {:<4} {}", feature_name(f.feature), f.works ? "yes" : "no", f.detail));
  }

  line("");
  line(r.forced_family ? fmt::format("Hooks per mechanism (forced family: {}):", family_name(*r.forced_family))
                       : std::string("Hooks per mechanism (cheapest that works):"));
  for (const auto& h : r.hooks) {
    const std::string fam = h.family ? std::string(family_name(*h.family)) : "NONE";
    line(fmt::format("  {:<10} {:<11} {}", mechanism_name(h.mechanism), fam,
                     h.family ? fmt::format("{}", fmt::join(h.attach, ", ")) : "no usable hook"));
    line(fmt::format("  {:<10} {:<11} kinds: {}", "", "", fmt::join(mechanism_kinds(h.mechanism), ", ")));
    for (const auto& why : h.rejected) line(fmt::format("  {:<10} {:<11} passed over: {}", "", "", why));
    if (const auto it = r.not_seen.find(h.mechanism); it != r.not_seen.end()) {
      for (const auto& what : it->second) line(fmt::format("  {:<10} {:<11} not seen: {}", "", "", what));
    }
  }

  line("");
  if (r.memory) {
    const KernelMemory& m = *r.memory;
    auto mib = [](uint64_t b) { return static_cast<double>(b) / (1024.0 * 1024.0); };
    line(fmt::format("Memory at the defaults ({} possible CPUs{}, --flow-map-entries {}):", m.possible_cpus,
                     m.this_node ? "" : ", planned for another node with --possible-cpus", m.flow_map_entries));
    line(fmt::format("  kernel maps  {:.1f} MiB of a {:.0f} MiB budget ({} bytes)", mib(m.kernel_map_bytes),
                     mib(m.budget_bytes), m.kernel_map_bytes));
    line(fmt::format(
        "  flow tables  {} entries per CPU{}", m.cpu_table_entries,
        m.cpu_table_entries < std::min(kMaxCpuFlowTableEntries, m.flow_map_entries)
            ? fmt::format(" (sized down from {} by the budget)", std::min(kMaxCpuFlowTableEntries, m.flow_map_entries))
            : std::string()));
    line(fmt::format("  read buffer  {:.1f} MiB of the agent's, at most, while it reads the tables",
                     mib(m.read_buffer_bytes())));
    line(
        fmt::format("  agent RSS    {:.1f} MiB at most, estimated: {} MiB idle + {} bytes x {} flows kept + the read "
                    "buffer",
                    mib(m.agent_rss_bytes()), kAgentIdleRssBytes >> 20, kAgentRssPerKeptFlowBytes, m.flow_map_entries));
  } else {
    line("Memory        not planned: " + r.memory_detail);
  }

  const auto blockers = r.blockers();
  line("");
  if (blockers.empty()) {
    line("The agent can run on this kernel.");
  } else {
    for (const auto& b : blockers) line("The agent cannot run here: " + b);
  }
  return out;
}

}  // namespace ipctrace
