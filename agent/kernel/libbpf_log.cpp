#include "kernel/libbpf_log.h"

#include <bpf/libbpf.h>
#include <spdlog/spdlog.h>

#include <array>
#include <atomic>
#include <cstdarg>
#include <cstdio>
#include <string_view>

namespace ipctrace {
namespace {

std::atomic<int> g_quiet_depth{0};

// libbpf hands us printf-style fragments; most end in '\n'.
int libbpf_print(enum libbpf_print_level level, const char* format, va_list args) {
  std::array<char, 1024> buf{};
  const int n = std::vsnprintf(buf.data(), buf.size(), format, args);
  if (n < 0) return 0;
  std::string_view text(buf.data());
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.remove_suffix(1);
  if (text.starts_with("libbpf: ")) text.remove_prefix(8);
  if (text.empty()) return 0;

  spdlog::level::level_enum lvl = spdlog::level::trace;
  if (g_quiet_depth.load(std::memory_order_relaxed) == 0) {
    switch (level) {
      case LIBBPF_WARN:
        lvl = spdlog::level::warn;
        break;
      case LIBBPF_INFO:
        lvl = spdlog::level::info;
        break;
      case LIBBPF_DEBUG:
        lvl = spdlog::level::trace;
        break;
    }
  }
  spdlog::log(lvl, "libbpf: {}", text);
  return n;
}

}  // namespace

void route_libbpf_log() { libbpf_set_print(libbpf_print); }

LibbpfQuiet::LibbpfQuiet() { g_quiet_depth.fetch_add(1, std::memory_order_relaxed); }
LibbpfQuiet::~LibbpfQuiet() { g_quiet_depth.fetch_sub(1, std::memory_order_relaxed); }

}  // namespace ipctrace
