// `ipctrace version`: version and build information.
#include <fmt/format.h>

#include <iostream>
#include <nlohmann/json.hpp>

#include "app/commands.h"
#include "app/session.h"
#include "app/version.h"
#include "kernel/facts.h"

namespace ipctrace {

int run_version_command(const Cli& cli) {
  const std::string kernel = kernel_release();
  const std::string libbpf = libbpf_version();
  if (cli.version.output == "json") {
    nlohmann::json j = {{"version", build::kVersion},   {"commit", build::kCommit}, {"build_type", build::kBuildType},
                        {"compiler", build::kCompiler}, {"libbpf", libbpf},         {"kernel", kernel}};
    std::cout << j.dump(2) << "\n";
  } else {
    std::cout << fmt::format("ipctrace {} (commit {}, {} build, {}, libbpf {}; running on Linux {})\n", build::kVersion,
                             build::kCommit, build::kBuildType, build::kCompiler, libbpf, kernel);
  }
  return kExitOk;
}

}  // namespace ipctrace
