#include "app/top/terminal.h"

#include <curses.h>
#include <fmt/chrono.h>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/sinks/base_sink.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <clocale>
#include <ctime>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "app/cli.h"
#include "kernel/kinds.h"

namespace ipctrace {

std::string clock_now() {
  const std::time_t t = std::time(nullptr);
  return fmt::format("{:%H:%M:%S}", fmt::localtime(t));
}

namespace {

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
  TerminalView(Poller& poller, top::FrameState state, Duration delay, int frames, std::shared_ptr<ScreenLogSink> log,
               const StopSignal& stop)
      : poller_(poller), stop_(stop), state_(std::move(state)), delay_(delay), frames_(frames), log_(std::move(log)) {}

  int run() {
    uint64_t seen = 0;
    bool dirty = true;
    int shown_frames = 0;
    while (!stop_.requested()) {
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
    if (width < top::kMinWidth || height < top::kMinHeight) {
      mvaddnstr(0, 0, top::too_small(width, height).c_str(), width);
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
      lines = top::render_screen(*shown_, state, clock_now(), width, height);
    } else {
      lines = {"ipctrace top - waiting for the first collection..."};
    }
    int y = 0;
    for (size_t i = 0; i < lines.size() && y < height - 1; ++i, ++y) {
      const bool table_header = shown_ && i == static_cast<size_t>(top::kHeaderLines);
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
  const StopSignal& stop_;
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

int run_terminal(Poller& poller, const top::FrameState& state, Duration delay, int frames, const StopSignal& stop) {
  std::setlocale(LC_ALL, "");
  auto sink = std::make_shared<ScreenLogSink>();
  const LogToScreen to_screen(sink);
  const Screen screen;
  poller.start();
  TerminalView view(poller, state, delay, frames, sink, stop);
  const int rc = view.run();
  poller.stop();
  return rc;
}

}  // namespace ipctrace
