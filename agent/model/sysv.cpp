#include "model/sysv.h"

#include <dirent.h>
#include <fcntl.h>
#include <sched.h>
#include <sys/ipc.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <condition_variable>
#include <mutex>
#include <system_error>
#include <thread>
#include <utility>

#include "base/fd.h"
#include "base/files.h"
#include "identity/cgroup_walk.h"

namespace ipctrace {

namespace {

bool is_space(char c) { return c == ' ' || c == '\t'; }

std::vector<std::string_view> split_ws(std::string_view line) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && is_space(line[i])) ++i;
    const size_t start = i;
    while (i < line.size() && !is_space(line[i])) ++i;
    if (i > start) out.push_back(line.substr(start, i - start));
  }
  return out;
}

template <typename T>
bool parse_num(std::string_view s, T& out, int base = 10) {
  const char* end = s.data() + s.size();
  auto [p, ec] = std::from_chars(s.data(), end, out, base);
  return ec == std::errc() && p == end;
}

// Rows of a /proc/sysvipc table as columns by the header's names; `row` fills one from them and
// says whether they parsed.
template <typename Row>
std::vector<Row> parse_table(std::string_view text, const std::vector<std::string_view>& names, uint64_t* bad,
                             bool (*row)(const std::vector<std::string_view>&, const std::vector<size_t>&, Row&)) {
  std::vector<Row> out;
  size_t pos = 0;
  bool header = true;
  std::vector<size_t> idx;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string_view::npos) nl = text.size();
    const std::string_view line = text.substr(pos, nl - pos);
    pos = nl + 1;
    const auto cols = split_ws(line);
    if (cols.empty()) continue;
    if (header) {
      header = false;
      for (std::string_view n : names) {
        auto it = std::find(cols.begin(), cols.end(), n);
        if (it == cols.end()) {
          if (bad != nullptr) ++*bad;  // a header without a column needed: nothing can be read
          return out;
        }
        idx.push_back(static_cast<size_t>(it - cols.begin()));
      }
      continue;
    }
    Row r;
    const bool wide = std::all_of(idx.begin(), idx.end(), [&](size_t i) { return i < cols.size(); });
    if (wide && row(cols, idx, r)) {
      out.push_back(r);
    } else if (bad != nullptr) {
      ++*bad;
    }
  }
  return out;
}

bool shm_row(const std::vector<std::string_view>& c, const std::vector<size_t>& i, SysvShmRow& r) {
  return parse_num(c[i[0]], r.key) && parse_num(c[i[1]], r.shmid) && parse_num(c[i[2]], r.mode, 8) &&
         parse_num(c[i[3]], r.size) && parse_num(c[i[4]], r.cpid) && parse_num(c[i[5]], r.nattch);
}

bool msg_row(const std::vector<std::string_view>& c, const std::vector<size_t>& i, SysvMsgRow& r) {
  return parse_num(c[i[0]], r.key) && parse_num(c[i[1]], r.msqid) && parse_num(c[i[2]], r.cbytes) &&
         parse_num(c[i[3]], r.qnum);
}

bool sem_row(const std::vector<std::string_view>& c, const std::vector<size_t>& i, SysvSemRow& r) {
  return parse_num(c[i[0]], r.key) && parse_num(c[i[1]], r.semid) && parse_num(c[i[2]], r.nsems);
}

bool gone(int code) { return code == ENOENT || code == ESRCH || code == ENOTDIR; }

// readlink of a namespace link: its inode, or the errno.
Result<uint32_t> ns_inode(const std::string& link) {
  char buf[64] = {};
  const ssize_t n = readlink(link.c_str(), buf, sizeof(buf) - 1);
  if (n < 0) return Error::from_errno("readlink " + link);
  auto ino = parse_ns_link(std::string_view(buf, static_cast<size_t>(n)), "ipc");
  if (!ino) return Error(EINVAL, "readlink " + link + ": not an ipc namespace");
  return *ino;
}

