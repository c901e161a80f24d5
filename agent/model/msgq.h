// SysV message queues as objects: which exist, since when (a generation the tracker assigns when it
// first sees one), and whether a msgget made one or found one. The data of a queue is counted by
// the kernel per (IPC namespace inode, msqid) (model/flows.h); both numbers are reused once their
// objects are gone, so a queue's channel carries its generation ("sysv_msg:msqid=Q,ipcns=N,gen=G")
// and the queues of a namespace that is gone, or that the kernel no longer lists, are forgotten
// (their kernel entries with them: Collector), so a new container's queue never inherits an old
// one's traffic. A msgget whose queue is already known is a lookup; /proc/sysvipc/msg has no
// creator pid, so a queue created before the agent has no owner to show.
#pragma once

#include <cstdint>
#include <map>
#include <utility>
#include <vector>

#include "kernel/abi.h"
#include "model/shm.h"
#include "model/sysv.h"

namespace ipctrace {

class MsgQueueTracker {
 public:
  // Created for a msgget that made a queue, LookedUp for one that found it.
  ShmTracker::Seen on_event(const ipct_event& e);
  void reconcile(const SysvSnapshot& snap);
  // The queue's generation, 0 if it is not known. A queue forgotten keeps its generation until
  // take_forgotten(), so its last counts are still reported under its channel.
  [[nodiscard]] uint64_t generation(uint32_t ns, uint64_t msqid) const;
  // The (ns, msqid) of queues forgotten since the last call: their kernel entries can go.
  std::vector<std::pair<uint32_t, uint64_t>> take_forgotten();
  [[nodiscard]] size_t size() const { return queues_.size(); }

 private:
  struct Queue {
    uint64_t gen = 0;
    int32_t key = 0;
  };
  using Key = std::pair<uint32_t, uint64_t>;
  void forget(std::map<Key, Queue>::iterator it);
  std::map<Key, Queue> queues_;
  std::map<Key, uint64_t> forgotten_;  // -> generation
  uint64_t next_gen_ = 1;
};

}  // namespace ipctrace
