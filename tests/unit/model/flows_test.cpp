// The join rules of every kind, on hand-made kernel totals.
#include "model/flows.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <cstring>
#include <map>
#include <numeric>

#include "kernel/kinds.h"
#include "model/shm.h"

using namespace ipctrace;

namespace {

FlowSample obj(uint64_t cg, int kind, int dir, uint64_t id, uint32_t dev, uint64_t msgs, uint64_t bytes,
               uint64_t peer = 0) {
  FlowSample s;
  s.key.cgroup_id = cg;
  s.key.kind = static_cast<uint8_t>(kind);
  s.key.dir = static_cast<uint8_t>(dir);
  s.key.ch.obj.id = id;
  s.key.ch.obj.dev = dev;
  s.key.ch.obj.peer = peer;
  s.msgs = msgs;
  s.bytes = bytes;
  s.tgid = static_cast<uint32_t>(cg * 10);
  s.comm = "proc" + std::to_string(cg);
  return s;
}

FlowSample inet(uint64_t cg, int kind, int dir, uint32_t netns, const char* laddr, uint16_t lport, const char* raddr,
                uint16_t rport, uint64_t msgs, uint64_t bytes) {
  FlowSample s;
  s.key.cgroup_id = cg;
  s.key.kind = static_cast<uint8_t>(kind);
  s.key.dir = static_cast<uint8_t>(dir);
  s.key.ch.inet.netns = netns;
  s.key.ch.inet.family = AF_INET;
  s.key.ch.inet.lport = lport;
  s.key.ch.inet.rport = rport;
  inet_pton(AF_INET, laddr, s.key.ch.inet.laddr);
  inet_pton(AF_INET, raddr, s.key.ch.inet.raddr);
  s.msgs = msgs;
  s.bytes = bytes;
  return s;
}

const ChannelFlow* find(const std::vector<ChannelFlow>& flows, const EndpointRef& src, const EndpointRef& dst) {
  for (const auto& f : flows) {
    if (f.src == src && f.dst == dst) return &f;
  }
  return nullptr;
}

EndpointRef cg(uint64_t id) { return EndpointRef::cgroup(id); }

}  // namespace

TEST(Apportion, ConservesTotalsExactly) {
  EXPECT_EQ(apportion(10, {1, 1}), (std::vector<uint64_t>{5, 5}));
  EXPECT_EQ(apportion(10, {3, 1}), (std::vector<uint64_t>{8, 2}));  // 7.5 / 2.5: tie to the first
  EXPECT_EQ(apportion(10, {1, 1, 1}), (std::vector<uint64_t>{4, 3, 3}));
  EXPECT_EQ(apportion(7, {0, 0}), (std::vector<uint64_t>{4, 3}));  // nothing read: equal
  EXPECT_EQ(apportion(0, {5, 9}), (std::vector<uint64_t>{0, 0}));
  EXPECT_EQ(apportion(5, {0, 7}), (std::vector<uint64_t>{0, 5}));
  EXPECT_TRUE(apportion(5, {}).empty());
  const uint64_t big = 18446744073709551557ULL;  // near 2^64
  const auto parts = apportion(big, {1, 2, 3});
  EXPECT_EQ(std::accumulate(parts.begin(), parts.end(), uint64_t{0}), big);
}

TEST(Join, PipeOneWriterOneReader) {
  const auto flows = join_flows({obj(1, IPCT_KIND_PIPE, IPCT_DIR_SEND, 77, 14, 10, 10000),
                                 obj(2, IPCT_KIND_PIPE, IPCT_DIR_RECV, 77, 14, 3, 9000)});
  ASSERT_EQ(flows.size(), 1U);
  const ChannelFlow& f = flows[0];
  EXPECT_EQ(f.kind, IPCT_KIND_PIPE);
  EXPECT_EQ(f.channel, "pipe:ino=77,dev=0:14");
  EXPECT_EQ(f.src, cg(1));
  EXPECT_EQ(f.dst, cg(2));
  EXPECT_EQ(f.msgs, 10U);
  EXPECT_EQ(f.bytes, 10000U);
  EXPECT_EQ(f.recv_msgs, 3U);
  EXPECT_EQ(f.recv_bytes, 9000U);  // 1,000 bytes still queued
  EXPECT_EQ(f.src_task.comm, "proc1");
  EXPECT_EQ(f.dst_task.tgid, 20U);
}

TEST(Join, SeveralWritersAndReadersSplitHonestly) {
  // Writers sent 300 and 100 bytes; readers took 200 and 200 (so half each).
  const auto flows = join_flows(
      {obj(1, IPCT_KIND_FIFO, IPCT_DIR_SEND, 5, 1, 3, 300), obj(2, IPCT_KIND_FIFO, IPCT_DIR_SEND, 5, 1, 1, 100),
       obj(3, IPCT_KIND_FIFO, IPCT_DIR_RECV, 5, 1, 2, 200), obj(4, IPCT_KIND_FIFO, IPCT_DIR_RECV, 5, 1, 2, 200)});
  ASSERT_EQ(flows.size(), 4U);
  EXPECT_EQ(find(flows, cg(1), cg(3))->bytes, 150U);
  EXPECT_EQ(find(flows, cg(1), cg(4))->bytes, 150U);
  EXPECT_EQ(find(flows, cg(2), cg(3))->bytes, 50U);
  EXPECT_EQ(find(flows, cg(2), cg(4))->bytes, 50U);
  // Reader 3's 200 bytes go back to the writers 3:1.
  EXPECT_EQ(find(flows, cg(1), cg(3))->recv_bytes, 150U);
  EXPECT_EQ(find(flows, cg(2), cg(3))->recv_bytes, 50U);
  uint64_t msgs = 0;
  uint64_t bytes = 0;
  uint64_t recv = 0;
  for (const auto& f : flows) {
    msgs += f.msgs;
    bytes += f.bytes;
    recv += f.recv_bytes;
  }
  EXPECT_EQ(msgs, 4U);
  EXPECT_EQ(bytes, 400U);
  EXPECT_EQ(recv, 400U);
}

