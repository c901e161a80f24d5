// The collector's table: counters that never go backwards, rates, first/last seen, expiry.
#include "model/collector.h"

#include <gtest/gtest.h>

#include <array>
#include <map>
#include <set>
#include <string>
#include <tuple>
#include <vector>

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

// A collection between a write and its read: the writer's 10 messages first go to an unknown
// reader; once the readers are seen, the join gives them the writer's totals (12: two more
// since). The unknown reader's 10 move to them (in proportion, as the join) and it is no longer
// shown; only the 2 new ones are counted on top: every sum stays exact.
TEST(Collector, AReaderSeenLateTakesOverWhatAnUnknownOneCounted) {
  Collector c(nullptr, CollectorOptions{});
  Clock t;
  auto unknown_reader = [](uint64_t msgs, uint64_t bytes) {
    ChannelFlow f = pipe_flow(msgs, bytes);
    f.dst = EndpointRef::unknown();
    f.recv_msgs = 0;
    f.recv_bytes = 0;
    return f;
  };
  auto totals = [&c] {
    std::map<std::string, std::array<uint64_t, 4>> out;
    for (const FlowState& s : c.flows()) {
      std::string id = s.flow.src.type == EndpointRef::Type::Unknown ? "?" : std::to_string(s.flow.src.cgroup_id);
      id += ">";
      id += s.flow.dst.type == EndpointRef::Type::Unknown ? "?" : std::to_string(s.flow.dst.cgroup_id);
      out[id] = {s.flow.msgs, s.flow.bytes, s.flow.recv_msgs, s.flow.recv_bytes};
    }
    return out;
  };
  c.update({unknown_reader(10, 10000)}, t.steady, t.wall);
  using T = std::array<uint64_t, 4>;
  EXPECT_EQ(totals(), (std::map<std::string, T>{{"1>?", T{10, 10000, 0, 0}}}));
  t.advance(1000ms);
  // Two readers now, 3 and 1 messages' worth of bytes taken out of 12 written.
  ChannelFlow r2 = pipe_flow(9, 9000);
  ChannelFlow r3 = pipe_flow(3, 3000);
  r3.dst = EndpointRef::cgroup(3);
  c.update({r2, r3}, t.steady, t.wall);
  EXPECT_EQ(totals(), (std::map<std::string, T>{
                          {"1>2", T{8 + 1, 7500 + 1500, 9, 9000}},  // 8 and 7,500 of the 10 and 10,000 moved
                          {"1>3", T{2 + 1, 2500 + 500, 3, 3000}},
                      }));
  // From then on, each flow counts what it moves; nothing is taken over twice.
  t.advance(1000ms);
  r2 = pipe_flow(12, 12000);
  ChannelFlow r4 = pipe_flow(1, 1000);
  r4.dst = EndpointRef::cgroup(4);
  c.update({r2, r3, r4}, t.steady, t.wall);
  EXPECT_EQ(totals(), (std::map<std::string, T>{
                          {"1>2", T{12, 12000, 12, 12000}},
                          {"1>3", T{3, 3000, 3, 3000}},
                          {"1>4", T{1, 1000, 1, 1000}},
                      }));
}

// What the unknown reader counted moves whole, even when the new flows hold less: the writer's
// kernel entry was evicted and counts again from zero, so the 4 they hold are new (14 in all).
TEST(Collector, AHandOverAfterAnEvictionLosesNothing) {
  Collector c(nullptr, CollectorOptions{});
  Clock t;
  ChannelFlow unknown = pipe_flow(10, 10000);
  unknown.dst = EndpointRef::unknown();
  unknown.recv_msgs = 0;
  unknown.recv_bytes = 0;
  c.update({unknown}, t.steady, t.wall);
  t.advance(1000ms);
  c.update({pipe_flow(4, 4000)}, t.steady, t.wall);
  ASSERT_EQ(c.flows().size(), 1U);
  EXPECT_EQ(c.flows()[0].flow.msgs, 14U);
  EXPECT_EQ(c.flows()[0].flow.bytes, 14000U);
  EXPECT_EQ(c.flows()[0].flow.recv_msgs, 4U);
  t.advance(1000ms);
  c.update({pipe_flow(6, 6000)}, t.steady, t.wall);
  ASSERT_EQ(c.flows().size(), 1U);
  EXPECT_EQ(c.flows()[0].flow.msgs, 16U);
  EXPECT_EQ(c.flows()[0].flow.bytes, 16000U);
}

