#include "top.h"

#include <curl/curl.h>
#include <curses.h>
#include <fmt/chrono.h>
#include <fmt/format.h>
#include <signal.h>
#include <spdlog/sinks/base_sink.h>
#include <spdlog/spdlog.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <clocale>
#include <condition_variable>
#include <cstdio>
#include <ctime>
#include <functional>
#include <iostream>
#include <mutex>
#include <optional>
#include <thread>

#include "collector.h"
#include "commands.h"
#include "flows_format.h"
#include "identity.h"
#include "kinds.h"
#include "top_view.h"

namespace ipctrace {

using nlohmann::json;
using SteadyClock = std::chrono::steady_clock;

// ---------------------------------------------------------------------------------------------
// Filters on a document

namespace {

bool endpoint_matches(const json& e, const char* key, const std::vector<std::string>& wanted) {
  if (!e.is_object()) return false;
  auto it = e.find(key);
  if (it == e.end() || !it->is_string()) return false;
  return std::find(wanted.begin(), wanted.end(), it->get<std::string>()) != wanted.end();
}

bool container_matches(const json& e, const std::vector<std::string>& wanted) {
  if (!e.is_object()) return false;
  const std::string name = e.value("container", std::string());
  const std::string id = e.value("container_id", std::string());
  return std::any_of(wanted.begin(), wanted.end(), [&](const std::string& c) {
    return !c.empty() && (name == c || (!id.empty() && id.starts_with(c)));
  });
}

bool pid_matches(const json& e, const std::vector<int>& pids) {
  if (!e.is_object() || !e.contains("pid") || !e["pid"].is_number_integer()) return false;
  const int64_t pid = e["pid"].get<int64_t>();
  return std::find(pids.begin(), pids.end(), pid) != pids.end();
}

}  // namespace

void filter_document(json& doc, const Filters& filters) {
  if (!doc.is_object() || !doc.contains("flows") || !doc["flows"].is_array()) return;
  json kept = json::array();
  for (auto& f : doc["flows"]) {
    if (!f.is_object()) continue;
    const json& src = f.contains("src") ? f["src"] : json();
    const json& dst = f.contains("dst") ? f["dst"] : json();
    if (!filters.kinds.empty() && !endpoint_matches(f, "kind", filters.kinds)) continue;
    if (!filters.namespaces.empty() && !endpoint_matches(src, "namespace", filters.namespaces) &&
        !endpoint_matches(dst, "namespace", filters.namespaces)) {
      continue;
    }
    if (!filters.pods.empty() && !endpoint_matches(src, "pod", filters.pods) &&
        !endpoint_matches(dst, "pod", filters.pods)) {
      continue;
    }
    if (!filters.containers.empty() && !container_matches(src, filters.containers) &&
        !container_matches(dst, filters.containers)) {
      continue;
    }
    if (!filters.pids.empty() && !pid_matches(src, filters.pids) && !pid_matches(dst, filters.pids)) continue;
    kept.push_back(std::move(f));
  }
  doc["flows"] = std::move(kept);
}

// ---------------------------------------------------------------------------------------------
// Sources

namespace {

size_t append_body(char* data, size_t size, size_t count, void* user) {
  auto* body = static_cast<std::string*>(user);
  constexpr size_t kMaxBody = size_t{256} << 20;  // a flows document is far smaller; refuse a runaway
  if (body->size() + size * count > kMaxBody) return 0;
  body->append(data, size * count);
  return size * count;
}

std::string trim_slashes(std::string s) {
  while (!s.empty() && s.back() == '/') s.pop_back();
  return s;
}

}  // namespace

RemoteSource::RemoteSource(std::string base_url, long timeout_ms, std::string ca_file)
    : base_url_(std::move(base_url)),
      url_(trim_slashes(base_url_) + "/api/v1/flows"),
      timeout_ms_(timeout_ms),
      ca_file_(std::move(ca_file)) {}

Result<json> RemoteSource::fetch() {
  std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> curl(curl_easy_init(), &curl_easy_cleanup);
  if (!curl) return Error::msg("cannot start an HTTP client (curl_easy_init failed)");
  std::string body;
  char error[CURL_ERROR_SIZE] = {};
  curl_easy_setopt(curl.get(), CURLOPT_URL, url_.c_str());
  curl_easy_setopt(curl.get(), CURLOPT_WRITEFUNCTION, append_body);
  curl_easy_setopt(curl.get(), CURLOPT_WRITEDATA, &body);
  curl_easy_setopt(curl.get(), CURLOPT_ERRORBUFFER, error);
  curl_easy_setopt(curl.get(), CURLOPT_TIMEOUT_MS, timeout_ms_);
  curl_easy_setopt(curl.get(), CURLOPT_CONNECTTIMEOUT_MS, timeout_ms_);
  curl_easy_setopt(curl.get(), CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl.get(), CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(curl.get(), CURLOPT_MAXREDIRS, 3L);
  curl_easy_setopt(curl.get(), CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(curl.get(), CURLOPT_USERAGENT, "ipctrace-top");
  if (!ca_file_.empty()) curl_easy_setopt(curl.get(), CURLOPT_CAINFO, ca_file_.c_str());
  const CURLcode rc = curl_easy_perform(curl.get());
  if (rc != CURLE_OK) {
    return Error::msg(
        fmt::format("cannot read the agent at {}: {}", url_, error[0] != 0 ? error : curl_easy_strerror(rc)));
  }
  long status = 0;
  curl_easy_getinfo(curl.get(), CURLINFO_RESPONSE_CODE, &status);
  if (status != 200) {
    return Error::msg(
        fmt::format("the agent at {} answered HTTP {}{}", url_, status,
                    status == 401 ? " (credentials needed: put them in the URL, https://user:pass@host)" : ""));
  }
  try {
    return json::parse(body);
  } catch (const json::exception& e) {
    return Error::msg(fmt::format("the agent at {} sent something that is not a flows document: {}", url_, e.what()));
  }
}

namespace {

// Traces this node itself: the tracer, a collector, names from the runtimes' state.
class LocalSource : public FlowSource {
 public:
  LocalSource(std::unique_ptr<Tracer> tracer, const Cli& cli, Duration idle)
      : resolver_(resolver_options(cli)),
        collector_(std::move(tracer), collector_options(cli, idle)),
        filters_(cli.top.filters),
        node_(node_name()),
        kernel_(kernel_release()),
        started_(SteadyClock::now()) {
    hooks_ = collector_.tracer().hooks();
  }

  Result<json> fetch() override {
    if (Status st = collector_.collect(); !st) return st.error();
    const Namer namer = [this](uint64_t id) { return resolver_.resolve(id); };
    FlowsReport report;
    report.node = node_;
    report.kernel = kernel_;
    report.duration_seconds = std::chrono::duration<double>(SteadyClock::now() - started_).count();
    report.flows = filter_flows(aggregate_flows(collector_.flows()), filters_, namer);
    report.waits = collector_.waits();
    report.drops = collector_.drops();
    report.hooks = hooks_;
    return flows_to_json(report, namer);
  }
  [[nodiscard]] std::string describe() const override { return "local"; }

 private:
  static IdentityResolver::Options resolver_options(const Cli& cli) {
    IdentityResolver::Options o;
    o.host_root = cli.global.host_root;
    return o;
  }
  static CollectorOptions collector_options(const Cli& cli, Duration idle) {
    CollectorOptions o;
    o.host_root = cli.global.host_root;
    o.idle_timeout = idle;
    return o;
  }

  IdentityResolver resolver_;
  Collector collector_;
  Filters filters_;
  std::string node_;
  std::string kernel_;
  SteadyClock::time_point started_;
  std::vector<AttachedHook> hooks_;
};

// ---------------------------------------------------------------------------------------------
// The poller: fetches documents on the delay in a thread of its own, so a slow agent never
// freezes the keyboard, and keeps the rates between consecutive documents.

class Poller {
 public:
  Poller(FlowSource& source, Duration delay) : source_(source), delay_(delay) {}
  ~Poller() { stop(); }
  Poller(const Poller&) = delete;
  Poller& operator=(const Poller&) = delete;
  Poller(Poller&&) = delete;
  Poller& operator=(Poller&&) = delete;

  // One fetch now, in the caller's thread (the first frame, or the failure that ends the start).
  Status poll_once() {
    auto doc = source_.fetch();
    if (!doc) return doc.error();
    auto snap = top::snapshot_from_json(*doc, SteadyClock::now());
    if (!snap) return snap.error();
    std::lock_guard<std::mutex> lock(mu_);
    rates_.apply(*snap);
    latest_ = std::move(*snap);
    error_.clear();
    ++generation_;
    return Ok{};
  }

  void start() {
    thread_ = std::thread([this] { run(); });
  }

  void stop() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
  }

  void set_delay(Duration d) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      delay_ = d;
    }
    cv_.notify_all();
  }

  // The newest snapshot if it is newer than `seen`; the last error ("" if none).
  std::optional<top::Snapshot> newer_than(uint64_t& seen, std::string& error) {
    std::lock_guard<std::mutex> lock(mu_);
    error = error_;
    if (generation_ == seen || !latest_) return std::nullopt;
    seen = generation_;
    return latest_;
  }

 private:
  void run() {
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

std::atomic<bool> g_quit{false};
void on_quit_signal(int /*sig*/) { g_quit.store(true); }

std::string clock_now() {
  const std::time_t t = std::time(nullptr);
  return fmt::format("{:%H:%M:%S}", fmt::localtime(t));
}

// ---------------------------------------------------------------------------------------------
// Batch mode: plain frames on stdout, no terminal control codes.

int run_batch(Poller& poller, const TopOptions& o, const top::FrameState& state, bool wait_first) {
  for (int frame = 0; o.iterations == 0 || frame < o.iterations; ++frame) {
    if (frame > 0 || wait_first) {
      const auto until = SteadyClock::now() + o.delay;
      while (!g_quit.load() && SteadyClock::now() < until) {
        std::this_thread::sleep_for(std::min<Duration>(until - SteadyClock::now(), std::chrono::milliseconds(50)));
      }
      if (g_quit.load()) break;
      if (Status st = poller.poll_once(); !st) {
        spdlog::error("top: {}", st.error().message());
        return kExitFailure;
      }
    }
    uint64_t seen = 0;
    std::string error;
    const auto snap = poller.newer_than(seen, error);
    if (!snap) continue;
    if (frame > 0) std::cout << "\n";
    for (const auto& line : top::render_frame(*snap, state, clock_now(), 0, -1)) std::cout << line << "\n";
    std::cout.flush();
    if (g_quit.load()) break;
  }
  return kExitOk;
}

// ---------------------------------------------------------------------------------------------
// The terminal view.

// While the screen is ours, log lines would tear it: keep the newest warning for the status line.
class ScreenLogSink : public spdlog::sinks::base_sink<std::mutex> {
 public:
  std::string take() {
    std::lock_guard<std::mutex> lock(mutex_);
    return std::exchange(last_, {});
  }

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    if (msg.level < spdlog::level::warn) return;
    last_ = std::string(msg.payload.data(), msg.payload.size());
  }
  void flush_() override {}

 private:
  std::string last_;
};

// Swaps the default logger's sinks for the screen sink, and back.
class LogToScreen {
 public:
  explicit LogToScreen(std::shared_ptr<ScreenLogSink> sink) : logger_(spdlog::default_logger()) {
    saved_ = logger_->sinks();
    logger_->sinks() = {std::move(sink)};
  }
  ~LogToScreen() { logger_->sinks() = saved_; }
  LogToScreen(const LogToScreen&) = delete;
  LogToScreen& operator=(const LogToScreen&) = delete;
  LogToScreen(LogToScreen&&) = delete;
  LogToScreen& operator=(LogToScreen&&) = delete;

 private:
  std::shared_ptr<spdlog::logger> logger_;
  std::vector<spdlog::sink_ptr> saved_;
};

// initscr() .. endwin(), even when something throws.
class Screen {
 public:
  Screen() {
    initscr();
    cbreak();
    noecho();
    nonl();
    keypad(stdscr, TRUE);
    curs_set(0);
    timeout(100);
    if (has_colors()) {
      start_color();
      use_default_colors();
      init_pair(1, COLOR_BLACK, COLOR_CYAN);  // table header
      init_pair(2, COLOR_YELLOW, -1);         // status and prompt
    }
  }
  ~Screen() { endwin(); }
  Screen(const Screen&) = delete;
  Screen& operator=(const Screen&) = delete;
  Screen(Screen&&) = delete;
  Screen& operator=(Screen&&) = delete;
};

constexpr const char* kHelp[] = {
    "ipctrace top - keys",
    "",
    "  q          quit",
    "  h ?        this help (any key closes it)",
    "  v TAB      flows view / endpoints view",
    "  < >        sort by the column to the left / right (arrow keys too)",
    "  r          reverse the sort order",
    "  b m t      sort by bytes/s, msgs/s, total bytes",
    "  /          filter by text (either end's name or the kind)",
    "  k          filter by kinds (comma-separated: pipe,fifo,unix_stream,...)",
    "  n          filter by Kubernetes namespace",
    "  c          clear the filters",
    "  p SPACE    pause / resume the display (counting goes on)",
    "  d          set the delay (500ms, 2s, ...)",
    "  + -        double / halve the delay",
    "",
    "  SYSV_SHM rows: MSGS are attaches, BYTES* the segment size.",
    "  WAIT: mean time receiving calls blocked, over the last interval.",
};

struct Prompt {
  bool active = false;
  std::string label;
  std::string text;
  std::function<void(const std::string&)> accept;
};

class TerminalView {
 public:
  // `frames` > 0: quit after showing that many collections (like top -n).
  TerminalView(Poller& poller, top::FrameState state, Duration delay, int frames, std::shared_ptr<ScreenLogSink> log)
      : poller_(poller), state_(std::move(state)), delay_(delay), frames_(frames), log_(std::move(log)) {}

  int run() {
    uint64_t seen = 0;
    bool dirty = true;
    int shown_frames = 0;
    while (!g_quit.load()) {
      std::string error;
      if (auto snap = poller_.newer_than(seen, error); snap || error != poll_error_) {
        if (snap && frames_ > 0 && shown_frames++ == frames_) break;
        if (snap && !state_.paused) shown_ = std::move(*snap);
        poll_error_ = error;
        dirty = true;
      }
      if (std::string logged = log_->take(); !logged.empty()) {
        state_.status = logged;
        dirty = true;
      }
      if (dirty) draw();
      dirty = false;
      const int ch = getch();
      if (ch == ERR) continue;
      dirty = true;
      if (!handle_key(ch)) break;
    }
    return kExitOk;
  }

 private:
  // False to quit.
  bool handle_key(int ch) {
    if (prompt_.active) {
      edit_prompt(ch);
      return true;
    }
    if (help_) {
      help_ = false;
      return ch != 'q';
    }
    state_.status.clear();
    const size_t columns = column_count();
    switch (ch) {
      case 'q':
      case 'Q':
        return false;
      case 'h':
      case '?':
        help_ = true;
        break;
      case 'v':
      case '\t':
        state_.view = state_.view == top::View::Flows ? top::View::Endpoints : top::View::Flows;
        state_.sort_column = top::default_sort_column(state_.view);
        state_.descending = true;
        break;
      case '<':
      case KEY_LEFT:
        state_.sort_column = (state_.sort_column + columns - 1) % columns;
        state_.descending = is_numeric(state_.sort_column);
        break;
      case '>':
      case KEY_RIGHT:
        state_.sort_column = (state_.sort_column + 1) % columns;
        state_.descending = is_numeric(state_.sort_column);
        break;
      case 'r':
        state_.descending = !state_.descending;
        break;
      case 'b':
        sort_by(state_.view == top::View::Flows ? "BYTES/S" : "B/S");
        break;
      case 'm':
        sort_by(state_.view == top::View::Flows ? "MSG/S" : "IN MSG/S");
        break;
      case 't':
        sort_by(state_.view == top::View::Flows ? "BYTES" : "IN BYTES");
        break;
      case 'p':
      case ' ':
        state_.paused = !state_.paused;
        break;
      case '/':
        ask("filter text: ", state_.filter.text, [this](const std::string& t) { state_.filter.text = t; });
        break;
      case 'k':
        ask("kinds (comma-separated, empty for all): ", fmt::format("{}", fmt::join(state_.filter.kinds, ",")),
            [this](const std::string& t) { set_kinds(t); });
        break;
      case 'n':
        ask("Kubernetes namespace (empty for all): ", state_.filter.k8s_namespace,
            [this](const std::string& t) { state_.filter.k8s_namespace = t; });
        break;
      case 'c':
        state_.filter = {};
        break;
      case 'd':
        ask("delay: ", format_duration(delay_), [this](const std::string& t) {
          auto d = parse_duration(t);
          if (!d || *d < std::chrono::milliseconds(100) || *d > std::chrono::hours(1)) {
            state_.status = fmt::format("not a delay between 100ms and 1h: '{}'", t);
            return;
          }
          set_delay(*d);
        });
        break;
      case '+':
        set_delay(std::min<Duration>(delay_ * 2, std::chrono::minutes(1)));
        break;
      case '-':
        set_delay(std::max<Duration>(delay_ / 2, std::chrono::milliseconds(100)));
        break;
      case KEY_RESIZE:
        break;  // draw() reads the new size
      default:
        state_.status = fmt::format("unknown key (h for help)");
        break;
    }
    return true;
  }

  void set_delay(Duration d) {
    delay_ = d;
    state_.delay_seconds = std::chrono::duration<double>(d).count();
    poller_.set_delay(d);
  }

  void set_kinds(const std::string& text) {
    std::vector<std::string> kinds;
    size_t start = 0;
    while (start <= text.size()) {
      size_t end = text.find(',', start);
      if (end == std::string::npos) end = text.size();
      std::string k = text.substr(start, end - start);
      k.erase(0, k.find_first_not_of(' '));
      k.erase(k.find_last_not_of(' ') + 1);
      if (!k.empty()) {
        if (!parse_kind(k)) {
          state_.status = fmt::format("unknown kind '{}'", k);
          return;
        }
        kinds.push_back(k);
      }
      start = end + 1;
    }
    state_.filter.kinds = kinds;
  }

  void sort_by(const std::string& title) {
    const top::Table t = table_of({});
    for (size_t i = 0; i < t.columns.size(); ++i) {
      if (t.columns[i].title == title) {
        state_.sort_column = i;
        state_.descending = true;
      }
    }
  }

  [[nodiscard]] top::Table table_of(const std::vector<top::FlowRow>& rows) const {
    return state_.view == top::View::Flows ? top::flows_table(rows) : top::endpoints_table(rows);
  }
  [[nodiscard]] size_t column_count() const { return table_of({}).columns.size(); }
  [[nodiscard]] bool is_numeric(size_t column) const {
    const top::Table t = table_of({});
    return column < t.columns.size() && t.columns[column].numeric;
  }

  void ask(const std::string& label, const std::string& initial, std::function<void(const std::string&)> accept) {
    prompt_ = {true, label, initial, std::move(accept)};
  }

  void edit_prompt(int ch) {
    if (ch == '\n' || ch == '\r' || ch == KEY_ENTER) {
      prompt_.active = false;
      prompt_.accept(prompt_.text);
    } else if (ch == 27) {  // Esc
      prompt_.active = false;
    } else if (ch == KEY_BACKSPACE || ch == 127 || ch == 8) {
      if (!prompt_.text.empty()) prompt_.text.pop_back();
    } else if (ch >= 32 && ch < 127 && prompt_.text.size() < 200) {
      prompt_.text.push_back(static_cast<char>(ch));
    }
  }

  void draw() {
    erase();
    int height = 0;
    int width = 0;
    getmaxyx(stdscr, height, width);
    if (width < 30 || height < 8) {
      mvaddnstr(0, 0, fmt::format("terminal too small ({}x{})", width, height).c_str(), width);
      refresh();
      return;
    }
    if (help_) {
      int y = 0;
      for (const char* line : kHelp) {
        if (y >= height) break;
        mvaddnstr(y++, 0, line, width);
      }
      refresh();
      return;
    }
    top::FrameState state = state_;
    if (state.status.empty() && !poll_error_.empty()) state.status = poll_error_;
    std::vector<std::string> lines;
    if (shown_) {
      const int header_lines = 6;  // five header lines and a blank one
      lines = top::render_frame(*shown_, state, clock_now(), width, std::max(0, height - header_lines - 2));
    } else {
      lines = {"ipctrace top - waiting for the first collection..."};
    }
    int y = 0;
    for (size_t i = 0; i < lines.size() && y < height - 1; ++i, ++y) {
      const bool table_header = shown_ && i == 6;
      if (table_header) {
        attron(A_REVERSE | (has_colors() ? COLOR_PAIR(1) : 0));
        mvaddnstr(y, 0, top::fit(lines[i], width, false).c_str(), -1);
        attroff(A_REVERSE | (has_colors() ? COLOR_PAIR(1) : 0));
      } else if (i == 0) {
        attron(A_BOLD);
        mvaddnstr(y, 0, lines[i].c_str(), width);
        attroff(A_BOLD);
      } else {
        mvaddnstr(y, 0, lines[i].c_str(), width);
      }
    }
    if (prompt_.active) {
      const std::string line = prompt_.label + prompt_.text;
      attron(has_colors() ? COLOR_PAIR(2) : A_BOLD);
      mvaddnstr(height - 1, 0, line.c_str(), width);
      attroff(has_colors() ? COLOR_PAIR(2) : A_BOLD);
    }
    refresh();
  }

  Poller& poller_;
  top::FrameState state_;
  Duration delay_;
  int frames_;
  std::shared_ptr<ScreenLogSink> log_;
  std::optional<top::Snapshot> shown_;
  std::string poll_error_;
  Prompt prompt_;
  bool help_ = false;
};

}  // namespace

int run_top_command(const Cli& cli) {
  const TopOptions& o = cli.top;
  if (!o.batch && (isatty(STDIN_FILENO) == 0 || isatty(STDOUT_FILENO) == 0)) {
    spdlog::error("top: needs a terminal; use --batch (-b) for plain-text frames");
    return kExitFailure;
  }
  struct sigaction sa {};
  sa.sa_handler = on_quit_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);

