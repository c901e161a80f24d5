// Prometheus metrics from collection cycles: exact counter values, counters that never go
// backwards, the cardinality cap, idle removal, wait histograms, shared memory, self metrics.
#include "exporters/metrics.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <list>
#include <regex>
#include <sstream>
#include <string>
#include <tuple>

using ::testing::HasSubstr;
using ::testing::Not;

using namespace ipctrace;
using namespace std::chrono_literals;

namespace {

const auto t0 = std::chrono::steady_clock::time_point(std::chrono::seconds(5000));

// Cgroup ids 100+: pods in namespace "shop" (pod = "p<id>", container = "c<id>"); 7: a systemd
// unit; 1: the root cgroup.
Endpoint name_of(uint64_t id) {
  Endpoint e;
  e.cgroup_id = id;
  if (id == 1) {
    e.cgroup.path = "/";
    e.cgroup.runtime = "host";
    e.container = "/";
    return e;
  }
  if (id == 7) {
    e.cgroup.path = "/system.slice/nginx.service";
    e.cgroup.runtime = "systemd";
    e.cgroup.unit = "nginx.service";
    e.container = "nginx.service";
    return e;
  }
  e.cgroup.runtime = "containerd";
  e.k8s_namespace = "shop";
  e.pod = "p" + std::to_string(id);
  e.container = "c" + std::to_string(id);
  return e;
}
const Namer namer = name_of;

FlowState flow(int kind, uint64_t src, uint64_t dst, uint64_t msgs, uint64_t bytes, const std::string& channel = "ch") {
  FlowState f;
  f.flow.kind = kind;
  f.flow.channel = channel;
  f.flow.src = EndpointRef::cgroup(src);
  f.flow.dst = EndpointRef::cgroup(dst);
  f.flow.msgs = msgs;
  f.flow.bytes = bytes;
  // One serial per id, as the collector gives a flow it holds (FlowState::serial).
  static std::map<std::tuple<int, std::string, EndpointRef, EndpointRef>, uint64_t> serials;
  f.serial = serials.try_emplace(f.flow.id(), serials.size() + 1).first->second;
  return f;
}

// The flows a cycle points at (MetricsCycle::flows), kept for the test's life as the collector
// keeps its own until the next collection.
MetricsCycle cycle(std::vector<FlowState> flows, std::chrono::steady_clock::time_point now) {
  static std::list<std::vector<FlowState>> held;
  held.push_back(std::move(flows));
  MetricsCycle c;
  for (const FlowState& f : held.back()) c.flows.push_back(&f);
  c.now = now;
  return c;
}

// The value of the sample line `name{labels}` in the text, or -1 if absent.
double sample(const std::string& text, const std::string& series) {
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(series + " ", 0) == 0) return std::stod(line.substr(series.size() + 1));
  }
  return -1;
}

std::string ipc(const std::string& name, const std::string& kind, uint64_t src, uint64_t dst) {
  return name + "{dst_container=\"c" + std::to_string(dst) + "\",dst_namespace=\"shop\",dst_pod=\"p" +
         std::to_string(dst) + "\",kind=\"" + kind + "\",side=\"send\",src_container=\"c" + std::to_string(src) +
         "\",src_namespace=\"shop\",src_pod=\"p" + std::to_string(src) + "\"}";
}

}  // namespace

TEST(Metrics, EndpointLabelsFollowTheContract) {
  const EndpointLabels pod = endpoint_labels(EndpointRef::cgroup(100), {}, namer);
  EXPECT_EQ(pod.k8s_namespace, "shop");
  EXPECT_EQ(pod.pod, "p100");
  EXPECT_EQ(pod.container, "c100");
  const EndpointLabels unit = endpoint_labels(EndpointRef::cgroup(7), {}, namer);
  EXPECT_EQ(unit.k8s_namespace, "");
  EXPECT_EQ(unit.pod, "");
  EXPECT_EQ(unit.container, "nginx.service");
  EXPECT_EQ(endpoint_labels(EndpointRef::cgroup(1), {}, namer).container, "/");
  EXPECT_EQ(endpoint_labels(EndpointRef::address("10.0.0.7:443"), {}, namer).container, "10.0.0.7");
  EXPECT_EQ(endpoint_labels(EndpointRef::address("[2001:db8::1]:80"), {}, namer).container, "2001:db8::1");
  const EndpointLabels unknown = endpoint_labels(EndpointRef::unknown(), {}, namer);
  EXPECT_EQ(unknown.container + unknown.pod + unknown.k8s_namespace, "");
}

TEST(Metrics, RootCgroupProcessesAreLabelledByTheirExecutable) {
  TaskHint dockerd;
  dockerd.tgid = 812;
  dockerd.comm = "innocent";  // a process sets its comm: never a label
  dockerd.exe = "dockerd";
  const EndpointLabels host = endpoint_labels(EndpointRef::cgroup(1), dockerd, namer);
  EXPECT_EQ(host.container, "host:dockerd");
  EXPECT_EQ(host.k8s_namespace + host.pod, "");
  // Only the root cgroup is split by executable: a unit and a pod keep their names.
  EXPECT_EQ(endpoint_labels(EndpointRef::cgroup(7), dockerd, namer).container, "nginx.service");
  EXPECT_EQ(endpoint_labels(EndpointRef::cgroup(100), dockerd, namer).container, "c100");
  TaskHint unknown_exe;
  unknown_exe.tgid = 9;
  unknown_exe.comm = "kworker";
  EXPECT_EQ(endpoint_labels(EndpointRef::cgroup(1), unknown_exe, namer).container, "/");
  // Invalid UTF-8 in a file name is escaped (base/text.h valid_utf8()).
  TaskHint odd;
  odd.exe = std::string("d") + static_cast<char>(0xff) + "mon";
  const std::string label = endpoint_labels(EndpointRef::cgroup(1), odd, namer).container;
  EXPECT_EQ(label, "host:d\\x{FF}mon");
}

