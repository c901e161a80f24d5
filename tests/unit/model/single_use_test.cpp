// Which kernel keys make single-use channels (model/single_use.h): a channel's keys all or none,
// used within two collections and idle for two since.
#include "model/single_use.h"

#include <gtest/gtest.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstdint>
#include <set>
#include <vector>

using namespace ipctrace;

namespace {

// A key of cgroup `cg` with its reads (FlowSample::first_read, last_read).
FlowSample key(uint64_t cg, int kind, int dir, uint64_t id, uint64_t peer, uint64_t first, uint64_t last,
               uint64_t sk_tag = 0) {
  FlowSample s;
  s.key.cgroup_id = cg;
  s.key.kind = static_cast<uint8_t>(kind);
  s.key.dir = static_cast<uint8_t>(dir);
  s.key.ch.obj.id = id;
  s.key.ch.obj.peer = peer;
  s.key.ch.obj.dev = 14;
  s.key.ch.obj.sk_tag = sk_tag;
  s.msgs = 1;
  s.bytes = 1;
  s.first_read = first;
  s.last_read = last;
  return s;
}

// A TCP key of cgroup `cg` on 127.0.0.1 (as an IPv4-mapped IPv6 address with `v6`, a dual-stack
// socket's view), read first and last at `read`.
FlowSample tcp(uint64_t cg, int dir, bool v6, uint16_t lport, uint16_t rport, uint64_t read = 5) {
  FlowSample s;
  s.key.cgroup_id = cg;
  s.key.kind = IPCT_KIND_TCP;
  s.key.dir = static_cast<uint8_t>(dir);
  ipct_chan_inet& c = s.key.ch.inet;
  c.netns = 4026531840U;
  c.family = v6 ? AF_INET6 : AF_INET;
  c.lport = lport;
  c.rport = rport;
  const uint8_t v4[4] = {127, 0, 0, 1};
  if (v6) {
    c.laddr[10] = c.laddr[11] = c.raddr[10] = c.raddr[11] = 0xff;
    std::copy(v4, v4 + 4, c.laddr + 12);
    std::copy(v4, v4 + 4, c.raddr + 12);
  } else {
    std::copy(v4, v4 + 4, c.laddr);
    std::copy(v4, v4 + 4, c.raddr);
  }
  s.msgs = s.bytes = 1;
  s.first_read = s.last_read = read;
  return s;
}

// The keys picked at read `now`, every collection's figures having gone out (or up to `exported`);
// with `open`, the open files listed after that read.
std::set<size_t> picked(const std::vector<FlowSample>& samples, uint64_t now, uint64_t exported = UINT64_MAX,
                        const OpenObjects* open = nullptr) {
  std::set<size_t> out;
  for (const auto& channel : releasable_channels(samples, now, std::min(now, exported), open))
    out.insert(channel.keys.begin(), channel.keys.end());
  return out;
}

}  // namespace

// A pipe written in one collection and read in the next: both ends go at the second read after
// the last, not before.
TEST(SingleUse, APipesEndsGoTogetherOnceIdleForTwoCollections) {
  const std::vector<FlowSample> s = {key(1, IPCT_KIND_PIPE, IPCT_DIR_SEND, 500, 0, 5, 5),
                                     key(2, IPCT_KIND_PIPE, IPCT_DIR_RECV, 500, 0, 6, 6)};
  EXPECT_EQ(picked(s, 6), (std::set<size_t>{}));
  EXPECT_EQ(picked(s, 7), (std::set<size_t>{}));
  EXPECT_EQ(picked(s, 8), (std::set<size_t>{0, 1}));
  EXPECT_EQ(picked(s, 100), (std::set<size_t>{0, 1}));
}

