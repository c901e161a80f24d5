// `ipctrace top` without a terminal: documents to snapshots, rates between snapshots, filters,
// tables, sorting, column layout under narrow terminals and long names, whole frames.
#include "exporters/top_view.h"

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "base/text.h"

using ::testing::HasSubstr;

using namespace ipctrace;
using namespace ipctrace::top;
using nlohmann::json;
using namespace std::chrono_literals;

namespace {

json endpoint(const std::string& name, const std::string& ns = "", const std::string& pod = "",
              const std::string& container = "") {
  return {{"type", "cgroup"},       {"name", name},      {"namespace", ns}, {"pod", pod},
          {"container", container}, {"cgroup_id", 1234}, {"pid", 42}};
}

json flow(const std::string& kind, const json& src, const json& dst, uint64_t msgs, uint64_t bytes) {
  return {{"kind", kind},
          {"src", src},
          {"dst", dst},
          {"messages", msgs},
          {"bytes", bytes},
          {"received_messages", msgs},
          {"received_bytes", bytes},
          {"messages_per_second", 0.0},
          {"bytes_per_second", 0.0},
          {"receiver_wait", nullptr},
          {"shm", nullptr}};
}

json document(const std::vector<json>& flows) {
  return {{"node", "node-1"},
          {"kernel", "6.18.0"},
          {"duration_seconds", 1.0},
          {"flows", json(flows)},
          {"lost", {{"fold_map_full", 0}, {"ringbuf_full", 3}}},
          {"hooks", {{"pipe_fifo", "tp_btf"}, {"unix", "raw_tp"}}}};
}

Snapshot snap(const json& doc, std::chrono::steady_clock::time_point at) {
  auto s = snapshot_from_json(doc, at);
  EXPECT_TRUE(s.ok()) << (s.ok() ? "" : s.error().message());
  return s.ok() ? *s : Snapshot{};
}

const std::chrono::steady_clock::time_point t0{std::chrono::seconds(1000)};

}  // namespace

TEST(TopSnapshot, ReadsEveryFieldOfTheFlowsDocument) {
  json f =
      flow("pipe", endpoint("prod/web/nginx", "prod", "web", "nginx"), endpoint("prod/web/php", "prod"), 10, 10000);
  f["receiver_wait"] = {{"count", 4}, {"sum_seconds", 0.002}, {"buckets", json::array()}};
  f["messages_per_second"] = 2.5;
  f["bytes_per_second"] = 2500.0;
  json shm = flow("sysv_shm", endpoint("a"), endpoint("b"), 2, 0);
  shm["shm"] = {{"size_bytes", 65536}, {"attached", 2}};
  const Snapshot s = snap(document({f, shm}), t0);
  EXPECT_EQ(s.node, "node-1");
  EXPECT_EQ(s.kernel, "6.18.0");
  EXPECT_EQ(s.hooks.at("unix"), "raw_tp");
  EXPECT_EQ(s.lost.at("ringbuf_full"), 3U);
  ASSERT_EQ(s.flows.size(), 2U);
  const FlowRow& r = s.flows[0];
  EXPECT_EQ(r.kind, "pipe");
  EXPECT_EQ(r.src.name, "prod/web/nginx");
  EXPECT_EQ(r.src.k8s_namespace, "prod");
  EXPECT_EQ(r.src.pod, "web");
  EXPECT_EQ(r.src.container, "nginx");
  EXPECT_EQ(r.msgs, 10U);
  EXPECT_EQ(r.bytes, 10000U);
  EXPECT_EQ(r.wait_count, 4U);
  EXPECT_DOUBLE_EQ(r.wait_avg_seconds, 0.0005);
  EXPECT_DOUBLE_EQ(r.msgs_per_second, 2.5);  // the document's own rates until there are two
  EXPECT_DOUBLE_EQ(r.bytes_per_second, 2500.0);
  EXPECT_EQ(s.flows[1].shm_size, 65536U);
}