TEST(Join, MissingEndsAreUnknownNotDropped) {
  const auto writer_only = join_flows({obj(1, IPCT_KIND_POSIX_MQ, IPCT_DIR_SEND, 9, 2, 4, 40)});
  ASSERT_EQ(writer_only.size(), 1U);
  EXPECT_EQ(writer_only[0].dst, EndpointRef::unknown());
  EXPECT_EQ(writer_only[0].bytes, 40U);
  const auto reader_only = join_flows({obj(2, IPCT_KIND_POSIX_MQ, IPCT_DIR_RECV, 9, 2, 4, 40)});
  ASSERT_EQ(reader_only.size(), 1U);
  EXPECT_EQ(reader_only[0].src, EndpointRef::unknown());
  EXPECT_EQ(reader_only[0].bytes, 0U);
  EXPECT_EQ(reader_only[0].recv_bytes, 40U);
}

// Operations whose flows could not be kept: the cgroup's end, to or from "other", never joined
// (not even with a reader on a zero channel) and never taken for a receiver.
TEST(Join, FoldedOperationsKeepTheirCgroupsTotalsAndJoinNothing) {
  auto folded = [](uint64_t cgroup, int kind, int dir, uint64_t msgs, uint64_t bytes) {
    FlowSample s;
    s.key.cgroup_id = cgroup;
    s.key.kind = static_cast<uint8_t>(kind);
    s.key.dir = static_cast<uint8_t>(dir);
    s.key._pad[0] = kFoldedKeyMark;
    s.folded = true;
    s.msgs = msgs;
    s.bytes = bytes;
    return s;
  };
  const auto flows =
      join_flows({folded(1, IPCT_KIND_PIPE, IPCT_DIR_SEND, 36, 3600),
                  folded(2, IPCT_KIND_PIPE, IPCT_DIR_RECV, 30, 3000), folded(3, IPCT_KIND_UDP, IPCT_DIR_RECV, 7, 70),
                  inet(4, IPCT_KIND_UDP, IPCT_DIR_SEND, 1, "0.0.0.0", 0, "0.0.0.0", 0, 5, 50),
                  obj(5, IPCT_KIND_PIPE, IPCT_DIR_RECV, 0, 0, 2, 20)});
  const ChannelFlow* sent = find(flows, cg(1), EndpointRef::other());
  ASSERT_NE(sent, nullptr);
  EXPECT_EQ(sent->kind, IPCT_KIND_PIPE);
  EXPECT_EQ(sent->channel, "pipe:folded");
  EXPECT_EQ(sent->msgs, 36U);
  EXPECT_EQ(sent->bytes, 3600U);
  EXPECT_EQ(sent->recv_msgs, 0U);
  const ChannelFlow* got = find(flows, EndpointRef::other(), cg(2));
  ASSERT_NE(got, nullptr);
  EXPECT_EQ(got->msgs, 0U);
  EXPECT_EQ(got->recv_msgs, 30U);
  EXPECT_EQ(got->recv_bytes, 3000U);
  const ChannelFlow* udp = find(flows, EndpointRef::other(), cg(3));
  ASSERT_NE(udp, nullptr);
  EXPECT_EQ(udp->recv_bytes, 70U);
  // The folded receipts are no receiver: the send of cgroup 4 does not reach cgroup 3.
  EXPECT_EQ(find(flows, cg(4), cg(3)), nullptr);
  // Nor is a folded send a writer of a real channel.
  EXPECT_EQ(find(flows, cg(1), cg(5)), nullptr);
  EXPECT_EQ(flows.size(), 5U);
}

TEST(Join, SysvQueuesOfTwoIpcNamespacesStayApart) {
  const auto flows = join_flows({obj(1, IPCT_KIND_SYSV_MSG, IPCT_DIR_SEND, 0, 4026531839, 1, 10),
                                 obj(2, IPCT_KIND_SYSV_MSG, IPCT_DIR_RECV, 0, 4026531839, 1, 10),
                                 obj(3, IPCT_KIND_SYSV_MSG, IPCT_DIR_SEND, 0, 4026532001, 1, 20),
                                 obj(4, IPCT_KIND_SYSV_MSG, IPCT_DIR_RECV, 0, 4026532001, 1, 20)});
  ASSERT_EQ(flows.size(), 2U);
  EXPECT_EQ(find(flows, cg(1), cg(2))->bytes, 10U);
  EXPECT_EQ(find(flows, cg(3), cg(4))->bytes, 20U);
  EXPECT_EQ(find(flows, cg(1), cg(2))->channel, "sysv_msg:msqid=0,ipcns=4026531839");
  EXPECT_EQ(find(flows, cg(1), cg(4)), nullptr);
}

TEST(Join, UnixSocketToItsPeer) {
  // Socket 100 (cgroup 1) and 200 (cgroup 2), connected; traffic both ways.
  const auto flows = join_flows({obj(1, IPCT_KIND_UNIX_STREAM, IPCT_DIR_SEND, 100, 0, 7, 1050, 200),
                                 obj(2, IPCT_KIND_UNIX_STREAM, IPCT_DIR_RECV, 200, 0, 2, 1050, 100),
                                 obj(2, IPCT_KIND_UNIX_STREAM, IPCT_DIR_SEND, 200, 0, 1, 5, 100),
                                 obj(1, IPCT_KIND_UNIX_STREAM, IPCT_DIR_RECV, 100, 0, 1, 5, 200)});
  ASSERT_EQ(flows.size(), 2U);
  const ChannelFlow* ab = find(flows, cg(1), cg(2));
  ASSERT_NE(ab, nullptr);
  EXPECT_EQ(ab->msgs, 7U);
  EXPECT_EQ(ab->bytes, 1050U);
  EXPECT_EQ(ab->recv_bytes, 1050U);
  EXPECT_EQ(ab->channel, "unix_stream:ino=200");
  EXPECT_EQ(find(flows, cg(2), cg(1))->bytes, 5U);
}