// Used over three collections: a channel that lives, left to the idle timeout. Its writer alone
// would look single-use: the reader holds it back.
TEST(SingleUse, AChannelUsedOverThreeCollectionsStays) {
  const std::vector<FlowSample> s = {key(1, IPCT_KIND_FIFO, IPCT_DIR_SEND, 600, 0, 5, 5),
                                     key(2, IPCT_KIND_FIFO, IPCT_DIR_RECV, 600, 0, 5, 7),
                                     key(3, IPCT_KIND_FIFO, IPCT_DIR_SEND, 601, 0, 5, 6)};
  EXPECT_EQ(picked(s, 100), (std::set<size_t>{2}));
}

// Both ends of a socketpair (each key names the other's inode), and a client's data sent before
// accept() (no peer, the embryo's tag) with the accepted socket's reads (its inode, the tag).
TEST(SingleUse, SocketKeysJoinByInodeAndByTheTagASendNamed) {
  std::vector<FlowSample> s = {
      key(1, IPCT_KIND_UNIX_STREAM, IPCT_DIR_SEND, 70, 71, 3, 3),
      key(1, IPCT_KIND_UNIX_STREAM, IPCT_DIR_RECV, 71, 70, 4, 4, 0x71),
      // Pre-accept: sent at read 3, read by the accepted socket 81 at read 9.
      key(2, IPCT_KIND_UNIX_STREAM, IPCT_DIR_SEND, 80, 0, 3, 3, 0xee),
      key(3, IPCT_KIND_UNIX_STREAM, IPCT_DIR_RECV, 81, 80, 9, 9, 0xee),
  };
  EXPECT_EQ(picked(s, 6), (std::set<size_t>{0, 1}));
  EXPECT_EQ(picked(s, 11), (std::set<size_t>{0, 1}));
  // The sender's later sends name the accepted socket: still one channel, used from 3 to 9.
  s.push_back(key(2, IPCT_KIND_UNIX_STREAM, IPCT_DIR_SEND, 80, 81, 9, 9));
  EXPECT_EQ(picked(s, 11), (std::set<size_t>{0, 1}));
}

// Every stream receive carries its own socket's tag, and a freed socket's address (the tag) is
// reused: a tag no send named joins nothing, so churned socketpairs stay apart.
TEST(SingleUse, AReusedTagThatNoSendNamedJoinsNothing) {
  const std::vector<FlowSample> s = {
      key(1, IPCT_KIND_UNIX_STREAM, IPCT_DIR_SEND, 70, 71, 3, 3),
      key(1, IPCT_KIND_UNIX_STREAM, IPCT_DIR_RECV, 71, 70, 3, 3, 0x99),
      key(1, IPCT_KIND_UNIX_STREAM, IPCT_DIR_SEND, 90, 91, 3, 20),
      key(1, IPCT_KIND_UNIX_STREAM, IPCT_DIR_RECV, 91, 90, 3, 20, 0x99),
  };
  EXPECT_EQ(picked(s, 21), (std::set<size_t>{0, 1}));
}

// A datagram sent to a name joins the receiver bound to it: a syslog-style receiver that goes on
// reading keeps its senders; one that stopped goes with them.
TEST(SingleUse, DatagramsToANameGoWithTheirReceiver) {
  std::vector<FlowSample> s = {
      key(1, IPCT_KIND_UNIX_DGRAM, IPCT_DIR_SEND, 40, 0, 2, 2, 0x10),
      key(2, IPCT_KIND_UNIX_DGRAM, IPCT_DIR_SEND, 41, 0, 3, 3, 0x10),
      key(3, IPCT_KIND_UNIX_DGRAM, IPCT_DIR_RECV, 42, 0, 2, 9, 0x10),
  };
  EXPECT_EQ(picked(s, 20), (std::set<size_t>{}));
  s[2].last_read = 3;
  EXPECT_EQ(picked(s, 5), (std::set<size_t>{0, 1, 2}));
}