// At most `max` bytes of a file; `cut` says whether there was more.
Result<std::string> read_bounded(const std::string& path, size_t max, bool& cut) {
  cut = false;
  Fd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK));
  if (fd.get() < 0) return Error::from_errno("open " + path);
  std::string out;
  char buf[16384];
  for (;;) {
    const ssize_t n = ::read(fd.get(), buf, sizeof(buf));
    if (n < 0) {
      if (errno == EINTR) continue;
      return Error::from_errno("read " + path);
    }
    if (n == 0) break;
    const size_t room = max - out.size();
    if (static_cast<size_t>(n) > room) {
      out.append(buf, room);
      cut = true;
      break;
    }
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

bool numeric(const char* s) {
  if (*s == 0) return false;
  for (; *s != 0; ++s) {
    if (*s < '0' || *s > '9') return false;
  }
  return true;
}

// The cgroup v2 id of a process: the inode of its cgroup's directory; 0 if unknown.
uint64_t cgroup_of_pid(const std::string& proc, const std::optional<std::string>& cgroup_root, uint32_t pid) {
  if (!cgroup_root) return 0;
  auto text = read_file(proc + "/" + std::to_string(pid) + "/cgroup", 1 << 20);
  if (!text) return 0;
  std::string_view t = *text;
  while (!t.empty()) {
    const size_t nl = std::min(t.find('\n'), t.size());
    const std::string_view line = t.substr(0, nl);
    t.remove_prefix(std::min(nl + 1, t.size()));
    if (line.substr(0, 3) != "0::") continue;
    const std::string_view path = line.substr(3);
    if (path.empty() || path[0] != '/' || path.find("/..") != std::string_view::npos) return 0;
    struct stat st {};
    if (stat(join_path(*cgroup_root, path).c_str(), &st) != 0) return 0;
    return st.st_ino;
  }
  return 0;
}

}  // namespace

std::vector<SysvShmRow> parse_sysvipc_shm(std::string_view text, uint64_t* bad) {
  return parse_table<SysvShmRow>(text, {"key", "shmid", "perms", "size", "cpid", "nattch"}, bad, shm_row);
}

std::vector<SysvMsgRow> parse_sysvipc_msg(std::string_view text, uint64_t* bad) {
  return parse_table<SysvMsgRow>(text, {"key", "msqid", "cbytes", "qnum"}, bad, msg_row);
}

std::vector<SysvSemRow> parse_sysvipc_sem(std::string_view text, uint64_t* bad) {
  return parse_table<SysvSemRow>(text, {"key", "semid", "nsems"}, bad, sem_row);
}

std::optional<uint32_t> parse_ns_link(std::string_view text, std::string_view type) {
  if (text.size() < type.size() + 3 || text.substr(0, type.size()) != type) return std::nullopt;
  text.remove_prefix(type.size());
  if (text.substr(0, 2) != ":[" || text.back() != ']') return std::nullopt;
  uint32_t ino = 0;
  if (!parse_num(text.substr(2, text.size() - 3), ino) || ino == 0) return std::nullopt;
  return ino;
}