FlowSample tagged(FlowSample s, uint64_t sk_tag) {
  s.key.ch.obj.sk_tag = sk_tag;
  return s;
}

TEST(Join, UnixDataSentBeforeAcceptFindsTheAcceptedSocket) {
  for (int kind : {IPCT_KIND_UNIX_STREAM, IPCT_KIND_UNIX_SEQPACKET}) {
    // Client socket 40 sent 3 messages (30 B) into the embryo (tag 0xabc) before accept(), then
    // 2 (20 B) into the accepted socket 41; socket 41 read all 50 B, 35 of them while 40 was open.
    const auto flows = join_flows({tagged(obj(1, kind, IPCT_DIR_SEND, 40, 0, 3, 30), 0xabc),
                                   obj(1, kind, IPCT_DIR_SEND, 40, 0, 2, 20, 41),
                                   tagged(obj(2, kind, IPCT_DIR_RECV, 41, 0, 4, 35, 40), 0xabc),
                                   tagged(obj(2, kind, IPCT_DIR_RECV, 41, 0, 1, 15), 0xabc)});
    ASSERT_EQ(flows.size(), 1U) << kind;
    const ChannelFlow& f = flows[0];
    EXPECT_EQ(f.src, cg(1));
    EXPECT_EQ(f.dst, cg(2));
    EXPECT_EQ(f.msgs, 5U);
    EXPECT_EQ(f.bytes, 50U);
    EXPECT_EQ(f.recv_msgs, 5U);
    EXPECT_EQ(f.recv_bytes, 50U);
    EXPECT_EQ(f.channel, std::string(kind_name(kind)) + ":ino=41");
  }
}

TEST(Join, AClientThatClosedBeforeTheReadsStillFindsItsReader) {
  const auto flows = join_flows({tagged(obj(1, IPCT_KIND_UNIX_STREAM, IPCT_DIR_SEND, 40, 0, 1, 12), 0xabc),
                                 tagged(obj(2, IPCT_KIND_UNIX_STREAM, IPCT_DIR_RECV, 41, 0, 1, 12), 0xabc)});
  ASSERT_EQ(flows.size(), 1U);
  EXPECT_EQ(flows[0].src, cg(1));
  EXPECT_EQ(flows[0].dst, cg(2));
  EXPECT_EQ(flows[0].bytes, 12U);
}

TEST(Join, AReusedSocketAddressNeverJoinsAnotherConnection) {
  // Socket 31 (an earlier connection at the same address, tag 0xabc) read from client 30; socket
  // 41 reads from client 40. Client 40's pre-accept data goes to 41, client 50's (whose reader has
  // not read) to nobody known.
  const auto flows = join_flows({tagged(obj(3, IPCT_KIND_UNIX_STREAM, IPCT_DIR_RECV, 31, 0, 1, 7, 30), 0xabc),
                                 tagged(obj(1, IPCT_KIND_UNIX_STREAM, IPCT_DIR_SEND, 40, 0, 1, 12), 0xabc),
                                 tagged(obj(2, IPCT_KIND_UNIX_STREAM, IPCT_DIR_RECV, 41, 0, 1, 12, 40), 0xabc),
                                 tagged(obj(5, IPCT_KIND_UNIX_STREAM, IPCT_DIR_SEND, 50, 0, 1, 9), 0xabc)});
  ASSERT_NE(find(flows, cg(1), cg(2)), nullptr);
  EXPECT_EQ(find(flows, cg(1), cg(2))->bytes, 12U);
  EXPECT_EQ(find(flows, cg(1), cg(3)), nullptr);
  ASSERT_NE(find(flows, cg(5), EndpointRef::unknown()), nullptr);
  EXPECT_EQ(find(flows, cg(5), EndpointRef::unknown())->bytes, 9U);
  // Two earlier readers that both lost their peer: ambiguous, so not joined.
  const auto two = join_flows({tagged(obj(3, IPCT_KIND_UNIX_STREAM, IPCT_DIR_RECV, 31, 0, 1, 7), 0xabc),
                               tagged(obj(2, IPCT_KIND_UNIX_STREAM, IPCT_DIR_RECV, 41, 0, 1, 12), 0xabc),
                               tagged(obj(1, IPCT_KIND_UNIX_STREAM, IPCT_DIR_SEND, 40, 0, 1, 12), 0xabc)});
  ASSERT_NE(find(two, cg(1), EndpointRef::unknown()), nullptr);
  EXPECT_EQ(find(two, cg(1), cg(2)), nullptr);
  // A tag of a stream socket is no tag of a seqpacket one.
  const auto kinds = join_flows({tagged(obj(1, IPCT_KIND_UNIX_SEQPACKET, IPCT_DIR_SEND, 40, 0, 1, 12), 0xabc),
                                 tagged(obj(2, IPCT_KIND_UNIX_STREAM, IPCT_DIR_RECV, 41, 0, 1, 12, 40), 0xabc)});
  EXPECT_EQ(find(kinds, cg(1), cg(2)), nullptr);
}

// A socket freed and its address reused: a container runtime's socket (31, tag 0xabc) read 4
// bytes while the container started, its peer gone since; then client 40 sent 12 bytes into an
// embryo at the same address, not accepted yet. The runtime's reads ended two reads of the
// tracer before the client's data came (FlowSample::first_read, last_read): not its reader.
// Once socket 41 reads (in the same read as the data, or later), the data is its.
FlowSample reads(FlowSample s, uint64_t first, uint64_t last) {
  s.first_read = first;
  s.last_read = last;
  return s;
}

