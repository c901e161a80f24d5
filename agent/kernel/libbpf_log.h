// libbpf's own log, routed into spdlog's default logger (base/log.h): libbpf WARN as warn, INFO as
// info, DEBUG as trace, each line prefixed "libbpf: ".
#pragma once

namespace ipctrace {

// Installs the routing (libbpf_set_print). Once, after init_logging().
void route_libbpf_log();

// While alive, libbpf's warnings are logged at trace level: a speculative load or attach (a
// feature probe, a fallback tried first) is expected to fail and must not alarm anyone. Nests.
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
