// The ipctrace binary: parse the command line, set up logging, run the subcommand.
#include <malloc.h>
#include <spdlog/spdlog.h>

#include <exception>
#include <iostream>

#include "app/cli.h"
#include "app/commands.h"
#include "base/log.h"
#include "kernel/libbpf_log.h"

#ifdef IPCTRACE_JEMALLOC
#include <jemalloc/jemalloc.h>

// The allocator's options, read when it starts (jemalloc(3), "TUNING"). The agent's peak is a
// collection's, which frees most of what it made: pages freed go back to the kernel at once rather
// than after jemalloc's default 10 s, which would carry one collection's peak into the next; two
// arenas for the agent's few threads (the default, four a CPU, makes 768 on a 192-CPU node).
// Measured beside a neighbour churning pipes (README): peak RSS 97-103 MiB against glibc's
// 106-111 MiB, whose heap keeps the holes a collection leaves among the flows it keeps.
// NOLINTNEXTLINE(cppcoreguidelines-avoid-non-const-global-variables): jemalloc's own symbol
const char* malloc_conf = "narenas:2,dirty_decay_ms:0,muzzy_decay_ms:0";
#endif

int main(int argc, char** argv) {
  using namespace ipctrace;
#ifndef IPCTRACE_JEMALLOC
  // Where glibc allocates (the sanitizer build): blocks of 128 KiB or more (a collection's vectors
  // of every kept flow) are mapped apart and unmapped when freed. glibc's default raises that
  // threshold past the largest block freed, up to 32 MiB: then they come from the heap and leave
  // holes in it, which the next collection's peak adds to.
  mallopt(M_MMAP_THRESHOLD, 128 * 1024);
#endif
  try {
    auto cli = make_cli();
    if (auto exit_code = parse_cli(*cli, argc, argv)) return *exit_code;

    auto level = level_from_verbosity(cli->global.verbose);
    if (!cli->global.log_level.empty()) level = spdlog::level::from_str(cli->global.log_level);
    init_logging(level);
    route_libbpf_log();
#ifdef IPCTRACE_JEMALLOC
    const char* version = nullptr;
    size_t size = sizeof(version);
    if (mallctl("version", static_cast<void*>(&version), &size, nullptr, 0) == 0)
      spdlog::debug("allocator: jemalloc {} ({})", version, malloc_conf);
#endif

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