// The same for receipts: a reader's first collection saw no writer.
TEST(Collector, AWriterSeenLateTakesOverWhatAnUnknownOneReceived) {
  Collector c(nullptr, CollectorOptions{});
  Clock t;
  ChannelFlow from_unknown = pipe_flow(0, 0);
  from_unknown.src = EndpointRef::unknown();
  from_unknown.recv_msgs = 4;
  from_unknown.recv_bytes = 400;
  c.update({from_unknown}, t.steady, t.wall);
  t.advance(1000ms);
  c.update({pipe_flow(5, 500)}, t.steady, t.wall);
  // The 4 receipts moved to the writer's flow, which counts the fifth on top; nothing was sent
  // to an unknown reader, so all its sends count.
  const std::vector<FlowState> flows = c.flows();
  ASSERT_EQ(flows.size(), 1U);
  const ChannelFlow& f = flows[0].flow;
  EXPECT_EQ(f.src, EndpointRef::cgroup(1));
  EXPECT_EQ(f.msgs, 5U);
  EXPECT_EQ(f.bytes, 500U);
  EXPECT_EQ(f.recv_msgs, 5U);
  EXPECT_EQ(f.recv_bytes, 500U);
}

// Unix data sent before accept(): one cycle sees it go to an unknown reader (channel of the
// client socket), the next joins it to the accepted socket; its counts are handed over, so the
// 300 bytes are counted once.
TEST(Collector, DataSentBeforeAcceptIsNotCountedTwiceWhenItsReaderAppears) {
  Collector c(nullptr, CollectorOptions{});
  Clock t;
  ChannelFlow unresolved;
  unresolved.kind = IPCT_KIND_UNIX_STREAM;
  unresolved.channel = "unix_stream:ino=40,unconnected";
  unresolved.src = EndpointRef::cgroup(1);
  unresolved.dst = EndpointRef::unknown();
  unresolved.msgs = 3;
  unresolved.bytes = 300;
  c.update({unresolved}, t.steady, t.wall);
  ASSERT_EQ(c.flows().size(), 1U);
  const uint64_t unresolved_serial = c.flows()[0].serial;
  EXPECT_EQ(unresolved_serial, 1U);  // the first flow the collector made
  t.advance(1000ms);
  ChannelFlow joined;
  joined.kind = IPCT_KIND_UNIX_STREAM;
  joined.channel = "unix_stream:ino=41";
  joined.src = EndpointRef::cgroup(1);
  joined.dst = EndpointRef::cgroup(2);
  joined.msgs = 5;  // the 3 before accept() and 2 after
  joined.bytes = 400;
  joined.recv_msgs = 5;
  joined.recv_bytes = 400;
  joined.taken_over_from = "unix_stream:ino=40,unconnected";
  c.update({joined}, t.steady, t.wall);
  // One flow, the joined one, with all of it: without the hand-over it would count all 400
  // again beside the unknown reader's 300 (700 in all).
  const std::vector<FlowState> flows = c.flows();
  ASSERT_EQ(flows.size(), 1U);
  const ChannelFlow& f = flows[0].flow;
  EXPECT_EQ(f.channel, "unix_stream:ino=41");
  EXPECT_EQ(f.msgs, 5U);
  EXPECT_EQ(f.bytes, 400U);
  EXPECT_EQ(f.recv_msgs, 5U);
  EXPECT_EQ(f.recv_bytes, 400U);
  // What it took over, for whoever counted it per cycle under the unknown reader (/metrics).
  ASSERT_EQ(flows[0].taken_over.size(), 1U);
  EXPECT_EQ(flows[0].serial, 2U);
  EXPECT_EQ(flows[0].taken_over[0].from, unresolved_serial);
  EXPECT_EQ(flows[0].taken_over[0].msgs, 3U);
  EXPECT_EQ(flows[0].taken_over[0].bytes, 300U);
}