std::optional<ShmMapping> parse_shm_maps_line(std::string_view line, dev_t shm_dev) {
  // start-end perms offset major:minor inode   pathname
  std::string_view fields[5];
  size_t pos = 0;
  for (auto& f : fields) {
    while (pos < line.size() && is_space(line[pos])) ++pos;
    const size_t start = pos;
    while (pos < line.size() && !is_space(line[pos])) ++pos;
    if (pos == start) return std::nullopt;
    f = line.substr(start, pos - start);
  }
  while (pos < line.size() && is_space(line[pos])) ++pos;
  const std::string_view path = line.substr(pos);
  // Exactly "/SYSV" + 8 hex digits + " (deleted)": the name the kernel gives every segment's file.
  constexpr std::string_view kPrefix = "/SYSV";
  constexpr std::string_view kDeleted = " (deleted)";
  if (path.size() != kPrefix.size() + 8 + kDeleted.size() || path.substr(0, kPrefix.size()) != kPrefix ||
      path.substr(kPrefix.size() + 8) != kDeleted) {
    return std::nullopt;
  }
  uint32_t key = 0;
  if (!parse_num(path.substr(kPrefix.size(), 8), key, 16)) return std::nullopt;
  if (fields[1].size() != 4 || fields[1][3] != 's') return std::nullopt;
  const size_t dash = fields[0].find('-');
  const size_t colon = fields[3].find(':');
  if (dash == std::string_view::npos || colon == std::string_view::npos) return std::nullopt;
  uint64_t start = 0;
  uint64_t end = 0;
  uint32_t major_no = 0;
  uint32_t minor_no = 0;
  uint64_t ino = 0;
  if (!parse_num(fields[0].substr(0, dash), start, 16) || !parse_num(fields[0].substr(dash + 1), end, 16) ||
      end < start || !parse_num(fields[3].substr(0, colon), major_no, 16) ||
      !parse_num(fields[3].substr(colon + 1), minor_no, 16) || !parse_num(fields[4], ino)) {
    return std::nullopt;
  }
  if (shm_dev == 0 || makedev(major_no, minor_no) != shm_dev) return std::nullopt;
  ShmMapping m;
  m.key = static_cast<int32_t>(key);
  m.shmid = ino;
  m.bytes = end - start;
  return m;
}

std::map<uint32_t, Result<SysvTables>> read_tables_in_namespaces(const std::string& proc,
                                                                 const std::map<uint32_t, uint32_t>& ns_pids) {
  std::map<uint32_t, Result<SysvTables>> out;
  // A thread of its own: setns(CLONE_NEWIPC) changes the namespace of the calling thread only,
  // and /proc/sysvipc lists the namespace of the thread that opens it.
  auto work = [&] {
    Fd own(open("/proc/thread-self/ns/ipc", O_RDONLY | O_CLOEXEC));
    if (own.get() < 0) {
      const Error e = Error::from_errno("open /proc/thread-self/ns/ipc");
      for (const auto& [ns, pid] : ns_pids) out.emplace(ns, e);
      return;
    }
    for (const auto& [ns, pid] : ns_pids) {
      const std::string link = proc + "/" + std::to_string(pid) + "/ns/ipc";
      Fd fd(open(link.c_str(), O_RDONLY | O_CLOEXEC));
      if (fd.get() < 0) {
        out.emplace(ns, Error::from_errno("open " + link));
        continue;
      }
      struct stat st {};
      if (fstat(fd.get(), &st) != 0) {
        out.emplace(ns, Error::from_errno("fstat " + link));
        continue;
      }
      if (st.st_ino != ns) {  // the pid is another process now, elsewhere
        out.emplace(ns, Error(ESRCH, "open " + link + ": the process left the namespace"));
        continue;
      }
      if (setns(fd.get(), CLONE_NEWIPC) != 0) {
        out.emplace(ns, Error::from_errno("setns " + link));
        continue;
      }
      SysvTables t;
      auto shm = read_file(proc + "/sysvipc/shm");
      auto msg = read_file(proc + "/sysvipc/msg");
      auto sem = read_file(proc + "/sysvipc/sem");
      if (setns(own.get(), CLONE_NEWIPC) != 0) {
        // Stuck in another namespace: nothing more this thread reads can be trusted.
        const Error e = Error::from_errno("setns back to the agent's ipc namespace");
        out.emplace(ns, e);
        for (const auto& [rest, p] : ns_pids) out.emplace(rest, e);
        return;
      }
      if (!shm || !msg) {
        out.emplace(ns, !shm ? shm.error() : msg.error());
        continue;
      }
      t.shm = std::move(shm).value();
      t.msg = std::move(msg).value();
      if (sem) t.sem = std::move(sem).value();
      out.emplace(ns, std::move(t));
    }
  };
  try {
    std::thread reader(work);
    reader.join();
  } catch (const std::system_error& e) {  // no thread to be had: nothing read this time
    for (const auto& [ns, pid] : ns_pids) out.emplace(ns, Error(e.code().value(), "start the namespace reader"));
  }
  return out;
}