TEST(Metrics, TwoHostExecutablesAreTwoSeries) {
  MetricsExporter m({}, {"0.1.0", "abc", "6.18", "1.1"});
  FlowState a = flow(IPCT_KIND_UNIX_STREAM, 100, 1, 3, 300, "unix:a");
  a.flow.dst_task.tgid = 40;
  a.flow.dst_task.exe = "containerd";
  FlowState b = flow(IPCT_KIND_UNIX_STREAM, 100, 1, 5, 500, "unix:b");
  b.flow.dst_task.tgid = 41;
  b.flow.dst_task.exe = "dockerd";
  m.update(cycle({a, b}, t0), namer);
  const std::string text = m.scrape();
  const std::string head = "ipctrace_ipc_bytes_total{dst_container=\"host:";
  const std::string tail =
      "\",dst_namespace=\"\",dst_pod=\"\",kind=\"unix_stream\",side=\"send\",src_container=\"c100\",src_"
      "namespace=\"shop\",src_pod=\"p100\"}";
  EXPECT_EQ(sample(text, head + "containerd" + tail), 300) << text;
  EXPECT_EQ(sample(text, head + "dockerd" + tail), 500) << text;
}

TEST(Metrics, CountersAreTheFlowsTotalsAndNeverGoBackwards) {
  MetricsExporter m({}, {"0.1.0", "abc", "6.18", "1.1"});
  m.update(cycle({flow(IPCT_KIND_PIPE, 100, 101, 10, 10000)}, t0), namer);
  std::string text = m.scrape();
  EXPECT_EQ(sample(text, ipc("ipctrace_ipc_bytes_total", "pipe", 100, 101)), 10000);
  EXPECT_EQ(sample(text, ipc("ipctrace_ipc_messages_total", "pipe", 100, 101)), 10);

  // Two channels between the same endpoints add up; the first moved 5 more messages.
  m.update(cycle({flow(IPCT_KIND_PIPE, 100, 101, 15, 15000), flow(IPCT_KIND_PIPE, 100, 101, 1, 7, "other")}, t0 + 1s),
           namer);
  text = m.scrape();
  EXPECT_EQ(sample(text, ipc("ipctrace_ipc_bytes_total", "pipe", 100, 101)), 15007);
  EXPECT_EQ(sample(text, ipc("ipctrace_ipc_messages_total", "pipe", 100, 101)), 16);

  // The collector forgot the first channel and sees it again from zero: the counter goes on.
  m.update(cycle({flow(IPCT_KIND_PIPE, 100, 101, 2, 20), flow(IPCT_KIND_PIPE, 100, 101, 1, 7, "other")}, t0 + 2s),
           namer);
  text = m.scrape();
  EXPECT_EQ(sample(text, ipc("ipctrace_ipc_bytes_total", "pipe", 100, 101)), 15027);
  EXPECT_EQ(sample(text, ipc("ipctrace_ipc_messages_total", "pipe", 100, 101)), 18);
  // Contract names and types.
  EXPECT_THAT(text, HasSubstr("# TYPE ipctrace_ipc_bytes_total counter"));
  EXPECT_THAT(text, HasSubstr("# TYPE ipctrace_ipc_messages_total counter"));
  EXPECT_EQ(sample(text, "ipctrace_build_info{commit=\"abc\",kernel=\"6.18\",libbpf=\"1.1\",version=\"0.1.0\"}"), 1);
  EXPECT_EQ(sample(text, "ipctrace_collections_total"), 3);
}

// A flow the collector forgot (idle, released) and made again under the same id is a new flow,
// a new serial: all it holds is new, even when it holds more than the old one had counted (by the
// id alone, 25 messages would have shown as 15).
TEST(Metrics, AFlowMadeAgainIsCountedWholeByItsSerial) {
  MetricsExporter m({}, {"0.1.0", "abc", "6.18", "1.1"});
  FlowState first = flow(IPCT_KIND_PIPE, 100, 101, 10, 1000, "pipe:ino=9");
  m.update(cycle({first}, t0), namer);
  FlowState again = first;
  again.serial = first.serial + 1000;
  again.flow.msgs = 15;
  again.flow.bytes = 1500;
  m.update(cycle({again}, t0 + 1s), namer);
  const std::string text = m.scrape();
  EXPECT_EQ(sample(text, ipc("ipctrace_ipc_messages_total", "pipe", 100, 101)), 25);
  EXPECT_EQ(sample(text, ipc("ipctrace_ipc_bytes_total", "pipe", 100, 101)), 2500);
}

