#include "model/paths.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <charconv>
#include <memory>
#include <string_view>

#include "base/files.h"
#include "kernel/abi.h"
#include "kernel/kinds.h"

namespace ipctrace {
namespace {

bool is_hex(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    const bool digit = c >= '0' && c <= '9';
    const bool lower = c >= 'a' && c <= 'f';
    const bool upper = c >= 'A' && c <= 'F';
    if (!digit && !lower && !upper) return false;
  }
  return true;
}

// The next field of `line` from `pos`, after `min_spaces` to `max_spaces` spaces; nullopt past the
// end or on any other separator.
std::optional<std::string_view> field(std::string_view line, size_t& pos, size_t min_spaces, size_t max_spaces) {
  size_t spaces = 0;
  while (pos < line.size() && line[pos] == ' ') {
    ++pos;
    ++spaces;
  }
  if (spaces < min_spaces || spaces > max_spaces || pos >= line.size()) return std::nullopt;
  const size_t start = pos;
  while (pos < line.size() && line[pos] != ' ') ++pos;
  return line.substr(start, pos - start);
}

// One line of the table as unix_seq_show() prints it:
//   "%pK: %08X %08X %08X %04X %02X %5lu" then, for a bound socket, ' ' and the name
// (an abstract name with '@' for its leading NUL and each NUL in it).
struct UnixLine {
  uint64_t inode = 0;
  std::string_view name;  // empty: unbound
};
std::optional<UnixLine> parse_unix_line(std::string_view line) {
  size_t pos = 0;
  const auto num = field(line, pos, 0, 0);
  if (!num || num->size() < 2 || num->back() != ':' || !is_hex(num->substr(0, num->size() - 1))) return std::nullopt;
  static constexpr size_t kWidths[] = {8, 8, 8, 4, 2};  // RefCount Protocol Flags Type St
  for (size_t width : kWidths) {
    const auto f = field(line, pos, 1, 1);
    if (!f || f->size() != width || !is_hex(*f)) return std::nullopt;
  }
  // "%5lu": right-aligned in five columns, so one to five spaces before it.
  const auto ino = field(line, pos, 1, 5);
  if (!ino) return std::nullopt;
  UnixLine out;
  const auto [end, ec] = std::from_chars(ino->data(), ino->data() + ino->size(), out.inode);
  // Inode 0: a connection not accepted yet (unix_create1() put it in the table; it has no file),
  // printed with its listener's name: a line, for nobody.
  if (ec != std::errc{} || end != ino->data() + ino->size()) return std::nullopt;
  if (pos == line.size()) return out;
  if (line[pos] != ' ' || pos + 1 == line.size()) return std::nullopt;
  out.name = line.substr(pos + 1);
  return out;
}

struct DirCloser {
  void operator()(DIR* d) const { closedir(d); }
};

}  // namespace

std::map<uint64_t, std::string> parse_unix_table(const std::string& text, uint64_t* ambiguous) {
  std::map<uint64_t, std::string> out;
  std::map<uint64_t, int> listed;
  std::string_view rest = text;
  uint64_t named = 0;  // the inode of the line before, if it had a name (0: none)
  bool first = true;
  while (!rest.empty()) {
    const size_t nl = rest.find('\n');
    const std::string_view line = rest.substr(0, nl);
    rest = nl == std::string_view::npos ? std::string_view{} : rest.substr(nl + 1);
    const auto parsed = parse_unix_line(line);
    if (!parsed) {
      // Past the header, a line of another shape is the rest of the name before it, which held a
      // newline (the kernel prints names as they are). A rest in the shape of a line is taken for
      // one: the name before is then cut, which only its own socket's owner can do to it.
      if (!first && named != 0 && listed[named] == 1) out[named] += "\n" + std::string(line);
      first = false;
      continue;
    }
    first = false;
    named = 0;
    if (parsed->inode == 0) continue;
    if (++listed[parsed->inode] > 1) {
      if (listed[parsed->inode] == 2 && ambiguous != nullptr) ++*ambiguous;
      out[parsed->inode].clear();
      continue;
    }
    if (!parsed->name.empty()) {
      out[parsed->inode] = std::string(parsed->name);
      named = parsed->inode;
    }
  }
  for (auto it = out.begin(); it != out.end();) {
    it = it->second.empty() ? out.erase(it) : std::next(it);
  }
  return out;
}

ChannelPaths::ChannelPaths(ChannelPathsOptions options) : options_(std::move(options)) {}

const std::map<uint64_t, std::string>* ChannelPaths::unix_table(const TaskHint& task) {
  if (task.tgid == 0) return nullptr;
  // One table per network namespace and call (a task of unknown namespace: its own), read or not.
  const uint64_t key = task.ns.net != 0 ? task.ns.net : (uint64_t{1} << 32) | task.tgid;
  if (auto it = tables_.find(key); it != tables_.end()) return &it->second;
  auto& table = tables_[key];
  if (table_bytes_left_ == 0) {
    stats_.truncated++;
    return &table;
  }
  auto text = read_file(join_path(options_.proc, std::to_string(task.tgid) + "/net/unix"),
                        std::min(options_.max_unix_table_bytes, table_bytes_left_));
  if (!text) {
    if (!is_missing(text.error())) {
      stats_.truncated++;
      table_bytes_left_ = 0;  // the budget, or a single table, is spent: no more this call
    }
    return &table;
  }
  table_bytes_left_ -= std::min(table_bytes_left_, text.value().size());
  table = parse_unix_table(text.value(), &stats_.ambiguous);
  return &table;
}

