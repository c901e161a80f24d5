// What the kernel says about SysV IPC objects, read from /proc: the inventory of segments, queues
// and semaphore sets of every IPC namespace the agent can reach, and which processes have which
// segments attached. The shm tracker (model/shm.h) reconciles its event-built state against it,
// so a segment created before the agent, an attachment inherited by fork or dropped by exec, or a
// lifecycle record that was lost never leaves a wrong figure.
//
// Where it comes from:
//  - /proc/sysvipc/{shm,msg,sem} list the objects of the IPC namespace of the thread that opens
//    them, with pids in that thread's pid namespace. A dedicated thread enters each namespace
//    found through <host root>/proc/<pid>/ns/ipc (setns(CLONE_NEWIPC); the namespace is the one
//    of the descriptor opened, whatever happens to the pid after), reads, and goes back. Columns
//    are found by the header's names, not by position.
//  - <host root>/proc/<pid>/maps: a SysV segment maps as `/SYSV%08x (deleted)` (its key, in
//    hex), inode = shmid, on the device of the kernel's internal shm mount, shared ('s'). A line
//    counts only when all of these hold and the device is the one learned from a real segment, so
//    a file a container names `/SYSV...` is not taken for one; the kernel's attach count (nattch)
//    is the number of such mappings (a split mapping counts twice there too).
//  - A creator's cgroup: <host root>/proc/<cpid>/cgroup, if that process is still alive and in
//    the object's IPC namespace (a pid reused by a process elsewhere is not taken for it).
//
// Everything read is bounded (file sizes, lines, processes), and hostile text never throws: a
// line that does not parse is counted (bad_lines) and skipped. "Gone" (ENOENT, ESRCH: the process
// or namespace no longer exists) is told apart from a failed read (EACCES, EIO...): what could not
// be read is listed as such, so the tracker keeps its state for it rather than dropping it.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"

namespace ipctrace {

struct SysvShmRow {
  int32_t key = 0;
  uint64_t shmid = 0;
  uint32_t mode = 0;  // permissions and SHM_DEST (01000) / SHM_LOCKED (02000)
  uint64_t size = 0;
  uint32_t cpid = 0;  // in the reader's pid namespace; 0 if the creator is in none it can see
  uint64_t nattch = 0;
};

struct SysvMsgRow {
  int32_t key = 0;
  uint64_t msqid = 0;
  uint64_t cbytes = 0;
  uint64_t qnum = 0;
};

struct SysvSemRow {
  int32_t key = 0;
  uint64_t semid = 0;
  uint64_t nsems = 0;
};

// Parsers of the three tables; `bad` (if given) is increased by the rows that did not parse.
std::vector<SysvShmRow> parse_sysvipc_shm(std::string_view text, uint64_t* bad = nullptr);
std::vector<SysvMsgRow> parse_sysvipc_msg(std::string_view text, uint64_t* bad = nullptr);
std::vector<SysvSemRow> parse_sysvipc_sem(std::string_view text, uint64_t* bad = nullptr);

// One line of /proc/<pid>/maps that is a SysV segment on the shm mount `shm_dev` (the kernel's
// st_dev encoding, as stat() gives it); nullopt for anything else.
struct ShmMapping {
  int32_t key = 0;
  uint64_t shmid = 0;
  uint64_t bytes = 0;  // length of the mapping
};
std::optional<ShmMapping> parse_shm_maps_line(std::string_view line, dev_t shm_dev);

// The inode of a namespace link's target text, "ipc:[4026531839]" -> 4026531839; nullopt otherwise.
std::optional<uint32_t> parse_ns_link(std::string_view text, std::string_view type);

// The tables of one IPC namespace as read.
struct SysvTables {
  std::string shm, msg, sem;
};

struct SysvNamespace {
  std::vector<SysvShmRow> shm;
  std::vector<SysvMsgRow> msg;
  std::vector<SysvSemRow> sem;
};

// A process that has SysV segments attached, as its maps show.
struct ShmAttacher {
  uint32_t pid = 0;
  uint32_t ipc_ns = 0;
  uint64_t cgroup = 0;  // 0 if it could not be read
  // (shmid, key the mapping's name gives) -> mappings
  std::map<std::pair<uint64_t, int32_t>, uint64_t> segments;
};

struct SysvSnapshot {
  // Namespaces with a process in them (the others are gone: their objects with them), if
  // every process could be listed (`listed`); otherwise nothing is taken for gone.
  bool listed = false;
  std::set<uint32_t> present;
  std::vector<std::pair<uint32_t, uint32_t>> pids;  // (pid, its namespace), every process seen
  // Namespaces read, with their tables; a present namespace not here could not be read.
  std::map<uint32_t, SysvNamespace> read;
  // Whether the maps were walked this time (see SysvReader::read); then attachers holds every
  // process with a segment attached, except those in unreadable_pids.
  bool maps_walked = false;
  std::vector<ShmAttacher> attachers;
  std::set<uint32_t> unreadable_pids;  // maps not read for another reason than "gone"
  // Creator pid -> its cgroup, for the creators alive in the namespace of their object.
  std::map<uint32_t, uint64_t> creator_cgroups;
  // Degradations of this read, for the metrics: namespaces and processes that could not be read
  // (not gone), lines that did not parse, files cut at their bound.
  uint64_t namespace_errors = 0;
  uint64_t process_errors = 0;
  uint64_t bad_lines = 0;
  uint64_t truncated = 0;
  uint64_t walk_timeouts = 0;  // walks abandoned past their limit (or that could not start)
};

class SysvReader {
 public:
  // Reads the tables of IPC namespaces: (namespace inode -> a pid in it) -> (inode -> tables or
  // the error of that namespace). The default enters each namespace (setns) on a thread of its
  // own; tests give one that reads a fake tree.
  using TableSource = std::function<std::map<uint32_t, Result<SysvTables>>(const std::string& proc,
                                                                           const std::map<uint32_t, uint32_t>&)>;

