// The poller of `ipctrace top`: fetches documents from a FlowSource on the delay, in a thread of
// its own so that a slow agent never freezes the keyboard, and keeps the rates between consecutive
// documents (exporters/top_view.h's RateTracker).
#pragma once

#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "app/top/sources.h"
#include "base/duration.h"
#include "exporters/top_view.h"

namespace ipctrace {

class Poller {
 public:
  Poller(FlowSource& source, Duration delay) : source_(source), delay_(delay) {}
  ~Poller() { stop(); }
  Poller(const Poller&) = delete;
  Poller& operator=(const Poller&) = delete;
  Poller(Poller&&) = delete;
  Poller& operator=(Poller&&) = delete;

  // One fetch now, in the caller's thread (the first frame, or the failure that ends the start).
  Status poll_once();
  // Fetches every delay in a thread of its own until stop().
  void start();
  void stop();
  void set_delay(Duration d);
  // The newest snapshot if it is newer than `seen`; the last error ("" if none).
  std::optional<top::Snapshot> newer_than(uint64_t& seen, std::string& error);

 private:
  void run();

  FlowSource& source_;
  Duration delay_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::thread thread_;
  bool stopping_ = false;
  top::RateTracker rates_;
  std::optional<top::Snapshot> latest_;
  std::string error_;
  uint64_t generation_ = 0;
};

}  // namespace ipctrace
