#include "exporters/top_view.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <numeric>
#include <optional>
#include <set>

#include "base/duration.h"
#include "base/text.h"
#include "exporters/flows_format.h"

namespace ipctrace::top {

using nlohmann::json;

std::string FlowRow::key() const { return kind + '\x1f' + src.name + '\x1f' + dst.name; }

// ---------------------------------------------------------------------------------------------
// The document

namespace {

// Typed access that names what is wrong instead of throwing from deep inside nlohmann.
class Reader {
 public:
  explicit Reader(std::string& error) : error_(error) {}

  const json* member(const json& object, const char* key, const std::string& where, bool required = true) {
    if (!object.is_object()) return fail(where + " is not an object");
    auto it = object.find(key);
    if (it == object.end() || it->is_null()) {
      if (required) fail(where + "." + key + " is missing");
      return nullptr;
    }
    return &*it;
  }
  std::string string(const json& object, const char* key, const std::string& where, bool required = false) {
    const json* v = member(object, key, where, required);
    if (v == nullptr) return {};
    if (!v->is_string()) {
      fail(where + "." + key + " is not a string");
      return {};
    }
    // The writer escaped invalid bytes (json_text.h); a string no writer of ours makes is kept
    // as it is. Either way it is shown through visible() (text_cell()).
    const std::string& text = v->get_ref<const std::string&>();
    std::optional<std::string> raw = unescape(text);
    if (raw) return std::move(*raw);
    return text;
  }
  uint64_t count(const json& object, const char* key, const std::string& where, bool required = true) {
    const json* v = member(object, key, where, required);
    if (v == nullptr) return 0;
    if (!v->is_number_unsigned() && !(v->is_number_integer() && v->get<int64_t>() >= 0)) {
      fail(where + "." + key + " is not a non-negative integer");
      return 0;
    }
    return v->get<uint64_t>();
  }
  double number(const json& object, const char* key, const std::string& where, bool required = true) {
    const json* v = member(object, key, where, required);
    if (v == nullptr) return 0;
    if (!v->is_number()) {
      fail(where + "." + key + " is not a number");
      return 0;
    }
    return v->get<double>();
  }
  [[nodiscard]] bool failed() const { return !error_.empty(); }