Result<dev_t> learn_shm_dev() {
  const int id = shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0600);
  if (id < 0) return Error::from_errno("shmget a probe segment");
  void* p = shmat(id, nullptr, SHM_RDONLY);
  if (p == reinterpret_cast<void*>(-1)) {  // NOLINT(performance-no-int-to-ptr)
    const Error e = Error::from_errno("shmat the probe segment");
    shmctl(id, IPC_RMID, nullptr);
    return e;
  }
  auto maps = read_file("/proc/self/maps");
  shmdt(p);
  shmctl(id, IPC_RMID, nullptr);
  if (!maps) return maps.error();
  const auto addr = reinterpret_cast<uintptr_t>(p);
  std::string_view text = *maps;
  while (!text.empty()) {
    const size_t nl = std::min(text.find('\n'), text.size());
    const std::string_view line = text.substr(0, nl);
    text.remove_prefix(std::min(nl + 1, text.size()));
    uint64_t start = 0;
    const size_t dash = line.find('-');
    if (dash == std::string_view::npos || !parse_num(line.substr(0, dash), start, 16) || start != addr) continue;
    const auto f = split_ws(line);
    uint32_t ma = 0;
    uint32_t mi = 0;
    uint64_t ino = 0;
    const size_t colon = f.size() > 4 ? f[3].find(':') : std::string_view::npos;
    if (colon == std::string_view::npos || !parse_num(f[3].substr(0, colon), ma, 16) ||
        !parse_num(f[3].substr(colon + 1), mi, 16) || !parse_num(f[4], ino) || ino != static_cast<uint64_t>(id)) {
      break;
    }
    return makedev(ma, mi);
  }
  return Error(ENOENT, "the probe segment is not in /proc/self/maps");
}

SysvReader::SysvReader(Options options) : options_(std::move(options)), proc_(join_path(options_.host_root, "proc")) {
  if (!options_.tables) options_.tables = read_tables_in_namespaces;
  cgroup_root_ = options_.cgroup_root.empty() ? find_cgroup2_root(options_.host_root)
                                              : std::optional<std::string>(options_.cgroup_root);
}

uint64_t SysvReader::cgroup_of(uint32_t pid) { return cgroup_of_pid(proc_, cgroup_root_, pid); }

SysvSnapshot SysvReader::read() {
  SysvSnapshot snap;
  std::map<uint32_t, uint32_t> ns_pids;  // namespace -> a process in it
  auto& pids = snap.pids;
  DIR* dir = opendir(proc_.c_str());
  if (dir == nullptr) {
    snap.namespace_errors++;
    return snap;
  }
  while (const dirent* d = readdir(dir)) {
    if (!numeric(d->d_name)) continue;
    if (pids.size() >= options_.max_processes) {
      snap.truncated++;
      break;
    }
    uint32_t pid = 0;
    if (!parse_num(std::string_view(d->d_name), pid) || pid == 0) continue;
    auto ns = ns_inode(proc_ + "/" + d->d_name + "/ns/ipc");
    if (!ns) {
      if (!gone(ns.error().code())) snap.process_errors++;
      continue;
    }
    pids.emplace_back(pid, *ns);
    ns_pids.emplace(*ns, pid);
    snap.present.insert(*ns);
  }
  closedir(dir);
  snap.listed = snap.truncated == 0;

  for (auto& [ns, tables] : options_.tables(proc_, ns_pids)) {
    if (!tables) {
      // The process chosen was gone: the namespace is read at the next collection.
      if (!gone(tables.error().code())) snap.namespace_errors++;
      continue;
    }
    SysvNamespace n;
    n.shm = parse_sysvipc_shm(tables->shm, &snap.bad_lines);
    n.msg = parse_sysvipc_msg(tables->msg, &snap.bad_lines);
    n.sem = parse_sysvipc_sem(tables->sem, &snap.bad_lines);
    for (const SysvShmRow& r : n.shm) {
      if (r.cpid == 0 || snap.creator_cgroups.contains(r.cpid)) continue;
      auto cns = ns_inode(proc_ + "/" + std::to_string(r.cpid) + "/ns/ipc");
      if (!cns || *cns != ns) continue;  // exited, or the pid is another process now
      if (const uint64_t cg = cgroup_of(r.cpid); cg != 0) snap.creator_cgroups[r.cpid] = cg;
    }
    snap.read.emplace(ns, std::move(n));
  }

  return snap;
}