TEST(Join, ASocketWhoseReadsEndedBeforeTheDataCameIsNotItsReader) {
  const FlowSample runtime = reads(tagged(obj(3, IPCT_KIND_UNIX_STREAM, IPCT_DIR_RECV, 31, 0, 1, 4), 0xabc), 1, 1);
  const FlowSample client = reads(tagged(obj(1, IPCT_KIND_UNIX_STREAM, IPCT_DIR_SEND, 40, 0, 1, 12), 0xabc), 3, 3);
  const auto before = join_flows({runtime, client});
  EXPECT_EQ(find(before, cg(1), cg(3)), nullptr);
  ASSERT_NE(find(before, cg(1), EndpointRef::unknown()), nullptr);
  EXPECT_EQ(find(before, cg(1), EndpointRef::unknown())->bytes, 12U);
  for (uint64_t read_at : {3, 4}) {
    const FlowSample server =
        reads(tagged(obj(2, IPCT_KIND_UNIX_STREAM, IPCT_DIR_RECV, 41, 0, 1, 12), 0xabc), read_at, read_at);
    const auto after = join_flows({runtime, client, server});
    ASSERT_NE(find(after, cg(1), cg(2)), nullptr) << read_at;
    EXPECT_EQ(find(after, cg(1), cg(2))->bytes, 12U);
    EXPECT_EQ(find(after, cg(1), cg(3)), nullptr);
  }
  // Reads in the read the data came in could be the data's: the only loose one is taken.
  const auto same = join_flows({reads(runtime, 1, 3), client});
  ASSERT_NE(find(same, cg(1), cg(3)), nullptr);
}

TEST(Join, UnixDatagramsToABoundServerFromTwoClients) {
  // The server socket 300 is not connected (peer 0); clients 101 and 102 are connected to it.
  const auto flows = join_flows({obj(1, IPCT_KIND_UNIX_DGRAM, IPCT_DIR_SEND, 101, 0, 3, 99, 300),
                                 obj(2, IPCT_KIND_UNIX_DGRAM, IPCT_DIR_SEND, 102, 0, 1, 33, 300),
                                 obj(3, IPCT_KIND_UNIX_DGRAM, IPCT_DIR_RECV, 300, 0, 4, 132, 0)});
  ASSERT_EQ(flows.size(), 2U);
  EXPECT_EQ(find(flows, cg(1), cg(3))->bytes, 99U);
  EXPECT_EQ(find(flows, cg(1), cg(3))->recv_bytes, 99U);
  EXPECT_EQ(find(flows, cg(2), cg(3))->recv_bytes, 33U);
}

TEST(Join, UnconnectedUnixSenderHasAnUnknownPeer) {
  const auto flows = join_flows({obj(1, IPCT_KIND_UNIX_DGRAM, IPCT_DIR_SEND, 101, 0, 2, 20, 0)});
  ASSERT_EQ(flows.size(), 1U);
  EXPECT_EQ(flows[0].dst, EndpointRef::unknown());
  EXPECT_EQ(flows[0].bytes, 20U);
}

// An unconnected unix datagram send carries the tag of the name it sends to; the receiving socket
// bound to that name carries the same tag on its receives: joined, each destination its own
// channel. Two sockets with one tag (a name rebound, the same abstract name tagged alike): not
// joined.
TEST(Join, UnconnectedUnixDatagramsFindTheSocketBoundToTheName) {
  const auto flows = join_flows({tagged(obj(1, IPCT_KIND_UNIX_DGRAM, IPCT_DIR_SEND, 101, 0, 3, 21), 0xa1),
                                 tagged(obj(1, IPCT_KIND_UNIX_DGRAM, IPCT_DIR_SEND, 101, 0, 2, 18), 0xb1),
                                 tagged(obj(2, IPCT_KIND_UNIX_DGRAM, IPCT_DIR_RECV, 300, 0, 3, 21), 0xa1),
                                 tagged(obj(3, IPCT_KIND_UNIX_DGRAM, IPCT_DIR_RECV, 301, 0, 2, 18), 0xb1)});
  ASSERT_EQ(flows.size(), 2U);
  ASSERT_NE(find(flows, cg(1), cg(2)), nullptr);
  EXPECT_EQ(find(flows, cg(1), cg(2))->msgs, 3U);
  EXPECT_EQ(find(flows, cg(1), cg(2))->recv_bytes, 21U);
  EXPECT_EQ(find(flows, cg(1), cg(2))->channel, "unix_dgram:ino=300");
  ASSERT_NE(find(flows, cg(1), cg(3)), nullptr);
  EXPECT_EQ(find(flows, cg(1), cg(3))->bytes, 18U);
  const auto two = join_flows({tagged(obj(1, IPCT_KIND_UNIX_DGRAM, IPCT_DIR_SEND, 101, 0, 3, 21), 0xa1),
                               tagged(obj(2, IPCT_KIND_UNIX_DGRAM, IPCT_DIR_RECV, 300, 0, 1, 7), 0xa1),
                               tagged(obj(3, IPCT_KIND_UNIX_DGRAM, IPCT_DIR_RECV, 301, 0, 2, 14), 0xa1)});
  ASSERT_NE(find(two, cg(1), EndpointRef::unknown()), nullptr);
  EXPECT_EQ(find(two, cg(1), EndpointRef::unknown())->bytes, 21U);
}

