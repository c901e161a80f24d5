#include "model/msgq.h"

#include <algorithm>
#include <iterator>

#include "kernel/kinds.h"

namespace ipctrace {

void MsgQueueTracker::forget(std::map<Key, Queue>::iterator it) {
  forgotten_[it->first] = it->second.gen;
  queues_.erase(it);
}

ShmTracker::Seen MsgQueueTracker::on_event(const ipct_event& e) {
  if (e.kind != IPCT_KIND_SYSV_MSG) return ShmTracker::Seen::Other;
  const Key key{e.dev, e.id};
  switch (e.op) {
    case IPCT_OP_CREATE: {
      if (e.ret < 0) return ShmTracker::Seen::Other;
      if (queues_.contains(key)) return ShmTracker::Seen::LookedUp;
      Queue& q = queues_[key];
      q.gen = next_gen_++;
      q.key = static_cast<int32_t>(static_cast<uint32_t>(e.aux));
      return ShmTracker::Seen::Created;
    }
    case IPCT_OP_REMOVE:
      if (e.ret == 0) {
        if (auto it = queues_.find(key); it != queues_.end()) forget(it);
      }
      return ShmTracker::Seen::Other;
    default:
      return ShmTracker::Seen::Other;
  }
}

void MsgQueueTracker::reconcile(const SysvSnapshot& snap) {
  for (auto it = queues_.begin(); it != queues_.end();) {
    auto next = std::next(it);
    const auto ns = snap.read.find(it->first.first);
    if (snap.listed && !snap.present.contains(it->first.first)) {
      forget(it);  // the namespace is gone
    } else if (ns != snap.read.end()) {
      const auto& rows = ns->second.msg;
      const bool listed = std::any_of(rows.begin(), rows.end(), [&](const SysvMsgRow& r) {
        return r.msqid == it->first.second && r.key == it->second.key;
      });
      if (!listed) forget(it);  // removed (or another queue now: listed below as new)
    }
    it = next;
  }
  for (const auto& [ns, n] : snap.read) {
    for (const SysvMsgRow& r : n.msg) {
      auto [it, fresh] = queues_.try_emplace({ns, r.msqid});
      if (fresh) {
        it->second.gen = next_gen_++;
        it->second.key = r.key;
      }
    }
  }
}

uint64_t MsgQueueTracker::generation(uint32_t ns, uint64_t msqid) const {
  if (auto it = queues_.find({ns, msqid}); it != queues_.end()) return it->second.gen;
  auto f = forgotten_.find({ns, msqid});
  return f != forgotten_.end() ? f->second : 0;
}

std::vector<std::pair<uint32_t, uint64_t>> MsgQueueTracker::take_forgotten() {
  std::vector<Key> out;
  for (const auto& [key, gen] : forgotten_) out.push_back(key);
  forgotten_.clear();
  return out;
}

}  // namespace ipctrace
