#include "base/log.h"

#include <spdlog/sinks/stdout_sinks.h>

#include <memory>
#include <utility>

namespace ipctrace {

void init_logging(spdlog::level::level_enum level) {
  auto logger = std::make_shared<spdlog::logger>("ipctrace", std::make_shared<spdlog::sinks::stderr_sink_mt>());
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e %l %v");
  logger->set_level(level);
  logger->flush_on(spdlog::level::warn);
  spdlog::set_default_logger(logger);
}

spdlog::level::level_enum level_from_verbosity(int verbose) {
  if (verbose <= 0) return spdlog::level::info;
  if (verbose == 1) return spdlog::level::debug;
  return spdlog::level::trace;
}

RateLimitedLog::RateLimitedLog(int burst, Clock::duration window, std::function<std::string(uint64_t)> summary)
    : burst_(burst), window_(window), summary_(std::move(summary)) {}

bool RateLimitedLog::warn(const std::string& line, Clock::time_point now) {
  if (!started_ || now - window_start_ >= window_) {
    if (suppressed_ > 0 && summary_) spdlog::warn("{}", summary_(suppressed_));
    started_ = true;
    window_start_ = now;
    logged_ = 0;
    suppressed_ = 0;
  }
  if (logged_ >= burst_) {
    ++suppressed_;
    return false;
  }
  ++logged_;
  spdlog::warn("{}", line);
  return true;
}

}  // namespace ipctrace