// An unconnected UDP socket sending to two receivers (keyed by each destination) and receiving
// a reply: each destination is joined to its receiver.
TEST(Join, UnconnectedUdpSendsGoToEachDestination) {
  const auto flows = join_flows({inet(1, IPCT_KIND_UDP, IPCT_DIR_SEND, 7, "0.0.0.0", 40000, "127.0.0.1", 8125, 3, 30),
                                 inet(1, IPCT_KIND_UDP, IPCT_DIR_SEND, 7, "0.0.0.0", 40000, "127.0.0.1", 53, 2, 80),
                                 inet(2, IPCT_KIND_UDP, IPCT_DIR_RECV, 7, "127.0.0.1", 8125, "0.0.0.0", 0, 3, 30),
                                 inet(3, IPCT_KIND_UDP, IPCT_DIR_RECV, 7, "0.0.0.0", 53, "0.0.0.0", 0, 2, 80),
                                 inet(3, IPCT_KIND_UDP, IPCT_DIR_SEND, 7, "0.0.0.0", 53, "127.0.0.1", 40000, 2, 200),
                                 inet(1, IPCT_KIND_UDP, IPCT_DIR_RECV, 7, "0.0.0.0", 40000, "0.0.0.0", 0, 2, 200)});
  ASSERT_EQ(flows.size(), 3U);
  ASSERT_NE(find(flows, cg(1), cg(2)), nullptr);
  EXPECT_EQ(find(flows, cg(1), cg(2))->bytes, 30U);
  EXPECT_EQ(find(flows, cg(1), cg(2))->recv_bytes, 30U);
  ASSERT_NE(find(flows, cg(1), cg(3)), nullptr);
  EXPECT_EQ(find(flows, cg(1), cg(3))->msgs, 2U);
  EXPECT_EQ(find(flows, cg(1), cg(3))->recv_bytes, 80U);
  ASSERT_NE(find(flows, cg(3), cg(1)), nullptr);
  EXPECT_EQ(find(flows, cg(3), cg(1))->bytes, 200U);
  EXPECT_EQ(find(flows, cg(3), cg(1))->recv_bytes, 200U);
}

TEST(Join, TcpOverLoopbackJoinsBothEndsInOneNamespace) {
  const auto flows =
      join_flows({inet(1, IPCT_KIND_TCP, IPCT_DIR_SEND, 7, "127.0.0.1", 40000, "127.0.0.1", 8080, 5, 5000),
                  inet(2, IPCT_KIND_TCP, IPCT_DIR_RECV, 7, "127.0.0.1", 8080, "127.0.0.1", 40000, 2, 5000)});
  ASSERT_EQ(flows.size(), 1U);
  EXPECT_EQ(flows[0].src, cg(1));
  EXPECT_EQ(flows[0].dst, cg(2));
  EXPECT_EQ(flows[0].bytes, 5000U);
  EXPECT_EQ(flows[0].recv_bytes, 5000U);
  EXPECT_EQ(flows[0].channel, "tcp:127.0.0.1:8080@netns=7");
}

TEST(Join, LoopbackInAnotherNamespaceIsAnotherPlace) {
  const auto flows =
      join_flows({inet(1, IPCT_KIND_TCP, IPCT_DIR_SEND, 7, "127.0.0.1", 40000, "127.0.0.1", 8080, 5, 5000),
                  inet(2, IPCT_KIND_TCP, IPCT_DIR_RECV, 8, "127.0.0.1", 8080, "127.0.0.1", 40000, 2, 5000)});
  ASSERT_EQ(flows.size(), 2U);
  EXPECT_EQ(find(flows, cg(1), EndpointRef::address("127.0.0.1:8080"))->bytes, 5000U);
  // The receiver's peer is in its own namespace, where no sender was seen: counted where it was.
  const ChannelFlow* in = find(flows, EndpointRef::address("127.0.0.1"), cg(2));
  ASSERT_NE(in, nullptr);
  EXPECT_EQ(in->recv_bytes, 5000U);
  EXPECT_TRUE(in->counted_at_receiver);
}

TEST(Join, PodToPodAcrossNamespacesAndToTheOutside) {
  const auto flows =
      join_flows({inet(1, IPCT_KIND_TCP, IPCT_DIR_SEND, 7, "10.1.0.5", 40000, "10.1.0.9", 80, 3, 300),
                  inet(2, IPCT_KIND_TCP, IPCT_DIR_RECV, 8, "10.1.0.9", 80, "10.1.0.5", 40000, 3, 300),
                  inet(1, IPCT_KIND_TCP, IPCT_DIR_SEND, 7, "10.1.0.5", 40001, "93.184.216.34", 443, 1, 517)});
  ASSERT_EQ(flows.size(), 2U);
  EXPECT_EQ(find(flows, cg(1), cg(2))->bytes, 300U);
  EXPECT_EQ(find(flows, cg(1), EndpointRef::address("93.184.216.34:443"))->bytes, 517U);
}

TEST(Join, FromARemotePeerTheReceiptsAreTheFiguresAndSaySo) {
  // A connection from outside the node: only this node's receiving end saw it.
  const auto flows =
      join_flows({inet(2, IPCT_KIND_TCP, IPCT_DIR_RECV, 8, "10.1.0.9", 80, "192.0.2.7", 51000, 4, 1234),
                  inet(2, IPCT_KIND_UDP, IPCT_DIR_RECV, 8, "10.1.0.9", 53, "192.0.2.8", 5353, 2, 90),
                  inet(1, IPCT_KIND_TCP, IPCT_DIR_SEND, 7, "10.1.0.5", 40001, "93.184.216.34", 443, 1, 517)});
  ASSERT_EQ(flows.size(), 3U);
  const ChannelFlow* in = find(flows, EndpointRef::address("192.0.2.7"), cg(2));
  ASSERT_NE(in, nullptr);
  EXPECT_TRUE(in->counted_at_receiver);
  EXPECT_EQ(in->msgs, 4U);
  EXPECT_EQ(in->bytes, 1234U);
  EXPECT_EQ(in->recv_msgs, 4U);
  EXPECT_EQ(in->recv_bytes, 1234U);
  const ChannelFlow* dns = find(flows, EndpointRef::address("192.0.2.8"), cg(2));
  ASSERT_NE(dns, nullptr);
  EXPECT_TRUE(dns->counted_at_receiver);
  EXPECT_EQ(dns->bytes, 90U);
  // Sent to the outside: counted at the sender, as every other flow.
  const ChannelFlow* out = find(flows, cg(1), EndpointRef::address("93.184.216.34:443"));
  ASSERT_NE(out, nullptr);
  EXPECT_FALSE(out->counted_at_receiver);
  EXPECT_EQ(out->bytes, 517U);
  EXPECT_EQ(out->recv_bytes, 0U);
  // A receiver whose peer is unknown (an unconnected UDP socket) is no remote peer: nothing sent seen.
  const auto unknown = join_flows({inet(2, IPCT_KIND_UDP, IPCT_DIR_RECV, 8, "0.0.0.0", 9999, "0.0.0.0", 0, 3, 600)});
  ASSERT_EQ(unknown.size(), 1U);
  EXPECT_FALSE(unknown[0].counted_at_receiver);
  EXPECT_EQ(unknown[0].bytes, 0U);
  EXPECT_EQ(unknown[0].recv_bytes, 600U);
}

