// Which pipes, FIFOs, sockets (and TCP connections) and POSIX message queues some process holds open, listed by a BPF
// task_file iterator (bpf/open_files.bpf.c; Linux 5.8+). The collector releases a channel none of
// whose objects is open any more (model/single_use.h): this kernel has no hook that sees the last
// close of a pipe or a socket (no tracepoint; kprobes and fentry are not everywhere), but every
// kernel since 5.8 can list the files of every process on demand.
//
// What it cannot see: a file held by no descriptor, such as one in flight in a unix socket's
// queue (SCM_RIGHTS) or registered with an io_uring ring, looks closed; its channel is released
// and, used again, is a new flow (counted from zero; the Prometheus counters go on). Processes of
// other PID namespaces are listed only from the initial one: load() refuses to run elsewhere
// (a DaemonSet needs hostPID: true), since a list missing them would release live channels.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_set>

#include "base/error.h"
#include "kernel/abi.h"
#include "kernel/bpf_object.h"

struct ipctrace_files;  // the skeleton (bpf/, generated)

namespace ipctrace {

// The objects open when the list was made: each in the identity flow keys give it (ipct_chan_obj).
struct OpenObjects {
  std::unordered_set<uint64_t> sockets;  // sockfs inode numbers (unix keys' id and peer)
  // pipe, fifo, posix_mq: the inode's device (kernel encoding, ipct_chan_obj.dev) and number.
  struct FileId {
    uint32_t dev = 0;
    uint64_t ino = 0;
    bool operator==(const FileId&) const = default;
  };
  struct FileIdHash {
    size_t operator()(const FileId& f) const noexcept {
      return std::hash<uint64_t>{}(f.ino * 0x9e3779b97f4a7c15ULL ^ f.dev);
    }
  };
  std::unordered_set<FileId, FileIdHash> files;  // FIFOs (anonymous pipes included) and mqueue files
  // TCP sockets' connections: each socket's two endpoints, its own first (tcp_key()).
  std::unordered_set<std::string> tcp;
  size_t descriptors = 0;  // records read: descriptors of those types, all processes

  [[nodiscard]] bool has_file(uint32_t dev, uint64_t ino) const { return files.contains({dev, ino}); }
  [[nodiscard]] bool has_socket(uint64_t ino) const { return sockets.contains(ino); }
  // Whether a socket holds the connection a flow key carries open at either end: the key's own
  // socket, or its peer's where that is on this node (a dual-stack server's socket sees an IPv4
  // client IPv4-mapped: the same endpoints).
  [[nodiscard]] bool has_tcp(const ipct_chan_inet& c) const {
    return tcp.contains(tcp_key(c, false)) || tcp.contains(tcp_key(c, true));
  }
  // A connection's endpoints (address as IPv6, an IPv4 one mapped, then port: 18 bytes each),
  // local then remote, or remote then local (`reversed`). The network namespace is left out: the
  // ends of a connection between namespaces are in two (two namespaces' connections with the same
  // endpoints would keep each other open: released later, never wrongly).
  static std::string tcp_key(const ipct_chan_inet& c, bool reversed = false);
};

// Bound on the records one list reads (64 bytes each: 256 MiB at most, transiently): past it the list fails rather than
// grow the agent without limit (a node has far fewer open pipes and sockets).
inline constexpr size_t kMaxOpenFileRecords = size_t{4} << 20;

// PROC_PID_INIT_INO (include/linux/proc_ns.h): the initial PID namespace's inode number, fixed.
inline constexpr uint64_t kInitialPidNamespaceInode = 0xEFFFFFFCU;

class OpenFileLister {
 public:
  // Loads the iterator and makes its link. Errors: not in the initial PID namespace (the list
  // would miss other namespaces' processes), the program's load (a kernel before 5.8, or without
  // BTF), the iterator's attach.
  static Result<std::unique_ptr<OpenFileLister>> load();
  ~OpenFileLister();
  OpenFileLister(const OpenFileLister&) = delete;
  OpenFileLister& operator=(const OpenFileLister&) = delete;
  OpenFileLister(OpenFileLister&&) = delete;
  OpenFileLister& operator=(OpenFileLister&&) = delete;

  // Every process's open pipes, FIFOs, sockets and queues, now. Costs one pass over every
  // descriptor of every process in the kernel (milliseconds for tens of thousands). Errors: the
  // iterator could not be read, or listed more than kMaxOpenFileRecords.
  [[nodiscard]] Result<OpenObjects> list() const;

 private:
  OpenFileLister() = default;
  std::unique_ptr<ipctrace_files, void (*)(ipctrace_files*)> skel_{nullptr, nullptr};
  BpfLink link_;
};

// Whether this process is in the initial PID namespace (/proc/self/ns/pid's inode).
bool in_initial_pid_namespace();

}  // namespace ipctrace