 private:
  const json* fail(const std::string& what) {
    if (error_.empty()) error_ = what;
    return nullptr;
  }
  std::string& error_;
};

EndpointInfo endpoint_from(Reader& r, const json& j, const std::string& where) {
  EndpointInfo e;
  e.type = r.string(j, "type", where, true);
  e.name = r.string(j, "name", where, true);
  e.k8s_namespace = r.string(j, "namespace", where);
  e.pod = r.string(j, "pod", where);
  e.container = r.string(j, "container", where);
  return e;
}

}  // namespace

Result<Snapshot> snapshot_from_json(const json& doc, std::chrono::steady_clock::time_point taken) {
  std::string error;
  Reader r(error);
  Snapshot s;
  s.taken = taken;
  if (!doc.is_object()) return Error::msg("flows document: not a JSON object");
  s.node = r.string(doc, "node", "document");
  s.kernel = r.string(doc, "kernel", "document");
  if (const json* hooks = r.member(doc, "hooks", "document", false); hooks != nullptr && hooks->is_object()) {
    for (const auto& [mech, family] : hooks->items()) {
      if (family.is_string()) s.hooks[mech] = family.get<std::string>();
    }
  }
  if (const json* lost = r.member(doc, "lost", "document", false); lost != nullptr && lost->is_object()) {
    for (const auto& [reason, n] : lost->items()) {
      if (n.is_number_unsigned() || (n.is_number_integer() && n.get<int64_t>() >= 0))
        s.lost[reason] = n.get<uint64_t>();
    }
  }
  const json* flows = r.member(doc, "flows", "document");
  if (flows != nullptr && !flows->is_array()) return Error::msg("flows document: document.flows is not an array");
  if (flows != nullptr) {
    size_t i = 0;
    for (const json& f : *flows) {
      const std::string where = fmt::format("flows[{}]", i++);
      FlowRow row;
      row.kind = r.string(f, "kind", where, true);
      if (const json* src = r.member(f, "src", where); src != nullptr) row.src = endpoint_from(r, *src, where + ".src");
      if (const json* dst = r.member(f, "dst", where); dst != nullptr) row.dst = endpoint_from(r, *dst, where + ".dst");
      row.msgs = r.count(f, "messages", where);
      row.bytes = r.count(f, "bytes", where);
      row.recv_msgs = r.count(f, "received_messages", where, false);
      row.recv_bytes = r.count(f, "received_bytes", where, false);
      row.msgs_per_second = r.number(f, "messages_per_second", where, false);
      row.bytes_per_second = r.number(f, "bytes_per_second", where, false);
      if (const json* w = r.member(f, "receiver_wait", where, false); w != nullptr) {
        row.wait_count = r.count(*w, "count", where + ".receiver_wait");
        row.wait_sum_seconds = r.number(*w, "sum_seconds", where + ".receiver_wait");
        if (row.wait_count > 0) row.wait_avg_seconds = row.wait_sum_seconds / static_cast<double>(row.wait_count);
      }
      if (const json* shm = r.member(f, "shm", where, false); shm != nullptr) {
        row.shm_size = r.count(*shm, "size_bytes", where + ".shm");
      }
      if (r.failed()) break;
      s.flows.push_back(std::move(row));
    }
  }
  if (r.failed()) return Error::msg("flows document: " + error);
  return s;
}

void RateTracker::apply(Snapshot& snapshot) {
  std::map<std::string, Totals> now;
  const double elapsed = have_previous_ ? std::chrono::duration<double>(snapshot.taken - previous_at_).count() : 0.0;
  for (FlowRow& row : snapshot.flows) {
    const std::string key = row.key();
    Totals& t = now[key];  // the same key twice (should not happen) adds up
    t.msgs += row.msgs;
    t.bytes += row.bytes;
    t.wait_count += row.wait_count;
    t.wait_sum += row.wait_sum_seconds;
    if (!have_previous_ || elapsed <= 0) continue;
    Totals before;
    if (auto it = previous_.find(key); it != previous_.end()) before = it->second;
    auto delta = [](uint64_t a, uint64_t b) { return a >= b ? a - b : a; };  // backwards: restarted
    row.msgs_per_second = static_cast<double>(delta(row.msgs, before.msgs)) / elapsed;
    row.bytes_per_second = static_cast<double>(delta(row.bytes, before.bytes)) / elapsed;
    if (row.wait_count > before.wait_count) {
      row.wait_avg_seconds = std::max(0.0, row.wait_sum_seconds - before.wait_sum) /
                             static_cast<double>(row.wait_count - before.wait_count);
    } else if (row.wait_count < before.wait_count && row.wait_count > 0) {
      row.wait_avg_seconds = row.wait_sum_seconds / static_cast<double>(row.wait_count);
    } else {
      row.wait_avg_seconds = -1;  // nobody waited in this interval
    }
  }
  previous_ = std::move(now);
  previous_at_ = snapshot.taken;
  have_previous_ = true;
}

// ---------------------------------------------------------------------------------------------
// Filtering and totals

namespace {

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

}  // namespace

bool ViewFilter::matches(const FlowRow& row) const {
  if (!kinds.empty() && std::find(kinds.begin(), kinds.end(), row.kind) == kinds.end()) return false;
  if (!k8s_namespace.empty() && row.src.k8s_namespace != k8s_namespace && row.dst.k8s_namespace != k8s_namespace) {
    return false;
  }
  if (!text.empty()) {
    const std::string needle = lower(text);
    const bool hit = lower(row.src.name).find(needle) != std::string::npos ||
                     lower(row.dst.name).find(needle) != std::string::npos || lower(row.kind) == needle;
    if (!hit) return false;
  }
  return true;
}

std::string ViewFilter::describe() const {
  if (empty()) return "none";
  std::vector<std::string> parts;
  if (!kinds.empty()) parts.push_back("kind=" + fmt::format("{}", fmt::join(kinds, ",")));
  if (!k8s_namespace.empty()) parts.push_back("ns=" + k8s_namespace);
  if (!text.empty()) parts.push_back("text=" + text);
  return fmt::format("{}", fmt::join(parts, " "));
}

std::vector<FlowRow> filter_rows(const std::vector<FlowRow>& rows, const ViewFilter& filter) {
  std::vector<FlowRow> out;
  std::copy_if(rows.begin(), rows.end(), std::back_inserter(out), [&](const FlowRow& r) { return filter.matches(r); });
  return out;
}

std::vector<KindTotal> kind_totals(const std::vector<FlowRow>& rows) {
  std::map<std::string, KindTotal> by_kind;
  for (const FlowRow& r : rows) {
    KindTotal& t = by_kind[r.kind];
    t.kind = r.kind;
    t.msgs_per_second += r.msgs_per_second;
    t.bytes_per_second += r.bytes_per_second;
    ++t.flows;
  }
  std::vector<KindTotal> out;
  out.reserve(by_kind.size());
  for (auto& [kind, t] : by_kind) out.push_back(t);
  std::stable_sort(out.begin(), out.end(), [](const KindTotal& a, const KindTotal& b) {
    if (a.bytes_per_second != b.bytes_per_second) return a.bytes_per_second > b.bytes_per_second;
    return a.msgs_per_second > b.msgs_per_second;
  });
  return out;
}

// ---------------------------------------------------------------------------------------------
// Tables

std::string human_rate_bytes(double bytes_per_second) { return human_bytes(bytes_per_second) + "/s"; }

std::string human_seconds(double seconds) {
  if (seconds < 0) return "-";
  if (seconds >= 1) return fmt::format("{:.1f}s", seconds);
  if (seconds >= 1e-3) return fmt::format("{:.1f}ms", seconds * 1e3);
  return fmt::format("{:.0f}us", seconds * 1e6);
}

namespace {

// Names and everything else a container or a remote agent chose: escaped for the terminal
// (base/text.h), so no control character, bidi override or newline reaches it.
Cell text_cell(const std::string& s) { return Cell{visible(s), 0}; }
Cell count_cell(uint64_t n) { return Cell{human_count(static_cast<double>(n)), static_cast<double>(n)}; }
Cell bytes_cell(uint64_t n) { return Cell{human_bytes(static_cast<double>(n)), static_cast<double>(n)}; }
Cell rate_cell(double per_second) { return Cell{human_count(per_second), per_second}; }
Cell byte_rate_cell(double per_second) { return Cell{human_rate_bytes(per_second), per_second}; }

}  // namespace

Table flows_table(const std::vector<FlowRow>& rows) {
  Table t;
  t.columns = {{"SRC", 12, true, false, 10},  {"DST", 12, true, false, 10},    {"KIND", 14, false, false, 9},
               {"MSG/S", 7, false, true, 8},  {"BYTES/S", 11, false, true, 8}, {"MSGS", 7, false, true, 5},
               {"BYTES", 10, false, true, 6}, {"WAIT", 7, false, true, 4}};
  for (const FlowRow& r : rows) {
    // sysv_shm moves no bytes through calls: its messages are attaches, its size is the segment's.
    Cell bytes = r.kind == "sysv_shm"
                     ? Cell{human_bytes(static_cast<double>(r.shm_size)) + "*", static_cast<double>(r.shm_size)}
                     : bytes_cell(r.bytes);
    t.rows.push_back({text_cell(r.src.name), text_cell(r.dst.name), text_cell(r.kind), rate_cell(r.msgs_per_second),
                      byte_rate_cell(r.bytes_per_second), count_cell(r.msgs), std::move(bytes),
                      Cell{human_seconds(r.wait_avg_seconds), r.wait_avg_seconds}});
  }
  return t;
}

Table endpoints_table(const std::vector<FlowRow>& rows) {
  struct Agg {
    std::set<std::string> flows;
    double in_msgs = 0, in_bytes = 0, out_msgs = 0, out_bytes = 0;
    uint64_t in_total = 0, out_total = 0;
  };
  std::map<std::string, Agg> by_name;
  for (const FlowRow& r : rows) {
    if (r.src.type != "unknown") {
      Agg& a = by_name[r.src.name];
      a.flows.insert(r.key());
      a.out_msgs += r.msgs_per_second;
      a.out_bytes += r.bytes_per_second;
      a.out_total += r.bytes;
    }
    if (r.dst.type != "unknown") {
      Agg& a = by_name[r.dst.name];
      a.flows.insert(r.key());
      a.in_msgs += r.msgs_per_second;
      a.in_bytes += r.bytes_per_second;
      a.in_total += r.bytes;
    }
  }
  Table t;
  t.columns = {{"ENDPOINT", 16, true, false, 10}, {"FLOWS", 5, false, true, 3},     {"B/S", 11, false, true, 9},
               {"IN B/S", 11, false, true, 8},    {"OUT B/S", 11, false, true, 8},  {"IN MSG/S", 8, false, true, 6},
               {"OUT MSG/S", 9, false, true, 6},  {"IN BYTES", 10, false, true, 4}, {"OUT BYTES", 10, false, true, 4}};
  for (const auto& [name, a] : by_name) {
    t.rows.push_back({text_cell(name), count_cell(a.flows.size()), byte_rate_cell(a.in_bytes + a.out_bytes),
                      byte_rate_cell(a.in_bytes), byte_rate_cell(a.out_bytes), rate_cell(a.in_msgs),
                      rate_cell(a.out_msgs), bytes_cell(a.in_total), bytes_cell(a.out_total)});
  }
  return t;
}

size_t default_sort_column(View view) { return view == View::Flows ? 4 : 2; }

void sort_table(Table& table, size_t column, bool descending) {
  if (column >= table.columns.size()) return;
  const bool numeric = table.columns[column].numeric;
  // Names first, so equal keys always come out in the same order.
  std::stable_sort(table.rows.begin(), table.rows.end(), [](const auto& a, const auto& b) {
    for (size_t i = 0; i < a.size() && i < b.size(); ++i) {
      if (a[i].text != b[i].text) return a[i].text < b[i].text;
    }
    return false;
  });
  std::stable_sort(table.rows.begin(), table.rows.end(), [&](const auto& a, const auto& b) {
    if (numeric) return descending ? a[column].number > b[column].number : a[column].number < b[column].number;
    return descending ? a[column].text > b[column].text : a[column].text < b[column].text;
  });
}

// ---------------------------------------------------------------------------------------------
// Layout

std::string fit(const std::string& text, int width, bool right_align) {
  if (width <= 0) return {};
  const int w = code_points(text);
  if (w <= width) {
    const std::string pad(static_cast<size_t>(width - w), ' ');
    return right_align ? pad + text : text + pad;
  }
  if (width < 4) return first_code_points(text, width);
  const int keep = width - 3;
  const int front = (keep + 1) / 3;
  return first_code_points(text, front) + "..." + last_code_points(text, keep - front);
}

std::vector<int> layout_columns(const Table& table, int width) {
  const size_t n = table.columns.size();
  std::vector<int> natural(n);
  for (size_t i = 0; i < n; ++i) {
    natural[i] = code_points(table.columns[i].title);
    for (const auto& row : table.rows) {
      if (i < row.size()) natural[i] = std::max(natural[i], code_points(row[i].text));
    }
  }
  if (width <= 0) return natural;

  std::vector<bool> shown(n, true);
  auto needed = [&] {
    int sum = 0;
    int count = 0;
    for (size_t i = 0; i < n; ++i) {
      if (!shown[i]) continue;
      sum += std::max(table.columns[i].width, code_points(table.columns[i].title));
      ++count;
    }
    return sum + std::max(0, count - 1);
  };
  while (needed() > width) {
    size_t victim = n;
    int visible = 0;
    for (size_t i = 0; i < n; ++i) {
      if (!shown[i]) continue;
      ++visible;
      if (victim == n || table.columns[i].keep <= table.columns[victim].keep) victim = i;
    }
    if (visible <= 1) break;
    shown[victim] = false;
  }

  std::vector<int> widths(n, 0);
  int flexible = 0;
  for (size_t i = 0; i < n; ++i) {
    if (!shown[i]) continue;
    widths[i] = std::max(table.columns[i].width, code_points(table.columns[i].title));
    if (table.columns[i].flexible) ++flexible;
  }
  int spare = width - needed();
  if (spare < 0) {  // a single column wider than the screen: it gets the screen
    for (size_t i = 0; i < n; ++i) {
      if (shown[i]) widths[i] = width;
    }
    return widths;
  }
  // Share the spare width among flexible columns, none growing past its widest name; what one
  // does not need goes to the others.
  while (spare > 0 && flexible > 0) {
    int wanting = 0;
    for (size_t i = 0; i < n; ++i) {
      if (shown[i] && table.columns[i].flexible && widths[i] < natural[i]) ++wanting;
    }
    if (wanting == 0) break;
    const int share = std::max(1, spare / wanting);
    for (size_t i = 0; i < n && spare > 0; ++i) {
      if (!shown[i] || !table.columns[i].flexible || widths[i] >= natural[i]) continue;
      const int add = std::min({share, natural[i] - widths[i], spare});
      widths[i] += add;
      spare -= add;
    }
  }
  return widths;
}

std::vector<std::string> render_table(const Table& table, const std::vector<int>& widths, int max_rows) {
  auto line = [&](auto&& text_of) {
    std::string out;
    for (size_t i = 0; i < table.columns.size() && i < widths.size(); ++i) {
      if (widths[i] <= 0) continue;
      if (!out.empty()) out += ' ';
      out += fit(text_of(i), widths[i], table.columns[i].numeric);
    }
    // Trailing blanks carry nothing and would make every batch line as wide as the widest.
    while (!out.empty() && out.back() == ' ') out.pop_back();
    return out;
  };
  std::vector<std::string> lines;
  lines.push_back(line([&](size_t i) { return table.columns[i].title; }));
  const size_t limit = max_rows < 0 ? table.rows.size() : std::min(table.rows.size(), static_cast<size_t>(max_rows));
  for (size_t r = 0; r < limit; ++r) {
    const auto& row = table.rows[r];
    lines.push_back(line([&](size_t i) { return i < row.size() ? row[i].text : std::string(); }));
  }
  return lines;
}

// ---------------------------------------------------------------------------------------------
// Frames

namespace {

// A header line, which holds what a remote agent's document says (node, kernel, hook and kind
// names): escaped for the terminal, then cut to the width.
std::string cut_end(const std::string& text, int width) {
  std::string line = visible(text);
  if (width <= 0 || code_points(line) <= width) return line;
  if (width < 4) return first_code_points(line, width);
  return first_code_points(line, width - 3) + "...";
}

}  // namespace

std::vector<std::string> render_header(const Snapshot& snapshot, const std::vector<FlowRow>& shown,
                                       const FrameState& state, const std::string& clock, int width) {
  std::vector<std::string> lines;
  std::string first = fmt::format(
      "ipctrace top - {} - node {} - Linux {} - every {}", clock, snapshot.node.empty() ? "?" : snapshot.node,
      snapshot.kernel.empty() ? "?" : snapshot.kernel,
      format_duration(std::chrono::duration_cast<Duration>(std::chrono::duration<double>(state.delay_seconds))));
  if (state.source != "local") first += " - remote " + state.source;
  if (state.paused) first += " - PAUSED";
  lines.push_back(cut_end(first, width));

  uint64_t lost = 0;
  std::vector<std::string> reasons;
  for (const auto& [reason, n] : snapshot.lost) {
    lost += n;
    if (n > 0) reasons.push_back(fmt::format("{} {}", reason, n));
  }
  std::string second = fmt::format("flows {} shown / {} - records lost {}", shown.size(), snapshot.flows.size(), lost);
  if (!reasons.empty()) second += fmt::format(" ({})", fmt::join(reasons, ", "));
  lines.push_back(cut_end(second, width));

  // hooks: tp_btf(pipe_fifo,sysv_msg) raw_tp(unix)
  std::map<std::string, std::vector<std::string>> by_family;
  for (const auto& [mech, family] : snapshot.hooks) by_family[family].push_back(mech);
  std::vector<std::string> hooks;
  hooks.reserve(by_family.size());
  for (const auto& [family, mechs] : by_family) hooks.push_back(fmt::format("{}({})", family, fmt::join(mechs, ",")));
  lines.push_back(
      cut_end("hooks: " + (hooks.empty() ? std::string("?") : fmt::format("{}", fmt::join(hooks, " "))), width));

  std::vector<std::string> kinds;
  for (const KindTotal& k : kind_totals(shown)) {
    kinds.push_back(
        fmt::format("{} {} msg/s {}", k.kind, human_count(k.msgs_per_second), human_rate_bytes(k.bytes_per_second)));
  }
  lines.push_back(cut_end(
      "per kind: " + (kinds.empty() ? std::string("no flows") : fmt::format("{}", fmt::join(kinds, " | "))), width));

  std::string column = "?";
  const Table columns = state.view == View::Flows ? flows_table({}) : endpoints_table({});
  if (state.sort_column < columns.columns.size()) column = columns.columns[state.sort_column].title;
  std::string fourth =
      fmt::format("view {} - sort {} {} - filter {} - h for help", state.view == View::Flows ? "flows" : "endpoints",
                  column, state.descending ? "desc" : "asc", state.filter.describe());
  if (!state.status.empty()) fourth += " - " + state.status;
  lines.push_back(cut_end(fourth, width));
  return lines;
}

std::vector<std::string> render_frame(const Snapshot& snapshot, const FrameState& state, const std::string& clock,
                                      int width, int max_rows) {
  const std::vector<FlowRow> shown = filter_rows(snapshot.flows, state.filter);
  std::vector<std::string> lines = render_header(snapshot, shown, state, clock, width);
  lines.emplace_back();
  Table table = state.view == View::Flows ? flows_table(shown) : endpoints_table(shown);
  sort_table(table, state.sort_column, state.descending);
  const std::vector<int> widths = layout_columns(table, width);
  for (auto& l : render_table(table, widths, max_rows)) lines.push_back(std::move(l));
  if (table.rows.empty()) lines.emplace_back(snapshot.flows.empty() ? "(no flows yet)" : "(no flows match the filter)");
  return lines;
}

}  // namespace ipctrace::top
