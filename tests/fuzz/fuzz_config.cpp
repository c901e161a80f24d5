// The config file (`--config`, IPCTRACE_CONFIG): INI or TOML the operator writes, but read by a
// privileged agent, so any bytes. Parsing either gives options or a usage error (exit 2); it
// never crashes, hangs or throws past parse_cli().
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <iostream>
#include <string>

#include "app/cli.h"
#include "fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace ipctrace;
  static const std::string path = [] {
    std::string p = "/tmp/ipctrace-fuzz-config-" + std::to_string(getpid()) + ".toml";
    std::atexit([] { unlink(("/tmp/ipctrace-fuzz-config-" + std::to_string(getpid()) + ".toml").c_str()); });
    return p;
  }();
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  }
  // The messages are the product's, not the fuzzer's: keep them off the run's output.
  std::streambuf* err = std::cerr.rdbuf(nullptr);
  std::streambuf* out = std::cout.rdbuf(nullptr);
  for (const char* command : {"agent", "top", "flows", "trace"}) {
    const std::unique_ptr<Cli> cli = make_cli();
    const char* argv[] = {"ipctrace", "--config", path.c_str(), command};
    const std::optional<int> rc = parse_cli(*cli, 4, argv);
    fuzz::require(!rc || *rc == kExitOk || *rc == kExitUsage, "a config file is taken or is a usage error");
  }
  std::cerr.clear();
  std::cout.clear();
  std::cerr.rdbuf(err);
  std::cout.rdbuf(out);
  return 0;
}
