#include "identity/cgroup_walk.h"

#include <dirent.h>
#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <array>
#include <cstddef>
#include <cstring>
#include <memory>
#include <string_view>
#include <utility>

#include "base/files.h"

namespace ipctrace {
namespace {

constexpr long kCgroup2SuperMagic = 0x63677270;  // CGROUP2_SUPER_MAGIC, <linux/magic.h>
constexpr int kFileidKernfs = 0xfe;              // FILEID_KERNFS, <linux/exportfs.h>

// Indexes the directories below `dir` (relative path `rel`) by inode number, depth first.
void walk_dir(Fd dir_fd, const std::string& rel, size_t depth, const CgroupPaths::Options& opt,
              std::unordered_map<uint64_t, std::string>& index, bool& truncated) {
  const std::unique_ptr<DIR, int (*)(DIR*)> dir(fdopendir(dir_fd.get()), closedir);
  if (!dir) return;
  dir_fd.release();  // the DIR owns it now
  while (const dirent* ent = readdir(dir.get())) {
    const std::string_view name = ent->d_name;
    if (name == "." || name == "..") continue;
    if (ent->d_type != DT_DIR && ent->d_type != DT_UNKNOWN) continue;
    struct stat st {};
    if (fstatat(dirfd(dir.get()), ent->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISDIR(st.st_mode)) continue;
    if (index.size() >= opt.max_entries) {
      truncated = true;
      break;
    }
    std::string child = rel;
    child += '/';
    child += name;
    index.emplace(st.st_ino, child);
    if (depth < opt.max_depth) {
      Fd child_fd(openat(dirfd(dir.get()), ent->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      if (child_fd.get() >= 0) walk_dir(std::move(child_fd), child, depth + 1, opt, index, truncated);
    }
    if (truncated) break;
  }
}

}  // namespace

bool is_cgroup2(const std::string& dir) {
  struct statfs fs {};
  return statfs(dir.c_str(), &fs) == 0 && static_cast<long>(fs.f_type) == kCgroup2SuperMagic;
}

std::optional<std::string> find_cgroup2_root(const std::string& host_root) {
  for (const char* candidate : {"/sys/fs/cgroup", "/sys/fs/cgroup/unified"}) {
    std::string dir = join_path(host_root, candidate);
    if (is_cgroup2(dir)) return dir;
  }
  return std::nullopt;
}

CgroupPaths::CgroupPaths(Options options)
    : opt_(std::move(options)), root_(open(opt_.root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)) {
  if (root_.get() < 0) {
    root_errno_ = errno;
    return;
  }
  if (opt_.use_handles && is_cgroup2(opt_.root)) {
    auto link = fd_path(root_.get());
    if (link) {
      root_link_ = *link;
      handles_ = true;
    }
  }
}

CgroupPaths::~CgroupPaths() = default;

Result<std::string> CgroupPaths::lookup_by_handle(uint64_t id) {
  alignas(struct file_handle) std::array<unsigned char, sizeof(struct file_handle) + sizeof(uint64_t)> buf{};
  auto* handle = reinterpret_cast<struct file_handle*>(buf.data());
  handle->handle_bytes = sizeof(uint64_t);
  handle->handle_type = kFileidKernfs;
  std::memcpy(buf.data() + offsetof(struct file_handle, f_handle), &id, sizeof(id));
  const Fd fd(open_by_handle_at(root_.get(), handle, O_PATH | O_CLOEXEC));
  if (fd.get() < 0) return Error::from_errno("open_by_handle_at");
  auto link = fd_path(fd.get());
  if (!link) return link.error();
  std::string_view p = *link;
  constexpr std::string_view kDeleted = " (deleted)";
  if (p.ends_with(kDeleted)) return Error(ENOENT, "cgroup removed");
  if (root_link_ != "/") {
    if (!p.starts_with(root_link_) || (p.size() > root_link_.size() && p[root_link_.size()] != '/')) {
      return Error(EXDEV, "cgroup outside " + opt_.root);
    }
    p.remove_prefix(root_link_.size());
  }
  return p.empty() ? std::string("/") : std::string(p);
}

Result<std::string> CgroupPaths::lookup(uint64_t id) {
  if (root_.get() < 0) return Error(root_errno_, "open cgroup root " + opt_.root);
  if (handles_) {
    auto found = lookup_by_handle(id);
    if (found) return found;
    const int code = found.error().code();
    if (code == ENOENT || code == ESTALE) return Error(ENOENT, "cgroup " + std::to_string(id) + " not found");
    if (code != EXDEV) {
      handles_ = false;
      spdlog::debug("identity: cgroup ids by file handle do not work here ({}); walking {} instead",
                    found.error().message(), opt_.root);
    }
  }
  if (auto it = index_.find(id); it != index_.end()) return it->second;
  if (last_walk_ && std::chrono::steady_clock::now() - *last_walk_ < opt_.rewalk_interval) {
    return Error(EAGAIN, "cgroup " + std::to_string(id) + " not indexed yet");
  }
  if (auto st = walk(); !st) return st.error();
  if (auto it = index_.find(id); it != index_.end()) return it->second;
  return Error(ENOENT, "cgroup " + std::to_string(id) + " not found under " + opt_.root);
}

Status CgroupPaths::walk() {
  last_walk_ = std::chrono::steady_clock::now();
  ++walks_;
  struct stat st {};
  if (fstat(root_.get(), &st) != 0) return Error::from_errno("stat " + opt_.root);
  std::unordered_map<uint64_t, std::string> index;
  index.emplace(st.st_ino, "/");
  bool truncated = false;
  Fd fd(openat(root_.get(), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (fd.get() < 0) return Error::from_errno("open " + opt_.root);
  walk_dir(std::move(fd), "", 1, opt_, index, truncated);
  if (truncated && !truncated_) {
    spdlog::warn("identity: more than {} cgroups under {}: only the first are named", opt_.max_entries, opt_.root);
  }
  truncated_ = truncated;
  index_.swap(index);
  return Ok{};
}

}  // namespace ipctrace
