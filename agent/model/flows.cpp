#include "model/flows.h"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <map>
#include <numeric>
#include <optional>
#include <set>
#include <tuple>

#include "kernel/kinds.h"

namespace ipctrace {

std::vector<uint64_t> apportion(uint64_t total, const std::vector<uint64_t>& weights) {
  std::vector<uint64_t> parts(weights.size(), 0);
  if (weights.empty()) return parts;
  // long double keeps 64-bit totals exact enough for the floor; the remainder pass fixes the rest.
  long double wsum = 0;
  for (uint64_t w : weights) wsum += static_cast<long double>(w);
  const bool equal = wsum == 0;
  if (equal) wsum = static_cast<long double>(weights.size());
  uint64_t given = 0;
  std::vector<std::pair<long double, size_t>> rem;
  rem.reserve(weights.size());
  for (size_t i = 0; i < weights.size(); ++i) {
    const long double w = equal ? 1.0L : static_cast<long double>(weights[i]);
    const long double exact = static_cast<long double>(total) * w / wsum;
    auto floor_part = static_cast<uint64_t>(exact);
    if (floor_part > total - given) floor_part = total - given;
    parts[i] = floor_part;
    given += floor_part;
    rem.emplace_back(exact - static_cast<long double>(floor_part), i);
  }
  // Largest remainders first; ties to the earlier index, so the split is deterministic.
  std::stable_sort(rem.begin(), rem.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  for (size_t k = 0; given < total; k = (k + 1) % rem.size()) {
    parts[rem[k].second]++;
    given++;
  }
  return parts;
}

namespace {

// ::ffff:a.b.c.d (RFC 4291 2.5.5.2): an IPv4 peer of an AF_INET6 socket (a dual-stack listener).
bool is_v4_mapped(const uint8_t a[16]) { return std::memcmp(a, "\0\0\0\0\0\0\0\0\0\0\xff\xff", 12) == 0; }

}  // namespace

std::string format_inet_host(uint16_t family, const uint8_t addr[16]) {
  std::array<char, INET6_ADDRSTRLEN> buf{};
  if (family == AF_INET || (family == AF_INET6 && is_v4_mapped(addr))) {
    inet_ntop(AF_INET, family == AF_INET ? addr : addr + 12, buf.data(), buf.size());
    return buf.data();
  }
  inet_ntop(AF_INET6, addr, buf.data(), buf.size());
  return fmt::format("[{}]", buf.data());
}

std::string format_inet(uint16_t family, const uint8_t addr[16], uint16_t port) {
  std::array<char, INET6_ADDRSTRLEN> buf{};
  if (family == AF_INET || (family == AF_INET6 && is_v4_mapped(addr))) {
    inet_ntop(AF_INET, family == AF_INET ? addr : addr + 12, buf.data(), buf.size());
    return fmt::format("{}:{}", buf.data(), port);
  }
  inet_ntop(AF_INET6, addr, buf.data(), buf.size());
  return fmt::format("[{}]:{}", buf.data(), port);
}

namespace {

struct Party {
  uint64_t cgroup = 0;
  uint64_t msgs = 0;
  uint64_t bytes = 0;
  // The sample its task is taken from (the join's input, alive while it runs): its TaskHint is made
  // only for the flows, not held for every end while the join runs.
  const FlowSample* first = nullptr;
  [[nodiscard]] TaskHint task() const {
    return first != nullptr ? TaskHint{first->tgid, first->comm, first->ns, false, first->exe} : TaskHint{};
  }
  std::string taken_over_from;  // ChannelFlow::taken_over_from of its flows
  uint64_t socket = 0;          // unix: the socket it sent from (its first sample's)
};

// An object data goes into, with its writers and readers (cgroup -> totals).
struct Object {
  int kind = 0;  // its channel's text is its key in the join's objects
  std::map<uint64_t, Party> senders;
  std::map<uint64_t, Party> readers;
  EndpointRef default_dst;  // for writers with no reader seen
  uint64_t inode = 0;       // ChannelFlow::inode, dev
  uint32_t dev = 0;
};

void add(std::map<uint64_t, Party>& side, const FlowSample& s) {
  Party& p = side[s.key.cgroup_id];
  if (p.msgs == 0 && p.bytes == 0 && (p.first == nullptr || p.first->tgid == 0)) {
    p.cgroup = s.key.cgroup_id;
    p.first = &s;
    p.socket = s.key.ch.obj.id;
  }
  p.msgs += s.msgs;
  p.bytes += s.bytes;
}

bool is_object_kind(int kind) {
  return kind == IPCT_KIND_PIPE || kind == IPCT_KIND_FIFO || kind == IPCT_KIND_POSIX_MQ || kind == IPCT_KIND_SYSV_MSG;
}

std::string dev_text(uint32_t kdev) { return fmt::format("{}:{}", kdev >> 20, kdev & 0xfffff); }

std::string object_channel(const ipct_flow_key& k) {
  const std::string_view kind = kind_name(k.kind);
  switch (k.kind) {
    case IPCT_KIND_SYSV_MSG:
      return fmt::format("{}:msqid={},ipcns={}", kind, k.ch.obj.id, k.ch.obj.dev);
    default:
      return fmt::format("{}:ino={},dev={}", kind, k.ch.obj.id, dev_text(k.ch.obj.dev));
  }
}

bool is_loopback(uint16_t family, const uint8_t a[16]) {
  if (family == AF_INET) return a[0] == 127;
  static constexpr std::array<uint8_t, 16> kLoop6{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  return std::memcmp(a, kLoop6.data(), 16) == 0 || (is_v4_mapped(a) && a[12] == 127);
}

bool is_zero(const uint8_t a[16]) {
  return std::all_of(a, a + 16, [](uint8_t b) { return b == 0; });
}

// Where an inet receiver sits: a loopback address is only unique within its network
// namespace; any other address is matched across namespaces (pods on one node). An IPv4-mapped
// IPv6 address is the IPv4 address (format_inet), so a v4 client and a dual-stack listener meet.
std::string inet_place(const ipct_chan_inet& c, const uint8_t addr[16], uint16_t port, bool with_addr) {
  const bool loop = is_loopback(c.family, addr);
  const std::string a = with_addr ? format_inet(c.family, addr, port) : fmt::format("*:{}", port);
  return loop ? fmt::format("{}@netns={}", a, c.netns) : a;
}

// The flows of an object seen at one end only: each party's totals to (or from) the default peer.
void one_sided(const std::string& channel, const Object& o, bool sending, std::vector<ChannelFlow>& out) {
  for (const auto& [cg, p] : sending ? o.senders : o.readers) {
    ChannelFlow f;
    f.kind = o.kind;
    f.channel = channel;
    f.src = sending ? EndpointRef::cgroup(cg) : EndpointRef::unknown();  // no writer seen
    f.dst = sending ? o.default_dst : EndpointRef::cgroup(cg);
    (sending ? f.msgs : f.recv_msgs) = p.msgs;
    (sending ? f.bytes : f.recv_bytes) = p.bytes;
    (sending ? f.src_task : f.dst_task) = p.task();
    if (sending) f.taken_over_from = p.taken_over_from;
    f.inode = o.inode;
    f.dev = o.dev;
    if (sending) f.src_socket = p.socket;
    out.push_back(std::move(f));
  }
}

void split(const std::string& channel, const Object& o, std::vector<ChannelFlow>& out) {
  if (o.senders.empty() || o.readers.empty()) {
    one_sided(channel, o, !o.senders.empty(), out);
    return;
  }
  std::vector<const Party*> senders;
  std::vector<const Party*> readers;
  std::vector<uint64_t> read_bytes;
  std::vector<uint64_t> read_msgs;
  std::vector<uint64_t> sent_bytes;
  for (const auto& [cg, s] : o.senders) {
    senders.push_back(&s);
    sent_bytes.push_back(s.bytes);
  }
  for (const auto& [cg, r] : o.readers) {
    readers.push_back(&r);
    read_bytes.push_back(r.bytes);
    read_msgs.push_back(r.msgs);
  }
  const bool by_bytes = std::accumulate(read_bytes.begin(), read_bytes.end(), uint64_t{0}) > 0;
  const std::vector<uint64_t>& reader_weights = by_bytes ? read_bytes : read_msgs;
  // matrix[i][j]: sender i -> reader j
  std::vector<std::vector<ChannelFlow>> m(senders.size(), std::vector<ChannelFlow>(readers.size()));
  for (size_t i = 0; i < senders.size(); ++i) {
    const auto msgs = apportion(senders[i]->msgs, reader_weights);
    const auto bytes = apportion(senders[i]->bytes, reader_weights);
    for (size_t j = 0; j < readers.size(); ++j) {
      ChannelFlow& f = m[i][j];
      f.kind = o.kind;
      f.channel = channel;
      f.src = EndpointRef::cgroup(senders[i]->cgroup);
      f.dst = EndpointRef::cgroup(readers[j]->cgroup);
      f.msgs = msgs[j];
      f.bytes = bytes[j];
      f.src_task = senders[i]->task();
      f.dst_task = readers[j]->task();
      f.taken_over_from = senders[i]->taken_over_from;
      f.inode = o.inode;
      f.dev = o.dev;
      f.src_socket = senders[i]->socket;
    }
  }
  for (size_t j = 0; j < readers.size(); ++j) {
    const auto msgs = apportion(readers[j]->msgs, sent_bytes);
    const auto bytes = apportion(readers[j]->bytes, sent_bytes);
    for (size_t i = 0; i < senders.size(); ++i) {
      m[i][j].recv_msgs = msgs[i];
      m[i][j].recv_bytes = bytes[i];
    }
  }
  for (auto& row : m) {
    for (auto& f : row) out.push_back(std::move(f));
  }
}

// The join, sample by sample: objects data goes into (by channel text), and the flows that need
// no object (an unconnected unix sender, a signal).
class Joiner {
 public:
  // Inet receivers first, by where they listen (so that senders can find them) and, connected
  // ones, by the address of their peer (so that the sender at that address finds them whatever
  // address it sent to: a Service's virtual IP, rewritten on the way). Connected receivers are
  // placed once every sender is known (finish_inet_receivers).
  void add_inet_receiver(const FlowSample& s) {
    const ipct_flow_key& k = s.key;
    const ipct_chan_inet& c = k.ch.inet;
    const std::string me = inet_place(c, c.laddr, c.lport, true);
    const std::string channel = fmt::format("{}:{}", kind_name(k.kind), me);
    Object& o = object(k.kind, channel);
    if (c.rport != 0 && !is_zero(c.raddr)) {
      const std::string peer = inet_place(c, c.raddr, c.rport, true);
      inet_peers_[fmt::format("{}|{}", kind_name(k.kind), peer)].insert(channel);
      connected_places_[fmt::format("{}|{}", kind_name(k.kind), me)]++;
      connected_receivers_.push_back(&s);
    } else {
      add(o.readers, s);  // an unconnected UDP socket: its peers are known per datagram only
    }
    inet_receivers_.emplace(fmt::format("{}|{}", kind_name(k.kind), me), channel);
    if (is_zero(c.laddr)) {
      // A wildcard receiver takes what is sent to its port at any address of the node, and to
      // loopback in its own network namespace.
      inet_receivers_.emplace(fmt::format("{}|*:{}", kind_name(k.kind), c.lport), channel);
      inet_receivers_.emplace(fmt::format("{}|*:{}@netns={}", kind_name(k.kind), c.lport, c.netns), channel);
    }
  }

  // Unix receivers first, by the identity of their socket (stream, seqpacket) or the tag of
  // their name (datagram) in sk_tag, so that data sent before accept() or to a name finds its
  // reader.
  void add_unix_receiver(const FlowSample& s) {
    const ipct_flow_key& k = s.key;
    if (k.ch.obj.sk_tag != 0 && k.ch.obj.id != 0) {
      TaggedReceiver& r = unix_receivers_[{k.kind, k.ch.obj.sk_tag}][k.ch.obj.id];
      r.peers.insert(k.ch.obj.peer);
      r.last_read = std::max(r.last_read, s.last_read);
    }
  }

  void add_sample(const FlowSample& s) {
    const ipct_flow_key& k = s.key;
    if (s.folded) {
      add_folded(s);
    } else if (is_object_kind(k.kind)) {
      Object& o = object(k.kind, object_channel(k));
      add(k.dir == IPCT_DIR_SEND ? o.senders : o.readers, s);
      if (k.kind == IPCT_KIND_FIFO) {
        o.inode = k.ch.obj.id;
        o.dev = k.ch.obj.dev;
      }
    } else if (is_unix_kind(k.kind)) {
      add_unix(s);
    } else if (is_inet_kind(k.kind) && k.dir == IPCT_DIR_SEND) {
      add_inet_sender(s);
    } else if (k.kind == IPCT_KIND_SIGNAL) {
      ChannelFlow f;
      f.kind = k.kind;
      f.channel = fmt::format("signal:sig={},target_pid={}", k.ch.obj.dev, k.ch.obj.peer);
      f.src = EndpointRef::cgroup(k.cgroup_id);
      f.dst = EndpointRef::cgroup(k.ch.obj.id);
      f.msgs = s.msgs;
      f.recv_msgs = s.msgs;
      f.src_task = TaskHint{s.tgid, s.comm, s.ns, false, s.exe};
      f.dst_task = TaskHint{
          static_cast<uint32_t>(k.ch.obj.peer), comm_text(k.ch.obj.comm, sizeof(k.ch.obj.comm)), {}, false, {}};
      out_.push_back(std::move(f));
    }
  }

  // Operations whose flows could not be kept (FlowSample::folded): the cgroup's end only, to or
  // from other channels (EndpointRef::other()), so that its totals stay exact. Never joined.
  void add_folded(const FlowSample& s) {
    const ipct_flow_key& k = s.key;
    ChannelFlow f;
    f.kind = k.kind;
    f.channel = fmt::format("{}:folded", kind_name(k.kind));
    if (k.dir == IPCT_DIR_SEND) {
      f.src = EndpointRef::cgroup(k.cgroup_id);
      f.dst = EndpointRef::other();
      f.msgs = s.msgs;
      f.bytes = s.bytes;
    } else {
      f.src = EndpointRef::other();
      f.dst = EndpointRef::cgroup(k.cgroup_id);
      f.recv_msgs = s.msgs;
      f.recv_bytes = s.bytes;
    }
    out_.push_back(std::move(f));
  }

  std::vector<ChannelFlow> finish() {
    finish_inet_receivers();
    // Every end is placed: the indexes that placed them go before the flows are made.
    inet_receivers_ = {};
    inet_peers_ = {};
    connected_places_ = {};
    connected_receivers_ = {};
    sender_places_ = {};
    sender_targets_ = {};
    unix_receivers_ = {};
    // Reserved whole: grown by doubling, the largest vector of a collection would be held twice.
    size_t n = out_.size();
    for (const auto& [channel, o] : objects_) {
      const bool one_end = o.senders.empty() || o.readers.empty();
      n += one_end ? o.senders.size() + o.readers.size() : o.senders.size() * o.readers.size();
    }
    out_.reserve(n);
    // Each object let go once split: its strings and per-cgroup ends make room for the flows'.
    for (auto it = objects_.begin(); it != objects_.end(); it = objects_.erase(it)) {
      split(it->first, it->second, out_);
    }
    return std::move(out_);
  }

 private:
  Object& object(int kind, const std::string& channel) {
    Object& o = objects_[channel];
    o.kind = kind;
    return o;
  }

  // Data sent on socket A goes into its peer B; data read on B comes out of B. Data a client
  // sent before accept() went into a socket that had no inode yet: its sk_tag names it, and a
  // receive on it names its inode. A datagram sent to a name (sendto) carries the tag of that
  // name, and receives on the socket bound to it the same tag.
  void add_unix(const FlowSample& s) {
    const ipct_flow_key& k = s.key;
    uint64_t into = k.dir == IPCT_DIR_SEND ? k.ch.obj.peer : k.ch.obj.id;
    const bool by_tag = into == 0 && k.dir == IPCT_DIR_SEND && k.ch.obj.sk_tag != 0;
    if (by_tag) into = tagged_receiver(s);
    if (into != 0) {
      Object& o = object(k.kind, fmt::format("{}:ino={}", kind_name(k.kind), into));
      add(k.dir == IPCT_DIR_SEND ? o.senders : o.readers, s);
      o.inode = into;
      // Until its reader read, this data was a flow to an unknown peer: the collector hands
      // its counts over rather than count them twice.
      if (by_tag) o.senders[k.cgroup_id].taken_over_from = unconnected_channel(k);
      return;
    }
    // An unconnected sender: the destination is known only per datagram.
    ChannelFlow f;
    f.kind = k.kind;
    f.channel = unconnected_channel(k);
    f.src = EndpointRef::cgroup(k.cgroup_id);
    f.dst = EndpointRef::unknown();
    f.msgs = s.msgs;
    f.bytes = s.bytes;
    f.src_task = TaskHint{s.tgid, s.comm, s.ns, false, s.exe};
    out_.push_back(std::move(f));
  }

  static std::string unconnected_channel(const ipct_flow_key& k) {
    return fmt::format("{}:ino={},unconnected", kind_name(k.kind), k.ch.obj.id);
  }

  // The inode of the socket accept() returned for data sent into it before (sk_tag), or of the
  // datagram socket bound to the name a send named, or 0. A socket's address is reused once it
  // is freed, and a name can be bound again, so several receivers can carry one sk_tag: the one
  // whose reads name the sender as their peer, else the only one whose reads name no other
  // sender (the sender closed before the reads; datagram reads name none) and went on after
  // the sends began (a freed socket's reads, a container runtime's before the workload, are
  // over by then); never a choice between two.
  uint64_t tagged_receiver(const FlowSample& s) const {
    const ipct_flow_key& send = s.key;
    auto it = unix_receivers_.find({send.kind, send.ch.obj.sk_tag});
    if (it == unix_receivers_.end()) return 0;
    uint64_t only = 0;
    int loose = 0;
    for (const auto& [inode, r] : it->second) {
      const std::set<uint64_t>& peers = r.peers;
      if (peers.contains(send.ch.obj.id)) return inode;
      if (r.last_read < s.first_read) continue;
      if (std::all_of(peers.begin(), peers.end(), [](uint64_t p) { return p == 0; })) {
        only = inode;
        ++loose;
      }
    }
    return loose == 1 ? only : 0;
  }

  // A send goes to the receiver whose peer it is (a connected receiver names the sender's own
  // address), else to the receiver listening where it is addressed (its address, else a
  // wildcard on its port), else to the remote address.
  void add_inet_sender(const FlowSample& s) {
    const ipct_flow_key& k = s.key;
    const ipct_chan_inet& c = k.ch.inet;
    const std::string kind(kind_name(k.kind));
    const std::string own = fmt::format("{}|{}", kind, inet_place(c, c.laddr, c.lport, true));
    const std::string target = fmt::format("{}|{}", kind, inet_place(c, c.raddr, c.rport, true));
    sender_places_.insert(own);
    sender_targets_.insert(target);
    std::optional<std::string> channel;
    // One receiver names this sender's address as its peer: a client's address is its own, a
    // listening address is many connections' (then the address the sender sent to decides).
    if (auto it = inet_peers_.find(own); it != inet_peers_.end() && it->second.size() == 1)
      channel = *it->second.begin();
    for (const std::string& place : {inet_place(c, c.raddr, c.rport, true), inet_place(c, c.raddr, c.rport, false)}) {
      if (channel) break;
      auto it = inet_receivers_.find(fmt::format("{}|{}", kind, place));
      if (it != inet_receivers_.end()) channel = it->second;
    }
    if (!channel) channel = fmt::format("{}:{}", kind, inet_place(c, c.raddr, c.rport, true));
    Object& o = object(k.kind, *channel);
    add(o.senders, s);
    if (o.readers.empty()) o.default_dst = EndpointRef::address(format_inet(c.family, c.raddr, c.rport));
  }

  // Connected receivers: a reader of their object where a sender on this node is their peer (it
  // is at their peer's address, or sends to theirs); else their peer is outside the node, and
  // its data is counted here, at the receiving end: a flow from the peer's address (without its
  // port, which is the peer's own and often ephemeral) per channel and receiving cgroup.
  void finish_inet_receivers() {
    std::map<std::tuple<std::string, std::string, uint64_t>, ChannelFlow> remote;
    for (const FlowSample* s : connected_receivers_) {
      const ipct_flow_key& k = s->key;
      const ipct_chan_inet& c = k.ch.inet;
      const std::string kind(kind_name(k.kind));
      const std::string channel = fmt::format("{}:{}", kind, inet_place(c, c.laddr, c.lport, true));
      const std::string peer = fmt::format("{}|{}", kind, inet_place(c, c.raddr, c.rport, true));
      const std::string me = fmt::format("{}|{}", kind, inet_place(c, c.laddr, c.lport, true));
      // Local: a sender here is at the peer's address, or sends to this socket's address and
      // no other connected receiver has it (a client socket's own, not a listener's).
      if (sender_places_.contains(peer) || (sender_targets_.contains(me) && connected_places_[me] == 1)) {
        add(object(k.kind, channel).readers, *s);
        continue;
      }
      const std::string host = format_inet_host(c.family, c.raddr);
      ChannelFlow& f = remote[{channel, host, k.cgroup_id}];
      if (f.channel.empty()) {
        f.kind = k.kind;
        f.channel = channel;
        f.src = EndpointRef::address(host);
        f.dst = EndpointRef::cgroup(k.cgroup_id);
        f.counted_at_receiver = true;
        f.dst_task = TaskHint{s->tgid, s->comm, s->ns, false, s->exe};
      }
      f.msgs += s->msgs;
      f.bytes += s->bytes;
      f.recv_msgs += s->msgs;
      f.recv_bytes += s->bytes;
    }
    for (auto& [key, f] : remote) out_.push_back(std::move(f));
  }

  std::map<std::string, Object> objects_;
  std::map<std::string, std::string> inet_receivers_;        // "kind|place" -> object channel
  std::map<std::string, std::set<std::string>> inet_peers_;  // "kind|peer place" -> connected receivers' channels
  std::map<std::string, int> connected_places_;              // "kind|place" -> connected receivers there
  std::vector<const FlowSample*> connected_receivers_;
  std::set<std::string> sender_places_;   // "kind|place" of every sender's own address
  std::set<std::string> sender_targets_;  // "kind|place" every sender sends to
  // (kind, sk_tag) -> receiving socket inode -> the peers its reads named (0: closed)
  struct TaggedReceiver {
    std::set<uint64_t> peers;  // the peers its reads named (0: closed)
    uint64_t last_read = 0;    // FlowSample::last_read of its reads
  };
  std::map<std::pair<int, uint64_t>, std::map<uint64_t, TaggedReceiver>> unix_receivers_;
  std::vector<ChannelFlow> out_;
};

}  // namespace

namespace {

// One flow per id(): kernel keys that differ in what the id leaves out (a signal target's
// command, which it changes by exec or prctl) are one channel flow, their figures summed, the
// task hints of the last. The collector counts per id, and two flows of one id would make its
// deltas run away.
// In place, equal ids merged into the first of them, the input's order kept (a second vector or
// a map of copied ids would hold every flow twice at the collection's peak).
std::vector<ChannelFlow> merge_same_ids(std::vector<ChannelFlow> flows) {
  auto less = [&](size_t a, size_t b) {
    const ChannelFlow& x = flows[a];
    const ChannelFlow& y = flows[b];
    return std::tie(x.kind, x.channel, x.src, x.dst) < std::tie(y.kind, y.channel, y.src, y.dst);
  };
  std::vector<uint32_t> order(flows.size());
  std::iota(order.begin(), order.end(), uint32_t{0});
  std::stable_sort(order.begin(), order.end(), less);  // within an id, in the input's order
  std::vector<bool> merged(flows.size(), false);
  for (size_t i = 0; i < order.size();) {
    ChannelFlow& m = flows[order[i]];
    size_t j = i + 1;
    for (; j < order.size() && !less(order[i], order[j]); ++j) {
      ChannelFlow& f = flows[order[j]];
      m.msgs += f.msgs;
      m.bytes += f.bytes;
      m.recv_msgs += f.recv_msgs;
      m.recv_bytes += f.recv_bytes;
      m.counted_at_receiver = m.counted_at_receiver && f.counted_at_receiver;
      if (f.src_task.tgid != 0) m.src_task = std::move(f.src_task);
      if (f.dst_task.tgid != 0) m.dst_task = std::move(f.dst_task);
      merged[order[j]] = true;
    }
    i = j;
  }
  size_t kept = 0;
  for (size_t r = 0; r < flows.size(); ++r) {
    if (merged[r]) continue;
    if (kept != r) flows[kept] = std::move(flows[r]);
    ++kept;
  }
  flows.erase(flows.begin() + static_cast<std::ptrdiff_t>(kept), flows.end());
  return flows;
}

}  // namespace

std::vector<ChannelFlow> join_flows(const std::vector<const FlowSample*>& samples) {
  Joiner j;
  for (const FlowSample* s : samples) {
    if (s->key.dir != IPCT_DIR_RECV || s->folded) continue;
    if (is_inet_kind(s->key.kind)) j.add_inet_receiver(*s);
    if (is_unix_kind(s->key.kind)) j.add_unix_receiver(*s);
  }
  for (const FlowSample* s : samples) j.add_sample(*s);
  return merge_same_ids(j.finish());
}

std::vector<ChannelFlow> join_flows(const std::vector<FlowSample>& samples) {
  std::vector<const FlowSample*> all;
  all.reserve(samples.size());
  for (const FlowSample& s : samples) all.push_back(&s);
  return join_flows(all);
}

}  // namespace ipctrace
