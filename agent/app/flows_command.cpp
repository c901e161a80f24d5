// `ipctrace flows`: trace for --duration (or until SIGINT/SIGTERM), then print the flows.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <iostream>

#include "app/commands.h"
#include "app/session.h"
#include "base/stop.h"
#include "exporters/flows_format.h"
#include "exporters/json_text.h"

namespace ipctrace {

int run_flows_command(const Cli& cli) {
  const FlowsOptions& o = cli.flows;
  SessionOptions so;
  so.hooks = o.hooks;
  so.host_root = cli.global.host_root;
  so.containerd_state = cli.global.containerd_state;
  so.idle_timeout = o.duration + std::chrono::minutes(1);  // nothing expires during the run
  auto session = Session::start(so);
  if (!session) {
    spdlog::error("flows: {}", session.error().message());
    return kExitFailure;
  }
  Session& s = **session;
  const StopSignal stop;  // SIGINT/SIGTERM end the run early: it still reports what it saw
  const auto end = s.started() + o.duration;
  spdlog::info("flows: tracing for {} (Ctrl-C to stop early)", format_duration(o.duration));
  while (!stop.requested()) {
    const auto now = std::chrono::steady_clock::now();
    if (now >= end) break;
    if (!stop.sleep_for(std::min<Duration>(end - now, std::chrono::seconds(1)))) break;
    if (auto st = s.collect(); !st) {
      spdlog::error("flows: {}", st.error().message());
      return kExitFailure;
    }
    s.name_endpoints();  // while they exist: short-lived containers are gone by the end
  }
  if (auto st = s.collect(); !st) {
    spdlog::error("flows: {}", st.error().message());
    return kExitFailure;
  }
  FlowsReport report = s.report(o.filters);
  rates_over_report(report);  // the traced duration's, not the last collection interval's
  if (o.output == "json") {
    std::cout << json_text(flows_to_json(report), 2) << "\n";
  } else {
    std::cout << flows_to_table(report, o.output == "wide");
  }
  std::cout.flush();
  return kExitOk;
}

}  // namespace ipctrace
