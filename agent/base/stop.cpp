#include "base/stop.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <thread>

namespace ipctrace {
namespace {

// Lock-free atomics are what a signal handler may touch.
std::atomic<int> g_stop_signal{0};
std::atomic<bool> g_stop_requested{false};
std::atomic<bool> g_installed{false};
static_assert(std::atomic<int>::is_always_lock_free && std::atomic<bool>::is_always_lock_free);

void on_stop_signal(int sig) {
  int none = 0;
  g_stop_signal.compare_exchange_strong(none, sig);
  g_stop_requested.store(true);
}

}  // namespace

StopSignal::StopSignal(std::initializer_list<int> signals) : signals_(signals), saved_(signals.size()) {
  if (g_installed.exchange(true)) std::abort();  // two owners of one process-wide flag
  g_stop_signal.store(0);
  g_stop_requested.store(false);
  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  for (size_t i = 0; i < signals_.size(); ++i) sigaction(signals_[i], &sa, &saved_[i]);
}

StopSignal::~StopSignal() {
  for (size_t i = 0; i < signals_.size(); ++i) sigaction(signals_[i], &saved_[i], nullptr);
  g_installed.store(false);
}

bool StopSignal::requested() const { return g_stop_requested.load(); }

int StopSignal::signal() const { return g_stop_signal.load(); }

void StopSignal::request() { g_stop_requested.store(true); }

bool StopSignal::sleep_for(Duration d) const {
  const auto end = std::chrono::steady_clock::now() + d;
  while (!requested()) {
    const auto now = std::chrono::steady_clock::now();
    if (now >= end) return true;
    std::this_thread::sleep_for(
        std::min<std::chrono::steady_clock::duration>(end - now, std::chrono::milliseconds(50)));
  }
  return false;
}

}  // namespace ipctrace