// TCP and UDP (ports and addresses many connections share), SysV queues (released by their
// removal) and folded samples are never picked; signals and POSIX queues are.
TEST(SingleUse, OnlyTheKindsWithAnIdentityOfTheirOwn) {
  std::vector<FlowSample> s = {
      key(1, IPCT_KIND_TCP, IPCT_DIR_SEND, 0, 0, 1, 1),       key(1, IPCT_KIND_UDP, IPCT_DIR_RECV, 0, 0, 1, 1),
      key(1, IPCT_KIND_SYSV_MSG, IPCT_DIR_SEND, 7, 0, 1, 1),  key(1, IPCT_KIND_PIPE, IPCT_DIR_SEND, 0, 0, 1, 1),
      key(1, IPCT_KIND_SIGNAL, IPCT_DIR_SEND, 5, 1234, 1, 1), key(1, IPCT_KIND_POSIX_MQ, IPCT_DIR_SEND, 8, 0, 1, 1),
  };
  s[3].folded = true;
  s[3].key._pad[0] = kFoldedKeyMark;
  EXPECT_EQ(picked(s, 10), (std::set<size_t>{4, 5}));
}

// A key whose counts never grew (last_read 0) is dated by its first read.
TEST(SingleUse, AKeyThatNeverMovedIsDatedByItsFirstRead) {
  std::vector<FlowSample> s = {key(1, IPCT_KIND_PIPE, IPCT_DIR_SEND, 500, 0, 5, 0)};
  EXPECT_EQ(picked(s, 6), (std::set<size_t>{}));
  EXPECT_EQ(picked(s, 7), (std::set<size_t>{0}));
}

// Both keys of one pipe are one channel: one list.
TEST(SingleUse, EachChannelIsOneList) {
  const std::vector<FlowSample> s = {key(1, IPCT_KIND_PIPE, IPCT_DIR_SEND, 500, 0, 5, 5),
                                     key(1, IPCT_KIND_PIPE, IPCT_DIR_SEND, 501, 0, 5, 5),
                                     key(2, IPCT_KIND_PIPE, IPCT_DIR_RECV, 500, 0, 5, 5)};
  std::set<std::vector<size_t>> got;
  for (const auto& c : releasable_channels(s, 9, 9)) {
    got.insert(c.keys);
    EXPECT_FALSE(c.closed);
  }
  EXPECT_EQ(got, (std::set<std::vector<size_t>>{{0, 2}, {1}}));
}

// A channel whose counts grew after the last collection whose figures went out (failed cycles
// between) waits: its growth has not been exported yet.
TEST(SingleUse, NothingGoesBeforeItsCountsWentOut) {
  const std::vector<FlowSample> s = {key(1, IPCT_KIND_PIPE, IPCT_DIR_SEND, 500, 0, 5, 5)};
  EXPECT_EQ(picked(s, 8, 4), (std::set<size_t>{}));
  EXPECT_EQ(picked(s, 8, 5), (std::set<size_t>{0}));
}

// Signals: the join names the channel by target process and signal, whatever the target's
// cgroup (a process id reused in another cgroup): those keys are one channel.
TEST(SingleUse, SignalsToOneProcessAreOneChannel) {
  std::vector<FlowSample> s = {key(1, IPCT_KIND_SIGNAL, IPCT_DIR_SEND, 70, 1234, 2, 2),
                               key(1, IPCT_KIND_SIGNAL, IPCT_DIR_SEND, 80, 1234, 2, 30)};
  EXPECT_EQ(picked(s, 31), (std::set<size_t>{}));
  s[1].key.ch.obj.peer = 1235;
  EXPECT_EQ(picked(s, 31), (std::set<size_t>{0}));
}

