// Names containers as their cgroups are made: a thread reads the tracer's cgroup events
// (cgroup:cgroup_mkdir, kernel/tracer.h poll_cgroups()) as they come and hands each new cgroup's
// path to the resolver (identity/resolver.h learn()), which names it then and keeps the path, so
// a container that lives 300 ms is named although its cgroup, and maybe its runtime's state, are
// gone by the next collection. A runtime writes its state around the cgroup's creation, some just
// after it (runc's state.json: tens of milliseconds here, seconds on a loaded or emulated
// machine): a container's cgroup left partial is tried again every 5 ms four times, every 10 ms
// four times, every 20 ms four times, then every 40 ms until 5 s after it was made and every
// 320 ms until 30 s (refresh(), not one of the resolver's slower retries), then left to
// resolve()'s own retries. At most kRetriesPerSecond tries a second in all.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <thread>

#include "base/log.h"
#include "identity/resolver.h"
#include "kernel/tracer.h"

namespace ipctrace {

class CgroupWatch {
 public:
  // Pending cgroups awaiting a quick retry at most; more are left to resolve()'s retries (logged,
  // rate-limited, and counted in stats().backlog_full).
  // Bounds on what a container that makes cgroups can make the watch do: cgroups waiting, and
  // tries a second (a try is a few failed opens: microseconds each).
  static constexpr size_t kMaxPending = 4096;
  static constexpr double kRetriesPerSecond = 5000;
  static constexpr std::chrono::seconds kWatchFor{30};

  struct Stats {
    uint64_t cgroups = 0;        // events read
    uint64_t unusable_path = 0;  // events whose path could not be read or was cut: looked up instead
    uint64_t named_late = 0;     // pending when made, named by a quick retry
    uint64_t backlog_full = 0;   // not queued for quick retries: kMaxPending were
  };

  // Starts the thread. `tracer` must have cgroup events; both outlive the watch.
  CgroupWatch(Tracer& tracer, IdentityResolver& resolver);
  // Stops and joins the thread (within one poll, at most 50 ms).
  ~CgroupWatch();
  CgroupWatch(const CgroupWatch&) = delete;
  CgroupWatch& operator=(const CgroupWatch&) = delete;
  CgroupWatch(CgroupWatch&&) = delete;
  CgroupWatch& operator=(CgroupWatch&&) = delete;

  [[nodiscard]] Stats stats() const;

 private:
  struct Pending {
    uint64_t cgroup_id;
    int tries;
    std::chrono::steady_clock::time_point made;  // when the event was read
    std::chrono::steady_clock::time_point due;
  };
  void run();
  void on_cgroup(const ipct_cgroup_event& e);
  void retry_due(std::chrono::steady_clock::time_point now);
  void queue(uint64_t cgroup_id, int tries, std::chrono::steady_clock::time_point made,
             std::chrono::steady_clock::time_point now);

  Tracer& tracer_;
  IdentityResolver& resolver_;
  std::atomic<bool> stop_{false};
  // The thread's alone.
  std::deque<Pending> pending_;  // in order of due time
  double budget_ = kRetriesPerSecond / 10;
  std::chrono::steady_clock::time_point last_refill_ = std::chrono::steady_clock::now();
  RateLimitedLog warnings_;
  std::atomic<uint64_t> cgroups_{0}, unusable_path_{0}, named_late_{0}, backlog_full_{0};
  std::thread thread_;  // last: started once everything it uses exists
};

}  // namespace ipctrace
