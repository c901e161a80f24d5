#include "commands.h"

#include <bpf/libbpf.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <sys/utsname.h>

#include <iostream>
#include <nlohmann/json.hpp>

#include "probe.h"
#include "probe_format.h"
#include "version.h"

namespace ipctrace {

int run_probe_command(const Cli& cli) {
  ProbeOptions options;
  if (cli.probe.hooks != "auto") options.force_family = parse_family(cli.probe.hooks);
  const ProbeReport report = run_probe(options);
  if (cli.probe.output == "json") {
    std::cout << probe_to_json(report).dump(2) << "\n";
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

int run_version_command(const Cli& cli) {
  struct utsname u {};
  uname(&u);
  const std::string libbpf = fmt::format("{}.{}", libbpf_major_version(), libbpf_minor_version());
  if (cli.version.output == "json") {
    nlohmann::json j = {{"version", build::kVersion},   {"commit", build::kCommit}, {"build_type", build::kBuildType},
                        {"compiler", build::kCompiler}, {"libbpf", libbpf},         {"kernel", u.release}};
    std::cout << j.dump(2) << "\n";
  } else {
    std::cout << fmt::format("ipctrace {} (commit {}, {} build, {}, libbpf {}; running on Linux {})\n", build::kVersion,
                             build::kCommit, build::kBuildType, build::kCompiler, libbpf, u.release);
  }
  return kExitOk;
}

int run_pending_command(const Cli& cli) {
  const std::string cmd = cli.command();
  std::cerr << fmt::format(
      "ipctrace {}: the options are valid, but this command arrives with later work; "
      "this build provides 'probe' and 'version'\n",
      cmd);
  return kExitFailure;
}

}  // namespace ipctrace
