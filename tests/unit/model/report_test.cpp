// Flows reports (model/report.h): views per (kind, src, dst) with named ends, and the rates of
// `ipctrace flows` over the whole traced duration.
#include "model/report.h"

#include <gtest/gtest.h>

#include "kernel/abi.h"

namespace ipctrace {
namespace {

FlowState state(uint64_t src, uint64_t dst, const std::string& channel, uint64_t msgs, uint64_t bytes, double rate) {
  FlowState s;
  s.flow.kind = IPCT_KIND_PIPE;
  s.flow.channel = channel;
  s.flow.src = EndpointRef::cgroup(src);
  s.flow.dst = EndpointRef::cgroup(dst);
  s.flow.msgs = msgs;
  s.flow.bytes = bytes;
  s.msgs_per_second = rate;
  s.first_seen = std::chrono::system_clock::time_point(std::chrono::seconds(100 + msgs));
  s.last_seen = s.first_seen;
  return s;
}

TEST(Report, OneViewPerPairOfEndsNamedOnceSortedByBytes) {
  const Namer namer = [](uint64_t id) {
    Endpoint e;
    e.cgroup_id = id;
    e.k8s_namespace = "ns";
    e.pod = "p" + std::to_string(id);
    e.container = "c";
    return e;
  };
  const auto views = aggregate_flows(
      {state(1, 2, "pipe:b", 3, 30, 1.5), state(1, 2, "pipe:a", 2, 20, 0.5), state(3, 2, "pipe:c", 1, 100, 0)}, namer);
  ASSERT_EQ(views.size(), 2U);
  EXPECT_EQ(views[0].src.name(), "ns/p3/c");  // 100 bytes first
  EXPECT_EQ(views[1].src.name(), "ns/p1/c");
  EXPECT_EQ(views[1].msgs, 5U);
  EXPECT_EQ(views[1].bytes, 50U);
  EXPECT_EQ(views[1].msgs_per_second, 2.0);
  EXPECT_EQ(views[1].channels, (std::vector<ChannelView>{{"pipe:a", ""}, {"pipe:b", ""}}));
  EXPECT_EQ(views[1].first_seen, std::chrono::system_clock::time_point(std::chrono::seconds(102)));
  EXPECT_EQ(views[1].last_seen, std::chrono::system_clock::time_point(std::chrono::seconds(103)));
  const auto unnamed = aggregate_flows({state(7, 8, "pipe:x", 1, 1, 0)}, nullptr);
  EXPECT_EQ(unnamed[0].src.name(), "cgroup#7");
  EXPECT_FALSE(views[0].counted_at_receiver);
}

TEST(Report, TheRootCgroupIsOneEndPerExecutable) {
  int named = 0;
  // Cgroup 1: the host's root cgroup; 2: a pod's container.
  const Namer namer = [&named](uint64_t id) {
    ++named;
    Endpoint e;
    e.cgroup_id = id;
    if (id == 1) {
      e.cgroup.path = "/";
      e.cgroup.runtime = "host";
      e.container = "/";
    } else {
      e.k8s_namespace = "ns";
      e.pod = "web";
      e.container = "client";
    }
    return e;
  };
  auto from = [](uint64_t src, const std::string& channel, uint64_t bytes, uint32_t pid, const std::string& exe) {
    FlowState s = state(src, src == 1 ? 2 : 1, channel, 1, bytes, 0);
    TaskHint& t = src == 1 ? s.flow.src_task : s.flow.dst_task;
    t.tgid = pid;
    t.comm = "same-comm";
    t.exe = exe;
    return s;
  };
  // Two channels of containerd's, one of dockerd's, one whose process left no executable (a
  // kernel thread), and the container writing to containerd.
  const auto views = aggregate_flows(
      {from(1, "unix:a", 10, 40, "containerd"), from(1, "unix:b", 20, 41, "containerd"),
       from(1, "unix:c", 100, 50, "dockerd"), from(1, "pipe:k", 7, 2, ""), from(2, "unix:d", 1000, 40, "containerd")},
      namer);
  ASSERT_EQ(views.size(), 4U);
  EXPECT_EQ(views[0].src.name(), "ns/web/client");
  EXPECT_EQ(views[0].dst.name(), "host:containerd");
  EXPECT_EQ(views[0].dst.endpoint.container, "host:containerd");
  EXPECT_EQ(views[0].dst.endpoint.host_process, "containerd");
  EXPECT_EQ(views[1].src.name(), "host:dockerd");
  EXPECT_EQ(views[1].bytes, 100U);
  EXPECT_EQ(views[2].src.name(), "host:containerd");
  EXPECT_EQ(views[2].bytes, 30U);
  EXPECT_EQ(views[2].channels, (std::vector<ChannelView>{{"unix:a", ""}, {"unix:b", ""}}));
  EXPECT_EQ(views[3].src.name(), "host");
  EXPECT_EQ(views[3].src.endpoint.container, "/");
  EXPECT_EQ(views[3].bytes, 7U);
  EXPECT_EQ(named, 2);  // each cgroup named once
}

TEST(Report, AViewFromARemotePeerIsCountedAtTheReceiver) {
  FlowState a = state(0, 2, "tcp:10.0.0.1:80", 4, 400, 0);
  a.flow.kind = IPCT_KIND_TCP;
  a.flow.src = EndpointRef::address("192.0.2.7:51000");
  a.flow.counted_at_receiver = true;
  FlowState b = a;
  b.flow.channel = "tcp:10.0.0.1:81";
  const auto views = aggregate_flows({a, b}, nullptr);
  ASSERT_EQ(views.size(), 1U);
  EXPECT_TRUE(views[0].counted_at_receiver);
  EXPECT_EQ(views[0].bytes, 800U);
  EXPECT_EQ(views[0].src.name(), "192.0.2.7:51000");
}

TEST(Report, FlowsRatesAreOverTheWholeDuration) {
  FlowsReport r;
  r.duration_seconds = 2.5;
  r.flows = aggregate_flows({state(1, 2, "pipe:a", 10, 1000, 99)}, nullptr);
  ASSERT_EQ(r.flows[0].msgs_per_second, 99);  // the last interval's, as the collector keeps it
  rates_over_report(r);
  EXPECT_EQ(r.flows[0].msgs_per_second, 4.0);
  EXPECT_EQ(r.flows[0].bytes_per_second, 400.0);
  r.duration_seconds = 0;
  rates_over_report(r);
  EXPECT_EQ(r.flows[0].msgs_per_second, 0.0);
}

}  // namespace
}  // namespace ipctrace