TEST(Join, RemoteClientsOfOneListenerAreCountedPerPeerAndBesideLocalOnes) {
  // Listener 10.1.0.9:80 in cgroup 2: two connections from 192.0.2.7 (two ports), one from
  // 192.0.2.8, one from the local client 10.1.0.5:40000 in cgroup 1.
  const auto flows = join_flows({inet(2, IPCT_KIND_TCP, IPCT_DIR_RECV, 8, "10.1.0.9", 80, "192.0.2.7", 51000, 2, 200),
                                 inet(2, IPCT_KIND_TCP, IPCT_DIR_RECV, 8, "10.1.0.9", 80, "192.0.2.7", 51001, 1, 50),
                                 inet(2, IPCT_KIND_TCP, IPCT_DIR_RECV, 8, "10.1.0.9", 80, "192.0.2.8", 40000, 1, 7),
                                 inet(2, IPCT_KIND_TCP, IPCT_DIR_RECV, 8, "10.1.0.9", 80, "10.1.0.5", 40000, 3, 300),
                                 inet(1, IPCT_KIND_TCP, IPCT_DIR_SEND, 7, "10.1.0.5", 40000, "10.1.0.9", 80, 3, 300)});
  ASSERT_EQ(flows.size(), 3U);
  const ChannelFlow* a = find(flows, EndpointRef::address("192.0.2.7"), cg(2));
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->msgs, 3U);
  EXPECT_EQ(a->bytes, 250U);
  EXPECT_TRUE(a->counted_at_receiver);
  const ChannelFlow* b = find(flows, EndpointRef::address("192.0.2.8"), cg(2));
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(b->bytes, 7U);
  const ChannelFlow* local = find(flows, cg(1), cg(2));
  ASSERT_NE(local, nullptr);
  EXPECT_FALSE(local->counted_at_receiver);
  EXPECT_EQ(local->bytes, 300U);
  EXPECT_EQ(local->recv_bytes, 300U);  // the remote clients' receipts are not the local one's
  // Whichever order the samples come in, the same flows: no flow's source changes between cycles.
  const auto again = join_flows({inet(2, IPCT_KIND_TCP, IPCT_DIR_RECV, 8, "10.1.0.9", 80, "192.0.2.8", 40000, 1, 7),
                                 inet(1, IPCT_KIND_TCP, IPCT_DIR_SEND, 7, "10.1.0.5", 40000, "10.1.0.9", 80, 3, 300),
                                 inet(2, IPCT_KIND_TCP, IPCT_DIR_RECV, 8, "10.1.0.9", 80, "10.1.0.5", 40000, 3, 300),
                                 inet(2, IPCT_KIND_TCP, IPCT_DIR_RECV, 8, "10.1.0.9", 80, "192.0.2.7", 51001, 1, 50),
                                 inet(2, IPCT_KIND_TCP, IPCT_DIR_RECV, 8, "10.1.0.9", 80, "192.0.2.7", 51000, 2, 200)});
  ASSERT_EQ(again.size(), 3U);
  EXPECT_EQ(find(again, EndpointRef::address("192.0.2.7"), cg(2))->bytes, 250U);
}

TEST(Join, AServiceVirtualAddressIsJoinedByTheConnectionsOwnAddresses) {
  // Pod 1 (10.1.0.5:41000) sends to a Service's virtual IP 10.96.0.10:80, rewritten to pod 2's
  // 10.1.0.9:8080; pod 2 answers from 10.1.0.9:8080 and pod 1 sees the answers come from
  // 10.96.0.10:80. One flow each way, nothing counted twice, nothing remote.
  const auto flows =
      join_flows({inet(1, IPCT_KIND_TCP, IPCT_DIR_SEND, 7, "10.1.0.5", 41000, "10.96.0.10", 80, 2, 120),
                  inet(2, IPCT_KIND_TCP, IPCT_DIR_RECV, 8, "10.1.0.9", 8080, "10.1.0.5", 41000, 2, 120),
                  inet(2, IPCT_KIND_TCP, IPCT_DIR_SEND, 8, "10.1.0.9", 8080, "10.1.0.5", 41000, 1, 900),
                  inet(1, IPCT_KIND_TCP, IPCT_DIR_RECV, 7, "10.1.0.5", 41000, "10.96.0.10", 80, 1, 900)});
  ASSERT_EQ(flows.size(), 2U);
  const ChannelFlow* request = find(flows, cg(1), cg(2));
  ASSERT_NE(request, nullptr);
  EXPECT_EQ(request->bytes, 120U);
  EXPECT_EQ(request->recv_bytes, 120U);
  const ChannelFlow* answer = find(flows, cg(2), cg(1));
  ASSERT_NE(answer, nullptr);
  EXPECT_EQ(answer->bytes, 900U);
  EXPECT_EQ(answer->recv_bytes, 900U);
  for (const ChannelFlow& f : flows) EXPECT_FALSE(f.counted_at_receiver) << f.channel;
}

