// The ipctrace binary: parse the command line, set up logging, run the subcommand.
#include <malloc.h>
#include <spdlog/spdlog.h>

#include <exception>
#include <iostream>

#include "app/cli.h"
#include "app/commands.h"
#include "base/log.h"
#include "kernel/libbpf_log.h"

int main(int argc, char** argv) {
  using namespace ipctrace;
  // Blocks of 128 KiB or more (a collection's vectors of every kept flow) are mapped apart and
  // unmapped when freed. glibc's default raises that threshold past the largest block freed, up
  // to 32 MiB: then they come from the heap and leave holes in it, resident until trimmed, which
  // the next collection's peak adds to (the agent's RSS budget, README "Memory").
  mallopt(M_MMAP_THRESHOLD, 128 * 1024);
  try {
    auto cli = make_cli();
    if (auto exit_code = parse_cli(*cli, argc, argv)) return *exit_code;

    auto level = level_from_verbosity(cli->global.verbose);
    if (!cli->global.log_level.empty()) level = spdlog::level::from_str(cli->global.log_level);
    init_logging(level);
    route_libbpf_log();

    const std::string cmd = cli->command();
    if (cmd == "probe") return run_probe_command(*cli);
    if (cmd == "version") return run_version_command(*cli);
    if (cmd == "flows") return run_flows_command(*cli);
    if (cmd == "top") return run_top_command(*cli);
    if (cmd == "agent") return run_agent_command(*cli);
    if (cmd == "trace") return run_trace_command(*cli);
    std::cerr << "ipctrace: error: unknown command '" << cmd << "'\n";
    return kExitUsage;
  } catch (const std::exception& e) {
    std::cerr << "ipctrace: fatal: " << e.what() << "\n";
    return kExitFailure;
  }
}
