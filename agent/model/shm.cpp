#include "model/shm.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <string>

#include "kernel/kinds.h"

namespace ipctrace {

void ShmTracker::on_event(const ipct_event& e) {
  if (e.kind != IPCT_KIND_SYSV_SHM) return;
  const TaskHint task{e.tgid, comm_text(e.comm, sizeof(e.comm)), e.ns};
  switch (e.op) {
    case IPCT_OP_CREATE: {
      if (e.ret < 0) return;
      Segment& s = segments_[{e.dev, e.id}];
      if (s.creator == 0) {
        s.creator = e.cgroup_id;
        s.creator_task = task;
      }
      // A shmget of an existing segment (no IPC_CREAT) also lands here, with a size of at most
      // the segment's (often 0): the largest seen is the segment's.
      s.size = std::max<uint64_t>(s.size, e.aux2);
      break;
    }
    case IPCT_OP_ATTACH: {
      const SegKey key{e.dev, e.id};
      Segment& s = segments_[key];
      s.attaches[e.cgroup_id]++;
      s.attached[e.cgroup_id]++;
      s.tasks.emplace(e.cgroup_id, task);
      mappings_[{e.tgid, e.aux}] = {key, e.cgroup_id};
      break;
    }
    case IPCT_OP_DETACH: {
      if (e.ret != 0) return;
      auto it = mappings_.find({e.tgid, e.aux});
      if (it == mappings_.end()) return;
      auto seg = segments_.find(it->second.first);
      if (seg != segments_.end()) {
        auto& n = seg->second.attached[it->second.second];
        if (n > 0) n--;
      }
      mappings_.erase(it);
      break;
    }
    case IPCT_OP_REMOVE:
      if (e.ret == 0) segments_[{e.dev, e.id}].removed = true;
      break;
    default:
      break;
  }
}

std::vector<ChannelFlow> ShmTracker::flows() const {
  std::vector<ChannelFlow> out;
  for (const auto& [key, s] : segments_) {
    for (const auto& [cg, n] : s.attaches) {
      ChannelFlow f;
      f.kind = IPCT_KIND_SYSV_SHM;
      f.channel = fmt::format("sysv_shm:shmid={},ipcns={}", key.second, key.first);
      f.src = s.creator != 0 ? EndpointRef::cgroup(s.creator) : EndpointRef::unknown();
      f.dst = EndpointRef::cgroup(cg);
      f.msgs = n;  // attach calls
      f.recv_msgs = n;
      f.shm_size = s.size;
      auto att = s.attached.find(cg);
      f.shm_attached = att != s.attached.end() ? att->second : 0;
      f.src_task = s.creator_task;
      auto t = s.tasks.find(cg);
      if (t != s.tasks.end()) f.dst_task = t->second;
      out.push_back(std::move(f));
    }
  }
  return out;
}

void ShmTracker::prune(const std::function<bool(uint32_t tgid)>& alive) {
  detach_gone(alive);
  forget_removed();
}

void ShmTracker::detach_gone(const std::function<bool(uint32_t tgid)>& alive) {
  for (auto it = mappings_.begin(); it != mappings_.end();) {
    if (alive(it->first.first)) {
      ++it;
      continue;
    }
    auto seg = segments_.find(it->second.first);
    if (seg != segments_.end()) {
      auto& n = seg->second.attached[it->second.second];
      if (n > 0) n--;
    }
    it = mappings_.erase(it);
  }
}

void ShmTracker::forget_removed() {
  for (auto it = segments_.begin(); it != segments_.end();) {
    const auto& att = it->second.attached;
    const bool in_use = std::any_of(att.begin(), att.end(), [](const auto& p) { return p.second > 0; });
    if (it->second.removed && !in_use) {
      it = segments_.erase(it);
    } else {
      ++it;
    }
  }
}

}  // namespace ipctrace