// Data sent before the reader was seen: one cycle counts 3 messages to an unknown peer; the
// next, the collector moves them to the joined flow (6 with the 3 since). The unknown peer's
// series keeps its 3, the joined series counts the 3 new ones: 6 in all, as sent.
TEST(Metrics, AFlowThatTookOverAnUnknownPeersCountsAddsOnlyWhatIsNew) {
  MetricsExporter m({}, {"0.1.0", "abc", "6.18", "1.1"});
  FlowState unknown = flow(IPCT_KIND_UNIX_STREAM, 100, 0, 3, 3000, "unix_stream:ino=40,unconnected");
  unknown.flow.dst = EndpointRef::unknown();
  m.update(cycle({unknown}, t0), namer);
  const std::string to_unknown =
      "{dst_container=\"\",dst_namespace=\"\",dst_pod=\"\",kind=\"unix_stream\",side=\"send\","
      "src_container=\"c100\",src_namespace=\"shop\",src_pod=\"p100\"}";
  EXPECT_EQ(sample(m.scrape(), "ipctrace_ipc_bytes_total" + to_unknown), 3000);
  FlowState joined = flow(IPCT_KIND_UNIX_STREAM, 100, 101, 6, 6000, "unix_stream:ino=41");
  joined.taken_over = {{unknown.serial, 3, 3000}};
  m.update(cycle({joined}, t0 + 1s), namer);
  std::string text = m.scrape();
  EXPECT_EQ(sample(text, "ipctrace_ipc_bytes_total" + to_unknown), 3000);
  EXPECT_EQ(sample(text, "ipctrace_ipc_messages_total" + to_unknown), 3);
  EXPECT_EQ(sample(text, ipc("ipctrace_ipc_bytes_total", "unix_stream", 100, 101)), 3000);
  EXPECT_EQ(sample(text, ipc("ipctrace_ipc_messages_total", "unix_stream", 100, 101)), 3);
  // From then on the joined flow counts what it moves.
  joined.flow.msgs = 8;
  joined.flow.bytes = 8000;
  m.update(cycle({joined}, t0 + 2s), namer);
  text = m.scrape();
  EXPECT_EQ(sample(text, ipc("ipctrace_ipc_bytes_total", "unix_stream", 100, 101)), 5000);
  EXPECT_EQ(sample(text, ipc("ipctrace_ipc_messages_total", "unix_stream", 100, 101)), 5);
}

// The same while the sender's name was pending: the unknown peer's series counted nothing of
// the 3, so the joined flow counts all 6 once the name is known.
TEST(Metrics, WhatAPendingUnknownPeersFlowHeldIsCountedByTheFlowThatTookItOver) {
  MetricsExporter m({}, {"0.1.0", "abc", "6.18", "1.1"});
  bool pending = true;
  const Namer late = [&pending](uint64_t id) {
    Endpoint e = name_of(id);
    e.pending = pending && id == 100;
    return e;
  };
  FlowState unknown = flow(IPCT_KIND_UNIX_STREAM, 100, 0, 3, 3000, "unix_stream:ino=40,unconnected");
  unknown.flow.dst = EndpointRef::unknown();
  m.update(cycle({unknown}, t0), late);
  EXPECT_EQ(sample(m.scrape(), ipc("ipctrace_ipc_bytes_total", "unix_stream", 100, 101)), -1);
  FlowState joined = flow(IPCT_KIND_UNIX_STREAM, 100, 101, 6, 6000, "unix_stream:ino=41");
  joined.taken_over = {{unknown.serial, 3, 3000}};
  // Still pending on the cycle of the hand-over: nothing yet, and nothing forgotten.
  m.update(cycle({joined}, t0 + 1s), late);
  EXPECT_EQ(sample(m.scrape(), ipc("ipctrace_ipc_bytes_total", "unix_stream", 100, 101)), -1);
  pending = false;
  m.update(cycle({joined}, t0 + 2s), late);
  const std::string text = m.scrape();
  EXPECT_EQ(sample(text, ipc("ipctrace_ipc_bytes_total", "unix_stream", 100, 101)), 6000);
  EXPECT_EQ(sample(text, ipc("ipctrace_ipc_messages_total", "unix_stream", 100, 101)), 6);
  EXPECT_EQ(sample(text,
                   "ipctrace_ipc_bytes_total{dst_container=\"\",dst_namespace=\"\",dst_pod=\"\",kind=\"unix_"
                   "stream\",side=\"send\",src_container=\"c100\",src_namespace=\"shop\",src_pod=\"p100\"}"),
            -1);  // the unknown peer's series never counted
}