namespace {

// The maps of the processes in namespaces with a segment attached, into `snap`.
void walk(const std::string& proc, const std::optional<std::string>& cgroup_root, dev_t shm_dev, size_t max_bytes,
          SysvSnapshot& snap) {
  if (shm_dev == 0) return;
  snap.maps_walked = true;
  // Only processes of namespaces with a segment attached can have one mapped.
  std::set<uint32_t> attached_ns;
  for (const auto& [ns, n] : snap.read) {
    if (std::any_of(n.shm.begin(), n.shm.end(), [](const SysvShmRow& r) { return r.nattch > 0; }))
      attached_ns.insert(ns);
  }
  for (const auto& [pid, ns] : snap.pids) {
    if (!attached_ns.contains(ns)) continue;
    bool cut = false;
    auto maps = read_bounded(proc + "/" + std::to_string(pid) + "/maps", max_bytes, cut);
    if (!maps) {
      if (!gone(maps.error().code())) {
        snap.process_errors++;
        snap.unreadable_pids.insert(pid);
      }
      continue;
    }
    if (cut) snap.truncated++;
    ShmAttacher a;
    a.pid = pid;
    a.ipc_ns = ns;
    std::string_view t = *maps;
    while (!t.empty()) {
      const size_t nl = std::min(t.find('\n'), t.size());
      const std::string_view line = t.substr(0, nl);
      t.remove_prefix(std::min(nl + 1, t.size()));
      if (line.find("/SYSV") == std::string_view::npos) continue;
      if (auto m = parse_shm_maps_line(line, shm_dev)) a.segments[{m->shmid, m->key}]++;
    }
    if (a.segments.empty()) continue;
    a.cgroup = cgroup_of_pid(proc, cgroup_root, pid);
    snap.attachers.push_back(std::move(a));
  }
}

}  // namespace

void SysvReader::walk_maps(SysvSnapshot& snap) {
  walk(proc_, cgroup_root_, options_.shm_dev, options_.max_maps_bytes, snap);
}

// A walk on a thread of its own, which owns everything it uses: abandoned past its limit, it
// finishes (or stays stuck) without touching the reader.
struct SysvReader::WalkJob {
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  SysvSnapshot snap;
};

bool SysvReader::walk_maps_within(SysvSnapshot& snap, std::chrono::milliseconds limit) {
  if (options_.shm_dev == 0) return false;
  if (walk_running()) {  // the last one is still stuck: no other piles up behind it
    snap.walk_timeouts++;
    return false;
  }
  running_.reset();
  auto job = std::make_shared<WalkJob>();
  job->snap = snap;
  try {
    std::thread([job, proc = proc_, root = cgroup_root_, dev = options_.shm_dev, max = options_.max_maps_bytes] {
      walk(proc, root, dev, max, job->snap);
      const std::lock_guard<std::mutex> lock(job->mu);
      job->done = true;
      job->cv.notify_all();
    }).detach();
  } catch (const std::system_error&) {
    snap.walk_timeouts++;
    return false;
  }
  std::unique_lock<std::mutex> lock(job->mu);
  if (!job->cv.wait_for(lock, limit, [&] { return job->done; })) {
    running_ = job;
    snap.walk_timeouts++;
    return false;
  }
  snap = std::move(job->snap);
  return true;
}

bool SysvReader::walk_running() const {
  if (!running_) return false;
  const std::lock_guard<std::mutex> lock(running_->mu);
  return !running_->done;
}

}  // namespace ipctrace