  struct Options {
    std::string host_root = "/";
    std::string cgroup_root;  // "" = find_cgroup2_root(host_root)
    // The shm mount's device; 0 = learn it from a segment of the agent's own (learn_shm_dev).
    dev_t shm_dev = 0;
    TableSource tables;  // null = the setns reader
    size_t max_processes = 1 << 20;
    size_t max_maps_bytes = size_t{8} << 20;  // per process: a maps file larger is cut there
  };

  explicit SysvReader(Options options);

  // The namespaces and their tables.
  SysvSnapshot read();
  // Adds the maps of the processes in namespaces with a segment attached (nothing without a shm
  // device).
  void walk_maps(SysvSnapshot& snap);

  // walk_maps on a thread of its own, waiting at most `limit`: reading a process's maps takes its
  // mmap lock, which a process can keep busy. Past the limit the snapshot is left unwalked and
  // walk_timeouts counted; no other walk starts until that one has finished. True if walked.
  bool walk_maps_within(SysvSnapshot& snap, std::chrono::milliseconds limit);
  [[nodiscard]] bool walk_running() const;

  [[nodiscard]] dev_t shm_dev() const { return options_.shm_dev; }

 private:
  struct WalkJob;
  std::shared_ptr<WalkJob> running_;
  uint64_t cgroup_of(uint32_t pid);
  Options options_;
  std::string proc_;
  std::optional<std::string> cgroup_root_;
};

// The device of the kernel's shm mount, from a one-page private segment of the caller's own,
// attached, looked up in /proc/self/maps, detached and removed.
Result<dev_t> learn_shm_dev();

// The setns reader (SysvReader::Options::tables left empty).
std::map<uint32_t, Result<SysvTables>> read_tables_in_namespaces(const std::string& proc,
                                                                 const std::map<uint32_t, uint32_t>& ns_pids);

}  // namespace ipctrace