// A flow the collector lets go (a released single-use channel, an idle one) while its receiver's
// name is pending: what it held waits for that name, and is counted once, under it.
TEST(Metrics, AFlowLetGoWhileItsNameWaitedIsCountedOnceNamed) {
  MetricsExporter m({}, {"0.1.0", "abc", "6.18", "1.1"});
  bool pending = true;
  const Namer late = [&pending](uint64_t id) {
    Endpoint e = name_of(id);
    e.pending = pending && id == 101;
    return e;
  };
  m.update(cycle({flow(IPCT_KIND_PIPE, 100, 101, 1, 10, "pipe:ino=1")}, t0), late);
  m.update(
      cycle({flow(IPCT_KIND_PIPE, 100, 101, 3, 30, "pipe:ino=1"), flow(IPCT_KIND_PIPE, 100, 102, 2, 20, "pipe:ino=2")},
            t0 + 1s),
      late);
  // Released: gone from the collector's flows, and still pending.
  m.update(cycle({flow(IPCT_KIND_PIPE, 100, 102, 2, 20, "pipe:ino=2")}, t0 + 2s), late);
  m.update(cycle({}, t0 + 3s), late);
  std::string text = m.scrape();
  EXPECT_EQ(sample(text, ipc("ipctrace_ipc_messages_total", "pipe", 100, 101)), -1);
  EXPECT_EQ(sample(text, ipc("ipctrace_ipc_messages_total", "pipe", 100, 102)), 2);
  pending = false;
  m.update(cycle({}, t0 + 4s), late);
  m.update(cycle({}, t0 + 5s), late);
  text = m.scrape();
  EXPECT_EQ(sample(text, ipc("ipctrace_ipc_messages_total", "pipe", 100, 101)), 3);
  EXPECT_EQ(sample(text, ipc("ipctrace_ipc_bytes_total", "pipe", 100, 101)), 30);
  EXPECT_EQ(sample(text, ipc("ipctrace_ipc_messages_total", "pipe", 100, 102)), 2);
  // The same channel used again (a new flow from zero): counted on top.
  m.update(cycle({flow(IPCT_KIND_PIPE, 100, 101, 4, 40, "pipe:ino=1")}, t0 + 6s), late);
  EXPECT_EQ(sample(m.scrape(), ipc("ipctrace_ipc_messages_total", "pipe", 100, 101)), 7);
}

// Operations whose flows could not be kept: per (kind, direction, container), with no peer
// labels, beside the container's kept flows; the sum of both is what it moved.
TEST(Metrics, FoldedOperationsAreCountedPerContainerKindAndDirection) {
  MetricsExporter m({}, {"0.1.0", "abc", "6.18", "1.1"});
  FlowState sent = flow(IPCT_KIND_PIPE, 100, 0, 36, 3600, "pipe:folded");
  sent.flow.dst = EndpointRef::other();
  FlowState got = flow(IPCT_KIND_PIPE, 0, 101, 0, 0, "pipe:folded");
  got.flow.src = EndpointRef::other();
  got.flow.recv_msgs = 30;
  got.flow.recv_bytes = 3000;
  m.update(cycle({sent, got, flow(IPCT_KIND_PIPE, 100, 101, 64, 6400)}, t0), namer);
  std::string text = m.scrape();
  const std::string send = "{container=\"c100\",direction=\"send\",kind=\"pipe\",namespace=\"shop\",pod=\"p100\"}";
  const std::string receive =
      "{container=\"c101\",direction=\"receive\",kind=\"pipe\",namespace=\"shop\",pod=\"p101\"}";
  EXPECT_EQ(sample(text, "ipctrace_ipc_folded_messages_total" + send), 36);
  EXPECT_EQ(sample(text, "ipctrace_ipc_folded_bytes_total" + send), 3600);
  EXPECT_EQ(sample(text, "ipctrace_ipc_folded_messages_total" + receive), 30);
  EXPECT_EQ(sample(text, "ipctrace_ipc_folded_bytes_total" + receive), 3000);
  EXPECT_EQ(sample(text, ipc("ipctrace_ipc_messages_total", "pipe", 100, 101)), 64);
  EXPECT_THAT(text, Not(HasSubstr("dst_container=\"\",dst_namespace=\"\",dst_pod=\"\",kind=\"pipe\"")));
  EXPECT_THAT(text, HasSubstr("# TYPE ipctrace_ipc_folded_messages_total counter"));
  // The next cycle adds what moved since.
  sent.flow.msgs = 40;
  sent.flow.bytes = 4000;
  m.update(cycle({sent, got}, t0 + 1s), namer);
  text = m.scrape();
  EXPECT_EQ(sample(text, "ipctrace_ipc_folded_messages_total" + send), 40);
  EXPECT_EQ(sample(text, "ipctrace_ipc_folded_bytes_total" + send), 4000);
  EXPECT_EQ(sample(text, "ipctrace_ipc_folded_messages_total" + receive), 30);
  // Idle for the idle time (5 minutes by default): gone.
  m.update(cycle({sent, got}, t0 + 1s + 5min), namer);
  EXPECT_EQ(sample(m.scrape(), "ipctrace_ipc_folded_messages_total" + send), -1);
}

