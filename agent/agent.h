// `ipctrace agent`: the per-node daemon (Prometheus /metrics, /api/v1/flows, /healthz, /readyz).
#pragma once

#include "cli.h"

namespace ipctrace {

int run_agent_command(const Cli& cli);

}  // namespace ipctrace
