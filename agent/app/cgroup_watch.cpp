#include "app/cgroup_watch.h"

#include <fmt/format.h>
#include <pthread.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <csignal>
#include <cstring>
#include <string_view>

namespace ipctrace {

namespace {

constexpr std::chrono::milliseconds kFirstRetry{5};
constexpr int kPollMs = 50;

// 5 ms four times, 10 ms four times, 20 ms four times, then 40 ms until 5 s after the cgroup
// was made, then 320 ms: a runtime's state can appear tens of milliseconds after the cgroup
// (seconds on a loaded or emulated machine) and go with a container that lives not much longer.
std::chrono::steady_clock::duration retry_delay(int tries, std::chrono::steady_clock::duration since_made) {
  if (since_made > std::chrono::seconds(5)) return std::chrono::milliseconds(320);
  return kFirstRetry * (1 << std::min(tries / 4, 3));
}

}  // namespace

CgroupWatch::CgroupWatch(Tracer& tracer, IdentityResolver& resolver)
    : tracer_(tracer), resolver_(resolver), warnings_(5, std::chrono::minutes(1), [](uint64_t n) {
        return fmt::format("identity: {} more cgroup events in the last minute were not watched closely", n);
      }) {
  thread_ = std::thread([this] { run(); });
}

CgroupWatch::~CgroupWatch() {
  stop_.store(true);
  if (thread_.joinable()) thread_.join();
}

CgroupWatch::Stats CgroupWatch::stats() const {
  return {cgroups_.load(), unusable_path_.load(), named_late_.load(), backlog_full_.load()};
}

void CgroupWatch::run() {
  // Stop signals go to the threads that wait for them (base/stop.h), not to this one.
  sigset_t block;
  sigfillset(&block);
  pthread_sigmask(SIG_BLOCK, &block, nullptr);
  bool reported = false;
  while (!stop_.load()) {
    int timeout = kPollMs;
    if (!pending_.empty()) {
      const auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(pending_.front().due -
                                                                              std::chrono::steady_clock::now());
      timeout = static_cast<int>(std::clamp<int64_t>(wait.count(), 0, kPollMs));
      if (budget_ < 1) timeout = std::max(timeout, 10);  // out of budget: no busy loop
    }
    auto polled = tracer_.poll_cgroups(timeout, [this](const ipct_cgroup_event& e) { on_cgroup(e); });
    if (!polled && !reported) {
      spdlog::warn("identity: reading cgroup events: {}", polled.error().message());
      reported = true;
    }
    retry_due(std::chrono::steady_clock::now());
  }
}

void CgroupWatch::on_cgroup(const ipct_cgroup_event& e) {
  cgroups_.fetch_add(1, std::memory_order_relaxed);
  const bool usable =
      e.path_len > 1 && e.path_len < IPCT_CGROUP_PATH_MAX && e.path[0] == '/' && e.path[e.path_len - 1] == '\0';
  Endpoint named;
  if (usable) {
    named = resolver_.learn(e.cgroup_id, std::string_view(e.path, static_cast<size_t>(e.path_len - 1)));
  } else {
    unusable_path_.fetch_add(1, std::memory_order_relaxed);
    named = resolver_.resolve(e.cgroup_id);
  }
  if (spdlog::should_log(spdlog::level::debug)) {  // display() builds strings: only when logged
    spdlog::debug("identity: cgroup {} made at {}: {}{}", e.cgroup_id, usable ? std::string_view(e.path) : "?",
                  named.display(), named.pending ? " (pending: retried)" : "");
  }
  const auto now = std::chrono::steady_clock::now();
  if (named.pending) queue(e.cgroup_id, 0, now, now);
}

void CgroupWatch::queue(uint64_t cgroup_id, int tries, std::chrono::steady_clock::time_point made,
                        std::chrono::steady_clock::time_point now) {
  if (pending_.size() >= kMaxPending) {
    backlog_full_.fetch_add(1, std::memory_order_relaxed);
    warnings_.warn(
        fmt::format("identity: cgroup {}: {} cgroups already wait for their runtime's state; this one is "
                    "retried at the next collections only",
                    cgroup_id, kMaxPending));
    return;
  }
  const auto due = now + retry_delay(tries, now - made);
  // Delays only grow, but a first try queued after a later one's can be due earlier: keep order.
  auto at = std::upper_bound(pending_.begin(), pending_.end(), due, [](auto t, const Pending& p) { return t < p.due; });
  pending_.insert(at, Pending{cgroup_id, tries, made, due});
}

void CgroupWatch::retry_due(std::chrono::steady_clock::time_point now) {
  // A budget of kRetriesPerSecond: past it, retries wait (a flood of cgroups that never get
  // state must not keep the resolver, which the collector needs too, busy).
  const double elapsed = std::chrono::duration<double>(now - last_refill_).count();
  last_refill_ = now;
  budget_ = std::min<double>(kRetriesPerSecond / 10.0, budget_ + elapsed * kRetriesPerSecond);
  while (!pending_.empty() && pending_.front().due <= now && !stop_.load() && budget_ >= 1) {
    budget_ -= 1;
    const Pending p = pending_.front();
    pending_.pop_front();
    const Endpoint named = resolver_.refresh(p.cgroup_id);
    if (spdlog::should_log(spdlog::level::debug)) {
      spdlog::debug("identity: cgroup {} tried again ({}): {} partial={} pending={}", p.cgroup_id, p.tries + 1,
                    named.display(), named.partial, named.pending);
    }
    if (!named.partial) {
      named_late_.fetch_add(1, std::memory_order_relaxed);
    } else if (!named.cgroup.container_id.empty() && now - p.made < kWatchFor) {
      queue(p.cgroup_id, p.tries + 1, p.made, now);
    }
  }
}

}  // namespace ipctrace
