// `ipctrace probe`: what this kernel and this process allow, and the hook each mechanism would use.
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include <iostream>

#include "app/commands.h"
#include "exporters/json_text.h"
#include "exporters/probe_format.h"
#include "kernel/probe.h"
#include "kernel/tracer.h"

namespace ipctrace {

int run_probe_command(const Cli& cli) {
  ProbeOptions options;
  if (cli.probe.hooks != "auto") options.force_family = parse_family(cli.probe.hooks);
  ProbeReport report = run_probe(options);
  if (report.agent_can_run()) {
    // As the agent would start (app/session.cpp): its defaults, the cgroup watch on.
    TracerConfig config;
    config.cgroup_events = true;
    config.plan_possible_cpus = cli.probe.possible_cpus;
    if (auto memory = Tracer::plan_memory(config, report.hooks)) {
      report.memory = *memory;
    } else {
      report.memory_detail = memory.error().message();
    }
  } else {
    report.memory_detail = "the agent cannot run here (see the blockers below)";
  }
  if (cli.probe.output == "json") {
    std::cout << json_text(probe_to_json(report), 2) << "\n";
  } else {
    std::cout << probe_to_text(report);
  }
  std::cout.flush();
  if (!report.agent_can_run()) {
    spdlog::error("probe: the agent cannot run here: {}", fmt::join(report.blockers(), "; "));
    return kExitFailure;
  }
  for (const auto& h : report.hooks) {
    if (!h.family) spdlog::warn("probe: no usable hook for {}: it would not be traced", mechanism_name(h.mechanism));
  }
  return kExitOk;
}

}  // namespace ipctrace