TEST(Metrics, CountsOfEndpointsNotYetNamedWaitForTheirNames) {
  // Container 101 was made a moment before its first write: the resolver does not know it yet and
  // will look again (Endpoint::pending). Its counts must not go to "cgroup#101" for good.
  bool known = false;
  const Namer late = [&known](uint64_t id) {
    if (id != 101 || known) return name_of(id);
    Endpoint e;
    e.cgroup_id = id;
    e.container = "cgroup#101";
    e.partial = true;
    e.pending = true;
    return e;
  };
  const std::string unnamed =
      "{dst_container=\"cgroup#101\",dst_namespace=\"\",dst_pod=\"\",kind=\"fifo\",side=\"send\",src_container="
      "\"c100\","
      "src_namespace=\"shop\",src_pod=\"p100\"}";
  MetricsExporter m({}, {});
  MetricsCycle c = cycle({flow(IPCT_KIND_FIFO, 100, 101, 10, 10000)}, t0);
  WaitSample w;
  w.cgroup_id = 101;
  w.kind = IPCT_KIND_FIFO;
  w.slots[4] = 3;
  w.count = 3;
  w.sum_ns = 30'000;
  c.waits = {w};
  m.update(c, late);
  std::string text = m.scrape();
  EXPECT_EQ(sample(text, ipc("ipctrace_ipc_bytes_total", "fifo", 100, 101)), -1);
  EXPECT_EQ(sample(text, "ipctrace_ipc_bytes_total" + unnamed), -1);
  EXPECT_EQ(m.ipc_series(), 0U);
  EXPECT_THAT(text, Not(HasSubstr("ipctrace_ipc_wait_seconds_count{")));

  // Still unnamed a cycle later, with more moved meanwhile.
  c = cycle({flow(IPCT_KIND_FIFO, 100, 101, 12, 12000)}, t0 + 1s);
  w.slots[4] = 4;
  w.count = 4;
  w.sum_ns = 40'000;
  c.waits = {w};
  m.update(c, late);
  EXPECT_EQ(m.ipc_series(), 0U);

  // Named: everything since the first operation, under the names it keeps.
  known = true;
  c = cycle({flow(IPCT_KIND_FIFO, 100, 101, 15, 15000)}, t0 + 2s);
  w.slots[4] = 5;
  w.count = 5;
  w.sum_ns = 50'000;
  c.waits = {w};
  m.update(c, late);
  text = m.scrape();
  EXPECT_EQ(sample(text, ipc("ipctrace_ipc_bytes_total", "fifo", 100, 101)), 15000);
  EXPECT_EQ(sample(text, ipc("ipctrace_ipc_messages_total", "fifo", 100, 101)), 15);
  EXPECT_EQ(sample(text, "ipctrace_ipc_bytes_total" + unnamed), -1);
  EXPECT_EQ(m.ipc_series(), 1U);
  const std::string labels = "container=\"c101\",kind=\"fifo\",namespace=\"shop\",pod=\"p101\"";
  EXPECT_EQ(sample(text, "ipctrace_ipc_wait_seconds_count{" + labels + "}"), 5);
  EXPECT_NEAR(sample(text, "ipctrace_ipc_wait_seconds_sum{" + labels + "}"), 50e-6, 1e-12);

  // An endpoint the resolver gave up on (no longer pending) is counted under "cgroup#<id>".
  const Namer gone = [](uint64_t id) {
    Endpoint e;
    e.cgroup_id = id;
    e.container = "cgroup#" + std::to_string(id);
    e.partial = true;
    return e;
  };
  MetricsExporter g({}, {});
  g.update(cycle({flow(IPCT_KIND_FIFO, 100, 101, 10, 10000)}, t0), gone);
  EXPECT_EQ(
      sample(g.scrape(),
             "ipctrace_ipc_bytes_total{dst_container=\"cgroup#101\",dst_namespace=\"\",dst_pod=\"\",kind=\"fifo\","
             "side=\"send\",src_container=\"cgroup#100\",src_namespace=\"\",src_pod=\"\"}"),
      10000);
}

TEST(Metrics, ReceivedOnlyFlowsMakeNoSeries) {
  MetricsExporter m({}, {});
  FlowState f = flow(IPCT_KIND_FIFO, 100, 101, 0, 0);
  f.flow.recv_msgs = 3;
  f.flow.recv_bytes = 300;
  m.update(cycle({f}, t0), namer);
  EXPECT_EQ(m.ipc_series(), 0U);
  EXPECT_THAT(m.scrape(), Not(HasSubstr("ipctrace_ipc_bytes_total{")));
}

TEST(Metrics, FlowsFromARemotePeerAreCountedOnTheReceivingSide) {
  MetricsExporter m({}, {});
  FlowState in = flow(IPCT_KIND_TCP, 0, 101, 4, 1234);
  in.flow.src = EndpointRef::address("192.0.2.7:51000");
  in.flow.recv_msgs = 4;
  in.flow.recv_bytes = 1234;
  in.flow.counted_at_receiver = true;
  FlowState out = flow(IPCT_KIND_TCP, 101, 0, 1, 517);
  out.flow.dst = EndpointRef::address("93.184.216.34:443");
  m.update(cycle({in, out}, t0), namer);
  const std::string text = m.scrape();
  EXPECT_EQ(sample(text,
                   "ipctrace_ipc_bytes_total{dst_container=\"c101\",dst_namespace=\"shop\",dst_pod=\"p101\",kind="
                   "\"tcp\",side=\"receive\",src_container=\"192.0.2.7\",src_namespace=\"\",src_pod=\"\"}"),
            1234);
  EXPECT_EQ(sample(text,
                   "ipctrace_ipc_messages_total{dst_container=\"c101\",dst_namespace=\"shop\",dst_pod=\"p101\",kind="
                   "\"tcp\",side=\"receive\",src_container=\"192.0.2.7\",src_namespace=\"\",src_pod=\"\"}"),
            4);
  EXPECT_EQ(sample(text,
                   "ipctrace_ipc_bytes_total{dst_container=\"93.184.216.34\",dst_namespace=\"\",dst_pod=\"\",kind="
                   "\"tcp\",side=\"send\",src_container=\"c101\",src_namespace=\"shop\",src_pod=\"p101\"}"),
            517);
}