TEST(Join, UdpToAWildcardReceiver) {
  const auto flows = join_flows({inet(1, IPCT_KIND_UDP, IPCT_DIR_SEND, 7, "10.1.0.5", 5353, "10.1.0.9", 9999, 3, 600),
                                 inet(2, IPCT_KIND_UDP, IPCT_DIR_RECV, 8, "0.0.0.0", 9999, "0.0.0.0", 0, 3, 600)});
  ASSERT_EQ(flows.size(), 1U);
  EXPECT_EQ(flows[0].src, cg(1));
  EXPECT_EQ(flows[0].dst, cg(2));
  EXPECT_EQ(flows[0].recv_bytes, 600U);
}

// An AF_INET client of a dual-stack [::] listener: the accepted socket is AF_INET6 with
// ::ffff:127.0.0.1 at both ends, which is the IPv4 address (RFC 4291 2.5.5.2).
TEST(Join, AnIpv4ClientMeetsADualStackListener) {
  FlowSample server = inet(2, IPCT_KIND_TCP, IPCT_DIR_RECV, 7, "127.0.0.1", 8080, "127.0.0.1", 40000, 1, 1);
  server.key.ch.inet.family = AF_INET6;
  inet_pton(AF_INET6, "::ffff:127.0.0.1", server.key.ch.inet.laddr);
  inet_pton(AF_INET6, "::ffff:127.0.0.1", server.key.ch.inet.raddr);
  const auto flows =
      join_flows({inet(1, IPCT_KIND_TCP, IPCT_DIR_SEND, 7, "127.0.0.1", 40000, "127.0.0.1", 8080, 1, 1), server});
  ASSERT_EQ(flows.size(), 1U);
  EXPECT_EQ(flows[0].src, cg(1));
  EXPECT_EQ(flows[0].dst, cg(2));
  EXPECT_EQ(flows[0].bytes, 1U);
  EXPECT_EQ(flows[0].recv_bytes, 1U);
  EXPECT_EQ(flows[0].channel, "tcp:127.0.0.1:8080@netns=7");
  uint8_t mapped[16];
  inet_pton(AF_INET6, "::ffff:10.0.0.5", mapped);
  EXPECT_EQ(format_inet(AF_INET6, mapped, 443), "10.0.0.5:443");
  inet_pton(AF_INET6, "2001:db8::1", mapped);
  EXPECT_EQ(format_inet(AF_INET6, mapped, 443), "[2001:db8::1]:443");
}

// A wildcard receiver takes loopback traffic sent to its port in its own network namespace.
TEST(Join, LoopbackToAWildcardReceiverInTheSameNamespace) {
  const auto flows =
      join_flows({inet(1, IPCT_KIND_UDP, IPCT_DIR_SEND, 7, "127.0.0.1", 5353, "127.0.0.1", 9999, 3, 600),
                  inet(2, IPCT_KIND_UDP, IPCT_DIR_RECV, 7, "0.0.0.0", 9999, "0.0.0.0", 0, 3, 600),
                  inet(3, IPCT_KIND_UDP, IPCT_DIR_SEND, 8, "127.0.0.1", 5353, "127.0.0.1", 9999, 1, 10)});
  ASSERT_EQ(flows.size(), 2U);
  EXPECT_EQ(find(flows, cg(1), cg(2))->bytes, 600U);
  EXPECT_EQ(find(flows, cg(1), cg(2))->recv_bytes, 600U);
  // Loopback in another namespace is another place.
  EXPECT_EQ(find(flows, cg(3), EndpointRef::address("127.0.0.1:9999"))->bytes, 10U);
}

TEST(Join, SignalsGoToTheTargetCgroup) {
  FlowSample s = obj(1, IPCT_KIND_SIGNAL, IPCT_DIR_SEND, 42, 35, 3, 0, 4321);
  std::strcpy(s.key.ch.obj.comm, "worker");
  const auto flows = join_flows({s});
  ASSERT_EQ(flows.size(), 1U);
  EXPECT_EQ(flows[0].dst_task.tgid, 4321U);
  EXPECT_EQ(flows[0].dst_task.comm, "worker");  // the target, named
  EXPECT_EQ(flows[0].src, cg(1));
  EXPECT_EQ(flows[0].dst, cg(42));
  EXPECT_EQ(flows[0].msgs, 3U);
  EXPECT_EQ(flows[0].channel, "signal:sig=35,target_pid=4321");
}

TEST(Join, ATargetThatRenamesItselfIsStillOneFlow) {
  // Two kernel keys (the comm is in the key, not in the channel): one flow, the counts summed,
  // so the collector never sees one id twice.
  FlowSample before = obj(1, IPCT_KIND_SIGNAL, IPCT_DIR_SEND, 42, 10, 3, 0, 4321);
  std::snprintf(before.key.ch.obj.comm, sizeof(before.key.ch.obj.comm), "%s", "python3");
  FlowSample after = obj(1, IPCT_KIND_SIGNAL, IPCT_DIR_SEND, 42, 10, 1, 0, 4321);
  std::snprintf(after.key.ch.obj.comm, sizeof(after.key.ch.obj.comm), "%s", "gunicorn worker");
  const auto flows = join_flows({before, after});
  ASSERT_EQ(flows.size(), 1U);
  EXPECT_EQ(flows[0].msgs, 4U);
  EXPECT_EQ(flows[0].recv_msgs, 4U);
  EXPECT_EQ(flows[0].dst_task.comm, "gunicorn worker");
}

