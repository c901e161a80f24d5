// The subcommands' entry points. Each returns the process exit status.
#pragma once

#include "cli.h"

namespace ipctrace {

int run_probe_command(const Cli& cli);
int run_version_command(const Cli& cli);
int run_flows_command(const Cli& cli);
// agent, top, trace: flags are parsed and checked; the commands arrive with later work.
int run_pending_command(const Cli& cli);

}  // namespace ipctrace
