// Renders `ipctrace probe` reports: aligned text for people, JSON for machines.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "kernel/probe.h"

namespace ipctrace {

// JSON schema (stable; documented in README.md):
// { "kernel": {"release", "major", "minor", "patch"},
//   "btf": {"available", "detail"}, "tracefs": {"mounted", "path", "detail"},
//   "privileges": {"sufficient", "missing": [..], "effective": "0x..", "capabilities": [..]},
//   "features": {"<name>": {"works", "stage", "detail", "errno"}},
//   "forced_hook_family": null | "<family>",
//   "hooks": {"<mechanism>": {"kinds": [..], "family": null | "<family>", "attach": [..], "rejected": [..],
//                              "not_seen": [..]}},
//   "memory": {"possible_cpus", "this_node", "flow_map_entries", "cpu_table_entries", "kernel_map_bytes",
//              "kernel_map_budget_bytes", "read_buffer_bytes", "agent_rss_bytes" (bytes, the agent's
//              peak RSS estimated: KernelMemory::agent_rss_bytes(); all absent where the agent
//              cannot run), "detail" (why not planned; "" when planned)},
//   "agent_can_run": bool, "blockers": [..] }
nlohmann::json probe_to_json(const ProbeReport& report);
std::string probe_to_text(const ProbeReport& report);

}  // namespace ipctrace
