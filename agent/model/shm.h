// SysV shared memory, from lifecycle events: no syscall moves its data, so the relation is
// "attached to the same segment": a segment's creator is joined to every cgroup that attached it,
// with the segment's size and the attachments in place. Segments are keyed by (IPC namespace
// inode, shmid): a shmid is unique only within its namespace.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <utility>
#include <vector>

#include "kernel/abi.h"
#include "model/flows.h"

namespace ipctrace {

// SysV shared memory, from lifecycle events (there is no data flow to count).
class ShmTracker {
 public:
  void on_event(const ipct_event& e);
  [[nodiscard]] std::vector<ChannelFlow> flows() const;
  // Drops the attachments of processes that are gone (exit detaches without shmdt).
  void detach_gone(const std::function<bool(uint32_t tgid)>& alive);
  // Forgets the segments removed and no longer attached: memory stays bounded. Call it after
  // flows() has reported them, or a segment that lived less than a collection is never seen.
  void forget_removed();
  // detach_gone, then forget_removed.
  void prune(const std::function<bool(uint32_t tgid)>& alive);

 private:
  struct Segment {
    uint64_t size = 0;
    uint64_t creator = 0;  // cgroup id, 0 if created before we looked
    TaskHint creator_task;
    bool removed = false;
    std::map<uint64_t, uint64_t> attaches;  // cgroup -> attach calls
    std::map<uint64_t, uint64_t> attached;  // cgroup -> attachments in place
    std::map<uint64_t, TaskHint> tasks;     // cgroup -> a task of it
  };
  using SegKey = std::pair<uint32_t, uint64_t>;  // (ipc ns, shmid)
  std::map<SegKey, Segment> segments_;
  // (tgid, address) -> segment and cgroup, to resolve shmdt(address).
  std::map<std::pair<uint32_t, uint64_t>, std::pair<SegKey, uint64_t>> mappings_;
};

}  // namespace ipctrace
