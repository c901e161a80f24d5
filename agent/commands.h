// The subcommands' entry points. Each returns the process exit status.
#pragma once

#include <memory>
#include <string>

#include "cli.h"
#include "tracer.h"

namespace ipctrace {

int run_probe_command(const Cli& cli);
int run_version_command(const Cli& cli);
int run_flows_command(const Cli& cli);

// Probes, checks the agent can run here (privileges, BTF), and starts the tracer with the hooks
// chosen (`hooks`: "auto" or a family to force). The error says what stands in the way.
Result<std::unique_ptr<Tracer>> start_tracing(const std::string& hooks, const TracerConfig& config);

// This node's name for reports: $NODE_NAME (a DaemonSet sets it from the downward API), else the
// host name. And the running kernel's release.
std::string node_name();
std::string kernel_release();

}  // namespace ipctrace