// A released channel's flows leave the table, added up per kind, ends and executables, the first
// channel's id kept and the others counted; forgotten once idle for the idle timeout.
TEST(Collector, ReleasedChannelsLeaveTheTableAddedUp) {
  CollectorOptions o;
  o.idle_timeout = 10s;
  Collector c(nullptr, o);
  Clock t;
  std::vector<ChannelFlow> joined;
  for (int i = 0; i < 3; ++i) {
    ChannelFlow f = pipe_flow(2 + i, 100);
    f.channel = "pipe:ino=" + std::to_string(10 + i) + ",dev=0:14";
    f.src_task.exe = "sh";
    f.path = "/run/" + std::to_string(i) + ".fifo";
    joined.push_back(f);
  }
  ChannelFlow other = pipe_flow(7, 70);
  other.channel = "pipe:ino=20,dev=0:14";
  other.src_task.exe = "make";
  joined.push_back(other);
  c.update(joined, t.steady, t.wall);
  t.advance(1000ms);
  c.forget_channels({"pipe:ino=10,dev=0:14", "pipe:ino=11,dev=0:14", "pipe:ino=20,dev=0:14"});
  c.update({joined[2]}, t.steady, t.wall);
  const auto live = c.flows();
  ASSERT_EQ(live.size(), 1U);
  EXPECT_EQ(live[0].flow.channel, "pipe:ino=12,dev=0:14");
  EXPECT_EQ(live[0].flow.msgs, 4U);
  const auto released = c.released_flows();
  ASSERT_EQ(released.size(), 2U);
  std::map<std::string, FlowState> by_exe;
  for (const FlowState& s : released) by_exe[s.flow.src_task.exe] = s;
  EXPECT_EQ(by_exe["sh"].flow.msgs, 5U);  // 2 + 3
  EXPECT_EQ(by_exe["sh"].flow.bytes, 200U);
  EXPECT_EQ(by_exe["sh"].flow.recv_msgs, 5U);
  EXPECT_EQ(by_exe["sh"].unlisted_channels, 1U);
  EXPECT_EQ(by_exe["sh"].flow.channel, "pipe:ino=10,dev=0:14");
  EXPECT_EQ(by_exe["sh"].flow.path, "/run/0.fifo");  // the first channel's
  EXPECT_EQ(by_exe["make"].flow.msgs, 7U);
  EXPECT_EQ(by_exe["make"].unlisted_channels, 0U);
  // Idle for the idle timeout since their last operation (at the first update): forgotten, as the
  // flows are.
  t.advance(8500ms);
  c.update({joined[2]}, t.steady, t.wall);
  EXPECT_EQ(c.released_flows().size(), 2U);
  t.advance(1000ms);
  c.update({joined[2]}, t.steady, t.wall);
  EXPECT_TRUE(c.released_flows().empty());
}

// Released flows told apart by executable are bounded: a container that runs a new executable for
// every channel it churns makes at most kMaxReleasedFlows of them; the rest are added up per kind
// and ends alone, every count kept.
TEST(Collector, ReleasedFlowsOfManyExecutablesStayBounded) {
  Collector c(nullptr, CollectorOptions{});
  Clock t;
  constexpr size_t kChannels = Collector::kMaxReleasedFlows + 500;
  std::vector<ChannelFlow> joined;
  std::set<std::string> channels;
  for (size_t i = 0; i < kChannels; ++i) {
    ChannelFlow f = pipe_flow(1, 10);
    f.channel = "pipe:ino=" + std::to_string(1000 + i) + ",dev=0:14";
    f.src_task.exe = "/tmp/x" + std::to_string(i);
    channels.insert(f.channel);
    joined.push_back(std::move(f));
  }
  c.update(joined, t.steady, t.wall);
  c.forget_channels(channels);
  const auto released = c.released_flows();
  ASSERT_EQ(released.size(), Collector::kMaxReleasedFlows + 1);
  uint64_t msgs = 0;
  uint64_t bytes = 0;
  size_t anonymous = 0;
  for (const FlowState& s : released) {
    msgs += s.flow.msgs;
    bytes += s.flow.bytes;
    if (s.flow.src_task.exe.empty()) {
      ++anonymous;
      EXPECT_EQ(s.unlisted_channels, 499U);
    }
  }
  EXPECT_EQ(anonymous, 1U);
  EXPECT_EQ(msgs, kChannels);
  EXPECT_EQ(bytes, 10 * kChannels);
}

