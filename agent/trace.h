// `ipctrace trace`: stream individual events as they happen (text or JSON Lines).
#pragma once

#include "cli.h"

namespace ipctrace {

int run_trace_command(const Cli& cli);

}  // namespace ipctrace