  std::unique_ptr<FlowSource> source;
  bool local = o.remote.empty();
  if (local) {
    TracerConfig config;
    config.self_tgid = static_cast<uint32_t>(getpid());
    auto tracer = start_tracing(o.hooks, config);
    if (!tracer) {
      spdlog::error("top: {} (top traces this node itself and needs root; --remote URL reads a running agent)",
                    tracer.error().message());
      return kExitFailure;
    }
    // Flows idle for a minute leave the view; the kernel map is trimmed the same way.
    source = std::make_unique<LocalSource>(std::move(*tracer), cli, std::chrono::minutes(1));
  } else {
    curl_global_init(CURL_GLOBAL_DEFAULT);
    source = std::make_unique<RemoteSource>(o.remote, 5000, o.cacert);
  }

  class RemoteFilter : public FlowSource {
   public:
    RemoteFilter(std::unique_ptr<FlowSource> inner, Filters filters)
        : inner_(std::move(inner)), filters_(std::move(filters)) {}
    Result<json> fetch() override {
      auto doc = inner_->fetch();
      if (doc) filter_document(*doc, filters_);
      return doc;
    }
    [[nodiscard]] std::string describe() const override { return inner_->describe(); }

   private:
    std::unique_ptr<FlowSource> inner_;
    Filters filters_;
  };
  if (!local) source = std::make_unique<RemoteFilter>(std::move(source), o.filters);

  Poller poller(*source, o.delay);
  // The first document: a standalone top starts counting now (its first frame comes one delay
  // later, with rates over that delay); a remote one shows the agent's figures at once.
  if (Status st = poller.poll_once(); !st) {
    spdlog::error("top: {}", st.error().message());
    return kExitFailure;
  }
  top::FrameState state;
  state.delay_seconds = std::chrono::duration<double>(o.delay).count();
  state.source = source->describe();
  state.sort_column = top::default_sort_column(top::View::Flows);

  if (o.batch) {
    if (local) spdlog::info("top: tracing this node; the first frame comes in {}", format_duration(o.delay));
    return run_batch(poller, o, state, local);
  }

  std::setlocale(LC_ALL, "");
  auto sink = std::make_shared<ScreenLogSink>();
  int rc = kExitOk;
  {
    LogToScreen to_screen(sink);
    Screen screen;
    poller.start();
    TerminalView view(poller, state, o.delay, o.iterations, sink);
    rc = view.run();
    poller.stop();
  }
  return rc;
}

}  // namespace ipctrace
