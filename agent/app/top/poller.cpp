#include "app/top/poller.h"

#include <chrono>
#include <utility>

namespace ipctrace {

using SteadyClock = std::chrono::steady_clock;

Status Poller::poll_once() {
  auto doc = source_.fetch();
  if (!doc) return doc.error();
  auto snap = top::snapshot_from_json(*doc, SteadyClock::now());
  if (!snap) return snap.error();
  const std::lock_guard<std::mutex> lock(mu_);
  rates_.apply(*snap);
  latest_ = std::move(*snap);
  error_.clear();
  ++generation_;
  return Ok{};
}

void Poller::start() {
  thread_ = std::thread([this] { run(); });
}

void Poller::stop() {
  {
    const std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Poller::set_delay(Duration d) {
  {
    const std::lock_guard<std::mutex> lock(mu_);
    delay_ = d;
  }
  cv_.notify_all();
}

std::optional<top::Snapshot> Poller::newer_than(uint64_t& seen, std::string& error) {
  const std::lock_guard<std::mutex> lock(mu_);
  error = error_;
  if (generation_ == seen || !latest_) return std::nullopt;
  seen = generation_;
  return latest_;
}

void Poller::run() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_) {
    const auto due = SteadyClock::now() + delay_;
    cv_.wait_until(lock, due, [&] { return stopping_ || SteadyClock::now() >= due; });
    if (stopping_) break;
    lock.unlock();
    auto doc = source_.fetch();
    Result<top::Snapshot> snap =
        doc ? top::snapshot_from_json(*doc, SteadyClock::now()) : Result<top::Snapshot>(doc.error());
    lock.lock();
    if (!snap) {
      error_ = snap.error().message();
      ++generation_;  // redraw to show the error
      continue;
    }
    rates_.apply(*snap);
    latest_ = std::move(*snap);
    error_.clear();
    ++generation_;
  }
}

}  // namespace ipctrace