// Released once, seen again: reused. Bounded: the oldest released are forgotten first.
TEST(SingleUse, ReleasedChannelsSeenAgainAreReused) {
  ReleasedChannels r;
  r.seen("pipe:ino=1,dev=0:14");
  EXPECT_FALSE(r.reused("pipe:ino=1,dev=0:14"));
  r.released("pipe:ino=1,dev=0:14");
  EXPECT_FALSE(r.reused("pipe:ino=1,dev=0:14"));
  r.seen("pipe:ino=1,dev=0:14");
  EXPECT_TRUE(r.reused("pipe:ino=1,dev=0:14"));
  for (size_t i = 0; i < ReleasedChannels::kRemembered; ++i) r.released("pipe:ino=" + std::to_string(100 + i));
  r.released("pipe:ino=2,dev=0:14");
  r.seen("pipe:ino=100");  // forgotten: the first of kRemembered + 1 released
  EXPECT_FALSE(r.reused("pipe:ino=100"));
  r.seen("pipe:ino=2,dev=0:14");
  EXPECT_TRUE(r.reused("pipe:ino=2,dev=0:14"));
}

// Closed channels (kernel/open_files.h): a long-lived channel goes as soon as none of its objects
// is open and its counts went out; one of its objects open keeps it.
TEST(SingleUse, AChannelWhoseObjectsNoProcessHoldsIsClosed) {
  // Pipe 500 used over reads 1..9 (not single-use); unix sockets 700 <-> 701 over 1..9.
  const std::vector<FlowSample> s = {key(1, IPCT_KIND_PIPE, IPCT_DIR_SEND, 500, 0, 1, 9),
                                     key(2, IPCT_KIND_PIPE, IPCT_DIR_RECV, 500, 0, 1, 9),
                                     key(1, IPCT_KIND_UNIX_STREAM, IPCT_DIR_SEND, 700, 701, 1, 9),
                                     key(2, IPCT_KIND_UNIX_STREAM, IPCT_DIR_RECV, 701, 0, 1, 9)};
  OpenObjects none;
  EXPECT_EQ(picked(s, 10, 10), (std::set<size_t>{}));  // not listed: nothing is known closed
  EXPECT_EQ(picked(s, 10, 10, &none), (std::set<size_t>{0, 1, 2, 3}));
  EXPECT_EQ(picked(s, 10, 8, &none), (std::set<size_t>{}));  // read 9's counts have not gone out
  OpenObjects pipe_open;
  pipe_open.files.insert({14, 500});
  EXPECT_EQ(picked(s, 10, 10, &pipe_open), (std::set<size_t>{2, 3}));
  OpenObjects peer_open;  // the receiving socket is still open: its queue may hold data
  peer_open.sockets.insert(701);
  EXPECT_EQ(picked(s, 10, 10, &peer_open), (std::set<size_t>{0, 1}));
  OpenObjects other_dev;  // the same inode number on another filesystem is another object
  other_dev.files.insert({15, 500});
  EXPECT_EQ(picked(s, 10, 10, &other_dev), (std::set<size_t>{0, 1, 2, 3}));
  for (const auto& c : releasable_channels(s, 10, 10, &none)) EXPECT_TRUE(c.closed);
}

// A signal names no object a process holds: never closed, only single-use.
TEST(SingleUse, ASignalIsNeverClosed) {
  const std::vector<FlowSample> s = {key(1, IPCT_KIND_SIGNAL, IPCT_DIR_SEND, 3, 4242, 1, 9)};
  OpenObjects none;
  EXPECT_EQ(picked(s, 10, 10, &none), (std::set<size_t>{}));
}