TEST(Metrics, IdleSeriesAreRemovedAfterTheIdleTime) {
  MetricsOptions o;
  o.idle_timeout = 10s;
  MetricsExporter m(o, {});
  m.update(cycle({flow(IPCT_KIND_PIPE, 100, 101, 1, 1), flow(IPCT_KIND_TCP, 102, 103, 1, 1)}, t0), namer);
  EXPECT_EQ(m.ipc_series(), 2U);
  // The tcp flow keeps moving, the pipe stops.
  m.update(cycle({flow(IPCT_KIND_PIPE, 100, 101, 1, 1), flow(IPCT_KIND_TCP, 102, 103, 2, 2)}, t0 + 9s), namer);
  EXPECT_EQ(m.ipc_series(), 2U);
  m.update(cycle({flow(IPCT_KIND_PIPE, 100, 101, 1, 1), flow(IPCT_KIND_TCP, 102, 103, 3, 3)}, t0 + 10s), namer);
  EXPECT_EQ(m.ipc_series(), 1U);
  const std::string text = m.scrape();
  EXPECT_EQ(sample(text, ipc("ipctrace_ipc_bytes_total", "pipe", 100, 101)), -1);
  EXPECT_EQ(sample(text, ipc("ipctrace_ipc_bytes_total", "tcp", 102, 103)), 3);
}

TEST(Metrics, PastTheCapTheSmallestNewFlowsFoldIntoOverflowAndAreCounted) {
  MetricsOptions o;
  o.max_series = 2;
  MetricsExporter m(o, {});
  m.update(cycle({flow(IPCT_KIND_PIPE, 100, 101, 1, 500), flow(IPCT_KIND_PIPE, 102, 103, 1, 100),
                  flow(IPCT_KIND_PIPE, 104, 105, 1, 900), flow(IPCT_KIND_UDP, 106, 107, 2, 50)},
                 t0),
           namer);
  const std::string text = m.scrape();
  // The two largest keep their own series; 100 and 50 bytes are folded, per kind.
  EXPECT_EQ(sample(text, ipc("ipctrace_ipc_bytes_total", "pipe", 104, 105)), 900);
  EXPECT_EQ(sample(text, ipc("ipctrace_ipc_bytes_total", "pipe", 100, 101)), 500);
  EXPECT_EQ(sample(text, ipc("ipctrace_ipc_bytes_total", "pipe", 102, 103)), -1);
  const std::string overflow =
      "{dst_container=\"__overflow__\",dst_namespace=\"\",dst_pod=\"\",kind=\"pipe\","
      "side=\"send\",src_container=\"__overflow__\",src_namespace=\"\",src_pod=\"\"}";
  EXPECT_EQ(sample(text, "ipctrace_ipc_bytes_total" + overflow), 100);
  EXPECT_EQ(sample(text, "ipctrace_ipc_messages_total" + overflow), 1);
  EXPECT_EQ(sample(text, "ipctrace_series_dropped_total"), 2);
  EXPECT_EQ(m.series_dropped(), 2U);

  // A folded flow that moves again adds to the overflow series, and is not counted twice.
  m.update(cycle({flow(IPCT_KIND_PIPE, 100, 101, 1, 500), flow(IPCT_KIND_PIPE, 102, 103, 2, 150),
                  flow(IPCT_KIND_PIPE, 104, 105, 1, 900), flow(IPCT_KIND_UDP, 106, 107, 2, 50)},
                 t0 + 1s),
           namer);
  const std::string again = m.scrape();
  EXPECT_EQ(sample(again, "ipctrace_ipc_bytes_total" + overflow), 150);
  EXPECT_EQ(sample(again, "ipctrace_series_dropped_total"), 2);
}

TEST(Metrics, WaitHistogramsAddWhatEachCycleObserved) {
  MetricsExporter m({}, {});
  MetricsCycle c = cycle({}, t0);
  WaitSample w;
  w.cgroup_id = 100;
  w.kind = IPCT_KIND_SYSV_MSG;
  w.slots[3] = 2;   // two waits in [4us, 8us)
  w.slots[10] = 1;  // one in [512us, 1024us)
  w.count = 3;
  w.sum_ns = 1'000'000;
  c.waits = {w};
  m.update(c, namer);
  w.slots[10] = 2;
  w.count = 4;
  w.sum_ns = 1'600'000;
  c.waits = {w};
  c.now = t0 + 1s;
  m.update(c, namer);
  const std::string text = m.scrape();
  const std::string labels = "container=\"c100\",kind=\"sysv_msg\",namespace=\"shop\",pod=\"p100\"";
  EXPECT_THAT(text, HasSubstr("# TYPE ipctrace_ipc_wait_seconds histogram"));
  EXPECT_EQ(sample(text, "ipctrace_ipc_wait_seconds_count{" + labels + "}"), 4);
  EXPECT_NEAR(sample(text, "ipctrace_ipc_wait_seconds_sum{" + labels + "}"), 0.0016, 1e-12);
  EXPECT_EQ(sample(text, "ipctrace_ipc_wait_seconds_bucket{" + labels + ",le=\"8e-06\"}"), 2);
  EXPECT_EQ(sample(text, "ipctrace_ipc_wait_seconds_bucket{" + labels + ",le=\"0.000512\"}"), 2);
  EXPECT_EQ(sample(text, "ipctrace_ipc_wait_seconds_bucket{" + labels + ",le=\"0.001024\"}"), 4);
  EXPECT_EQ(sample(text, "ipctrace_ipc_wait_seconds_bucket{" + labels + ",le=\"+Inf\"}"), 4);
}

