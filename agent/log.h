// Logging: spdlog for ipctrace, with libbpf's own log routed into it.
#pragma once

#include <spdlog/spdlog.h>

namespace ipctrace {

// Sets up the stderr logger at `level` and routes libbpf's messages into it
// (libbpf WARN -> warn, INFO -> info, DEBUG -> trace).
void init_logging(spdlog::level::level_enum level);

// Maps a -v count onto a level: 0 info, 1 debug, 2+ trace.
spdlog::level::level_enum level_from_verbosity(int verbose);

// While alive, libbpf's warnings are logged at trace level: a speculative
// load or attach (a feature probe, a fallback tried first) is expected to
// fail and must not alarm anyone. Nests.
class LibbpfQuiet {
 public:
  LibbpfQuiet();
  ~LibbpfQuiet();
  LibbpfQuiet(const LibbpfQuiet&) = delete;
  LibbpfQuiet& operator=(const LibbpfQuiet&) = delete;
  LibbpfQuiet(LibbpfQuiet&&) = delete;
  LibbpfQuiet& operator=(LibbpfQuiet&&) = delete;
};

}  // namespace ipctrace
