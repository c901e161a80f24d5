// `ipctrace trace`: a live stream of individual events. Lifecycle events always (they are rare
// and go through the collector's ring buffer); data operations with --data, through a ring buffer
// of their own, filtered in the kernel by kind and pid, and by cgroup once userspace has found a
// cgroup to match no name filter. Nothing in the kernel waits for this process: a full buffer
// drops records, counts them, and the stream says how many.
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <set>
#include <vector>

#include "app/commands.h"
#include "app/session.h"
#include "base/stop.h"
#include "exporters/json_text.h"
#include "exporters/trace_format.h"
#include "kernel/kinds.h"
#include "model/filter.h"

namespace ipctrace {
namespace {

int64_t realtime_minus_boottime_ns() {
  timespec real{};
  timespec boot{};
  clock_gettime(CLOCK_REALTIME, &real);
  clock_gettime(CLOCK_BOOTTIME, &boot);
  return (static_cast<int64_t>(real.tv_sec) - boot.tv_sec) * 1000000000 + (real.tv_nsec - boot.tv_nsec);
}

// stdout, whole lines only, stopping quietly when the reader goes away (`ipctrace trace | head`).
// write(2) itself, not stdio: Ctrl-C (no SA_RESTART) can interrupt a write blocked on a full
// pipe, and stdio gives up there, half a line written; this goes on until every byte is out.
bool emit(const std::string& text) {
  size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = write(STDOUT_FILENO, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;  // EPIPE: the reader has gone (SIGPIPE is ignored)
    done += static_cast<size_t>(n);
  }
  return true;
}

TracerConfig trace_config(const TraceOptions& o) {
  TracerConfig config;
  config.wait_time = false;  // the stream carries no waits; the agent's histograms do
  config.trace_data = o.data;
  config.trace_ringbuf_bytes = o.buffer_size;
  for (const std::string& k : o.filters.kinds) {
    if (auto v = parse_kind(k)) config.trace_kinds |= IPCT_KIND_BIT(*v);
  }
  for (int pid : o.filters.pids) config.trace_pids.push_back(static_cast<uint32_t>(pid));
  config.trace_skip_cgroups = o.filters.by_name();
  return config;
}

// The stream: drains both ring buffers, filters and names the records, writes them in time order.
class TraceStream {
 public:
  TraceStream(Session& session, const TraceOptions& options)
      : session_(session), o_(options), json_(options.output == "json"), clock_(realtime_minus_boottime_ns()) {}

  // Drains what the kernel queued; false once the reader has gone away.
  bool drain() {
    std::vector<TraceRecord> batch;
    Tracer& tracer = session_.tracer();
    auto lifecycle = tracer.drain_events([&](const ipct_event& e) {
      batch.push_back(trace_record(e));
      batch.back().lookup = session_.collector().is_lookup(e);  // shmget/msgget of an existing key
    });
    if (!lifecycle) spdlog::warn("trace: {}", lifecycle.error().message());
    if (o_.data) {
      auto data = tracer.drain_data([&](const ipct_data_event& e) { batch.push_back(trace_record(e)); });
      if (!data) spdlog::warn("trace: {}", data.error().message());
    }
    // Two buffers, one stream: in time order.
    std::stable_sort(batch.begin(), batch.end(),
                     [](const TraceRecord& a, const TraceRecord& b) { return a.boot_ns < b.boot_ns; });
    std::string out;
    for (const TraceRecord& r : batch) out += line(r);
    out += drops();
    return emit(out);
  }

  [[nodiscard]] uint64_t lifecycle_count() const { return lifecycle_count_; }
  [[nodiscard]] uint64_t data_count() const { return data_count_; }
  // What the stream has said was dropped (one of IPCT_DROP_TRACE_FULL, IPCT_DROP_RINGBUF_FULL).
  [[nodiscard]] uint64_t dropped(int reason) const { return reported_[static_cast<size_t>(reason)]; }

