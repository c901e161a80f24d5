#include "base/log.h"

#include <spdlog/sinks/base_sink.h>
#include <spdlog/sinks/stdout_sinks.h>

#include <memory>
#include <mutex>
#include <utility>

#include "base/text.h"

namespace ipctrace {

namespace {

// Every message escaped for the terminal (base/text.h) before it reaches stderr: log lines carry
// what containers chose (cgroup names, process names, a remote agent's answers), and one message
// stays one line whatever they hold.
class VisibleSink final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  explicit VisibleSink(spdlog::sink_ptr out) : out_(std::move(out)) {}

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    std::string_view text(msg.payload.data(), msg.payload.size());
    while (!text.empty() && text.back() == '\n') text.remove_suffix(1);  // libbpf ends its lines so
    const std::string shown = visible(text);
    spdlog::details::log_msg copy(msg.time, msg.source, msg.logger_name, msg.level, shown);
    copy.thread_id = msg.thread_id;
    out_->log(copy);
  }
  void flush_() override { out_->flush(); }
  void set_pattern_(const std::string& pattern) override { out_->set_pattern(pattern); }
  void set_formatter_(std::unique_ptr<spdlog::formatter> f) override { out_->set_formatter(std::move(f)); }

 private:
  spdlog::sink_ptr out_;
};

}  // namespace

void init_logging(spdlog::level::level_enum level) {
  auto logger = std::make_shared<spdlog::logger>(
      "ipctrace", std::make_shared<VisibleSink>(std::make_shared<spdlog::sinks::stderr_sink_mt>()));
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
