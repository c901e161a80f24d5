#include "workload.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

namespace ipctrace::test {

std::string cgroup2_root() {
  std::ifstream mounts("/proc/self/mounts");
  std::string line;
  while (std::getline(mounts, line)) {
    std::istringstream f(line);
    std::string src;
    std::string dst;
    std::string type;
    if (f >> src >> dst >> type && type == "cgroup2") return dst;
  }
  throw std::runtime_error("cgroup v2 is not mounted");
}

TestCgroup::TestCgroup(const std::string& name) {
  static std::atomic<int> counter{0};
  path_ = cgroup2_root() + "/ipctrace-test-" + std::to_string(getpid()) + "-" + std::to_string(counter++) + "-" + name;
  if (mkdir(path_.c_str(), 0755) != 0) throw std::runtime_error("mkdir " + path_ + ": " + std::strerror(errno));
  struct stat st {};
  if (stat(path_.c_str(), &st) != 0) throw std::runtime_error("stat " + path_);
  id_ = st.st_ino;
}

TestCgroup::~TestCgroup() {
  // The children have been reaped; a zombie-free cgroup can go at once, but give the kernel
  // a moment if the last exit is still being accounted.
  for (int i = 0; i < 100; ++i) {
    if (rmdir(path_.c_str()) == 0 || errno == ENOENT) return;
    usleep(10 * 1000);
  }
}

pid_t spawn(const TestCgroup* cg, const std::function<int()>& fn) {
  // The child joins its cgroup itself; the parent returns only once it has, so whatever the
  // caller does next (signal it, count its flows) already sees the child in its cgroup. The
  // handshake goes through shared memory: a pipe here would be IPC the tests count.
  Shared<std::atomic<int>> joined;
  const pid_t pid = fork();
  if (pid < 0) throw std::runtime_error("fork");
  if (pid != 0) {
    while (joined->load() == 0) {
      // Peek, not reap: a child that joined and finished between the two checks is still the
      // caller's to wait for, and joined says it did join.
      siginfo_t info{};
      if (waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT) == 0 && info.si_pid == pid &&
          joined->load() == 0) {
        throw std::runtime_error("child died before joining its cgroup");
      }
      usleep(50);
    }
    return pid;
  }
  int rc = 100;
  try {
    if (cg != nullptr) {
      const std::string procs = cg->path() + "/cgroup.procs";
      const int fd = open(procs.c_str(), O_WRONLY | O_CLOEXEC);
      if (fd < 0 || write(fd, "0", 1) != 1) {
        joined->store(2);
        _exit(101);
      }
      close(fd);
    }
    joined->store(1);
    rc = fn();
  } catch (...) {
    rc = 102;
  }
  _exit(rc);
}

int wait_exit(pid_t pid) {
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return -1;
  }
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

int run_in(const TestCgroup* cg, const std::function<int()>& fn) { return wait_exit(spawn(cg, fn)); }

bool single_use_pipe(const void* data, size_t n, bool read_back) {
  int p[2];
  if (pipe(p) != 0) return false;
  std::vector<char> back(read_back ? n : 0);
  const bool ok = write(p[1], data, n) == static_cast<ssize_t>(n) &&
                  (!read_back || read(p[0], back.data(), n) == static_cast<ssize_t>(n));
  close(p[0]);
  close(p[1]);
  return ok;
}

bool tcp_loopback_connection(int& client, int& server) {
  client = server = -1;
  const int listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (listener < 0) return false;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  if (bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 && listen(listener, 1) == 0 &&
      getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    client = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (client >= 0 && connect(client, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0)
      server = accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
  }
  close(listener);
  if (server >= 0) return true;
  if (client >= 0) close(client);
  client = -1;
  return false;
}

bool pipe_between(const TestCgroup& writer_cg, const TestCgroup& reader_cg, int writes, size_t chunk) {
  int p[2];
  if (pipe(p) != 0) return false;
  const size_t expected = static_cast<size_t>(writes) * chunk;
  const pid_t reader = spawn(&reader_cg, [&] {
    close(p[1]);
    std::vector<char> buf(4096);
    size_t total = 0;
    ssize_t n;
    while ((n = read(p[0], buf.data(), buf.size())) > 0) total += static_cast<size_t>(n);
    return total == expected ? 0 : 1;
  });
  const pid_t writer = spawn(&writer_cg, [&] {
    close(p[0]);
    const std::vector<char> data(chunk, 'x');
    for (int i = 0; i < writes; ++i) {
      if (write(p[1], data.data(), data.size()) != static_cast<ssize_t>(chunk)) return 1;
    }
    return 0;
  });
  close(p[0]);
  close(p[1]);
  const bool wrote = wait_exit(writer) == 0;
  const bool read_all = wait_exit(reader) == 0;
  return wrote && read_all;
}

uint32_t self_ns(const char* name) {
  struct stat st {};
  const std::string path = std::string("/proc/self/ns/") + name;
  if (stat(path.c_str(), &st) != 0) return 0;
  return static_cast<uint32_t>(st.st_ino);
}

TempDir::TempDir(const std::string& parent) {
  std::filesystem::create_directories(parent);  // a minimal root (the 6.1 guest's) has no /var/tmp
  std::string tmpl = parent + "/ipctrace-test-XXXXXX";
  if (mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp " + tmpl + ": " + std::strerror(errno));
  path_ = tmpl;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

std::string TestCgroup::label() const { return path_.substr(cgroup2_root().size()); }

}  // namespace ipctrace::test