TEST(Metrics, SharedMemoryIsSizeTimesAttachmentsAndGoesWhenDetached) {
  MetricsExporter m({}, {});
  FlowState s = flow(IPCT_KIND_SYSV_SHM, 100, 101, 2, 0);
  s.flow.shm_size = 65536;
  s.flow.shm_attached = 2;
  m.update(cycle({s}, t0), namer);
  const std::string series =
      "ipctrace_shm_attached_bytes{dst_container=\"c101\",dst_namespace=\"shop\",dst_pod=\"p101\","
      "src_container=\"c100\",src_namespace=\"shop\",src_pod=\"p100\"}";
  EXPECT_EQ(sample(m.scrape(), series), 131072);
  EXPECT_THAT(m.scrape(), HasSubstr("# TYPE ipctrace_shm_attached_bytes gauge"));
  EXPECT_EQ(m.ipc_series(), 0U);  // no bytes counter for shared memory
  s.flow.shm_attached = 0;
  m.update(cycle({s}, t0 + 1s), namer);
  EXPECT_EQ(sample(m.scrape(), series), 0);
  m.update(cycle({}, t0 + 2s), namer);
  EXPECT_EQ(sample(m.scrape(), series), -1);
}

TEST(Metrics, SelfMetricsCountLossesHooksAndTheMap) {
  MetricsExporter m({}, {});
  MetricsCycle c = cycle({}, t0);
  c.drops[IPCT_DROP_FOLD_MAP_FULL] = 36;
  c.stats.kernel_entries = 64;
  c.stats.kernel_capacity = 64;
  c.stats.cpu_table_entries = 636;
  c.stats.kernel_map_bytes = 63'995'072;
  c.stats.last_cycle = 2ms;
  c.hooks = {AttachedHook{Mechanism::PipeFifo, HookFamily::TpBtf, {"p"}}};
  c.identity_errors = 1;
  c.cgroup_watch = {{"made", 7}, {"named_late", 2}, {"unusable_path", 0}, {"backlog_full", 1}};
  c.channel_paths = {.found = 4, .not_found = 1, .truncated = 0, .ambiguous = 1};
  c.stats.channels_released = 5;
  c.stats.channels_closed = 2;
  c.stats.open_file_lists = 3;
  c.stats.open_file_lists_unavailable = 0;
  m.update(c, namer);
  c.drops[IPCT_DROP_FOLD_MAP_FULL] = 40;
  c.stats.channels_released = 12;
  c.stats.channels_closed = 4;
  c.stats.open_file_lists = 4;
  c.stats.open_file_list_errors = 1;
  c.stats.last_open_file_list = 3ms;
  c.cgroup_watch["made"] = 9;
  c.channel_paths.found = 6;
  c.channel_paths.truncated = 3;
  c.now = t0 + 1s;
  m.update(c, namer);
  const std::string text = m.scrape();
  EXPECT_EQ(sample(text, "ipctrace_records_lost_total{reason=\"fold_map_full\"}"), 40);
  EXPECT_EQ(sample(text, "ipctrace_records_lost_total{reason=\"ringbuf_full\"}"), 0);
  EXPECT_EQ(sample(text, "ipctrace_map_entries{map=\"flows\"}"), 64);
  EXPECT_EQ(sample(text, "ipctrace_map_capacity_entries{map=\"flows\"}"), 64);
  EXPECT_EQ(sample(text, "ipctrace_map_capacity_entries{map=\"cpu_flow_table\"}"), 636);
  EXPECT_EQ(sample(text, "ipctrace_kernel_map_bytes"), 63995072);
  EXPECT_EQ(sample(text, "ipctrace_hook_info{family=\"tp_btf\",mechanism=\"pipe_fifo\"}"), 1);
  EXPECT_EQ(sample(text, "ipctrace_collection_duration_seconds"), 0.002);
  EXPECT_EQ(sample(text, "ipctrace_identity_errors_total"), 1);
  EXPECT_EQ(sample(text, "ipctrace_series_dropped_total"), 0);
  EXPECT_EQ(sample(text, "ipctrace_cgroups_watched_total{event=\"made\"}"), 9);
  EXPECT_EQ(sample(text, "ipctrace_cgroups_watched_total{event=\"named_late\"}"), 2);
  EXPECT_EQ(sample(text, "ipctrace_cgroups_watched_total{event=\"unusable_path\"}"), 0);
  EXPECT_EQ(sample(text, "ipctrace_cgroups_watched_total{event=\"backlog_full\"}"), 1);
  EXPECT_EQ(sample(text, "ipctrace_channel_path_lookups_total{result=\"found\"}"), 6);
  EXPECT_EQ(sample(text, "ipctrace_channel_path_lookups_total{result=\"not_found\"}"), 1);
  EXPECT_EQ(sample(text, "ipctrace_channel_path_lookups_total{result=\"cut\"}"), 3);
  EXPECT_EQ(sample(text, "ipctrace_channel_path_lookups_total{result=\"ambiguous\"}"), 1);
  EXPECT_EQ(sample(text, "ipctrace_channels_released_total{reason=\"single_use\"}"), 8);
  EXPECT_EQ(sample(text, "ipctrace_channels_released_total{reason=\"closed\"}"), 4);
  EXPECT_EQ(sample(text, "ipctrace_open_file_lists_total{result=\"made\"}"), 4);
  EXPECT_EQ(sample(text, "ipctrace_open_file_lists_total{result=\"failed\"}"), 1);
  EXPECT_EQ(sample(text, "ipctrace_open_file_lists_total{result=\"unavailable\"}"), 0);
  EXPECT_EQ(sample(text, "ipctrace_open_file_list_duration_seconds"), 0.003);
}