TEST(TopSnapshot, NamesWhatIsWrongInABadDocument) {
  auto not_object = snapshot_from_json(json::array(), t0);
  ASSERT_FALSE(not_object.ok());
  EXPECT_EQ(not_object.error().message(), "flows document: not a JSON object");

  auto no_flows = snapshot_from_json(json{{"node", "x"}}, t0);
  ASSERT_FALSE(no_flows.ok());
  EXPECT_EQ(no_flows.error().message(), "flows document: document.flows is missing");

  json bad = document({flow("pipe", endpoint("a"), endpoint("b"), 1, 1)});
  bad["flows"][0]["bytes"] = "many";
  auto wrong_type = snapshot_from_json(bad, t0);
  ASSERT_FALSE(wrong_type.ok());
  EXPECT_EQ(wrong_type.error().message(), "flows document: flows[0].bytes is not a non-negative integer");

  json no_src = document({flow("pipe", endpoint("a"), endpoint("b"), 1, 1)});
  no_src["flows"][0].erase("src");
  auto missing = snapshot_from_json(no_src, t0);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().message(), "flows document: flows[0].src is missing");

  json flows_not_array = document({});
  flows_not_array["flows"] = 3;
  EXPECT_FALSE(snapshot_from_json(flows_not_array, t0).ok());
}

TEST(TopRates, AreTheDifferenceOverTheElapsedTime) {
  RateTracker rates;
  Snapshot a = snap(document({flow("pipe", endpoint("w"), endpoint("r"), 100, 10000)}), t0);
  rates.apply(a);
  EXPECT_DOUBLE_EQ(a.flows[0].bytes_per_second, 0.0);  // the document's rate: none known yet
  Snapshot b = snap(document({flow("pipe", endpoint("w"), endpoint("r"), 300, 50000)}), t0 + 2s);
  rates.apply(b);
  EXPECT_DOUBLE_EQ(b.flows[0].msgs_per_second, 100.0);
  EXPECT_DOUBLE_EQ(b.flows[0].bytes_per_second, 20000.0);
  Snapshot c = snap(document({flow("pipe", endpoint("w"), endpoint("r"), 300, 50000)}), t0 + 2500ms);
  rates.apply(c);
  EXPECT_DOUBLE_EQ(c.flows[0].msgs_per_second, 0.0);
  EXPECT_DOUBLE_EQ(c.flows[0].bytes_per_second, 0.0);
}

TEST(TopRates, ANewFlowCountsFromZeroAndARestartedSourceDoesNotGoNegative) {
  RateTracker rates;
  Snapshot a = snap(document({flow("pipe", endpoint("w"), endpoint("r"), 100, 10000)}), t0);
  rates.apply(a);
  Snapshot b = snap(document({flow("pipe", endpoint("w"), endpoint("r"), 10, 1000),
                              flow("fifo", endpoint("w"), endpoint("r"), 40, 4000)}),
                    t0 + 4s);
  rates.apply(b);
  EXPECT_DOUBLE_EQ(b.flows[0].bytes_per_second, 250.0);   // restarted: 1000 bytes since
  EXPECT_DOUBLE_EQ(b.flows[1].bytes_per_second, 1000.0);  // new: all 4000 in this interval
  EXPECT_DOUBLE_EQ(b.flows[1].msgs_per_second, 10.0);
}

TEST(TopRates, WaitIsTheMeanOfTheCallsInTheInterval) {
  RateTracker rates;
  json f1 = flow("sysv_msg", endpoint("s"), endpoint("r"), 10, 100);
  f1["receiver_wait"] = {{"count", 10}, {"sum_seconds", 1.0}};
  json f2 = f1;
  f2["receiver_wait"] = {{"count", 14}, {"sum_seconds", 1.02}};
  Snapshot a = snap(document({f1}), t0);
  rates.apply(a);
  Snapshot b = snap(document({f2}), t0 + 1s);
  rates.apply(b);
  EXPECT_NEAR(b.flows[0].wait_avg_seconds, 0.005, 1e-12);  // 20 ms over 4 calls
  Snapshot c = snap(document({f2}), t0 + 2s);
  rates.apply(c);
  EXPECT_DOUBLE_EQ(c.flows[0].wait_avg_seconds, -1.0);  // nobody waited since
}

