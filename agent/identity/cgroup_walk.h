// cgroup ids to cgroup paths. The BPF programs tag every operation with the task's cgroup v2 id,
// which is the inode number of the cgroup's directory in the cgroup2 file system (kernfs node id,
// Linux 5.5+; bpf_get_current_cgroup_id()). The path is what says whose it is (identity/cgroup_path.h).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>

#include "base/error.h"
#include "base/fd.h"

namespace ipctrace {

// True if `dir` is on a cgroup2 file system (statfs f_type CGROUP2_SUPER_MAGIC).
bool is_cgroup2(const std::string& dir);
// `<host_root>/sys/fs/cgroup` if it is cgroup2, else `<host_root>/sys/fs/cgroup/unified` if that is.
std::optional<std::string> find_cgroup2_root(const std::string& host_root);

// cgroup id -> path relative to a cgroup2 root. On a real cgroup2 mount it first asks the kernel:
// open_by_handle_at with a kernfs file handle (FILEID_KERNFS, the 8-byte id; needs
// CAP_DAC_READ_SEARCH), then readlink of /proc/self/fd/N minus the root's own path. ESTALE means
// the cgroup does not exist; a path outside the root falls back to the walk for that id; any other
// failure (EPERM, EOPNOTSUPP...) switches handles off for good. The fallback is an index of the
// tree by directory inode number, which is the cgroup id: walked when first needed and again (at
// most once per rewalk_interval) when an id is not in it; bounded in depth and entries. On any
// other directory (tests), only the walk is used. Not thread-safe (IdentityResolver locks).
class CgroupPaths {
 public:
  struct Options {
    std::string root;  // the cgroup2 mount (or any directory: the walk works on every file system)
    size_t max_depth = 32;
    size_t max_entries = 200000;
    std::chrono::milliseconds rewalk_interval{1000};
    bool use_handles = true;  // only matters on cgroup2
  };
  explicit CgroupPaths(Options options);
  ~CgroupPaths();
  CgroupPaths(const CgroupPaths&) = delete;
  CgroupPaths& operator=(const CgroupPaths&) = delete;
  CgroupPaths(CgroupPaths&&) = delete;
  CgroupPaths& operator=(CgroupPaths&&) = delete;

  // The path ("/" for the root, "/a/b" below it). Errors: ENOENT when the cgroup does not exist
  // (not in a fresh walk, or a stale handle); EAGAIN when it is not indexed and a re-walk is not
  // allowed yet; others when the root cannot be read.
  Result<std::string> lookup(uint64_t id);

  [[nodiscard]] size_t walks() const { return walks_; }
  [[nodiscard]] size_t indexed() const { return index_.size(); }
  [[nodiscard]] bool truncated() const { return truncated_; }
  [[nodiscard]] bool using_handles() const { return handles_; }

 private:
  Result<std::string> lookup_by_handle(uint64_t id);
  Status walk();

  Options opt_;
  Fd root_;
  int root_errno_ = 0;
  std::string root_link_;  // readlink of the root's fd, to strip from handle paths
  bool handles_ = false;
  std::unordered_map<uint64_t, std::string> index_;
  std::optional<std::chrono::steady_clock::time_point> last_walk_;
  size_t walks_ = 0;
  bool truncated_ = false;
};

}  // namespace ipctrace