// SysV reconciliation that degraded: counted by reason, from the collector's running totals.
TEST(Metrics, SysvReadErrorsAreCountedByReason) {
  MetricsExporter m({}, {});
  EXPECT_EQ(sample(m.scrape(), "ipctrace_sysv_read_errors_total{reason=\"process\"}"), 0);
  MetricsCycle c = cycle({}, t0);
  c.stats.sysv_process_errors = 3;
  c.stats.sysv_foreign_mappings = 1;
  m.update(c, namer);
  c.stats.sysv_process_errors = 5;
  c.stats.sysv_namespace_errors = 2;
  c.now = t0 + 1s;
  m.update(c, namer);
  const std::string text = m.scrape();
  EXPECT_EQ(sample(text, "ipctrace_sysv_read_errors_total{reason=\"process\"}"), 5);
  EXPECT_EQ(sample(text, "ipctrace_sysv_read_errors_total{reason=\"namespace\"}"), 2);
  EXPECT_EQ(sample(text, "ipctrace_sysv_read_errors_total{reason=\"foreign_mapping\"}"), 1);
  EXPECT_EQ(sample(text, "ipctrace_sysv_read_errors_total{reason=\"malformed\"}"), 0);
  EXPECT_EQ(sample(text, "ipctrace_sysv_read_errors_total{reason=\"no_shm_device\"}"), 0);
}

TEST(Metrics, FailedCollectionsAreCounted) {
  MetricsExporter m({}, {});
  EXPECT_EQ(sample(m.scrape(), "ipctrace_collection_errors_total"), 0);
  CollectorStats stats;
  stats.errors = 2;
  stats.failed_in_a_row = 2;
  m.update_failed(stats);
  EXPECT_EQ(sample(m.scrape(), "ipctrace_collection_errors_total"), 2);
  EXPECT_EQ(sample(m.scrape(), "ipctrace_collections_total"), 0);
  // A successful cycle after them: the count stays, collections go on.
  MetricsCycle c = cycle({}, t0);
  c.stats = stats;
  c.stats.failed_in_a_row = 0;
  c.stats.cycles = 1;
  m.update(c, namer);
  stats.errors = 3;
  m.update_failed(stats);
  const std::string text = m.scrape();
  EXPECT_EQ(sample(text, "ipctrace_collection_errors_total"), 3);
  EXPECT_EQ(sample(text, "ipctrace_collections_total"), 1);
}

// Names a container chose, hostile: invalid UTF-8 (two names that differ only there), control
// characters, a quote, and a million characters. The page stays valid UTF-8 and passes promtool,
// the two names stay two series, and no label value is longer than 256 bytes.
TEST(Metrics, HostileNamesMakeAValidPageAndStayApart) {
  auto hostile = [](uint64_t id) {
    Endpoint e;
    e.cgroup_id = id;
    e.cgroup.runtime = "containerd";
    e.k8s_namespace = "shop";
    e.pod = "p";
    if (id == 201) e.container = "A\377B";
    if (id == 202) e.container = "A\376B";
    if (id == 203) e.container = "evil\x1b]52;c;eA==\a\n\"quoted\"\\";
    if (id == 204) e.container = std::string(1000000, 'x');
    return e;
  };
  MetricsExporter m({}, {"0.1.0", "abc", "6.18", "1.1"});
  m.update(cycle({flow(IPCT_KIND_FIFO, 201, 203, 1, 10), flow(IPCT_KIND_FIFO, 202, 204, 2, 20)}, t0), hostile);
  const std::string page = m.scrape();
  EXPECT_THAT(page, HasSubstr("dst_container=\"evil\x1b]52;c;eA==\a\\n\\\"quoted\\\"\\\\\""));
  EXPECT_THAT(page, HasSubstr("src_container=\"A\\\\x{FF}B\""));  // the label's text is A\x{FF}B
  EXPECT_THAT(page, HasSubstr("src_container=\"A\\\\x{FE}B\""));
  size_t longest = 0;
  std::istringstream in(page);
  for (std::string line; std::getline(in, line);) longest = std::max(longest, line.size());
  EXPECT_LT(longest, 2000U);
  const std::string path = ::testing::TempDir() + "ipctrace-hostile-metrics.txt";
  {
    std::ofstream out(path);
    out << page;
  }
  const std::string report = path + ".promtool";
  const int rc = std::system(("/usr/bin/promtool check metrics < " + path + " > " + report + " 2>&1").c_str());
  std::ifstream got(report);
  const std::string said((std::istreambuf_iterator<char>(got)), std::istreambuf_iterator<char>());
  EXPECT_EQ(rc, 0) << said;
  EXPECT_EQ(said, "") << "promtool found problems";
  std::remove(path.c_str());
  std::remove(report.c_str());
}
