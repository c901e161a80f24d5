#include "model/single_use.h"

#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <map>
#include <numeric>
#include <set>
#include <tuple>

#include "kernel/kinds.h"

namespace ipctrace {

namespace {

// Disjoint sets of sample indices (union by size, path halving).
class Components {
 public:
  explicit Components(size_t n) : parent_(n), size_(n, 1) { std::iota(parent_.begin(), parent_.end(), size_t{0}); }
  size_t find(size_t i) {
    while (parent_[i] != i) {
      parent_[i] = parent_[parent_[i]];
      i = parent_[i];
    }
    return i;
  }
  void join(size_t a, size_t b) {
    a = find(a);
    b = find(b);
    if (a == b) return;
    if (size_[a] < size_[b]) std::swap(a, b);
    parent_[b] = a;
    size_[a] += size_[b];
  }

 private:
  std::vector<size_t> parent_;
  std::vector<size_t> size_;
};

// What keys of one channel share: an object, a socket, a tag a send named, a signal's target.
enum class Atom : uint8_t { Object = 1, Socket = 2, Tag = 3, SignalTarget = 4, Endpoint = 5, Inet = 6 };
using AtomKey = std::tuple<Atom, uint64_t, uint64_t, uint64_t>;

bool releasable_kind(int kind) {
  return kind == IPCT_KIND_PIPE || kind == IPCT_KIND_FIFO || kind == IPCT_KIND_POSIX_MQ || is_unix_kind(kind) ||
         kind == IPCT_KIND_SIGNAL || kind == IPCT_KIND_TCP;
}

// A TCP endpoint (address as IPv6, an IPv4 one mapped, and port): the join names a TCP channel
// by an endpoint, a server's listening address that many connections share (model/flows.cpp), so
// every connection with an endpoint in common is one channel here, released only when all of them
// are closed. Hashed (FNV-1a, two seeds); the network namespace is left out (the ends of a
// connection between namespaces are in two; namespaces with the same endpoints are one channel
// here, released later, never wrongly).
AtomKey endpoint_atom(int family, const uint8_t* addr, uint16_t port) {
  std::array<uint8_t, 18> e{};
  if (family == AF_INET) {
    e[10] = 0xff;
    e[11] = 0xff;
    std::copy(addr, addr + 4, e.begin() + 12);
  } else {
    std::copy(addr, addr + 16, e.begin());
  }
  e[16] = static_cast<uint8_t>(port & 0xffU);
  e[17] = static_cast<uint8_t>(port >> 8U);
  auto fnv = [&](uint64_t h) {
    for (uint8_t byte : e) h = (h ^ byte) * 0x100000001b3ULL;
    return h;
  };
  return {Atom::Endpoint, fnv(0xcbf29ce484222325ULL), fnv(0x84222325cbf29ce4ULL), 0};
}

// The (kind, tag)s unix sends name without a peer (before accept(), or a datagram to a name):
// their receivers carry them too. Other receivers' tags (every stream receive carries its own
// socket's, reused once the socket is freed) join nothing.
std::set<std::pair<int, uint64_t>> named_tags(const std::vector<FlowSample>& samples) {
  std::set<std::pair<int, uint64_t>> out;
  for (const FlowSample& s : samples) {
    const ipct_flow_key& k = s.key;
    if (!s.folded && is_unix_kind(k.kind) && k.dir == IPCT_DIR_SEND && k.ch.obj.peer == 0 && k.ch.obj.sk_tag != 0)
      out.emplace(k.kind, k.ch.obj.sk_tag);
  }
  return out;
}

}  // namespace

std::vector<const FlowSample*> moved_channels(const std::vector<FlowSample>& samples, uint64_t since) {
  // Each key's atoms, sorted: keys that share one are one channel. A vector, not a map of the
  // atoms: one allocation, let go whole (this runs at every collection, beside every kept key).
  std::vector<std::pair<AtomKey, size_t>> atoms;
  atoms.reserve(samples.size() * 2);
  const std::set<std::pair<int, uint64_t>> named = named_tags(samples);
  for (size_t i = 0; i < samples.size(); ++i) {
    const FlowSample& s = samples[i];
    const ipct_flow_key& k = s.key;
    const ipct_chan_obj& o = k.ch.obj;
    if (s.folded) continue;  // its own flow (per cgroup, kind and direction)
    if (is_unix_kind(k.kind)) {
      for (const uint64_t ino : {o.id, o.peer}) {
        if (ino != 0) atoms.push_back({{Atom::Socket, ino, 0, 0}, i});
      }
      if (o.sk_tag != 0 && named.contains({k.kind, o.sk_tag}))
        atoms.push_back({{Atom::Tag, static_cast<uint64_t>(k.kind), o.sk_tag, 0}, i});
    } else if (k.kind == IPCT_KIND_SIGNAL) {
      atoms.push_back({{Atom::SignalTarget, o.peer, o.dev, 0}, i});
    } else if (is_inet_kind(k.kind)) {
      // A send finds its receiver by address, wildcard, port or the receiver's peer: one channel.
      atoms.push_back({{Atom::Inet, static_cast<uint64_t>(k.kind), 0, 0}, i});
    } else {
      atoms.push_back({{Atom::Object, static_cast<uint64_t>(k.kind), o.dev, o.id}, i});
    }
  }
  std::sort(atoms.begin(), atoms.end());
  Components sets(samples.size());
  for (size_t a = 1; a < atoms.size(); ++a) {
    if (atoms[a].first == atoms[a - 1].first) sets.join(atoms[a].second, atoms[a - 1].second);
  }
  atoms = {};
  std::vector<bool> moved(samples.size(), false);  // by the channel's root
  for (size_t i = 0; i < samples.size(); ++i) {
    if (std::max(samples[i].first_read, samples[i].last_read) > since) moved[sets.find(i)] = true;
  }
  std::vector<const FlowSample*> out;
  for (size_t i = 0; i < samples.size(); ++i) {
    if (moved[sets.find(i)]) out.push_back(&samples[i]);
  }
  return out;
}

std::vector<ReleasableChannel> releasable_channels(const std::vector<FlowSample>& samples, uint64_t now,
                                                   uint64_t exported, const OpenObjects* open) {
  Components sets(samples.size());
  std::map<AtomKey, size_t> first;  // atom -> the first sample that has it
  auto share = [&](size_t i, const AtomKey& atom) {
    auto [it, fresh] = first.try_emplace(atom, i);
    if (!fresh) sets.join(i, it->second);
  };
  const std::set<std::pair<int, uint64_t>> named = named_tags(samples);
  // The peers TCP receives name (their remote endpoint): a send from an endpoint no receive names
  // is unpaired (a client that sent and closed before the server's accept() and read; its data
  // still waits in the server's queue, held by no descriptor). The join's own criterion
  // (model/flows.cpp): a receiver's peer is the sender's endpoint, whatever address the sender
  // aimed at (a Service's virtual IP, rewritten on the way); a client's ephemeral endpoint is its
  // connection's alone.
  std::set<AtomKey> tcp_peers;
  for (const FlowSample& s : samples) {
    const ipct_flow_key& k = s.key;
    if (s.folded || k.kind != IPCT_KIND_TCP || k.dir != IPCT_DIR_RECV) continue;
    tcp_peers.insert(endpoint_atom(k.ch.inet.family, k.ch.inet.raddr, k.ch.inet.rport));
  }
  // Per sample: whether it names an object a process can hold open (a pipe, FIFO, queue or
  // socket inode), and whether one of those is open (in `open`).
  // TCP is released only closed (its addresses and ports are reused by the next connection, so
  // activity alone says nothing).
  enum : uint8_t { kEligible = 1, kHasObject = 2, kOpen = 4, kClosedOnly = 8, kUnpaired = 16 };
  std::vector<uint8_t> marks(samples.size(), 0);
  for (size_t i = 0; i < samples.size(); ++i) {
    const FlowSample& s = samples[i];
    const ipct_flow_key& k = s.key;
    if (s.folded || !releasable_kind(k.kind)) continue;
    const ipct_chan_obj& o = k.ch.obj;
    uint8_t m = kEligible;
    if (is_unix_kind(k.kind)) {
      // Inodes of sockfs are unique among sockets (get_next_ino()): one atom for every unix kind.
      for (const uint64_t ino : {o.id, o.peer}) {
        if (ino == 0) continue;
        share(i, {Atom::Socket, ino, 0, 0});
        m |= kHasObject;
        if (open != nullptr && open->has_socket(ino)) m |= kOpen;
      }
      if (o.sk_tag != 0 && named.contains({k.kind, o.sk_tag}))
        share(i, {Atom::Tag, static_cast<uint64_t>(k.kind), o.sk_tag, 0});
    } else if (k.kind == IPCT_KIND_SIGNAL) {
      share(i, {Atom::SignalTarget, o.peer, o.dev, 0});  // "signal:sig=S,target_pid=P" (model/flows.cpp)
    } else if (k.kind == IPCT_KIND_TCP) {
      const ipct_chan_inet& c = k.ch.inet;
      const AtomKey local = endpoint_atom(c.family, c.laddr, c.lport);
      const AtomKey remote = endpoint_atom(c.family, c.raddr, c.rport);
      share(i, local);
      share(i, remote);
      m |= kHasObject | kClosedOnly;
      if (k.dir == IPCT_DIR_SEND && !tcp_peers.contains(local)) m |= kUnpaired;
      if (open != nullptr && open->has_tcp(c)) m |= kOpen;
    } else {
      share(i, {Atom::Object, static_cast<uint64_t>(k.kind), o.dev, o.id});
      // A POSIX queue keeps its messages with no descriptor open (until mq_unlink()): never closed.
      if (k.kind != IPCT_KIND_POSIX_MQ) m |= kHasObject;
      if (open != nullptr && open->has_file(o.dev, o.id)) m |= kOpen;
    }
    marks[i] = m;
  }
  // Per channel: its first read, the last in which its counts grew, and its objects' state.
  struct Span {
    uint64_t first = UINT64_MAX;
    uint64_t last = 0;
    uint8_t marks = 0;
  };
  std::map<size_t, Span> spans;
  for (size_t i = 0; i < samples.size(); ++i) {
    if (marks[i] == 0) continue;
    Span& sp = spans[sets.find(i)];
    sp.first = std::min(sp.first, samples[i].first_read);
    sp.last = std::max({sp.last, samples[i].first_read, samples[i].last_read});
    sp.marks |= marks[i];
  }
  std::map<size_t, ReleasableChannel> out_by_channel;
  for (size_t i = 0; i < samples.size(); ++i) {
    if (marks[i] == 0) continue;
    const size_t root = sets.find(i);
    const Span& sp = spans[root];
    if (sp.last > exported) continue;  // counts that have not gone out yet
    const bool single_use = (sp.marks & kClosedOnly) == 0 && sp.last - sp.first < kSingleUseActiveReads &&
                            now >= sp.last + kSingleUseIdleReads;
    // Closed with a send no receive matches: its reader may still accept() and read (then the
    // join pairs them), or be on another node (then none comes); released after the idle reads.
    const bool closed = open != nullptr && (sp.marks & kHasObject) != 0 && (sp.marks & kOpen) == 0 &&
                        ((sp.marks & kUnpaired) == 0 || now >= sp.last + kSingleUseIdleReads);
    if (!single_use && !closed) continue;
    ReleasableChannel& c = out_by_channel[root];
    c.closed = closed;
    c.keys.push_back(i);
  }
  std::vector<ReleasableChannel> out;
  out.reserve(out_by_channel.size());
  for (auto& [root, c] : out_by_channel) out.push_back(std::move(c));
  return out;
}

void ReleasedChannels::remember(std::unordered_set<uint64_t>& set, std::deque<uint64_t>& order, uint64_t channel) {
  if (!set.insert(channel).second) return;
  order.push_back(channel);
  if (order.size() > kRemembered) {
    set.erase(order.front());
    order.pop_front();
  }
}

void ReleasedChannels::released(const std::string& channel) { remember(released_, released_order_, hash(channel)); }

void ReleasedChannels::seen(const std::string& channel) {
  const uint64_t h = hash(channel);
  if (released_.contains(h)) remember(reused_, reused_order_, h);
}

}  // namespace ipctrace