// TCP goes only closed (its ports are reused by the next connection), and as the join names it:
// every connection to one server address is one channel (an IPv4 client and a dual-stack server
// that sees it IPv4-mapped included), closed when no socket holds any of them at either end.
TEST(SingleUse, ATcpConnectionGoesOnlyClosedBothEndsTogether) {
  const std::vector<FlowSample> s = {tcp(1, IPCT_DIR_SEND, false, 40000, 8080),   // client
                                     tcp(2, IPCT_DIR_RECV, true, 8080, 40000),    // server, [::]
                                     tcp(1, IPCT_DIR_SEND, false, 40001, 8080),   // another client
                                     tcp(3, IPCT_DIR_SEND, false, 50000, 9090)};  // another server
  EXPECT_EQ(picked(s, 20, 20), (std::set<size_t>{}));  // idle long since: still not single-use
  OpenObjects none;
  std::set<std::vector<size_t>> got;
  for (const auto& c : releasable_channels(s, 20, 20, &none)) got.insert(c.keys);
  EXPECT_EQ(got, (std::set<std::vector<size_t>>{{0, 1, 2}, {3}}));
  // One connection to 8080 open keeps them all: its server's socket, as it sees the connection.
  OpenObjects server_open;
  server_open.tcp.insert(OpenObjects::tcp_key(s[1].key.ch.inet));
  EXPECT_EQ(picked(s, 20, 20, &server_open), (std::set<size_t>{3}));
  // ... or the peer of a key (the server of 40001, which has no key yet: data not read), found
  // the other way round, across the families.
  OpenObjects peer_open;
  ipct_chan_inet accepted = s[1].key.ch.inet;
  accepted.rport = 40001;
  peer_open.tcp.insert(OpenObjects::tcp_key(accepted));
  EXPECT_TRUE(peer_open.has_tcp(s[2].key.ch.inet));
  EXPECT_FALSE(peer_open.has_tcp(s[0].key.ch.inet));
  EXPECT_EQ(picked(s, 20, 20, &peer_open), (std::set<size_t>{3}));
}

// A closed connection whose send no receive answers (sent and closed before the server's accept()
// and read; or a server on another node) waits kSingleUseIdleReads collections for its reader;
// one answered goes at once, across the families.
TEST(SingleUse, AnUnansweredTcpSendWaitsForItsReader) {
  const std::vector<FlowSample> s = {tcp(1, IPCT_DIR_SEND, false, 40000, 8080, 5),   // client
                                     tcp(2, IPCT_DIR_RECV, true, 8080, 40000, 5),    // its server, [::]
                                     tcp(1, IPCT_DIR_SEND, false, 40001, 9090, 5)};  // not read yet
  OpenObjects none;
  EXPECT_EQ(picked(s, 5, 5, &none), (std::set<size_t>{0, 1}));
  EXPECT_EQ(picked(s, 5 + kSingleUseIdleReads - 1, 20, &none), (std::set<size_t>{0, 1}));
  EXPECT_EQ(picked(s, 5 + kSingleUseIdleReads, 20, &none), (std::set<size_t>{0, 1, 2}));
  // The server's read comes: the pair goes together.
  std::vector<FlowSample> read = s;
  read.push_back(tcp(3, IPCT_DIR_RECV, false, 9090, 40001, 6));
  std::set<std::vector<size_t>> got;
  for (const auto& c : releasable_channels(read, 6, 6, &none)) got.insert(c.keys);
  EXPECT_EQ(got, (std::set<std::vector<size_t>>{{0, 1}, {2, 3}}));
  // Answered by a receive whose peer is the client, whatever address the client aimed at (a
  // Service's port 80, rewritten to the server's 8081 on the way): released at once.
  const std::vector<FlowSample> nat = {tcp(1, IPCT_DIR_SEND, false, 40003, 80, 5),
                                       tcp(2, IPCT_DIR_RECV, false, 8081, 40003, 5)};
  EXPECT_EQ(picked(nat, 5, 5, &none), (std::set<size_t>{0, 1}));
}

// A POSIX queue keeps its messages with no descriptor open: never closed, only single-use.
TEST(SingleUse, APosixQueueIsNeverClosed) {
  const std::vector<FlowSample> s = {key(1, IPCT_KIND_POSIX_MQ, IPCT_DIR_SEND, 900, 0, 1, 9),
                                     key(2, IPCT_KIND_POSIX_MQ, IPCT_DIR_RECV, 900, 0, 1, 9)};
  OpenObjects none;
  EXPECT_EQ(picked(s, 20, 20, &none), (std::set<size_t>{}));
}