 private:
  std::string line(const TraceRecord& r) {
    const Endpoint endpoint = session_.resolver().resolve(r.cgroup_id);
    if (!filter_matches(o_.filters, r.kind, {{&endpoint, r.pid}})) {
      // A cgroup that can never match: let the kernel leave its data operations out.
      if (o_.filters.by_name() && r.type == TraceRecord::Type::Data && !endpoint.partial &&
          !names_match(o_.filters, endpoint) && skipped_.insert(r.cgroup_id).second) {
        if (Status st = session_.tracer().skip_cgroup(r.cgroup_id); !st)
          spdlog::debug("trace: {}", st.error().message());
      }
      return {};
    }
    (r.type == TraceRecord::Type::Data ? data_count_ : lifecycle_count_) += 1;
    return json_ ? json_text(trace_json(r, endpoint, clock_)) + "\n" : trace_text_line(r, endpoint, clock_);
  }

  // What the kernel could not record since the last report, in the stream itself.
  std::string drops() {
    std::string out;
    const DropCounts now = session_.tracer().read_drops();
    for (int reason : {IPCT_DROP_TRACE_FULL, IPCT_DROP_RINGBUF_FULL}) {
      const auto i = static_cast<size_t>(reason);
      if (now[i] <= reported_[i]) continue;
      const uint64_t n = now[i] - reported_[i];
      reported_[i] = now[i];
      const std::string what = reason == IPCT_DROP_TRACE_FULL ? "data operations" : "lifecycle events";
      if (json_) {
        out += nlohmann::json{{"type", "dropped"}, {"reason", drop_reason_name(reason)}, {"count", n}}.dump() + "\n";
      } else {
        out += fmt::format("-- {} {} dropped: the buffer was full ({})\n", n, what,
                           reason == IPCT_DROP_TRACE_FULL ? "--buffer-size, or narrow the filters" : "a burst");
      }
    }
    return out;
  }

  Session& session_;
  const TraceOptions& o_;
  bool json_;
  int64_t clock_;
  std::set<uint64_t> skipped_;  // cgroups put into the kernel's skip map
  DropCounts reported_{};
  uint64_t lifecycle_count_ = 0;
  uint64_t data_count_ = 0;
};

}  // namespace

int run_trace_command(const Cli& cli) {
  const TraceOptions& o = cli.trace;
  const StopSignal stop;
  std::signal(SIGPIPE, SIG_IGN);
  SessionOptions so;
  so.hooks = o.hooks;
  so.tracer = trace_config(o);
  so.host_root = cli.global.host_root;
  auto session = Session::start(so);
  if (!session) {
    spdlog::error("trace: {}", session.error().message());
    return kExitFailure;
  }
  spdlog::info("trace: streaming {}{}; Ctrl-C to stop",
               o.data ? "lifecycle events and data operations" : "lifecycle events",
               o.duration.count() > 0 ? fmt::format(" for {}", format_duration(o.duration)) : "");
  TraceStream stream(**session, o);
  bool reader_gone = o.output != "json" && !emit(trace_text_header());
  const auto until = std::chrono::steady_clock::now() + o.duration;
  while (!stop.requested() && !reader_gone) {
    if (o.duration.count() > 0 && std::chrono::steady_clock::now() >= until) break;
    // Records are submitted without a wakeup: drain on a short timer.
    if (!stop.sleep_for(std::chrono::milliseconds(50))) break;
    reader_gone = !stream.drain();
  }
  if (!reader_gone) stream.drain();
  session->reset();
  // The totals the stream itself reported: what the kernel drops after the last drain (the
  // records of this very summary, other processes' operations) happened after the stream ended.
  spdlog::info(
      "trace: {} lifecycle events, {} data operations shown; {} data operations and {} lifecycle events dropped",
      stream.lifecycle_count(), stream.data_count(), stream.dropped(IPCT_DROP_TRACE_FULL),
      stream.dropped(IPCT_DROP_RINGBUF_FULL));
  return kExitOk;
}

}  // namespace ipctrace
