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
#include <map>
#include <set>
#include <string_view>
#include <tuple>
#include <vector>

#include "app/commands.h"
#include "app/session.h"
#include "base/files.h"
#include "base/stop.h"
#include "exporters/json_text.h"
#include "exporters/trace_format.h"
#include "kernel/kinds.h"
#include "model/filter.h"
#include "model/paths.h"

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
  TraceStream(Session& session, const TraceOptions& options, const std::string& host_root)
      : session_(session),
        o_(options),
        json_(options.output == "json"),
        clock_(realtime_minus_boottime_ns()),
        paths_(ChannelPathsOptions{.proc = join_path(host_root, "proc")}),
        proc_(join_path(host_root, "proc")) {}

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
  // What the stream has said was dropped (IPCT_DROP_TRACE_FULL, IPCT_DROP_RINGBUF_FULL,
  // IPCT_DROP_EVENT_QUEUE_FULL).
  [[nodiscard]] uint64_t dropped(int reason) const { return reported_[static_cast<size_t>(reason)]; }

 private:
  std::string line(const TraceRecord& r) {
    Endpoint endpoint = session_.resolver().resolve(r.cgroup_id);
    if (endpoint.is_host_root()) endpoint.name_host_process(exe_of(r.pid));
    if (!filter_matches(o_.filters, r.kind, {{&endpoint, r.pid}})) {
      // A cgroup that can never match: let the kernel leave its data operations out. Not the host's
      // root cgroup, whose name is its process's (host:<exe>): another process of it may match.
      if (o_.filters.by_name() && r.type == TraceRecord::Type::Data && !endpoint.partial && !endpoint.is_host_root() &&
          !names_match(o_.filters, endpoint) && skipped_.insert(r.cgroup_id).second) {
        if (Status st = session_.tracer().skip_cgroup(r.cgroup_id); !st)
          spdlog::debug("trace: {}", st.error().message());
      }
      return {};
    }
    (r.type == TraceRecord::Type::Data ? data_count_ : lifecycle_count_) += 1;
    if (r.type == TraceRecord::Type::Data && (r.kind == IPCT_KIND_FIFO || is_unix_kind(r.kind))) {
      TraceRecord named = r;
      named.path = path_of(r);
      return json_ ? json_text(trace_json(named, endpoint, clock_)) + "\n" : trace_text_line(named, endpoint, clock_);
    }
    return json_ ? json_text(trace_json(r, endpoint, clock_)) + "\n" : trace_text_line(r, endpoint, clock_);
  }

  // The file name of a process's executable as the kernel keeps it (/proc/PID/exe: what the
  // flows' programs record at a channel's first use, model/flows.h TaskHint::exe), so a host
  // process here has the name it has in `flows` and `top`; "" once the process is gone. Kept a
  // second per pid: one readlink per process and second, not one a record.
  std::string exe_of(uint32_t pid) {
    static constexpr auto kExeKept = std::chrono::seconds(1);
    const auto now = std::chrono::steady_clock::now();
    if (auto it = exes_.find(pid); it != exes_.end() && now - it->second.second < kExeKept) return it->second.first;
    if (exes_.size() >= 65536) exes_.clear();
    std::string buf(4096, '\0');
    const std::string link = join_path(proc_, std::to_string(pid) + "/exe");
    const ssize_t n = readlink(link.c_str(), buf.data(), buf.size());
    std::string exe;
    if (n > 0 && static_cast<size_t>(n) < buf.size()) {
      buf.resize(static_cast<size_t>(n));
      static constexpr std::string_view kDeleted = " (deleted)";
      if (buf.ends_with(kDeleted)) buf.resize(buf.size() - kDeleted.size());
      exe = buf.substr(buf.rfind('/') + 1);
      if (exe.size() >= IPCT_EXE_LEN) exe.resize(IPCT_EXE_LEN - 1);  // as the programs cut it
    }
    exes_[pid] = {exe, now};
    return exe;
  }

  // A FIFO's path, or a unix socket's bound name (its peer's if it has none: a client's is its
  // server's), looked up through the process of the record (model/paths.h) once per channel:
  // found or not, kept for kPathRetry, so a busy channel costs one lookup, not one a record.
  std::string path_of(const TraceRecord& r) {
    static constexpr auto kPathRetry = std::chrono::seconds(5);
    static constexpr size_t kMaxPaths = 65536;
    const auto now = std::chrono::steady_clock::now();
    const ipct_chan_obj& o = r.ch.obj;
    const std::tuple<int, uint64_t, uint64_t, uint32_t> key{r.kind == IPCT_KIND_FIFO ? 0 : 1, o.id, o.peer, o.dev};
    if (auto it = paths_known_.find(key); it != paths_known_.end() && now - it->second.second < kPathRetry)
      return it->second.first;
    if (paths_known_.size() >= kMaxPaths) paths_known_.clear();
    std::string path;
    if (r.kind == IPCT_KIND_FIFO) {
      path = paths_.fifo_path(r.pid, o.id, o.dev);
    } else {
      path = paths_.unix_path(r.pid, o.id);
      if (path.empty()) path = paths_.unix_path(r.pid, o.peer);
    }
    paths_known_[key] = {path, now};
    return path;
  }

  // What the kernel could not record since the last report, in the stream itself.
  std::string drops() {
    std::string out;
    const DropCounts now = session_.tracer().read_drops();
    for (int reason : {IPCT_DROP_TRACE_FULL, IPCT_DROP_RINGBUF_FULL, IPCT_DROP_EVENT_QUEUE_FULL}) {
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
  ChannelPaths paths_;
  std::string proc_;                                                                        // the host's /proc
  std::map<uint32_t, std::pair<std::string, std::chrono::steady_clock::time_point>> exes_;  // pid -> exe_of()
  // (fifo 0 / unix 1, inode, peer inode, device) -> path ("" none found) and when it was looked up
  std::map<std::tuple<int, uint64_t, uint64_t, uint32_t>, std::pair<std::string, std::chrono::steady_clock::time_point>>
      paths_known_;
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
  so.containerd_state = cli.global.containerd_state;
  auto session = Session::start(so);
  if (!session) {
    spdlog::error("trace: {}", session.error().message());
    return kExitFailure;
  }
  spdlog::info("trace: streaming {}{}; Ctrl-C to stop",
               o.data ? "lifecycle events and data operations" : "lifecycle events",
               o.duration.count() > 0 ? fmt::format(" for {}", format_duration(o.duration)) : "");
  TraceStream stream(**session, o, cli.global.host_root);
  bool reader_gone = o.output != "json" && !emit(trace_text_header());
  const auto until = std::chrono::steady_clock::now() + o.duration;
  while (!stop.requested() && !reader_gone) {
    if (o.duration.count() > 0 && std::chrono::steady_clock::now() >= until) break;
    // Data records are submitted without a wakeup (lifecycle ones are queued by the tracer's
    // reader as they come): drain on a short timer.
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
      stream.dropped(IPCT_DROP_RINGBUF_FULL) + stream.dropped(IPCT_DROP_EVENT_QUEUE_FULL));
  return kExitOk;
}

}  // namespace ipctrace
