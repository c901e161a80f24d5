// The flows report as a table and as JSON (exporters/flows_format.h), and the JSON read back by
// `top` (exporters/top_view.h) with every figure it shows.
#include "exporters/flows_format.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <string>

#include "base/text.h"
#include "exporters/json_text.h"
#include "exporters/top_view.h"
#include "kernel/abi.h"
#include "kernel/kinds.h"

namespace ipctrace {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

Endpoint pod(uint64_t id, const std::string& pod_name, const std::string& container) {
  Endpoint e;
  e.cgroup_id = id;
  e.cgroup.path = "/kubepods/pod1/" + std::to_string(id);
  e.cgroup.runtime = "containerd";
  e.cgroup.container_id = "3f1c2a9b0d4e" + std::to_string(id);
  e.runtime = "containerd";
  e.k8s_namespace = "shop";
  e.pod = pod_name;
  e.pod_uid = "1234-5678";
  e.container = container;
  return e;
}

FlowsReport sample() {
  FlowsReport r;
  r.node = "worker-7";
  r.kernel = "6.18.44";
  r.duration_seconds = 12.5;
  FlowView fifo;
  fifo.kind = IPCT_KIND_FIFO;
  fifo.src = {EndpointRef::cgroup(101), pod(101, "cart", "writer"), TaskHint{4242, "writer", {1, 2, 3, 4, 5, 6, 7, 0}}};
  fifo.dst = {EndpointRef::cgroup(102), pod(102, "cart", "reader"), TaskHint{4343, "reader", {}}};
  fifo.msgs = 10;
  fifo.bytes = 10000;
  fifo.recv_msgs = 3;
  fifo.recv_bytes = 10000;
  fifo.msgs_per_second = 2;
  fifo.bytes_per_second = 2000;
  fifo.first_seen = std::chrono::system_clock::time_point(std::chrono::milliseconds(1764460800123));
  fifo.last_seen = fifo.first_seen + 2s;
  fifo.channels = {{"fifo:ino=77,dev=0:14", std::string("/run/cart/") + static_cast<char>(0xff) + "\n.fifo"}};
  FlowView tcp;
  tcp.kind = IPCT_KIND_TCP;
  tcp.src = {EndpointRef::cgroup(102), pod(102, "cart", "reader"), {}};
  tcp.dst = {EndpointRef::address("10.0.0.5:443"), {}, {}};
  tcp.msgs = 1;
  tcp.bytes = 100;
  tcp.first_seen = fifo.first_seen;
  tcp.last_seen = fifo.first_seen;
  tcp.channels = {{"tcp:10.0.0.5:443", ""}};
  r.flows = {fifo, tcp};
  WaitSample w;
  w.cgroup_id = 102;
  w.kind = IPCT_KIND_FIFO;
  w.slots[0] = 1;   // under 1 us
  w.slots[11] = 2;  // [1024, 2048) us
  w.count = 3;
  w.sum_ns = 3'000'000;
  r.waits = {w};
  r.drops[IPCT_DROP_FOLD_MAP_FULL] = 4;
  r.hooks = {{Mechanism::PipeFifo, HookFamily::TpBtf, {"ipct_sys_exit_cast"}},
             {Mechanism::PipeFifo, HookFamily::TpBtf, {"ipct_sys_enter_cast"}}};
  return r;
}

TEST(FlowsJson, EveryFieldOfAFlowAndItsEnds) {
  const json j = flows_to_json(sample());
  EXPECT_EQ(j["node"], "worker-7");
  EXPECT_EQ(j["kernel"], "6.18.44");
  EXPECT_EQ(j["duration_seconds"], 12.5);
  EXPECT_EQ(j["lost"]["fold_map_full"], 4);
  EXPECT_EQ(j["lost"]["ringbuf_full"], 0);
  EXPECT_EQ(j["hooks"], (json{{"pipe_fifo", "tp_btf"}}));
  ASSERT_EQ(j["flows"].size(), 2U);
  const json& f = j["flows"][0];
  EXPECT_EQ(f["kind"], "fifo");
  EXPECT_EQ(f["messages"], 10);
  EXPECT_EQ(f["bytes"], 10000);
  EXPECT_EQ(f["received_messages"], 3);
  EXPECT_EQ(f["received_bytes"], 10000);
  EXPECT_EQ(f["counted_at"], "sender");
  EXPECT_EQ(f["messages_per_second"], 2.0);
  EXPECT_EQ(f["bytes_per_second"], 2000.0);
  EXPECT_EQ(f["first_seen"], "2025-11-30T00:00:00.123Z");
  EXPECT_EQ(f["last_seen"], "2025-11-30T00:00:02.123Z");
  // The path as the process wrote it, made valid UTF-8 where it is not (json_text() writes it so).
  EXPECT_EQ(with_valid_strings(f["channels"]),
            json::parse(R"([{"id": "fifo:ino=77,dev=0:14", "path": "/run/cart/\\x{FF}\n.fifo"}])"));
  EXPECT_EQ(j["flows"][1]["channels"], json::parse(R"([{"id": "tcp:10.0.0.5:443", "path": null}])"));
  EXPECT_EQ(f["shm"], nullptr);
  EXPECT_EQ(f["receiver_wait"]["count"], 3);
  EXPECT_EQ(f["receiver_wait"]["sum_seconds"], 0.003);
  EXPECT_EQ(f["receiver_wait"]["buckets"], json::parse(R"([{"le_seconds": 1e-6, "count": 1},
                                                            {"le_seconds": 0.002048, "count": 3}])"));
  const json src = {
      {"type", "cgroup"},
      {"name", "shop/cart/writer"},
      {"cgroup_id", 101},
      {"cgroup_path", "/kubepods/pod1/101"},
      {"runtime", "containerd"},
      {"container_id", "3f1c2a9b0d4e101"},
      {"namespace", "shop"},
      {"pod", "cart"},
      {"pod_uid", "1234-5678"},
      {"container", "writer"},
      {"unit", ""},
      {"sandbox", false},
      {"partial", false},
      {"pid", 4242},
      {"comm", "writer"},
      {"namespaces", {{"ipc", 1}, {"net", 2}, {"pid", 3}, {"mnt", 4}, {"uts", 5}, {"cgroup", 6}, {"user", 7}}}};
  EXPECT_EQ(f["src"], src);
  EXPECT_FALSE(f["dst"].contains("namespaces"));  // no namespace ids recorded at that end
  const json& t = j["flows"][1];
  EXPECT_EQ(t["dst"], (json{{"type", "remote"}, {"name", "10.0.0.5:443"}, {"address", "10.0.0.5:443"}}));
  EXPECT_EQ(t["receiver_wait"], nullptr);
  EXPECT_EQ(t["counted_at"], "sender");
}

TEST(FlowsJson, AFlowFromARemotePeerSaysItIsCountedAtTheReceiver) {
  FlowsReport r;
  FlowView v;
  v.kind = IPCT_KIND_TCP;
  v.src = {EndpointRef::address("192.0.2.7:51000"), {}, {}};
  v.dst = {EndpointRef::cgroup(101), {}, {}};
  v.msgs = v.recv_msgs = 4;
  v.bytes = v.recv_bytes = 1234;
  v.counted_at_receiver = true;
  r.flows = {v};
  const json j = flows_to_json(r);
  EXPECT_EQ(j["flows"][0]["counted_at"], "receiver");
  EXPECT_EQ(j["flows"][0]["bytes"], 1234);
  EXPECT_EQ(j["flows"][0]["received_bytes"], 1234);
}

TEST(FlowsJson, FoldedOperationsHaveAPeerOfTypeOther) {
  FlowsReport r;
  FlowView v;
  v.kind = IPCT_KIND_PIPE;
  v.src = {EndpointRef::cgroup(101), pod(101, "cart", "writer"), {}};
  v.dst = {EndpointRef::other(), {}, {}};
  v.msgs = 36;
  v.bytes = 3600;
  r.flows = {v};
  const json j = flows_to_json(r);
  EXPECT_EQ(j["flows"][0]["dst"]["type"], "other");
  EXPECT_EQ(j["flows"][0]["dst"]["name"], "(other)");
  EXPECT_EQ(j["flows"][0]["src"]["container"], "writer");
  EXPECT_EQ(j["flows"][0]["messages"], 36);
  EXPECT_EQ(j["flows"][0]["bytes"], 3600);
}

TEST(FlowsTable, AlignedColumnsAndTotals) {
  const std::string table = flows_to_table(sample());
  EXPECT_EQ(table,
            "KIND           SOURCE                                   DESTINATION                                  MSGS "
            "     BYTES    MSGS/S     BYTES/S   WAIT AVG\n"
            "fifo           shop/cart/writer                         shop/cart/reader                               10 "
            "  9.77 KiB         2  1.95 KiB/s      1.0ms\n"
            "tcp            shop/cart/reader                         10.0.0.5:443                                    1 "
            "     100 B         0       0 B/s          -\n"
            "\n"
            "2 flows over 12.5s; 4 records lost\n");
}

// --output wide: the process of each end, "comm[pid]"; "-" where none was recorded; a task name
// the process set (prctl) escaped, and cut at its start so the pid stays.
TEST(FlowsTable, WideAddsTheProcessOfEachEnd) {
  FlowsReport r = sample();
  r.flows[0].src.task.tgid = 4242;
  r.flows[0].src.task.comm = "nginx";
  r.flows[0].dst.task.tgid = 77;
  r.flows[0].dst.task.comm = "ph\x1b\x1b\x1bp";  // escaped and with its pid: 31 characters
  r.flows[1].src.task.tgid = 4194304;
  r.flows[1].src.task.comm = "a-long-task-nam";  // 15 bytes, the kernel's most
  const std::string table = flows_to_table(r, true);
  EXPECT_EQ(table,
            "KIND           SOURCE                                   DESTINATION                                  MSGS "
            "     BYTES    MSGS/S     BYTES/S   WAIT AVG SRC PROCESS              DST PROCESS\n"
            "fifo           shop/cart/writer                         shop/cart/reader                               10 "
            "  9.77 KiB         2  1.95 KiB/s      1.0ms nginx[4242]              …B}\\u{001B}\\u{001B}p[77]\n"
            "tcp            shop/cart/reader                         10.0.0.5:443                                    1 "
            "     100 B         0       0 B/s          - a-long-task-nam[4194304] -\n"
            "\n"
            "2 flows over 12.5s; 4 records lost\n")
      << table;
  // Without wide, the table is as it was.
  EXPECT_EQ(flows_to_table(r).find("PROCESS"), std::string::npos);
}

// Names a container chose, hostile: escape sequences and a newline (which would forge a row),
// invalid UTF-8, and a name of 50 'é' (cut on a character, not inside one). One row per flow,
// nothing a terminal acts on, valid UTF-8.
TEST(FlowsTable, HostileNamesAreEscapedAndCutOnCharacters) {
  FlowsReport r = sample();
  r.flows.resize(1);
  std::string accents;
  for (int i = 0; i < 50; ++i) accents += "é";
  r.flows[0].src.endpoint.container = "w\x1b[2J\nfake";
  r.flows[0].dst.endpoint.pod = "";
  r.flows[0].dst.endpoint.k8s_namespace = "";
  r.flows[0].dst.endpoint.container = accents;
  const std::string table = flows_to_table(r);
  EXPECT_TRUE(is_valid_utf8(table));
  EXPECT_EQ(std::count(table.begin(), table.end(), '\n'), 4);  // header, one row, blank, totals
  EXPECT_EQ(table.find('\x1b'), std::string::npos);
  EXPECT_NE(table.find("shop/cart/w\\u{001B}[2J\\u{000A}fake "), std::string::npos) << table;
  std::string cut = "…";
  for (int i = 0; i < 39; ++i) cut += "é";
  EXPECT_NE(table.find(" " + cut + " "), std::string::npos) << table;
}

// The same in JSON: a process name with invalid UTF-8 (what `printf 'A\377B' > /proc/self/comm`
// makes) is written, not thrown on; two names that differ only in an invalid byte stay apart;
// non-ASCII text is \u-escaped, so the text is valid JSON and safe on a terminal.
TEST(FlowsJson, InvalidUtf8AndControlsAreWrittenAndStayApart) {
  FlowsReport r = sample();
  r.flows[0].src.task.comm = "A\377B";
  r.flows[0].dst.task.comm = "A\376B";
  r.flows[0].src.endpoint.container =
      "ctr\xe2\x80\xae"
      "evil";  // RIGHT-TO-LEFT OVERRIDE
  const std::string text = json_text(flows_to_json(r), 2);
  EXPECT_TRUE(is_valid_utf8(text));
  for (const char c : text) ASSERT_LT(static_cast<unsigned char>(c), 0x80U) << "not ASCII";
  const json back = json::parse(text);
  EXPECT_EQ(back["flows"][0]["src"]["comm"], "A\\x{FF}B");
  EXPECT_EQ(back["flows"][0]["dst"]["comm"], "A\\x{FE}B");
  EXPECT_EQ(back["flows"][0]["src"]["container"],
            "ctr\xe2\x80\xae"
            "evil");
  EXPECT_NE(text.find("ctr\\u202eevil"), std::string::npos);
  // top reads it back to the bytes, and shows them escaped
  auto snap = top::snapshot_from_json(back, std::chrono::steady_clock::now());
  ASSERT_TRUE(snap.ok()) << snap.error().message();
  top::FrameState state;
  state.source = "local";
  std::string frame;
  for (const std::string& line : top::render_frame(*snap, state, "12:00:00", 200, 10)) frame += line + "\n";
  EXPECT_NE(frame.find("ctr\\u{202E}evil"), std::string::npos) << frame;
  EXPECT_EQ(frame.find("\xe2\x80\xae"), std::string::npos) << frame;
}

TEST(FlowsJson, TopReadsBackEveryFigureItShows) {
  const FlowsReport report = sample();
  auto snap = top::snapshot_from_json(flows_to_json(report), std::chrono::steady_clock::now());
  ASSERT_TRUE(snap.ok()) << snap.error().message();
  EXPECT_EQ(snap->node, "worker-7");
  EXPECT_EQ(snap->kernel, "6.18.44");
  EXPECT_EQ(snap->hooks, (std::map<std::string, std::string>{{"pipe_fifo", "tp_btf"}}));
  EXPECT_EQ(snap->lost.at("fold_map_full"), 4U);
  ASSERT_EQ(snap->flows.size(), report.flows.size());
  for (size_t i = 0; i < report.flows.size(); ++i) {
    const FlowView& v = report.flows[i];
    const top::FlowRow& row = snap->flows[i];
    EXPECT_EQ(row.kind, kind_name(v.kind));
    EXPECT_EQ(row.src.name, v.src.name());
    EXPECT_EQ(row.dst.name, v.dst.name());
    EXPECT_EQ(row.src.k8s_namespace, v.src.endpoint.k8s_namespace);
    EXPECT_EQ(row.src.pod, v.src.endpoint.pod);
    EXPECT_EQ(row.src.container, v.src.endpoint.container);
    EXPECT_EQ(row.msgs, v.msgs);
    EXPECT_EQ(row.bytes, v.bytes);
    EXPECT_EQ(row.recv_msgs, v.recv_msgs);
    EXPECT_EQ(row.recv_bytes, v.recv_bytes);
    EXPECT_EQ(row.msgs_per_second, v.msgs_per_second);
    EXPECT_EQ(row.bytes_per_second, v.bytes_per_second);
  }
  EXPECT_EQ(snap->flows[0].src.type, "cgroup");
  EXPECT_EQ(snap->flows[1].dst.type, "remote");
  EXPECT_EQ(snap->flows[0].wait_count, 3U);
  EXPECT_DOUBLE_EQ(snap->flows[0].wait_sum_seconds, 0.003);
  EXPECT_DOUBLE_EQ(snap->flows[0].wait_avg_seconds, 0.001);
  EXPECT_EQ(snap->flows[1].wait_count, 0U);
}

TEST(HumanUnits, BytesAndCounts) {
  EXPECT_EQ(human_bytes(0), "0 B");
  EXPECT_EQ(human_bytes(999), "999 B");
  EXPECT_EQ(human_bytes(10000), "9.77 KiB");
  EXPECT_EQ(human_bytes(1.5 * 1024 * 1024), "1.50 MiB");
  EXPECT_EQ(human_bytes(200.0 * 1024 * 1024 * 1024), "200 GiB");
  EXPECT_EQ(human_count(999), "999");
  EXPECT_EQ(human_count(1200), "1.20k");
  EXPECT_EQ(human_count(3'400'000), "3.40M");
  EXPECT_EQ(human_count(45'600), "45.6k");
}

}  // namespace
}  // namespace ipctrace
