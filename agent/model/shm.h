// SysV shared memory, from lifecycle events reconciled against the kernel: no syscall moves its
// data, so the relation is "attached to the same segment": a segment's creator (its owner) is
// joined to every cgroup that attached it, with the segment's size and the attachments in place.
//
// Identity: (IPC namespace inode, shmid) is only unique while both live: a namespace's inode and
// a shmid are reused once their objects are gone. So each segment gets a generation the tracker
// assigns when it first sees it (channel "sysv_shm:shmid=S,ipcns=N,gen=G"); a segment whose key
// or creator pid changed at the same (ns, shmid), or created after the old one was removed, is
// another object with another generation. The kernel's shm_ctime is no creation time (IPC_SET
// changes it) and is not used.
//
// Owner: the kernel's creator pid (cpid of /proc/sysvipc/shm) -> that process's cgroup while it
// lives; a create event whose segment is already known, or whose inventory cpid is not the caller,
// is a lookup (shmget of an existing key) and changes nothing. A creator that exited before the
// agent knew its cgroup is shown as an unknown owner with its pid, marked exited.
//
// Attachments: from shmat/shmdt events between reconciliations; reconcile() then sets them from
// the kernel: the segments of each namespace read (a segment the kernel no longer lists is gone,
// and so are the segments of a namespace no process is in any more) and, when the maps were
// walked, each process's mappings (fork inherits an attachment, exec and exit drop it: no event
// says so). Processes whose maps could not be read keep what the tracker had.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <utility>
#include <vector>

#include "kernel/abi.h"
#include "model/flows.h"
#include "model/sysv.h"

namespace ipctrace {

class ShmTracker {
 public:
  // What a lifecycle event was to the tracker (a create event is a lookup of an existing segment
  // as often as a creation).
  enum class Seen { Other = 0, Created = 1, LookedUp = 2 };
  Seen on_event(const ipct_event& e);
  [[nodiscard]] std::vector<ChannelFlow> flows() const;
  // Drops the attachments of processes that are gone (exit detaches without shmdt).
  void detach_gone(const std::function<bool(uint32_t tgid)>& alive);
  // Forgets the segments removed and no longer attached: memory stays bounded. Call it after
  // flows() has reported them, or a segment that lived less than a collection is never seen.
  void forget_removed();
  // detach_gone, then forget_removed.
  void prune(const std::function<bool(uint32_t tgid)>& alive);

  // Takes the kernel's word (model/sysv.h) for what exists, its size, owner and attachments.
  void reconcile(const SysvSnapshot& snap);
  // Whether the attachments known disagree with the kernel's attach counts (nattch) of a
  // namespace read: then the processes' maps are worth walking.
  [[nodiscard]] bool attachments_disagree(const SysvSnapshot& snap) const;
  // Mappings the maps showed that match no segment of the process's namespace (a file named like
  // a segment, or a process that changed its IPC namespace after attaching), since start.
  [[nodiscard]] uint64_t foreign_mappings() const { return foreign_mappings_; }
  [[nodiscard]] size_t size() const { return segments_.size(); }

 private:
  struct Holder {
    uint64_t cgroup = 0;
    uint64_t mappings = 0;
  };
  struct Segment {
    uint64_t gen = 0;
    int32_t key = 0;
    bool key_known = false;
    uint64_t size = 0;
    uint64_t creator = 0;  // cgroup id, 0 if not known
    TaskHint creator_task;
    bool creator_from_kernel = false;  // creator_task.tgid is the kernel's cpid
    bool removed = false;
    std::map<uint64_t, uint64_t> attaches;  // cgroup -> attach calls
    std::map<uint32_t, Holder> holders;     // tgid -> its cgroup and mappings in place
    std::map<uint64_t, TaskHint> tasks;     // cgroup -> a task of it (every cgroup that attached)
  };
  using SegKey = std::pair<uint32_t, uint64_t>;  // (ipc ns, shmid)
  Segment& fresh(const SegKey& key);
  void apply_row(uint32_t ns, const SysvShmRow& r, const SysvSnapshot& snap);
  static uint64_t attached(const Segment& s);

  std::map<SegKey, Segment> segments_;
  uint64_t next_gen_ = 1;
  uint64_t foreign_mappings_ = 0;
  // (tgid, address) -> segment and cgroup, to resolve shmdt(address).
  std::map<std::pair<uint32_t, uint64_t>, std::pair<SegKey, uint64_t>> mappings_;
};

}  // namespace ipctrace