TEST(TopFilter, ByKindNamespaceAndText) {
  const Snapshot s =
      snap(document({flow("pipe", endpoint("prod/web/nginx", "prod"), endpoint("host"), 1, 1),
                     flow("unix_stream", endpoint("dev/db/pg", "dev"), endpoint("dev/app/api", "dev"), 1, 1),
                     flow("tcp", endpoint("systemd:sshd.service"), endpoint("10.0.0.1:22"), 1, 1)}),
           t0);
  ViewFilter f;
  EXPECT_EQ(filter_rows(s.flows, f).size(), 3U);
  EXPECT_EQ(f.describe(), "none");
  f.kinds = {"pipe", "tcp"};
  EXPECT_EQ(filter_rows(s.flows, f).size(), 2U);
  f.k8s_namespace = "prod";
  ASSERT_EQ(filter_rows(s.flows, f).size(), 1U);
  EXPECT_EQ(filter_rows(s.flows, f)[0].kind, "pipe");
  f = {};
  f.text = "SSHD";  // case-insensitive
  ASSERT_EQ(filter_rows(s.flows, f).size(), 1U);
  EXPECT_EQ(filter_rows(s.flows, f)[0].kind, "tcp");
  f.text = "unix_stream";  // the kind itself
  EXPECT_EQ(filter_rows(s.flows, f).size(), 1U);
  f.kinds = {"pipe"};
  f.k8s_namespace = "prod";
  EXPECT_EQ(f.describe(), "kind=pipe ns=prod text=unix_stream");
}

TEST(TopTables, KindTotalsAndTheEndpointsView) {
  Snapshot s =
      snap(document({flow("pipe", endpoint("a"), endpoint("b"), 0, 0), flow("pipe", endpoint("b"), endpoint("c"), 0, 0),
                     flow("tcp", endpoint("a"), endpoint("c"), 0, 0)}),
           t0);
  s.flows[0].bytes_per_second = 100;
  s.flows[0].msgs_per_second = 1;
  s.flows[1].bytes_per_second = 50;
  s.flows[2].bytes_per_second = 1000;
  const auto totals = kind_totals(s.flows);
  ASSERT_EQ(totals.size(), 2U);
  EXPECT_EQ(totals[0].kind, "tcp");
  EXPECT_DOUBLE_EQ(totals[1].bytes_per_second, 150.0);
  EXPECT_EQ(totals[1].flows, 2U);

  Table t = endpoints_table(s.flows);
  sort_table(t, default_sort_column(View::Endpoints), true);
  ASSERT_EQ(t.rows.size(), 3U);
  EXPECT_EQ(t.rows[0][0].text, "a");  // out 1100
  EXPECT_DOUBLE_EQ(t.rows[0][2].number, 1100.0);
  EXPECT_EQ(t.rows[1][0].text, "c");  // in 1050
  EXPECT_EQ(t.rows[2][0].text, "b");  // in 100 + out 50
  EXPECT_DOUBLE_EQ(t.rows[2][3].number, 100.0);
  EXPECT_DOUBLE_EQ(t.rows[2][4].number, 50.0);
  EXPECT_EQ(t.rows[2][1].text, "2");  // flows
}

TEST(TopTables, SortByAnyColumnEitherWayWithStableTies) {
  Snapshot s = snap(
      document({flow("pipe", endpoint("b"), endpoint("x"), 5, 500), flow("fifo", endpoint("a"), endpoint("x"), 9, 100),
                flow("tcp", endpoint("c"), endpoint("x"), 1, 500)}),
      t0);
  Table t = flows_table(s.flows);
  sort_table(t, 6, true);  // BYTES, ties (500) by name
  EXPECT_EQ(t.rows[0][0].text, "b");
  EXPECT_EQ(t.rows[1][0].text, "c");
  EXPECT_EQ(t.rows[2][0].text, "a");
  sort_table(t, 5, true);  // MSGS
  EXPECT_EQ(t.rows[0][0].text, "a");
  sort_table(t, 5, false);
  EXPECT_EQ(t.rows[0][0].text, "c");
  sort_table(t, 0, false);  // SRC, by text
  EXPECT_EQ(t.rows[0][0].text, "a");
  EXPECT_EQ(t.rows[2][0].text, "c");
  sort_table(t, 2, false);  // KIND
  EXPECT_EQ(t.rows[0][2].text, "fifo");
  sort_table(t, 99, true);  // out of range: left alone
  EXPECT_EQ(t.rows[0][2].text, "fifo");
}