namespace {

// The indices of the samples moved_channels() gives for a join after read `since`.
std::set<size_t> moved(const std::vector<FlowSample>& samples, uint64_t since) {
  std::set<size_t> out;
  for (const FlowSample* s : moved_channels(samples, since)) out.insert(static_cast<size_t>(s - samples.data()));
  return out;
}

}  // namespace

// A channel is joined again whole when one of its keys moved: a pipe's writer with its reader that
// read, a pre-accept() send with the accepted socket that read it (by the tag the send named);
// signals to one target together; a channel that did not move is left as it was.
TEST(MovedChannels, AChannelWithAKeyThatMovedIsJoinedWhole) {
  const std::vector<FlowSample> s = {
      key(1, IPCT_KIND_PIPE, IPCT_DIR_SEND, 500, 0, 3, 3),
      key(2, IPCT_KIND_PIPE, IPCT_DIR_RECV, 500, 0, 3, 6),
      key(1, IPCT_KIND_FIFO, IPCT_DIR_SEND, 600, 0, 2, 4),
      key(2, IPCT_KIND_FIFO, IPCT_DIR_RECV, 600, 0, 2, 4),
      key(2, IPCT_KIND_UNIX_STREAM, IPCT_DIR_SEND, 80, 0, 3, 3, 0xee),
      key(3, IPCT_KIND_UNIX_STREAM, IPCT_DIR_RECV, 81, 80, 6, 6, 0xee),
      key(4, IPCT_KIND_SIGNAL, IPCT_DIR_SEND, 9, 1234, 2, 2),
      key(5, IPCT_KIND_SIGNAL, IPCT_DIR_SEND, 9, 1234, 6, 6),
  };
  EXPECT_EQ(moved(s, 5), (std::set<size_t>{0, 1, 4, 5, 6, 7}));
  EXPECT_EQ(moved(s, 3), (std::set<size_t>{0, 1, 2, 3, 4, 5, 6, 7}));
  EXPECT_EQ(moved(s, 6), (std::set<size_t>{}));
  EXPECT_EQ(moved(s, 0).size(), s.size());  // the first collection joins everything
}

// A key taken in and never grown (a zero-byte read, a queue opened) is dated by its first read.
TEST(MovedChannels, AKeyTakenInWithoutCountsMovedWhenItCame) {
  const std::vector<FlowSample> s = {key(1, IPCT_KIND_POSIX_MQ, IPCT_DIR_RECV, 700, 0, 7, 0)};
  EXPECT_EQ(moved(s, 6), (std::set<size_t>{0}));
  EXPECT_EQ(moved(s, 7), (std::set<size_t>{}));
}

// TCP keys find each other by address, wildcard, port and peer: all of them are joined again when
// one moved; UDP apart from TCP; a folded sample is its own.
TEST(MovedChannels, InetKeysOfOneKindAreOneChannel) {
  std::vector<FlowSample> s = {tcp(1, IPCT_DIR_SEND, false, 40000, 80, 2), tcp(2, IPCT_DIR_RECV, false, 80, 40000, 2),
                               tcp(3, IPCT_DIR_SEND, false, 40001, 443, 6)};
  FlowSample udp = tcp(4, IPCT_DIR_SEND, false, 5000, 53, 2);
  udp.key.kind = IPCT_KIND_UDP;
  s.push_back(udp);
  FlowSample folded;
  folded.key.cgroup_id = 1;
  folded.key.kind = IPCT_KIND_TCP;
  folded.folded = true;
  folded.first_read = 2;
  folded.last_read = 2;
  s.push_back(folded);
  EXPECT_EQ(moved(s, 5), (std::set<size_t>{0, 1, 2}));
  s[3].last_read = 6;
  EXPECT_EQ(moved(s, 5), (std::set<size_t>{0, 1, 2, 3}));
  s[4].last_read = 6;
  s[2].first_read = s[2].last_read = 2;
  EXPECT_EQ(moved(s, 5), (std::set<size_t>{3, 4}));
}
