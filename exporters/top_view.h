// `ipctrace top`, without the terminal: snapshots of the flows document (the JSON of
// `ipctrace flows --output json` and the agent's /api/v1/flows), rates between snapshots, the
// flows and endpoints tables, sorting, filtering, column layout and whole text frames. The
// terminal front end (agent/app/top/terminal.cpp) and batch mode draw what this produces.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "base/error.h"

namespace ipctrace::top {

struct EndpointInfo {
  std::string type;  // "cgroup", "remote", "unknown", "other" (operations folded: model/flows.h)
  std::string name;  // as shown: "ns/pod/container", "systemd:unit", "10.0.0.7:443", "?"
  std::string k8s_namespace;
  std::string pod;
  std::string container;
  // The process that used the channel at this end first (the document's "comm" and "pid"; pid 0:
  // the document does not say). comm is the kernel's task name, which the process can set.
  std::string comm;
  uint64_t pid = 0;
};

// "comm[pid]" ("nginx[1234]"), "[pid]" without a name, "-" without a pid.
std::string process_name(const EndpointInfo& e);

// One flow of a snapshot. Counters are totals since the source first saw the flow.
struct FlowRow {
  std::string kind;
  EndpointInfo src;
  EndpointInfo dst;
  uint64_t msgs = 0;
  uint64_t bytes = 0;
  uint64_t recv_msgs = 0;
  uint64_t recv_bytes = 0;
  uint64_t wait_count = 0;  // receiving calls that blocked or were timed, at dst for this kind
  double wait_sum_seconds = 0;
  uint64_t shm_size = 0;  // sysv_shm: segment size

  // Filled by RateTracker.
  double msgs_per_second = 0;
  double bytes_per_second = 0;
  double wait_avg_seconds = -1;  // mean wait per receiving call over the last interval; -1: none

  // Identity across snapshots: kind, src and dst names.
  [[nodiscard]] std::string key() const;
};

struct Snapshot {
  std::string node;                          // host name ("" if the document does not say)
  std::string kernel;                        // kernel release
  std::map<std::string, std::string> hooks;  // mechanism -> hook family
  std::map<std::string, uint64_t> lost;      // reason -> records lost
  std::vector<FlowRow> flows;
  std::chrono::steady_clock::time_point taken;
};

// The flows document -> a snapshot taken at `taken`. Rates start as the document's own
// (messages_per_second, bytes_per_second). An error names the first member that is missing or
// has the wrong type.
Result<Snapshot> snapshot_from_json(const nlohmann::json& doc, std::chrono::steady_clock::time_point taken);

// Rates from one snapshot to the next, per flow key: (total now - total before) / elapsed.
// A flow new since the previous snapshot counts from zero; a counter that went backwards (the
// source restarted) counts from zero too. The first snapshot keeps the document's rates.
class RateTracker {
 public:
  void apply(Snapshot& snapshot);
  void reset() { previous_.clear(), have_previous_ = false; }