TEST(TopLayout, FitPadsAndCutsInTheMiddle) {
  EXPECT_EQ(fit("abc", 6, false), "abc   ");
  EXPECT_EQ(fit("abc", 6, true), "   abc");
  EXPECT_EQ(fit("production/checkout-7f9c/payment-gateway", 20, false), "produc...ent-gateway");
  EXPECT_EQ(fit("production/checkout-7f9c/payment-gateway", 20, false).size(), 20U);
  EXPECT_EQ(fit("abcdef", 3, false), "abc");
  EXPECT_EQ(fit("abc", 0, false), "");
  // UTF-8: characters, not bytes.
  EXPECT_EQ(fit("h\xc3\xa9llo", 6, false), "h\xc3\xa9llo ");
  EXPECT_EQ(fit("\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9", 5, false), "\xc3\xa9...\xc3\xa9");
}

TEST(TopLayout, ANameKeepsItsContainerAndShortensNamespaceAndPodFirst) {
  EXPECT_EQ(fit_name("default/ipc-client-pod/ipc-client", 13), "...ipc-client");
  EXPECT_EQ(fit_name("default/web-client-pod/web-client", 13), "...web-client");
  EXPECT_EQ(fit_name("default/ipc-client-pod/ipc-client", 20), "defaul.../ipc-client");
  EXPECT_EQ(fit_name("default/ipc-client-pod/ipc-client", 40), "default/ipc-client-pod/ipc-client       ");
  // A container name longer than the width is cut in its own middle.
  EXPECT_EQ(fit_name("ns/pod/a-very-long-container-name", 13), "a-v...er-name");
  EXPECT_EQ(fit_name("ns/pod/a-very-long-container-name", 13).size(), 13U);
  // No '/' at all (a remote address, "?"): as fit().
  EXPECT_EQ(fit_name("10.20.30.40:51234", 10), fit("10.20.30.40:51234", 10, false));
  EXPECT_EQ(fit_name("abc", 2), "ab");
}

// Names as a cluster has them: the same container in many pods of one deployment (the pod's
// hash is what differs), the same pod names in several namespaces, sidecars of one name.
std::vector<std::string> cluster_names() {
  std::vector<std::string> names;
  for (const std::string ns : {"default", "production", "payments-staging"}) {
    for (const std::string hash : {"5d9f7c-x2k4q", "5d9f7c-x2k4r", "77b6f-pq8zz", "5d9f7c-zzzzz"}) {
      for (const std::string ctr : {"app", "istio-proxy", "ipc-client", "web-client"}) {
        names.push_back(fmt::format("{}/checkout-{}/{}", ns, hash, ctr));
      }
    }
    names.push_back(ns + "/ipc-client-pod/ipc-client");
    names.push_back(ns + "/web-client-pod/web-client");
  }
  names.emplace_back("host");
  names.emplace_back("?");
  names.emplace_back("10.0.0.7:443");
  return names;
}

