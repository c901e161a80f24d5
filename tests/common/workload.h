// Kernel-test workloads: fresh cgroups, forked children that run a function inside one,
// and memory shared with them that involves no IPC syscall (so it is never traced itself).
#pragma once

#include <sys/mman.h>
#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <new>
#include <stdexcept>
#include <string>

namespace ipctrace::test {

// A fresh cgroup v2 directory, removed (after its processes are gone) when destroyed.
class TestCgroup {
 public:
  explicit TestCgroup(const std::string& name);
  ~TestCgroup();
  TestCgroup(const TestCgroup&) = delete;
  TestCgroup& operator=(const TestCgroup&) = delete;
  TestCgroup(TestCgroup&&) = delete;
  TestCgroup& operator=(TestCgroup&&) = delete;

  [[nodiscard]] uint64_t id() const { return id_; }  // what bpf_get_current_cgroup_id() returns inside
  [[nodiscard]] const std::string& path() const { return path_; }
  // The path below the cgroup2 root ("/ipctrace-test-..."): how ipctrace names this host cgroup.
  [[nodiscard]] std::string label() const;

 private:
  std::string path_;
  uint64_t id_ = 0;
};

// A fresh directory (mkdtemp under `parent`, made if missing: "/tmp", or "/var/tmp" for the disk's file system),
// removed with everything in it when destroyed, whatever ended the test.
class TempDir {
 public:
  explicit TempDir(const std::string& parent = "/tmp");
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  TempDir(TempDir&&) = delete;
  TempDir& operator=(TempDir&&) = delete;

  [[nodiscard]] const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// Where cgroup v2 is mounted ("/sys/fs/cgroup/unified" in this hybrid layout).
std::string cgroup2_root();

// Forks a child that moves itself into `cg` (nullptr: stays where it is), runs `fn` and exits
// with its return value (a thrown exception or a failed move exits 100+).
pid_t spawn(const TestCgroup* cg, const std::function<int()>& fn);
// Waits for a child; returns its exit status (or 128 + signal).
int wait_exit(pid_t pid);
// spawn + wait_exit.
int run_in(const TestCgroup* cg, const std::function<int()>& fn);

// `writes` writes of `chunk` bytes from a child in `writer_cg` through an anonymous pipe to a
// child in `reader_cg` that reads until end of file. True if every write moved its whole chunk
// and the reader got writes * chunk bytes.
bool pipe_between(const TestCgroup& writer_cg, const TestCgroup& reader_cg, int writes, size_t chunk);

// A pipe used once and closed: one write of `n` bytes of `data`, read back if `read_back`. True
// if the write (and the read) moved all `n` bytes. A flow table's churn, one channel per call.
bool single_use_pipe(const void* data, size_t n, bool read_back = false);

// A TCP connection over 127.0.0.1 to a port of its own: `client` connected, `server` the socket
// accept() returned (the listener closed). False, with nothing left open, if a step failed.
bool tcp_loopback_connection(int& client, int& server);

// Namespace inode of this process ("ipc", "net", ...), as /proc/self/ns/NAME shows it.
uint32_t self_ns(const char* name);

// A T in anonymous shared memory, visible to forked children. T must be trivially copyable.
template <typename T>
class Shared {
 public:
  Shared() {
    void* p = mmap(nullptr, sizeof(T), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) throw std::runtime_error("mmap shared");
    ptr_ = new (p) T{};
  }
  ~Shared() { munmap(ptr_, sizeof(T)); }
  Shared(const Shared&) = delete;
  Shared& operator=(const Shared&) = delete;
  Shared(Shared&&) = delete;
  Shared& operator=(Shared&&) = delete;
  T* operator->() { return ptr_; }
  T& operator*() { return *ptr_; }

 private:
  T* ptr_;
};

}  // namespace ipctrace::test
