// `ipctrace trace`: a live stream of individual events. Lifecycle events always (they are rare
// and go through the collector's ring buffer); data operations with --data, through a ring buffer
// of their own, filtered in the kernel by kind and pid, and by cgroup once userspace has found a
// cgroup to match no name filter. Nothing in the kernel waits for this process: a full buffer
// drops records, counts them, and the stream says how many.
#include "trace.h"

#include <fmt/format.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <set>
#include <thread>
#include <vector>

#include "commands.h"
#include "identity.h"
#include "kinds.h"
#include "trace_format.h"

namespace ipctrace {

namespace {

std::atomic<bool> g_trace_stop{false};
void on_trace_stop(int /*sig*/) { g_trace_stop.store(true); }

int64_t realtime_minus_boottime_ns() {
  timespec real{};
  timespec boot{};
  clock_gettime(CLOCK_REALTIME, &real);
  clock_gettime(CLOCK_BOOTTIME, &boot);
  return (static_cast<int64_t>(real.tv_sec) - boot.tv_sec) * 1000000000 + (real.tv_nsec - boot.tv_nsec);
}

// stdout, stopping quietly when the reader goes away (`ipctrace trace | head`).
bool emit(const std::string& text) {
  if (text.empty()) return true;
  if (std::fwrite(text.data(), 1, text.size(), stdout) != text.size()) return false;
  return true;
}

}  // namespace

int run_trace_command(const Cli& cli) {
  const TraceOptions& o = cli.trace;
  const bool json = o.output == "json";
  const bool name_filters = !o.filters.namespaces.empty() || !o.filters.pods.empty() || !o.filters.containers.empty();

  TracerConfig config;
  config.self_tgid = static_cast<uint32_t>(getpid());
  config.wait_time = false;  // the stream carries no waits; the agent's histograms do
  config.trace_data = o.data;
  config.trace_ringbuf_bytes = o.buffer_size;
  for (const std::string& k : o.filters.kinds) {
    if (auto v = parse_kind(k)) config.trace_kinds |= IPCT_KIND_BIT(*v);
  }
  for (int pid : o.filters.pids) config.trace_pids.push_back(static_cast<uint32_t>(pid));
  config.trace_skip_cgroups = name_filters;

  struct sigaction sa {};
  sa.sa_handler = on_trace_stop;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  signal(SIGPIPE, SIG_IGN);

  auto started = start_tracing(o.hooks, config);
  if (!started) {
    spdlog::error("trace: {}", started.error().message());
    return kExitFailure;
  }
  std::unique_ptr<Tracer> tracer = std::move(started).value();

  IdentityResolver::Options ro;
  ro.host_root = cli.global.host_root;
  IdentityResolver resolver(ro);
  const int64_t clock_offset = realtime_minus_boottime_ns();
  std::set<uint64_t> skipped;  // cgroups put into the kernel's skip map
  uint64_t lifecycle_count = 0;
  uint64_t data_count = 0;
  DropCounts reported{};
  bool reader_gone = false;

  spdlog::info("trace: streaming {}{}; Ctrl-C to stop",
               o.data ? "lifecycle events and data operations" : "lifecycle events",
               o.duration.count() > 0 ? fmt::format(" for {}", format_duration(o.duration)) : "");
  if (!json) reader_gone = !emit(trace_text_header());

  std::vector<TraceRecord> batch;
  auto drain = [&]() {
    batch.clear();
    auto lifecycle = tracer->drain_events([&](const ipct_event& e) { batch.push_back(trace_record(e)); });
    if (!lifecycle) spdlog::warn("trace: {}", lifecycle.error().message());
    if (o.data) {
      auto data = tracer->drain_data([&](const ipct_data_event& e) { batch.push_back(trace_record(e)); });
      if (!data) spdlog::warn("trace: {}", data.error().message());
    }
    // Two buffers, one stream: in time order.
    std::stable_sort(batch.begin(), batch.end(),
                     [](const TraceRecord& a, const TraceRecord& b) { return a.boot_ns < b.boot_ns; });
    std::string out;
    for (const TraceRecord& r : batch) {
      const Endpoint endpoint = resolver.resolve(r.cgroup_id);
      if (!trace_matches(r, endpoint, o.filters)) {
        // A cgroup that can never match: let the kernel leave its data operations out.
        if (name_filters && r.type == TraceRecord::Type::Data && !endpoint.partial && !skipped.contains(r.cgroup_id)) {
          skipped.insert(r.cgroup_id);
          if (Status st = tracer->skip_cgroup(r.cgroup_id); !st) spdlog::debug("trace: {}", st.error().message());
        }
        continue;
      }
      (r.type == TraceRecord::Type::Data ? data_count : lifecycle_count) += 1;
      out += json ? trace_json(r, endpoint, clock_offset).dump() + "\n" : trace_text_line(r, endpoint, clock_offset);
    }
    // What the kernel could not record since the last report, in the stream itself.
    const DropCounts drops = tracer->read_drops();
    for (int reason : {IPCT_DROP_TRACE_FULL, IPCT_DROP_RINGBUF_FULL}) {
      const auto i = static_cast<size_t>(reason);
      if (drops[i] <= reported[i]) continue;
      const uint64_t n = drops[i] - reported[i];
      reported[i] = drops[i];
      const std::string what = reason == IPCT_DROP_TRACE_FULL ? "data operations" : "lifecycle events";
      if (json) {
        out += nlohmann::json{{"type", "dropped"}, {"reason", drop_reason_name(reason)}, {"count", n}}.dump() + "\n";
      } else {
        out += fmt::format("-- {} {} dropped: the buffer was full ({})\n", n, what,
                           reason == IPCT_DROP_TRACE_FULL ? "--buffer-size, or narrow the filters" : "a burst");
      }
    }
    if (!emit(out) || std::fflush(stdout) != 0) reader_gone = true;
  };

  const auto begin = std::chrono::steady_clock::now();
  const auto until = begin + o.duration;
  while (!g_trace_stop.load() && !reader_gone) {
    if (o.duration.count() > 0 && std::chrono::steady_clock::now() >= until) break;
    // Records are submitted without a wakeup: drain on a short timer.
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    drain();
  }
  if (!reader_gone) drain();
  const DropCounts drops = tracer->read_drops();
  tracer.reset();
  spdlog::info(
      "trace: {} lifecycle events, {} data operations shown; {} data operations and {} lifecycle events dropped",
      lifecycle_count, data_count, drops[IPCT_DROP_TRACE_FULL], drops[IPCT_DROP_RINGBUF_FULL]);
  return kExitOk;
}

}  // namespace ipctrace