TEST(TopLayout, NamesOfAColumnStayDistinctAtEveryWidth) {
  const std::vector<std::string> names = cluster_names();
  for (int width = 12; width <= 60; ++width) {
    const auto shown = fit_names(names, width);
    ASSERT_EQ(shown.size(), names.size());
    std::map<std::string, std::string> owner;
    for (const auto& [name, text] : shown) {
      EXPECT_EQ(code_points(text), width) << name << " -> '" << text << "'";
      const auto [it, fresh] = owner.emplace(text, name);
      EXPECT_TRUE(fresh) << "at width " << width << ", '" << text << "' is both " << it->second << " and " << name;
    }
  }
  // The names that fit_name() alone tells apart keep its rendering; a group it does not is cut
  // at one place for all.
  const auto at13 = fit_names({"default/ipc-client-pod/ipc-client", "default/web-client-pod/web-client"}, 13);
  EXPECT_EQ(at13.at("default/ipc-client-pod/ipc-client"), "...ipc-client");
  const auto pods = fit_names({"shop/cart-a/app", "shop/cart-b/app"}, 8);
  EXPECT_EQ(pods.at("shop/cart-a/app"), "...a/app");
  EXPECT_EQ(pods.at("shop/cart-b/app"), "...b/app");
  // More look-alikes than renderings: 25 names that differ only in how long a run of 'p' is, at
  // 16 characters, are told apart by a number where nothing else is left.
  std::vector<std::string> runs;
  for (int k = 24; k <= 48; ++k) runs.push_back("default/" + std::string(static_cast<size_t>(k), 'p') + "/web");
  const auto numbered = fit_names(runs, 16);
  std::set<std::string> texts;
  for (const auto& [name, text] : numbered) {
    EXPECT_EQ(code_points(text), 16) << text;
    texts.insert(text);
  }
  EXPECT_EQ(texts.size(), runs.size());
  // Differing only in the middle, beyond any single cut: each shows where it differs.
  const auto middle = fit_names({"aaaaaaaaaa1aaaaaaaaaa/x", "aaaaaaaaaa2aaaaaaaaaa/x"}, 9);
  EXPECT_EQ(middle.at("aaaaaaaaaa1aaaaaaaaaa/x"), "...a1a...");
  EXPECT_EQ(middle.at("aaaaaaaaaa2aaaaaaaaaa/x"), "...a2a...");
}

TEST(TopLayout, TheRowsShownTellTheirNamesApart) {
  std::vector<json> flows;
  for (const std::string& name : cluster_names()) flows.push_back(flow("pipe", endpoint(name), endpoint("host"), 1, 1));
  const Snapshot s = snap(document(flows), t0);
  for (const auto& [width, height] : std::vector<std::pair<int, int>>{{80, 24}, {120, 40}, {68, 12}}) {
    FrameState state;
    state.sort_column = 0;
    state.descending = false;
    const auto lines = render_screen(s, state, "12:00:00", width, height);
    ASSERT_EQ(lines.size(), static_cast<size_t>(height - 1));
    std::set<std::string> src;
    for (size_t i = kHeaderLines + 1; i < lines.size(); ++i) {
      EXPECT_LE(code_points(lines[i]), width) << lines[i];
      const std::string cell = lines[i].substr(0, lines[i].find(' '));
      EXPECT_TRUE(src.insert(cell).second) << width << "x" << height << ": " << cell << " twice";
    }
    EXPECT_EQ(src.size(), static_cast<size_t>(height - kHeaderLines - 2));
  }
}

TEST(TopLayout, BelowTheMinimumTheScreenSaysItIsTooSmall) {
  const Snapshot s = snap(document({flow("pipe", endpoint("a/b/c"), endpoint("d/e/f"), 1, 1)}), t0);
  for (const auto& [width, height] : std::vector<std::pair<int, int>>{{40, 10}, {67, 24}, {80, 11}, {1, 1}}) {
    const auto lines = render_screen(s, FrameState{}, "12:00:00", width, height);
    ASSERT_EQ(lines.size(), 1U);
    const std::string full = fmt::format("terminal too small ({}x{}): needs 68x12", width, height);
    EXPECT_LE(code_points(lines[0]), width) << lines[0];
    if (code_points(full) <= width) {
      EXPECT_EQ(lines[0], full);
    } else if (width >= 4) {
      EXPECT_EQ(lines[0], full.substr(0, static_cast<size_t>(width - 3)) + "...");
    } else {
      EXPECT_EQ(lines[0], full.substr(0, static_cast<size_t>(width)));
    }
  }
  EXPECT_EQ(render_screen(s, FrameState{}, "12:00:00", 40, 10)[0], "terminal too small (40x10): needs 68x12");
  // At the minimum, both names, the kind and both rates are there.
  const auto lines = render_screen(s, FrameState{}, "12:00:00", 68, 12);
  ASSERT_GE(lines.size(), static_cast<size_t>(kHeaderLines + 2));
  std::istringstream header(lines[kHeaderLines]);
  std::vector<std::string> titles;
  for (std::string w; header >> w;) titles.push_back(w);
  EXPECT_EQ(titles, (std::vector<std::string>{"SRC", "DST", "KIND", "MSG/S", "BYTES/S"}));
}