std::string ChannelPaths::unix_path(uint32_t tgid, uint64_t inode) {
  tables_.clear();  // read now, not an annotate() call's
  table_bytes_left_ = options_.max_unix_table_bytes;
  TaskHint task;
  task.tgid = tgid;
  std::string path = find_unix(task, inode);
  tables_.clear();
  return path;
}

std::string ChannelPaths::fifo_path(uint32_t tgid, uint64_t inode, uint32_t kdev) {
  fds_left_ = options_.max_fds_per_call;
  return find_fifo(tgid, inode, kdev);
}

std::string ChannelPaths::find_unix(const TaskHint& task, uint64_t inode) {
  if (inode == 0) return {};
  const auto* table = unix_table(task);
  if (table == nullptr) return {};
  auto it = table->find(inode);
  return it == table->end() ? std::string{} : it->second;
}

std::string ChannelPaths::find_fifo(uint32_t tgid, uint64_t inode, uint32_t kdev) {
  if (tgid == 0 || inode == 0) return {};
  const std::string dir = join_path(options_.proc, std::to_string(tgid) + "/fd");
  const std::unique_ptr<DIR, DirCloser> d(opendir(dir.c_str()));
  if (!d) return {};
  size_t looked = 0;
  while (const dirent* e = readdir(d.get())) {
    if (e->d_name[0] == '.') continue;
    if (looked == options_.max_fds_per_process || fds_left_ == 0) {
      stats_.truncated++;
      return {};
    }
    ++looked;
    --fds_left_;
    const std::string link = dir + "/" + e->d_name;
    // The link first: only a path is looked at further ("pipe:[...]", "socket:[...]" and
    // "anon_inode:..." are not in any file system), and without waiting on a file system
    // (AT_STATX_DONT_SYNC: a network or FUSE mount that stopped answering is not asked).
    std::string path(4096, '\0');
    const ssize_t n = readlink(link.c_str(), path.data(), path.size());
    if (n <= 0 || static_cast<size_t>(n) >= path.size() || path[0] != '/') continue;
    path.resize(static_cast<size_t>(n));
    auto same_fifo = [&] {
      struct statx st {};
      if (statx(AT_FDCWD, link.c_str(), AT_STATX_DONT_SYNC, STATX_TYPE | STATX_INO, &st) != 0) return false;
      // The kernel's encoding of the device (MKDEV: major << 20 | minor), as the programs record
      // it (sb->s_dev).
      return S_ISFIFO(st.stx_mode) && st.stx_ino == inode &&
             ((st.stx_dev_major << 20) | (st.stx_dev_minor & 0xfffff)) == kdev;
    };
    if (!same_fifo()) continue;
    // The descriptor may have been replaced between the link and the check: the link again.
    std::string again(4096, '\0');
    const ssize_t m = readlink(link.c_str(), again.data(), again.size());
    if (m != n || again.compare(0, static_cast<size_t>(m), path) != 0) continue;
    return path;
  }
  return {};
}

std::optional<std::string> ChannelPaths::lookup(const ChannelFlow& f) {
  std::string path;
  if (f.kind == IPCT_KIND_FIFO) {
    path = find_fifo(f.dst_task.tgid, f.inode, f.dev);
    if (path.empty()) path = find_fifo(f.src_task.tgid, f.inode, f.dev);
  } else if (is_unix_kind(f.kind)) {
    // The socket data went into, in its reader's namespace; else the sender's own socket (an
    // accepted one shares its listener's name), in the sender's.
    // Each socket is in the namespace of whoever made it, and a connection can cross namespaces
    // (a container's client of a host daemon's socket bind-mounted in; the socket accept() makes
    // is in the client's namespace): each inode is looked for in both ends' tables.
    for (const uint64_t inode : {f.inode, f.src_socket}) {
      for (const TaskHint* task : {&f.dst_task, &f.src_task}) {
        if (path.empty()) path = find_unix(*task, inode);
      }
    }
  }
  if (path.empty()) return std::nullopt;
  return path;
}

void ChannelPaths::annotate(std::vector<ChannelFlow>& flows, std::chrono::steady_clock::time_point now,
                            const std::function<bool(int, const std::string&)>& kept) {
  tables_.clear();
  fds_left_ = options_.max_fds_per_call;
  table_bytes_left_ = options_.max_table_bytes_per_call;
  size_t lookups = 0;
  bool deferred = false;
  for (auto& [channel, k] : known_) k.seen = false;
  for (ChannelFlow& f : flows) {
    if (f.kind != IPCT_KIND_FIFO && !is_unix_kind(f.kind)) continue;
    if (f.inode == 0) continue;
    Known& k = known_[f.channel];
    k.seen = true;
    k.kind = f.kind;
    if (!k.found && now >= k.next_try) {
      if (lookups == options_.max_lookups_per_call) {
        deferred = true;
        continue;
      }
      ++lookups;
      if (auto path = lookup(f)) {
        k.path = std::move(*path);
        k.found = true;
        stats_.found++;
      } else {
        k.next_try = now + options_.retry;
        stats_.not_found++;
      }
    }
    if (k.found) f.path = k.path;
  }
  if (deferred) stats_.truncated++;
  for (auto it = known_.begin(); it != known_.end();) {
    const bool keep = it->second.seen || (kept && kept(it->second.kind, it->first));
    it = keep ? std::next(it) : known_.erase(it);
  }
  tables_.clear();
}

}  // namespace ipctrace
