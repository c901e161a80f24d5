// Where a channel is in the file system, where the kernel knows it: a FIFO's path, found through
// a descriptor of a process that has it open (/proc/PID/fd/N: the link's target, as that process
// sees it, in its mount namespace and under its root; " (deleted)" after an unlink), and a unix
// socket's bound name (/proc/PID/net/unix of a process in the socket's network namespace: a
// listener's path, which the sockets accept() returns share; "@name" for an abstract name).
// The processes asked are the ones the kernel recorded with each flow (ChannelFlow::src_task,
// dst_task), so a channel whose users all exited before it was looked up has no path; each
// socket is looked for in both ends' network namespaces (a connection can cross them: a
// container's client of a host daemon's socket, bind-mounted in).
//
// Everything read here is written by the processes themselves, containers included: a path is
// bytes (any but NUL; newlines too), shown escaped by every output (base/text.h). A line of
// /proc/PID/net/unix is trusted only in the exact shape the kernel prints (net/unix/af_unix.c
// unix_seq_show()); a line of any other shape after a named one is the rest of that name (it held
// a newline), and an inode listed twice has no path. A name with a newline can still forge a line
// for an inode its namespace does not list (a socket of another namespace, looked for there too):
// the name of such a socket is whatever the forger wrote, as a container could name its own. A
// FIFO's descriptor is read as a link first (no file system is waited on: statx without syncing)
// and again after its check, so a descriptor swapped meanwhile names nothing.
// Bounds: descriptors looked at per process and per call, bytes of /proc/PID/net/unix read (one
// table, all tables of a call), lookups per call; what they cut is counted (stats()).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "model/flows.h"

namespace ipctrace {

struct ChannelPathsOptions {
  std::string proc = "/proc";                          // the host's /proc (under --host-root)
  size_t max_fds_per_process = 4096;                   // descriptors of one process stat()ed, at most
  size_t max_fds_per_call = 16384;                     // in all, per annotate() (a process can hold a million)
  size_t max_unix_table_bytes = size_t{16} << 20;      // of one /proc/PID/net/unix
  size_t max_table_bytes_per_call = size_t{64} << 20;  // of all of them, per annotate()
  size_t max_lookups_per_call = 256;                   // channels looked up per annotate(); the rest wait a call
  std::chrono::seconds retry{10};                      // a channel not found is looked for again after this
};

struct ChannelPathsStats {
  uint64_t found = 0;      // channels whose path was found
  uint64_t not_found = 0;  // lookups that found none (no path, or every user gone)
  uint64_t truncated = 0;  // lookups cut by a bound (descriptors, table bytes, lookups per call)
  uint64_t ambiguous = 0;  // unix inodes listed more than once in a table
};

class ChannelPaths {
 public:
  explicit ChannelPaths(ChannelPathsOptions options = {});

  // Sets ChannelFlow::path on the fifo and unix flows of one collection: from what earlier calls
  // found, else by looking (within the bounds). Forgets the channels no longer among `flows`,
  // except those `kept` says are still kept (by kind and channel: flows a collection did not join
  // again because none of their keys moved, model/single_use.h moved_channels()).
  void annotate(std::vector<ChannelFlow>& flows, std::chrono::steady_clock::time_point now,
                const std::function<bool(int, const std::string&)>& kept = {});

  // One lookup, no cache (`ipctrace trace`'s events): a FIFO (inode, kernel-encoded device) among
  // process `tgid`'s descriptors; a unix socket's bound name by its inode in `tgid`'s network
  // namespace. "" when not found.
  std::string fifo_path(uint32_t tgid, uint64_t inode, uint32_t kdev);
  std::string unix_path(uint32_t tgid, uint64_t inode);

  [[nodiscard]] const ChannelPathsStats& stats() const { return stats_; }

 private:
  struct Known {
    std::string path;
    std::chrono::steady_clock::time_point next_try;  // when not found
    bool found = false;
    bool seen = false;  // among this call's flows
    int kind = 0;       // the channel's (enum ipct_kind)
  };
  // The unix table of `tgid`'s network namespace: inode -> bound name ("" ambiguous), read at most
  // once per call.
  const std::map<uint64_t, std::string>* unix_table(const TaskHint& task);
  std::string find_unix(const TaskHint& task, uint64_t inode);          // through tables_
  std::string find_fifo(uint32_t tgid, uint64_t inode, uint32_t kdev);  // within fds_left_
  std::optional<std::string> lookup(const ChannelFlow& f);

  ChannelPathsOptions options_;
  std::map<std::string, Known> known_;  // by channel
  // This call's tables, by network namespace inode (or 1 << 32 | tgid where it is not known);
  // empty for one that could not be read.
  std::map<uint64_t, std::map<uint64_t, std::string>> tables_;
  size_t fds_left_ = 0;  // this call's budgets
  size_t table_bytes_left_ = 0;
  ChannelPathsStats stats_;
};

// The lines of a /proc/net/unix table in the kernel's exact shape: inode -> bound name (unbound
// sockets and inodes listed twice left out; `ambiguous` counts the latter). A line of another shape
// after the header continues the name of the line before, after the newline that split it.
std::map<uint64_t, std::string> parse_unix_table(const std::string& text, uint64_t* ambiguous = nullptr);

}  // namespace ipctrace