 private:
  struct Totals {
    uint64_t msgs = 0;
    uint64_t bytes = 0;
    uint64_t wait_count = 0;
    double wait_sum = 0;
  };
  std::map<std::string, Totals> previous_;
  std::chrono::steady_clock::time_point previous_at_;
  bool have_previous_ = false;
};

// What the view shows.
enum class View { Flows, Endpoints };

struct ViewFilter {
  std::vector<std::string> kinds;  // empty: every kind
  std::string k8s_namespace;       // either end in this Kubernetes namespace; "" = any
  std::string text;                // case-insensitive substring of either end's name or the kind
  [[nodiscard]] bool matches(const FlowRow& row) const;
  [[nodiscard]] bool empty() const { return kinds.empty() && k8s_namespace.empty() && text.empty(); }
  [[nodiscard]] std::string describe() const;  // "kind=pipe,fifo ns=prod text=web", "none"
};

std::vector<FlowRow> filter_rows(const std::vector<FlowRow>& rows, const ViewFilter& filter);

// Per-kind totals for the header: rates summed over the flows of each kind.
struct KindTotal {
  std::string kind;
  double msgs_per_second = 0;
  double bytes_per_second = 0;
  size_t flows = 0;
};
std::vector<KindTotal> kind_totals(const std::vector<FlowRow>& rows);  // by bytes/s, descending

// A table of text cells, each with the value it sorts by.
struct Cell {
  std::string text;
  double number = 0;  // sort key of numeric columns
};
struct Column {
  std::string title;
  int width = 0;          // fixed width, or the minimum width of a flexible column
  bool flexible = false;  // takes a share of the width left over (names)
  bool numeric = false;   // right-aligned, sorted by number (largest first by default)
  int keep = 0;           // when the terminal is too narrow, lower `keep` columns go first
  int reserve = 0;        // shown only with this much more width left for the flexible columns;
                          // the columns with a reserve are shown all or none
};
struct Table {
  std::vector<Column> columns;
  std::vector<std::vector<Cell>> rows;
};

// SRC, DST, KIND, MSG/S, BYTES/S, MSGS, BYTES, WAIT (mean blocked time of receiving calls),
// SRC-PROC, DST-PROC (process_name() of each end: the first columns a narrow terminal drops,
// 24 characters, a task name and a pid; shown together, only where the names get 32 characters
// more than their least: from 177 columns on, and in batch mode).
Table flows_table(const std::vector<FlowRow>& rows);
// Per endpoint: ENDPOINT, FLOWS, IN MSG/S, IN B/S, OUT MSG/S, OUT B/S, IN BYTES, OUT BYTES.
Table endpoints_table(const std::vector<FlowRow>& rows);

// The column a view sorts by at start: bytes per second.
size_t default_sort_column(View view);
// Stable sort by `column`; ties keep the order of the first column (names), so frames do not jitter.
void sort_table(Table& table, size_t column, bool descending);

// Width per column for a screen `width` characters wide (0: hidden). Columns are separated by
// one space. Fixed columns keep their width; flexible ones share what is left, at least their
// minimum; when even that does not fit, the lowest `keep` columns are hidden. width <= 0 means
// no limit: every column as wide as its widest cell (batch mode).
std::vector<int> layout_columns(const Table& table, int width);

// `text` made exactly `width` characters (UTF-8 aware): padded, or cut in the middle with "..."
// (names keep their start and their end, which is the container). width < 4 cuts the end.
std::string fit(const std::string& text, int width, bool right_align);

// A name (an endpoint's, "ns/pod/container") made exactly `width` characters: padded, or cut so
// that its last part (after the last '/': the container, a unit, a port) stays whole where it
// fits and what goes is the start's tail (namespace and pod are shortened first):
// "default/ipc-client-pod/ipc-client" in 13 is "...ipc-client", in 20 "defaul.../ipc-client".
// A last part longer than the width is cut in its middle, alone ("a-v...er-name").
std::string fit_name(const std::string& name, int width);

// The names of one column, each made exactly `width` characters, pairwise distinct wherever the
// names are: fit_name() first; names it renders alike are cut at another place, the same one for
// all of them, that tells them apart ("...b-client" and "...c-client" where the pod is what
// differs), and failing that each shows the part where it differs, between two "..."
// ("...-7f9c-a...", "...-7f9c-b..."), and where even that is not enough, a number ("...b/app~2").
// Below 4 characters names are cut at the end, and may look alike.
std::map<std::string, std::string> fit_names(const std::vector<std::string>& names, int width);

// The header row and up to `max_rows` rows (all when max_rows < 0), laid out with `widths`. The
// names of flexible columns are fitted with fit_names() over the rows shown.
std::vector<std::string> render_table(const Table& table, const std::vector<int>& widths, int max_rows);

// The smallest terminal a frame is drawn in: the flows view shows both ends (16 characters each),
// the kind and both rates at 68 columns; 12 lines hold the header, the table's title row and 4
// rows. Below it,
// render_screen() draws one line saying the terminal is too small (batch mode has no size).
inline constexpr int kMinWidth = 68;
inline constexpr int kMinHeight = 12;

// Everything the header and status lines need to know about the session.
struct FrameState {
  View view = View::Flows;
  size_t sort_column = 4;
  bool descending = true;
  ViewFilter filter;
  bool paused = false;
  double delay_seconds = 2;
  std::string source;  // "local" or the agent's URL
  std::string status;  // a transient message ("agent unreachable: ..."), "" if none
};

// The header: node, kernel, hooks, lost records, per-kind totals, view/sort/filter. Each line at
// most `width` characters (no limit when width <= 0).
std::vector<std::string> render_header(const Snapshot& snapshot, const std::vector<FlowRow>& shown,
                                       const FrameState& state, const std::string& clock, int width);

// A whole frame as lines: header, a blank line, then the table (batch mode: width <= 0, every row).
std::vector<std::string> render_frame(const Snapshot& snapshot, const FrameState& state, const std::string& clock,
                                      int width, int max_rows);

// The lines render_frame() puts before the table's title row: the header's and a blank one.
inline constexpr int kHeaderLines = 6;

// A frame for a terminal `width` x `height`: at most height - 1 lines (the last line is the
// prompt's), the table getting what the header and its title row leave. Below kMinWidth x
// kMinHeight, the one line "terminal too small (WxH): needs 68x12", cut to
// the width, instead of a view that would hide the figures.
std::vector<std::string> render_screen(const Snapshot& snapshot, const FrameState& state, const std::string& clock,
                                       int width, int height);
std::string too_small(int width, int height);

std::string human_rate_bytes(double bytes_per_second);  // "0 B/s", "1.5 MiB/s"
std::string human_seconds(double seconds);              // "-" (negative), "850us", "1.2ms", "3.0s"

}  // namespace ipctrace::top
