// The subcommands' entry points. Each returns the process exit status (app/cli.h: kExitOk,
// kExitFailure, kExitUsage) and prints its own one-line errors.
#pragma once

#include "app/cli.h"

namespace ipctrace {

int run_probe_command(const Cli& cli);    // app/probe_command.cpp
int run_version_command(const Cli& cli);  // app/version_command.cpp
int run_flows_command(const Cli& cli);    // app/flows_command.cpp
int run_trace_command(const Cli& cli);    // app/trace_command.cpp
int run_agent_command(const Cli& cli);    // app/agent/daemon.cpp
int run_top_command(const Cli& cli);      // app/top/command.cpp

}  // namespace ipctrace