TEST(Join, KeysOfOneIdInterleavedWithOthersMergeInTheirOrder) {
  // Keys of one id apart in the input: each id once, where it first came, its counts summed and
  // the task of its last key.
  auto sig = [](uint64_t target, uint64_t msgs, uint32_t pid, const char* comm) {
    FlowSample s = obj(1, IPCT_KIND_SIGNAL, IPCT_DIR_SEND, target, 10, msgs, 0, pid);
    std::snprintf(s.key.ch.obj.comm, sizeof(s.key.ch.obj.comm), "%s", comm);
    return s;
  };
  const auto flows = join_flows({sig(42, 1, 4321, "a1"), sig(43, 10, 5555, "b1"), sig(42, 2, 4321, "a2"),
                                 sig(43, 20, 5555, "b2"), sig(42, 4, 4321, "a3")});
  ASSERT_EQ(flows.size(), 2U);
  std::map<std::string, const ChannelFlow*> by_channel;
  for (const ChannelFlow& f : flows) by_channel[f.channel] = &f;
  const ChannelFlow& a = *by_channel.at("signal:sig=10,target_pid=4321");
  const ChannelFlow& b = *by_channel.at("signal:sig=10,target_pid=5555");
  EXPECT_EQ(a.msgs, 7U);
  EXPECT_EQ(a.dst_task.comm, "a3");
  EXPECT_EQ(b.msgs, 30U);
  EXPECT_EQ(b.dst_task.comm, "b2");
  EXPECT_EQ(a.dst, cg(42));
  EXPECT_EQ(b.dst, cg(43));
}

TEST(ShmTracker, CreatorJoinedToEveryAttacher) {
  ShmTracker shm;
  auto ev = [](uint64_t cgroup, uint32_t tgid, uint8_t op, int64_t ret, uint64_t id, uint64_t aux, uint64_t aux2) {
    ipct_event e{};
    e.kind = IPCT_KIND_SYSV_SHM;
    e.cgroup_id = cgroup;
    e.tgid = tgid;
    e.op = op;
    e.ret = ret;
    e.id = id;
    e.aux = aux;
    e.aux2 = aux2;
    e.dev = 4026531839U;
    return e;
  };
  shm.on_event(ev(1, 10, IPCT_OP_CREATE, 5, 5, 0x1234, 8192));
  shm.on_event(ev(1, 10, IPCT_OP_ATTACH, 0, 5, 0x7f0000, 0));
  shm.on_event(ev(2, 20, IPCT_OP_ATTACH, 0, 5, 0x7f1000, 0));
  shm.on_event(ev(2, 20, IPCT_OP_DETACH, 0, 0, 0x7f1000, 0));
  auto flows = shm.flows();
  ASSERT_EQ(flows.size(), 2U);
  const ChannelFlow* self = find(flows, cg(1), cg(1));
  const ChannelFlow* other = find(flows, cg(1), cg(2));
  ASSERT_NE(other, nullptr);
  EXPECT_EQ(other->shm_size, 8192U);
  EXPECT_EQ(other->msgs, 1U);
  EXPECT_EQ(other->shm_attached, 0U);  // detached
  ASSERT_NE(self, nullptr);
  EXPECT_EQ(self->shm_attached, 1U);
  EXPECT_EQ(self->channel, "sysv_shm:shmid=5,ipcns=4026531839,gen=1");

  // Process 10 exits without shmdt; the segment is removed: nothing is left.
  shm.on_event(ev(1, 10, IPCT_OP_REMOVE, 0, 5, 0, 0));
  shm.prune([](uint32_t tgid) { return tgid != 10; });
  EXPECT_TRUE(shm.flows().empty());
}

namespace {

ipct_event shm_event(uint64_t cgroup, uint32_t tgid, uint8_t op, int64_t ret, uint64_t id, uint64_t aux,
                     uint64_t aux2) {
  ipct_event e{};
  e.kind = IPCT_KIND_SYSV_SHM;
  e.cgroup_id = cgroup;
  e.tgid = tgid;
  e.op = op;
  e.ret = ret;
  e.id = id;
  e.aux = aux;
  e.aux2 = aux2;
  e.dev = 4026531839U;
  return e;
}

}  // namespace

// A segment created, attached, detached and removed between two collections: reported once
// (the collector forgets it only after joining), then forgotten.
TEST(ShmTracker, ASegmentThatLivedLessThanACollectionIsReportedOnce) {
  ShmTracker shm;
  shm.on_event(shm_event(1, 10, IPCT_OP_CREATE, 7, 7, 0x4950, 65536));
  shm.on_event(shm_event(2, 20, IPCT_OP_ATTACH, 0, 7, 0x7f2000, 0));
  shm.on_event(shm_event(2, 20, IPCT_OP_DETACH, 0, 0, 0x7f2000, 0));
  shm.on_event(shm_event(1, 10, IPCT_OP_REMOVE, 0, 7, 0, 0));
  shm.detach_gone([](uint32_t) { return true; });
  const auto flows = shm.flows();
  ASSERT_EQ(flows.size(), 1U);
  EXPECT_EQ(flows[0].src, cg(1));
  EXPECT_EQ(flows[0].dst, cg(2));
  EXPECT_EQ(flows[0].msgs, 1U);
  EXPECT_EQ(flows[0].shm_size, 65536U);
  EXPECT_EQ(flows[0].shm_attached, 0U);
  shm.forget_removed();
  EXPECT_TRUE(shm.flows().empty());
}

// shmget(key, 0, 0) of an existing segment reports the size asked for, not the segment's.
TEST(ShmTracker, ALookupDoesNotShrinkTheSegment) {
  ShmTracker shm;
  shm.on_event(shm_event(1, 10, IPCT_OP_CREATE, 7, 7, 0x4950, 65536));
  shm.on_event(shm_event(2, 20, IPCT_OP_CREATE, 7, 7, 0x4950, 0));
  shm.on_event(shm_event(2, 20, IPCT_OP_ATTACH, 0, 7, 0x7f2000, 0));
  const auto flows = shm.flows();
  ASSERT_EQ(flows.size(), 1U);
  EXPECT_EQ(flows[0].src, cg(1));
  EXPECT_EQ(flows[0].shm_size, 65536U);
}
