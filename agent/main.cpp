// The ipctrace binary: parse the command line, set up logging, run the subcommand.
#include <spdlog/spdlog.h>

#include <exception>
#include <iostream>

#include "app/cli.h"
#include "app/commands.h"
#include "base/log.h"
#include "kernel/libbpf_log.h"

int main(int argc, char** argv) {
  using namespace ipctrace;
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