namespace {

// A kernel key of cgroup `cg` on object or socket `id` (its peer `peer`, a pre-accept tag
// `sk_tag`), taken in at read `read` with nothing counted yet.
FlowSample sample(uint64_t cg, int kind, int dir, uint64_t id, uint64_t peer, uint64_t read, uint64_t sk_tag = 0) {
  FlowSample s;
  s.key.cgroup_id = cg;
  s.key.kind = static_cast<uint8_t>(kind);
  s.key.dir = static_cast<uint8_t>(dir);
  s.key.ch.obj.id = id;
  s.key.ch.obj.peer = peer;
  s.key.ch.obj.dev = 14;
  s.key.ch.obj.sk_tag = sk_tag;
  s.tgid = static_cast<uint32_t>(100 + cg);
  s.first_read = read;
  return s;
}

// Every shown flow's id and counters.
std::map<std::tuple<int, std::string, EndpointRef, EndpointRef>, std::array<uint64_t, 4>> table_of(const Collector& c) {
  std::map<std::tuple<int, std::string, EndpointRef, EndpointRef>, std::array<uint64_t, 4>> out;
  for (const FlowState& s : c.flows())
    out[s.flow.id()] = {s.flow.msgs, s.flow.bytes, s.flow.recv_msgs, s.flow.recv_bytes};
  return out;
}

}  // namespace

// A collection joins again only the channels with a key that moved since the last one
// (model/single_use.h moved_channels()): collection after collection, its table is what a join of
// every kept key gives, hand-overs from unknown peers included.
TEST(Collector, JoiningWhatMovedGivesTheTableOfAFullJoin) {
  Collector full(nullptr, CollectorOptions{});
  Collector part(nullptr, CollectorOptions{});
  Clock t;
  std::vector<FlowSample> keys;
  auto grow = [&](size_t i, uint64_t msgs, uint64_t bytes, uint64_t read) {
    keys[i].msgs += msgs;
    keys[i].bytes += bytes;
    keys[i].last_read = read;
  };
  uint64_t exported = 0;
  size_t joined_last = 0;
  auto collect = [&](uint64_t read) {
    full.update(join_flows(keys), t.steady, t.wall);
    const std::vector<const FlowSample*> moved = moved_channels(keys, exported);
    joined_last = moved.size();
    part.update(join_flows(moved), t.steady, t.wall);
    exported = read;
    t.advance(1000ms);
    EXPECT_EQ(table_of(part), table_of(full)) << "after read " << read;
  };
  // 1: a pipe written, its reader not seen yet (to an unknown peer).
  keys.push_back(sample(1, IPCT_KIND_PIPE, IPCT_DIR_SEND, 500, 0, 1));
  grow(0, 2, 10, 1);
  collect(1);
  // 2: its reader reads (the unknown flow handed over); a second pipe; a client's data sent
  // before accept() (by the embryo's tag).
  keys.push_back(sample(2, IPCT_KIND_PIPE, IPCT_DIR_RECV, 500, 0, 2));
  grow(1, 2, 10, 2);
  keys.push_back(sample(1, IPCT_KIND_PIPE, IPCT_DIR_SEND, 501, 0, 2));
  grow(2, 1, 7, 2);
  keys.push_back(sample(2, IPCT_KIND_PIPE, IPCT_DIR_RECV, 501, 0, 2));
  grow(3, 1, 7, 2);
  keys.push_back(sample(3, IPCT_KIND_UNIX_STREAM, IPCT_DIR_SEND, 80, 0, 2, 0xee));
  grow(4, 1, 5, 2);
  collect(2);
  // 3: the accepted socket reads it; the second pipe again.
  keys.push_back(sample(4, IPCT_KIND_UNIX_STREAM, IPCT_DIR_RECV, 81, 80, 3, 0xee));
  grow(5, 1, 5, 3);
  grow(2, 1, 3, 3);
  grow(3, 1, 3, 3);
  collect(3);
  EXPECT_EQ(joined_last, 4U);  // the second pipe and the unix channel
  // 4: nothing moves: nothing is joined, nothing changes.
  collect(4);
  EXPECT_EQ(joined_last, 0U);
  // 5: the first pipe written again, read at 6.
  grow(0, 1, 4, 5);
  collect(5);
  EXPECT_EQ(joined_last, 2U);
  grow(1, 1, 4, 6);
  collect(6);
  const auto table = table_of(part);
  const auto first =
      table.find({IPCT_KIND_PIPE, "pipe:ino=500,dev=0:14", EndpointRef::cgroup(1), EndpointRef::cgroup(2)});
  ASSERT_NE(first, table.end());
  EXPECT_EQ(first->second, (std::array<uint64_t, 4>{3, 14, 3, 14}));
  EXPECT_EQ(table.size(), 3U);
}
