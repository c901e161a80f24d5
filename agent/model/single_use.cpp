#include "model/single_use.h"

#include <algorithm>
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
enum class Atom : uint8_t { Object = 1, Socket = 2, Tag = 3, SignalTarget = 4 };
using AtomKey = std::tuple<Atom, uint64_t, uint64_t, uint64_t>;

bool releasable_kind(int kind) {
  return kind == IPCT_KIND_PIPE || kind == IPCT_KIND_FIFO || kind == IPCT_KIND_POSIX_MQ || is_unix_kind(kind) ||
         kind == IPCT_KIND_SIGNAL;
}

}  // namespace

std::vector<std::vector<size_t>> single_use_channels(const std::vector<FlowSample>& samples, uint64_t now,
                                                     uint64_t exported) {
  Components sets(samples.size());
  std::map<AtomKey, size_t> first;  // atom -> the first sample that has it
  auto share = [&](size_t i, const AtomKey& atom) {
    auto [it, fresh] = first.try_emplace(atom, i);
    if (!fresh) sets.join(i, it->second);
  };
  // The tags unix sends name without a peer (before accept(), or a datagram to a name): their
  // receivers carry them too. Other receivers' tags (every stream receive carries its own
  // socket's, reused once the socket is freed) join nothing.
  std::set<std::pair<int, uint64_t>> named_tags;
  for (const FlowSample& s : samples) {
    const ipct_flow_key& k = s.key;
    if (!s.folded && is_unix_kind(k.kind) && k.dir == IPCT_DIR_SEND && k.ch.obj.peer == 0 && k.ch.obj.sk_tag != 0)
      named_tags.emplace(k.kind, k.ch.obj.sk_tag);
  }
  std::vector<bool> eligible(samples.size(), false);
  for (size_t i = 0; i < samples.size(); ++i) {
    const FlowSample& s = samples[i];
    const ipct_flow_key& k = s.key;
    if (s.folded || !releasable_kind(k.kind)) continue;
    const ipct_chan_obj& o = k.ch.obj;
    if (is_unix_kind(k.kind)) {
      // Inodes of sockfs are unique among sockets (get_next_ino()): one atom for every unix kind.
      if (o.id != 0) share(i, {Atom::Socket, o.id, 0, 0});
      if (o.peer != 0) share(i, {Atom::Socket, o.peer, 0, 0});
      if (o.sk_tag != 0 && named_tags.contains({k.kind, o.sk_tag}))
        share(i, {Atom::Tag, static_cast<uint64_t>(k.kind), o.sk_tag, 0});
    } else if (k.kind == IPCT_KIND_SIGNAL) {
      share(i, {Atom::SignalTarget, o.peer, o.dev, 0});  // "signal:sig=S,target_pid=P" (model/flows.cpp)
    } else {
      share(i, {Atom::Object, static_cast<uint64_t>(k.kind), o.dev, o.id});
    }
    eligible[i] = true;
  }
  // Per channel: its first read and the last in which its counts grew.
  struct Span {
    uint64_t first = UINT64_MAX;
    uint64_t last = 0;
  };
  std::map<size_t, Span> spans;
  for (size_t i = 0; i < samples.size(); ++i) {
    if (!eligible[i]) continue;
    Span& sp = spans[sets.find(i)];
    sp.first = std::min(sp.first, samples[i].first_read);
    sp.last = std::max({sp.last, samples[i].first_read, samples[i].last_read});
  }
  std::map<size_t, std::vector<size_t>> out_by_channel;
  for (size_t i = 0; i < samples.size(); ++i) {
    if (!eligible[i]) continue;
    const size_t root = sets.find(i);
    const Span& sp = spans[root];
    if (sp.last - sp.first < kSingleUseActiveReads && now >= sp.last + kSingleUseIdleReads && sp.last <= exported)
      out_by_channel[root].push_back(i);
  }
  std::vector<std::vector<size_t>> out;
  out.reserve(out_by_channel.size());
  for (auto& [root, keys] : out_by_channel) out.push_back(std::move(keys));
  return out;
}

void ReleasedChannels::remember(std::set<std::string>& set, std::deque<std::string>& order,
                                const std::string& channel) {
  if (!set.insert(channel).second) return;
  order.push_back(channel);
  if (order.size() > kRemembered) {
    set.erase(order.front());
    order.pop_front();
  }
}

void ReleasedChannels::released(const std::string& channel) { remember(released_, released_order_, channel); }

void ReleasedChannels::seen(const std::string& channel) {
  if (released_.contains(channel)) remember(reused_, reused_order_, channel);
}

}  // namespace ipctrace
