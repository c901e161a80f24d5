#include "model/shm.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <set>
#include <string>

#include "kernel/kinds.h"

namespace ipctrace {

namespace {

constexpr uint32_t kShmDest = 01000;  // SHM_DEST in the mode: removed, destroyed at the last detach

// shmat returns the address, or -errno.
bool failed_address(uint64_t aux) { return static_cast<int64_t>(aux) < 0 && static_cast<int64_t>(aux) >= -4095; }

}  // namespace

ShmTracker::Segment& ShmTracker::fresh(const SegKey& key) {
  Segment& s = segments_[key];
  s = Segment{};
  s.gen = next_gen_++;
  return s;
}

ShmTracker::Seen ShmTracker::on_event(const ipct_event& e) {
  if (e.kind != IPCT_KIND_SYSV_SHM) return Seen::Other;
  const TaskHint task{e.tgid, comm_text(e.comm, sizeof(e.comm)), e.ns, false, {}};
  const SegKey key{e.dev, e.id};
  switch (e.op) {
    case IPCT_OP_CREATE: {
      if (e.ret < 0) return Seen::Other;
      auto it = segments_.find(key);
      // A segment known and not removed: shmget found it (its key, or IPC_CREAT without IPC_EXCL).
      if (it != segments_.end() && !it->second.removed) return Seen::LookedUp;
      Segment& s = fresh(key);
      s.creator = e.cgroup_id;
      s.creator_task = task;
      s.key = static_cast<int32_t>(static_cast<uint32_t>(e.aux));
      s.key_known = true;
      s.size = e.aux2;
      return Seen::Created;
    }
    case IPCT_OP_ATTACH: {
      if (failed_address(e.aux)) return Seen::Other;
      auto it = segments_.find(key);
      Segment& s = it != segments_.end() && !it->second.removed ? it->second : fresh(key);
      s.attaches[e.cgroup_id]++;
      Holder& h = s.holders[e.tgid];
      h.cgroup = e.cgroup_id;
      h.mappings++;
      s.tasks.emplace(e.cgroup_id, task);
      mappings_[{e.tgid, e.aux}] = {key, e.cgroup_id};
      return Seen::Other;
    }
    case IPCT_OP_DETACH: {
      if (e.ret != 0) return Seen::Other;
      auto it = mappings_.find({e.tgid, e.aux});
      if (it == mappings_.end()) return Seen::Other;
      auto seg = segments_.find(it->second.first);
      if (seg != segments_.end()) {
        auto h = seg->second.holders.find(e.tgid);
        if (h != seg->second.holders.end() && h->second.mappings > 0) h->second.mappings--;
      }
      mappings_.erase(it);
      return Seen::Other;
    }
    case IPCT_OP_REMOVE:
      if (e.ret == 0) {
        auto it = segments_.find(key);
        if (it != segments_.end()) it->second.removed = true;
      }
      return Seen::Other;
    default:
      return Seen::Other;
  }
}

uint64_t ShmTracker::attached(const Segment& s) {
  uint64_t n = 0;
  for (const auto& [tgid, h] : s.holders) n += h.mappings;
  return n;
}

std::vector<ChannelFlow> ShmTracker::flows() const {
  std::vector<ChannelFlow> out;
  for (const auto& [key, s] : segments_) {
    std::map<uint64_t, uint64_t> in_place;
    for (const auto& [tgid, h] : s.holders) in_place[h.cgroup] += h.mappings;
    // Every cgroup that ever attached it, while the segment lives: one that no longer has it
    // attached reports 0, so no gauge stays at what it had.
    for (const auto& [cg, task] : s.tasks) {
      ChannelFlow f;
      f.kind = IPCT_KIND_SYSV_SHM;
      f.channel = fmt::format("sysv_shm:shmid={},ipcns={},gen={}", key.second, key.first, s.gen);
      f.src = s.creator != 0 ? EndpointRef::cgroup(s.creator) : EndpointRef::unknown();
      f.dst = EndpointRef::cgroup(cg);
      auto a = s.attaches.find(cg);
      f.msgs = a != s.attaches.end() ? a->second : 0;  // attach calls
      f.recv_msgs = f.msgs;
      f.shm_size = s.size;
      auto att = in_place.find(cg);
      f.shm_attached = att != in_place.end() ? att->second : 0;
      f.src_task = s.creator_task;
      f.dst_task = task;
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
  std::set<uint32_t> dead;
  for (auto& [key, s] : segments_) {
    for (auto it = s.holders.begin(); it != s.holders.end();) {
      if (alive(it->first)) {
        ++it;
      } else {
        dead.insert(it->first);
        it = s.holders.erase(it);
      }
    }
  }
  for (auto it = mappings_.begin(); it != mappings_.end();) {
    if (dead.contains(it->first.first) || !alive(it->first.first)) {
      it = mappings_.erase(it);
    } else {
      ++it;
    }
  }
}

void ShmTracker::forget_removed() {
  for (auto it = segments_.begin(); it != segments_.end();) {
    if (it->second.removed && attached(it->second) == 0) {
      const SegKey key = it->first;
      it = segments_.erase(it);
      std::erase_if(mappings_, [&](const auto& m) { return m.second.first == key; });
    } else {
      ++it;
    }
  }
}

void ShmTracker::apply_row(uint32_t ns, const SysvShmRow& r, const SysvSnapshot& snap) {
  const SegKey key{ns, r.shmid};
  auto it = segments_.find(key);
  const bool dest = (r.mode & kShmDest) != 0;
  Segment* s = it != segments_.end() ? &it->second : nullptr;
  if (s != nullptr) {
    // At the same (ns, shmid), another key (the kernel shows IPC_PRIVATE once removed) or another
    // creator than the kernel said before is another segment.
    const bool other_key = s->key_known && r.key != s->key && !(dest && r.key == 0);
    const bool other_creator = s->creator_from_kernel && r.cpid != s->creator_task.tgid;
    if (other_key || other_creator) s = nullptr;
  }
  if (s == nullptr) s = &fresh(key);
  if (!s->key_known && !(dest && r.key == 0)) {
    s->key = r.key;
    s->key_known = true;
  }
  s->size = r.size;
  if (dest) s->removed = true;
  auto cg = snap.creator_cgroups.find(r.cpid);
  if (!s->creator_from_kernel) {
    if (r.cpid != s->creator_task.tgid) {
      // The event that made it known was a lookup (its create record lost), or none was seen.
      s->creator = cg != snap.creator_cgroups.end() ? cg->second : 0;
      s->creator_task = TaskHint{r.cpid, {}, {}, false, {}};
      s->creator_task.ns.ipc = ns;
    }
    s->creator_from_kernel = true;
  }
  if (cg != snap.creator_cgroups.end()) {
    if (s->creator == 0) s->creator = cg->second;
    s->creator_task.exited = false;
  } else {
    s->creator_task.exited = r.cpid != 0;  // exited (or a pid reused elsewhere): its cgroup if known
  }
}

void ShmTracker::reconcile(const SysvSnapshot& snap) {
  // Namespaces no process is in: gone, with their segments (a namespace only a bind mount keeps
  // has no process to attach anything either).
  for (auto& [key, s] : segments_) {
    if (snap.listed && !snap.present.contains(key.first)) {
      s.removed = true;
      s.holders.clear();
    }
  }
  for (const auto& [ns, n] : snap.read) {
    std::map<uint64_t, const SysvShmRow*> rows;
    for (const SysvShmRow& r : n.shm) rows[r.shmid] = &r;
    for (auto& [key, s] : segments_) {
      if (key.first == ns && !rows.contains(key.second)) {  // the kernel has no such segment now
        s.removed = true;
        s.holders.clear();
      }
    }
    for (const auto& [id, r] : rows) apply_row(ns, *r, snap);
  }
  if (!snap.maps_walked) return;
  // (ns, shmid) -> pid -> holder, from the maps.
  std::map<SegKey, std::map<uint32_t, Holder>> seen;
  for (const ShmAttacher& a : snap.attachers) {
    auto n = snap.read.find(a.ipc_ns);
    if (n == snap.read.end()) continue;
    for (const auto& [seg, count] : a.segments) {
      const uint64_t shmid = seg.first;  // not a structured binding: lambdas capture it
      const int32_t key = seg.second;
      const auto& rows = n->second.shm;
      const auto row = std::find_if(rows.begin(), rows.end(), [&](const SysvShmRow& r) { return r.shmid == shmid; });
      const bool matches = row != rows.end() && (row->key == key || ((row->mode & kShmDest) != 0 && row->key == 0));
      if (!matches) {
        foreign_mappings_ += count;
        continue;
      }
      Holder& h = seen[{a.ipc_ns, shmid}][a.pid];
      h.cgroup = a.cgroup;
      h.mappings += count;
    }
  }
  for (auto& [key, s] : segments_) {
    if (!snap.read.contains(key.first)) continue;  // not read: what the events said stands
    std::map<uint32_t, Holder> next;
    for (const auto& [pid, h] : s.holders) {
      if (snap.unreadable_pids.contains(pid)) next[pid] = h;  // not read: kept
    }
    auto it = seen.find(key);
    if (it != seen.end()) {
      for (const auto& [pid, h] : it->second) {
        Holder n = h;
        if (n.cgroup == 0) {  // its cgroup unreadable: the one known, else not shown
          auto old = s.holders.find(pid);
          if (old == s.holders.end()) continue;
          n.cgroup = old->second.cgroup;
        }
        next[pid] = n;
        if (!s.tasks.contains(n.cgroup)) {
          TaskHint t;
          t.tgid = pid;
          t.ns.ipc = key.first;
          s.tasks.emplace(n.cgroup, t);
        }
      }
    }
    s.holders = std::move(next);
  }
}

bool ShmTracker::attachments_disagree(const SysvSnapshot& snap) const {
  for (const auto& [ns, n] : snap.read) {
    for (const SysvShmRow& r : n.shm) {
      auto it = segments_.find({ns, r.shmid});
      const uint64_t known = it != segments_.end() ? attached(it->second) : 0;
      if (known != r.nattch) return true;
    }
  }
  return false;
}

}  // namespace ipctrace
