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
  e.comm = r.string(j, "comm", where);
  e.pid = r.count(j, "pid", where, false);
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

std::string process_name(const EndpointInfo& e) {
  if (e.pid == 0) return "-";
  return fmt::format("{}[{}]", e.comm, e.pid);
}

Table flows_table(const std::vector<FlowRow>& rows) {
  Table t;
  // Names get 16 characters at least, enough for a container's name and some of its pod's: at 80
  // columns the total messages (MSGS) and the wait give way to them.
  t.columns = {{"SRC", 16, true, false, 10},          {"DST", 16, true, false, 10},
               {"KIND", 14, false, false, 9},         {"MSG/S", 7, false, true, 8},
               {"BYTES/S", 11, false, true, 8},       {"MSGS", 7, false, true, 5},
               {"BYTES", 10, false, true, 6},         {"WAIT", 7, false, true, 4},
               {"SRC-PROC", 24, false, false, 1, 16}, {"DST-PROC", 24, false, false, 1, 16}};
  for (const FlowRow& r : rows) {
    // sysv_shm moves no bytes through calls: its messages are attaches, its size is the segment's.
    Cell bytes = r.kind == "sysv_shm"
                     ? Cell{human_bytes(static_cast<double>(r.shm_size)) + "*", static_cast<double>(r.shm_size)}
                     : bytes_cell(r.bytes);
    t.rows.push_back({text_cell(r.src.name), text_cell(r.dst.name), text_cell(r.kind), rate_cell(r.msgs_per_second),
                      byte_rate_cell(r.bytes_per_second), count_cell(r.msgs), std::move(bytes),
                      Cell{human_seconds(r.wait_avg_seconds), r.wait_avg_seconds}, text_cell(process_name(r.src)),
                      text_cell(process_name(r.dst))});
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
    if (r.src.type != "unknown" && r.src.type != "other") {
      Agg& a = by_name[r.src.name];
      a.flows.insert(r.key());
      a.out_msgs += r.msgs_per_second;
      a.out_bytes += r.bytes_per_second;
      a.out_total += r.bytes;
    }
    if (r.dst.type != "unknown" && r.dst.type != "other") {
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

std::string fit_name(const std::string& name, int width) {
  if (width <= 0) return {};
  const int n = code_points(name);
  if (n <= width || width < 4) return fit(name, width, false);
  const int keep = width - 3;
  int front = (keep + 1) / 3;
  const size_t slash = name.rfind('/');
  if (slash != std::string::npos) {
    // The tail keeps "/" and the last part whole where they fit, the front what is left over.
    const std::string last = name.substr(slash + 1);
    const int tail = code_points(last) + 1;
    if (tail <= keep)
      front = std::min(front, keep - tail);
    else if (tail - 1 <= keep)
      front = 0;
    else
      return first_code_points(last, front) + "..." + last_code_points(last, keep - front);  // the container's own
  }
  return first_code_points(name, front) + "..." + last_code_points(name, keep - front);
}

namespace {

// `name` cut to `front` code points, "...", and what the width leaves of its end.
std::string cut_at(const std::string& name, int width, int front) {
  return first_code_points(name, front) + "..." + last_code_points(name, width - 3 - front);
}

// The code points of `name` from `start` on, at most `n` of them.
std::string middle_code_points(const std::string& name, int start, int n) {
  return first_code_points(last_code_points(name, code_points(name) - start), n);
}

// The index of the first code point where `a` and `b` differ (the shorter length if one is a
// prefix of the other).
int first_difference(const std::string& a, const std::string& b) {
  const size_t n = std::min(a.size(), b.size());
  const auto at = static_cast<size_t>(
      std::mismatch(a.begin(), a.begin() + static_cast<std::ptrdiff_t>(n), b.begin()).first - a.begin());
  // Back to the start of the code point the bytes differ in (names are valid UTF-8).
  size_t start = at;
  while (start > 0 && (static_cast<unsigned char>(a[start]) & 0xC0) == 0x80) --start;
  return code_points(std::string_view(a).substr(0, start));
}

// Whether `name` could be the one shown as `text` (a rendering by cut_at() or a middle window).
bool could_be(const std::string& text, const std::string& name) {
  const size_t dots = text.find("...");
  if (dots == std::string::npos) return text == name;
  if (dots == 0 && text.size() > 6 && text.ends_with("...")) {  // "...middle..."
    return name.find(text.substr(3, text.size() - 6)) != std::string::npos;
  }
  const std::string_view head = std::string_view(text).substr(0, dots);
  const std::string_view tail = std::string_view(text).substr(dots + 3);
  return name.size() >= head.size() + tail.size() && name.starts_with(head) && name.ends_with(tail);
}

}  // namespace

std::map<std::string, std::string> fit_names(const std::vector<std::string>& names, int width) {
  std::map<std::string, std::string> shown;
  for (const std::string& n : names) shown.emplace(n, fit_name(n, width));
  if (width < 4) return shown;
  const int keep = width - 3;
  // Two passes: the second settles what the first one's new cuts made collide.
  for (int pass = 0; pass < 2; ++pass) {
    std::map<std::string, std::vector<std::string>> alike;  // rendering -> the names cut to it
    for (const auto& [name, text] : shown) alike[text].push_back(name);
    for (const auto& [text, group] : alike) {
      if (group.size() < 2) continue;
      std::vector<std::string> cut;  // those that fit whole keep their text: they are the name
      for (const std::string& n : group) {
        if (code_points(n) > width) cut.push_back(n);
      }
      if (cut.empty()) continue;
      std::set<std::string> taken;  // every other name's text
      for (const auto& [name, t] : shown) {
        if (std::find(cut.begin(), cut.end(), name) == cut.end()) taken.insert(t);
      }
      // One cut for the whole group, nearest the end first: the container's side.
      bool settled = false;
      for (int front = 0; front <= keep && !settled; ++front) {
        std::set<std::string> texts;
        for (const std::string& n : cut) texts.insert(cut_at(n, width, front));
        if (texts.size() != cut.size()) continue;
        if (std::any_of(texts.begin(), texts.end(), [&](const std::string& t) { return taken.count(t) > 0; })) {
          continue;
        }
        for (const std::string& n : cut) shown[n] = cut_at(n, width, front);
        settled = true;
      }
      if (settled) continue;
      // No one cut tells them apart (they differ in two places, or only in the middle). Each
      // one's renderings: its cuts, its end first, then the parts where it differs from the
      // others, between two "...". Each in turn takes, of those no name shows yet, the one that
      // fewest names of the column could be (the most telling), then one that keeps its last
      // part (the container) whole, then the first.
      // Scoring costs (names of the group) x (renderings of each) x (names of the column): past a
      // budget (hundreds of long look-alike names, which only a hostile document has), the
      // numbered renderings below, at once.
      const bool score = cut.size() * (static_cast<size_t>(keep) + cut.size()) * names.size() <= 2000000;
      for (const std::string& n : cut) {
        std::vector<std::string> candidates;
        for (int front = 0; score && front <= keep; ++front) candidates.push_back(cut_at(n, width, front));
        if (score && width >= 7) {
          const int window = width - 6;
          std::set<int> at;
          for (const std::string& other : cut) {
            if (other != n) at.insert(first_difference(n, other));
          }
          for (const int d : at) {
            const int start = std::clamp(d - window / 2, 0, std::max(0, code_points(n) - window));
            candidates.push_back("..." + middle_code_points(n, start, window) + "...");
          }
        }
        const size_t slash = n.rfind('/');
        const std::string last = slash == std::string::npos ? std::string() : n.substr(slash);
        const std::string* best = nullptr;
        std::pair<size_t, int> best_rank;
        for (const std::string& c : candidates) {
          if (taken.count(c) > 0) continue;
          const auto alike_names = static_cast<size_t>(
              std::count_if(names.begin(), names.end(), [&](const std::string& m) { return could_be(c, m); }));
          const std::pair<size_t, int> rank{alike_names, !last.empty() && c.ends_with(last) ? 0 : 1};
          if (!best || rank < best_rank) best = &c, best_rank = rank;
        }
        if (best) {
          shown[n] = *best;
        } else {
          // More look-alikes than renderings (names that differ only where no window reaches): a
          // number tells them apart, "...end~3".
          for (int k = 1;; ++k) {
            const std::string tag = "~" + std::to_string(k);
            std::string numbered = "..." + last_code_points(n, std::max(0, keep - static_cast<int>(tag.size()))) + tag;
            if (taken.count(numbered) == 0) {
              shown[n] = std::move(numbered);
              break;
            }
          }
        }
        taken.insert(shown[n]);
      }
    }
  }
  return shown;
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
  auto needed = [&](bool with_reserve) {
    int sum = 0;
    int count = 0;
    for (size_t i = 0; i < n; ++i) {
      if (!shown[i]) continue;
      sum += std::max(table.columns[i].width, code_points(table.columns[i].title));
      if (with_reserve) sum += table.columns[i].reserve;
      ++count;
    }
    return sum + std::max(0, count - 1);
  };
  while (needed(true) > width) {
    size_t victim = n;
    int visible = 0;
    for (size_t i = 0; i < n; ++i) {
      if (!shown[i]) continue;
      ++visible;
      if (victim == n || table.columns[i].keep <= table.columns[victim].keep) victim = i;
    }
    if (visible <= 1) break;
    shown[victim] = false;
    // The columns with a reserve (the processes) come and go together.
    if (table.columns[victim].reserve > 0) {
      for (size_t i = 0; i < n; ++i) shown[i] = shown[i] && table.columns[i].reserve == 0;
    }
  }

  std::vector<int> widths(n, 0);
  int flexible = 0;
  for (size_t i = 0; i < n; ++i) {
    if (!shown[i]) continue;
    widths[i] = std::max(table.columns[i].width, code_points(table.columns[i].title));
    if (table.columns[i].flexible) ++flexible;
  }
  int spare = width - needed(false);
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
  const size_t limit = max_rows < 0 ? table.rows.size() : std::min(table.rows.size(), static_cast<size_t>(max_rows));
  // Names (the flexible columns) are fitted together, so that the rows shown tell them apart.
  std::vector<std::map<std::string, std::string>> names(table.columns.size());
  for (size_t i = 0; i < table.columns.size() && i < widths.size(); ++i) {
    if (!table.columns[i].flexible || widths[i] <= 0) continue;
    std::vector<std::string> column;
    for (size_t r = 0; r < limit; ++r) {
      if (i < table.rows[r].size()) column.push_back(table.rows[r][i].text);
    }
    names[i] = fit_names(column, widths[i]);
  }
  auto line = [&](auto&& text_of) {
    std::string out;
    for (size_t i = 0; i < table.columns.size() && i < widths.size(); ++i) {
      if (widths[i] <= 0) continue;
      if (!out.empty()) out += ' ';
      const std::string text = text_of(i);
      const auto named = names[i].find(text);
      out += named != names[i].end() ? named->second : fit(text, widths[i], table.columns[i].numeric);
    }
    // Trailing blanks carry nothing and would make every batch line as wide as the widest.
    while (!out.empty() && out.back() == ' ') out.pop_back();
    return out;
  };
  std::vector<std::string> lines;
  lines.push_back(line([&](size_t i) { return table.columns[i].title; }));
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

std::string too_small(int width, int height) {
  return cut_end(fmt::format("terminal too small ({}x{}): needs {}x{}", width, height, kMinWidth, kMinHeight), width);
}

std::vector<std::string> render_screen(const Snapshot& snapshot, const FrameState& state, const std::string& clock,
                                       int width, int height) {
  if (width < kMinWidth || height < kMinHeight) return {too_small(width, height)};
  // The header, the table's title row, and the prompt's line.
  std::vector<std::string> lines = render_frame(snapshot, state, clock, width, height - kHeaderLines - 2);
  if (lines.size() > static_cast<size_t>(height - 1)) lines.resize(static_cast<size_t>(height - 1));
  return lines;
}

}  // namespace ipctrace::top
