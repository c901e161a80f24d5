// Logging: spdlog's default logger on stderr for every layer, and a rate limit for warnings that
// a container can make repeat (one per cgroup, one per name). libbpf's own log is routed into the
// same logger by kernel/libbpf_log.h.
#pragma once

#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>

namespace ipctrace {

// Sets up the stderr logger at `level` ("2026-11-30T20:40:00.123 warn text").
void init_logging(spdlog::level::level_enum level);

// Maps a -v count onto a level: 0 info, 1 debug, 2+ trace.
spdlog::level::level_enum level_from_verbosity(int verbose);

// Warnings with a budget: at most `burst` lines per `window`; past that, lines are only counted,
// and the first warning of the next window is preceded by one line, `summary(count)`, saying how
// many were left out. Not thread-safe: the owner serialises calls (IdentityResolver holds a lock).
class RateLimitedLog {
 public:
  using Clock = std::chrono::steady_clock;
  RateLimitedLog(int burst, Clock::duration window, std::function<std::string(uint64_t)> summary);

  // Logs `line` at warn level, or counts it. Returns whether it was logged.
  bool warn(const std::string& line, Clock::time_point now = Clock::now());
  // Lines counted and not logged in the current window.
  [[nodiscard]] uint64_t suppressed() const { return suppressed_; }

 private:
  int burst_;
  Clock::duration window_;
  std::function<std::string(uint64_t)> summary_;
  Clock::time_point window_start_{};
  bool started_ = false;
  int logged_ = 0;
  uint64_t suppressed_ = 0;
};

}  // namespace ipctrace