TEST(TopLayout, WideTerminalsShareTheRestBetweenTheNames) {
  Snapshot s = snap(document({flow("pipe", endpoint(std::string(60, 's')), endpoint(std::string(60, 'd')), 1, 1)}), t0);
  const Table t = flows_table(s.flows);
  const std::vector<int> w = layout_columns(t, 120);
  int total = -1;  // a space between shown columns
  for (int x : w) total += x > 0 ? x + 1 : 0;
  EXPECT_EQ(total, 120);
  EXPECT_EQ(w[8], 0);  // the processes: only with 32 more for the names
  EXPECT_EQ(w[9], 0);
  EXPECT_LE(std::abs(w[0] - w[1]), 1);
  EXPECT_EQ(w[2], 14);  // KIND fixed
  for (const auto& line : render_table(t, w, -1)) EXPECT_LE(line.size(), 120U) << line;

  // Short names take only what they need.
  Snapshot small = snap(document({flow("pipe", endpoint("a"), endpoint("b"), 1, 1)}), t0);
  const std::vector<int> ws = layout_columns(flows_table(small.flows), 200);
  EXPECT_EQ(ws[0], 16);
  EXPECT_EQ(ws[1], 16);
}

TEST(TopLayout, NarrowTerminalsDropTheLeastUsefulColumnsFirst) {
  Snapshot s = snap(document({flow("pipe", endpoint("src"), endpoint("dst"), 1, 1)}), t0);
  const Table t = flows_table(s.flows);
  // Everything at its least, and 32 more for the names beside the processes: 16+16+14+7+11+7+10+7
  // + 24+24 + 9 spaces + 2x16 = 177.
  std::vector<int> w = layout_columns(t, 177);
  EXPECT_TRUE(std::all_of(w.begin(), w.end(), [](int x) { return x > 0; }));
  w = layout_columns(t, 176);
  EXPECT_EQ(w[9], 0);  // the processes go first, together
  EXPECT_EQ(w[8], 0);
  EXPECT_EQ(w[7], 7);
  w = layout_columns(t, 95);  // without them, everything at its least
  EXPECT_EQ(w, (std::vector<int>{16, 16, 14, 7, 11, 7, 10, 7, 0, 0}));
  w = layout_columns(t, 94);
  EXPECT_EQ(w[7], 0);  // WAIT goes first
  EXPECT_GT(w[5], 0);
  w = layout_columns(t, 80);  // then MSGS: at 80, both names, the kind, both rates and BYTES
  EXPECT_EQ(w[5], 0);
  EXPECT_EQ(w, (std::vector<int>{16, 16, 14, 7, 11, 0, 10, 0, 0, 0}));  // short names: no more than that
  w = layout_columns(t, kMinWidth);  // then BYTES: both names, the kind and both rates
  EXPECT_EQ(w, (std::vector<int>{16, 16, 14, 7, 11, 0, 0, 0, 0, 0}));
  w = layout_columns(t, 10);  // only the names are left, then one of them, squeezed
  int visible = 0;
  for (int x : w) visible += x > 0 ? 1 : 0;
  EXPECT_EQ(visible, 1);
  EXPECT_EQ(w[0], 10);
  for (int width : {1, 5, 20, 33, 47, 61, 79, 100}) {
    for (const auto& line : render_table(t, layout_columns(t, width), -1)) {
      EXPECT_LE(line.size(), static_cast<size_t>(width)) << "width " << width << ": " << line;
    }
  }
}

TEST(TopLayout, BatchWidthIsTheWidestCell) {
  Snapshot s = snap(document({flow("unix_seqpacket", endpoint(std::string(70, 'x')), endpoint("y"), 1, 1)}), t0);
  const Table t = flows_table(s.flows);
  const std::vector<int> w = layout_columns(t, 0);
  EXPECT_EQ(w[0], 70);
  EXPECT_EQ(w[1], 3);  // "DST"
  EXPECT_EQ(w[2], 14);
  const auto lines = render_table(t, w, -1);
  ASSERT_EQ(lines.size(), 2U);
  EXPECT_EQ(lines[1].substr(0, 70), std::string(70, 'x'));
}

