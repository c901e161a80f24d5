// Endpoint identity: the cgroup v2 id the BPF programs tag every operation with -> the cgroup's
// path (identity/cgroup_walk.h) -> the runtime and container it belongs to by the runtimes' naming
// conventions (identity/cgroup_path.h): the outermost container, or a container nested in it that
// the runtimes' state places at exactly that path (owner_by_state) -> the names users know
// (Kubernetes namespace/pod/container, docker or podman name, systemd unit), read from the
// runtimes' state on disk under a host root (identity/runtimes.h). Nothing here throws; failures
// leave partial names.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <list>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "base/log.h"
#include "identity/cgroup_walk.h"
#include "identity/endpoint.h"

namespace ipctrace {

// cgroup id -> Endpoint, cached. Thread-safe; never throws.
class IdentityResolver {
 public:
  struct Options {
    std::string host_root = "/";                      // where the host's / is (e.g. "/host" in a DaemonSet)
    std::string cgroup_root;                          // "" = auto: find_cgroup2_root(host_root)
    size_t max_entries = 65536;                       // cache bound; the least recently resolved id is evicted first
    size_t max_file_bytes = size_t{8} << 20;          // larger state files are a resolve error
    std::vector<std::string> containerd_state{};      // StateRoot::containerd_state (identity/runtimes.h)
    std::chrono::milliseconds rewalk_interval{1000};  // see CgroupPaths
    // A partial endpoint is resolved again on a later resolve() at most max_retries times, each at
    // least retry_interval after the last attempt (a container's state can appear after its cgroup).
    std::chrono::milliseconds retry_interval{2000};
    int max_retries = 3;
  };
  explicit IdentityResolver(Options options);
  ~IdentityResolver();
  IdentityResolver(const IdentityResolver&) = delete;
  IdentityResolver& operator=(const IdentityResolver&) = delete;
  IdentityResolver(IdentityResolver&&) = delete;
  IdentityResolver& operator=(IdentityResolver&&) = delete;

  // Cached. Unreadable or malformed state and vanished cgroups are logged (warn, at most ten lines
  // a minute, then a count) and counted once per id; a container whose state is nowhere to be found only once its
  // retries are used up.
  Endpoint resolve(uint64_t cgroup_id);
  // A cgroup just made (cgroup:cgroup_mkdir, kernel/tracer.h poll_cgroups()), at `path` from the
  // cgroup2 hierarchy's root: the path is kept with the entry, so the cgroup is named from it even
  // once it is gone, and it is resolved now (a complete entry is left as it is). Where the cgroup2
  // mount read is not the hierarchy's root (the agent on a node that is itself a container), the
  // first cgroup found both in the tree and by the kernel's path tells how deep it sits; paths are
  // taken relative to it from then on, and one outside it is not used (the cgroup is looked up). Paths in cgroup2
  // never change (it has no rename), and cgroup ids are never reused while the system runs (64-bit
  // kernfs ids, Linux 5.5+).
  Endpoint learn(uint64_t cgroup_id, std::string_view path);
  // Resolves a partial entry again now, whatever retry_interval says, without using up one of
  // its max_retries (the tries of a container that has just started, whose runtime state can
  // lag its cgroup by milliseconds). A complete or unknown entry is returned as resolve() would.
  Endpoint refresh(uint64_t cgroup_id);
  void forget(uint64_t cgroup_id);
  [[nodiscard]] uint64_t resolve_errors() const { return errors_.load(std::memory_order_relaxed); }
  [[nodiscard]] size_t cached() const;
  // The cgroup2 root in use, "" if none was found.
  [[nodiscard]] const std::string& cgroup_root() const { return cgroup_root_; }

  // Names for what a cgroup path says, from the runtimes' state (no cgroup lookup, no cache): what
  // resolve() does once it has the path, nested claims confirmed or refused included.
  Endpoint identify(uint64_t cgroup_id, const CgroupIdentity& cgroup);

 private:
  struct Attempt;
  struct Entry {
    Endpoint endpoint;
    int attempts = 0;
    bool reported = false;
    std::chrono::steady_clock::time_point last_attempt;
    std::list<uint64_t>::iterator lru;
    std::string learned_path;  // from learn(): used instead of a lookup
  };

  // `learned_path`: a path for the entry (learn()); `force`: attempt a partial entry now, not
  // counted as a retry (refresh()).
  Endpoint resolve_locked(uint64_t cgroup_id, const std::string* learned_path, bool force);
  Attempt attempt(uint64_t cgroup_id, const std::string& learned_path);
  Attempt identify_container(uint64_t cgroup_id, const CgroupIdentity& path_says);
  void report(uint64_t cgroup_id, const Entry& entry, const std::string& error);

  Options opt_;
  std::string cgroup_root_;
  std::optional<CgroupPaths> paths_;
  // Where the cgroup2 mount sits in the hierarchy ("" at its root), once learn() has seen it.
  std::optional<std::string> mount_prefix_;
  mutable std::mutex mu_;
  std::unordered_map<uint64_t, Entry> cache_;
  std::list<uint64_t> lru_;  // most recently resolved first
  std::atomic<uint64_t> errors_{0};
  // Churn (a thousand short-lived containers) must not flood the log: ten lines a minute, then a count.
  RateLimitedLog warnings_;
};

}  // namespace ipctrace
