// The collector's table: counters that never go backwards, rates, first/last seen, expiry.
#include "collector.h"

#include <gtest/gtest.h>

using namespace ipctrace;
using namespace std::chrono_literals;

namespace {

ChannelFlow pipe_flow(uint64_t msgs, uint64_t bytes) {
  ChannelFlow f;
  f.kind = IPCT_KIND_PIPE;
  f.channel = "pipe:ino=1,dev=0:14";
  f.src = EndpointRef::cgroup(1);
  f.dst = EndpointRef::cgroup(2);
  f.msgs = msgs;
  f.bytes = bytes;
  f.recv_msgs = msgs;
  f.recv_bytes = bytes;
  return f;
}

struct Clock {
  std::chrono::steady_clock::time_point steady{};
  std::chrono::system_clock::time_point wall = std::chrono::system_clock::time_point(1700000000s);
  void advance(std::chrono::milliseconds d) {
    steady += d;
    wall += d;
  }
};

}  // namespace

TEST(Collector, RatesOverTheLastInterval) {
  Collector c(nullptr, CollectorOptions{});
  Clock t;
  c.update({pipe_flow(10, 1000)}, t.steady, t.wall);
  ASSERT_EQ(c.flows().size(), 1U);
  EXPECT_EQ(c.flows()[0].flow.bytes, 1000U);
  EXPECT_EQ(c.flows()[0].bytes_per_second, 0.0);  // no interval yet
  t.advance(2000ms);
  c.update({pipe_flow(30, 5000)}, t.steady, t.wall);
  const FlowState s = c.flows()[0];
  EXPECT_EQ(s.flow.msgs, 30U);
  EXPECT_EQ(s.flow.bytes, 5000U);
  EXPECT_DOUBLE_EQ(s.msgs_per_second, 10.0);
  EXPECT_DOUBLE_EQ(s.bytes_per_second, 2000.0);
  EXPECT_EQ(s.first_seen, std::chrono::system_clock::time_point(1700000000s));
  EXPECT_EQ(s.last_seen, t.wall);
}

TEST(Collector, CountersNeverGoBackwards) {
  Collector c(nullptr, CollectorOptions{});
  Clock t;
  c.update({pipe_flow(10, 1000)}, t.steady, t.wall);
  t.advance(1000ms);
  // The kernel entry was evicted and started again: 3 new messages, not -7.
  c.update({pipe_flow(3, 300)}, t.steady, t.wall);
  EXPECT_EQ(c.flows()[0].flow.msgs, 13U);
  EXPECT_EQ(c.flows()[0].flow.bytes, 1300U);
  t.advance(1000ms);
  c.update({pipe_flow(5, 500)}, t.steady, t.wall);
  EXPECT_EQ(c.flows()[0].flow.msgs, 15U);
  EXPECT_EQ(c.flows()[0].flow.bytes, 1500U);
}

TEST(Collector, IdleFlowsAreForgotten) {
  CollectorOptions o;
  o.idle_timeout = 10s;
  Collector c(nullptr, o);
  Clock t;
  c.update({pipe_flow(1, 1)}, t.steady, t.wall);
  const auto seen = t.wall;
  t.advance(6000ms);
  c.update({pipe_flow(1, 1)}, t.steady, t.wall);  // unchanged: idle for 6 s
  ASSERT_EQ(c.flows().size(), 1U);
  EXPECT_EQ(c.flows()[0].last_seen, seen);
  EXPECT_EQ(c.flows()[0].bytes_per_second, 0.0);
  t.advance(5000ms);
  c.update({pipe_flow(1, 1)}, t.steady, t.wall);  // idle for 11 s
  EXPECT_TRUE(c.flows().empty());
  EXPECT_EQ(c.stats().flows_expired, 1U);
  // It comes back as a new flow when it moves again.
  t.advance(1000ms);
  c.update({pipe_flow(2, 2)}, t.steady, t.wall);
  ASSERT_EQ(c.flows().size(), 1U);
  EXPECT_EQ(c.flows()[0].flow.msgs, 2U);
}

TEST(Collector, ManyFlowsStayBoundedUnderChurn) {
  CollectorOptions o;
  o.idle_timeout = 5s;
  Collector c(nullptr, o);
  Clock t;
  for (int round = 0; round < 100; ++round) {
    std::vector<ChannelFlow> flows;
    for (int i = 0; i < 50; ++i) {
      ChannelFlow f = pipe_flow(1, 1);
      f.src = EndpointRef::cgroup(static_cast<uint64_t>(round) * 1000 +
                                  static_cast<uint64_t>(i));  // containers come and go
      flows.push_back(f);
    }
    c.update(flows, t.steady, t.wall);
    t.advance(1000ms);
  }
  // Only the last few seconds' containers remain (each round's flows go idle at once).
  EXPECT_LE(c.flows().size(), 50U * 6);
}