TEST(TopFrame, BatchFrameHasTheHeaderAndEveryRow) {
  json f = flow("fifo", endpoint("prod/web/nginx", "prod"), endpoint("prod/web/php", "prod"), 10, 10000);
  json s2 = flow("sysv_shm", endpoint("prod/db/pg", "prod"), endpoint("prod/db/backup", "prod"), 2, 0);
  s2["shm"] = {{"size_bytes", 65536}, {"attached", 2}};
  Snapshot s = snap(document({f, s2}), t0);
  s.flows[0].bytes_per_second = 2048;
  s.flows[0].msgs_per_second = 2;
  FrameState state;
  state.source = "local";
  const auto lines = render_frame(s, state, "12:00:00", 0, -1);
  ASSERT_EQ(lines.size(), 9U);
  EXPECT_EQ(lines[0], "ipctrace top - 12:00:00 - node node-1 - Linux 6.18.0 - every 2s");
  EXPECT_EQ(lines[1], "flows 2 shown / 2 - records lost 3 (ringbuf_full 3)");
  EXPECT_EQ(lines[2], "hooks: raw_tp(unix) tp_btf(pipe_fifo)");
  EXPECT_EQ(lines[3], "per kind: fifo 2 msg/s 2.00 KiB/s | sysv_shm 0 msg/s 0 B/s");
  EXPECT_EQ(lines[4], "view flows - sort BYTES/S desc - filter none - h for help");
  EXPECT_EQ(lines[5], "");
  std::istringstream header(lines[6]);
  std::vector<std::string> titles;
  for (std::string w; header >> w;) titles.push_back(w);
  EXPECT_EQ(titles, (std::vector<std::string>{"SRC", "DST", "KIND", "MSG/S", "BYTES/S", "MSGS", "BYTES", "WAIT",
                                              "SRC-PROC", "DST-PROC"}));
  std::istringstream row(lines[7]);
  std::vector<std::string> cells;
  for (std::string w; row >> w;) cells.push_back(w);
  EXPECT_EQ(cells, (std::vector<std::string>{"prod/web/nginx", "prod/web/php", "fifo", "2", "2.00", "KiB/s", "10",
                                             "9.77", "KiB", "-", "[42]", "[42]"}));
  EXPECT_THAT(lines[8], HasSubstr("64.0 KiB*")) << lines[8];
}

TEST(TopFrame, ZeroFlowsTinyWidthsAndFilteredOut) {
  const Snapshot empty = snap(document({}), t0);
  FrameState state;
  state.source = "http://agent:9477";
  state.paused = true;
  auto lines = render_frame(empty, state, "00:00:00", 0, -1);
  EXPECT_EQ(lines.back(), "(no flows yet)");
  EXPECT_THAT(lines[0], HasSubstr("remote http://agent:9477 - PAUSED"));
  for (int width : {1, 3, 10, 25}) {
    for (const auto& l : render_frame(empty, state, "00:00:00", width, 5)) {
      EXPECT_LE(l.size(), static_cast<size_t>(std::max(width, 14))) << l;  // "(no flows yet)" is not cut
    }
  }
  const Snapshot one = snap(document({flow("pipe", endpoint("a"), endpoint("b"), 1, 1)}), t0);
  state.filter.kinds = {"tcp"};
  lines = render_frame(one, state, "00:00:00", 0, -1);
  EXPECT_EQ(lines.back(), "(no flows match the filter)");
  EXPECT_THAT(lines[1], HasSubstr("flows 0 shown / 1"));
}

TEST(TopFrame, MaxRowsLimitsTheTable) {
  std::vector<json> flows;
  flows.reserve(50);
  for (int i = 0; i < 50; ++i)
    flows.push_back(flow("pipe", endpoint(std::string("w").append(std::to_string(i))), endpoint("r"), 1, i));
  const Snapshot s = snap(document(flows), t0);
  const auto lines = render_frame(s, FrameState{}, "t", 100, 10);
  EXPECT_EQ(lines.size(), 5U + 1U + 1U + 10U);
}
