// The open-files list (kernel/open_files.h), for real: a pipe, a FIFO, a unix socket pair, a
// POSIX queue and a TCP connection open in a child are listed with the identity the flow keys give them (inode and the
// kernel's device encoding), and are gone from the list once the child closed them.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <mqueue.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <array>
#include <cstring>
#include <string>

#include "base/fd.h"
#include "kernel/open_files.h"
#include "kernel_test.h"
#include "workload.h"

using namespace ipctrace;
using namespace ipctrace::test;

namespace {

// What flow keys carry as dev: the kernel's MKDEV (major << 20 | minor).
uint32_t kernel_dev(dev_t d) { return static_cast<uint32_t>((major(d) << 20) | minor(d)); }

struct Objects {
  struct stat pipe {};
  struct stat fifo {};
  struct stat sock0 {};
  struct stat sock1 {};
  struct stat queue {};
  ipct_chan_inet client{};  // a TCP connection's two ends, as flow keys carry them
  ipct_chan_inet server{};
};

// A TCP socket's connection as the flow keys carry it (bpf/sock_key_body.bpf.h): network
// namespace, family, ports in host byte order, IPv4 addresses in the first 4 bytes.
bool tcp_key(int fd, ipct_chan_inet& c) {
  sockaddr_in local{};
  sockaddr_in peer{};
  socklen_t ll = sizeof(local);
  socklen_t pl = sizeof(peer);
  struct stat ns {};
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&local), &ll) != 0 ||
      getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &pl) != 0 || stat("/proc/self/ns/net", &ns) != 0)
    return false;
  c.netns = static_cast<uint32_t>(ns.st_ino);
  c.family = AF_INET;
  c.lport = ntohs(local.sin_port);
  c.rport = ntohs(peer.sin_port);
  std::memcpy(c.laddr, &local.sin_addr, 4);
  std::memcpy(c.raddr, &peer.sin_addr, 4);
  return true;
}

}  // namespace

TEST(OpenFiles, ListsWhatAProcessHoldsAndNotWhatItClosed) {
  IPCTRACE_REQUIRE_KERNEL();
  auto lister = OpenFileLister::load();
  ASSERT_TRUE(lister) << lister.error().message();

  TempDir dir;
  const std::string fifo = dir.path() + "/fifo";
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  const std::string queue = "/ipctrace-open-files-" + std::to_string(getpid());
  // The child opens everything, reports the inodes through a pipe of the test's, waits on an
  // eventfd (not a channel) and exits, closing them all.
  std::array<int, 2> report{-1, -1};
  ASSERT_EQ(pipe2(report.data(), O_CLOEXEC), 0);
  const Fd report_r(report[0]);
  Fd report_w(report[1]);
  const Fd go(eventfd(0, EFD_CLOEXEC));
  ASSERT_GE(go.get(), 0);
  const pid_t child = spawn(nullptr, [&] {
    std::array<int, 2> p{};
    std::array<int, 2> s{};
    Objects o;
    const int f = open(fifo.c_str(), O_RDWR);
    mq_attr attr{};
    attr.mq_maxmsg = 4;
    attr.mq_msgsize = 16;
    const mqd_t q = mq_open(queue.c_str(), O_RDWR | O_CREAT | O_EXCL, 0600, &attr);
    if (pipe(p.data()) != 0 || socketpair(AF_UNIX, SOCK_STREAM, 0, s.data()) != 0 || f < 0 || q < 0) return 1;
    if (fstat(p[0], &o.pipe) != 0 || fstat(f, &o.fifo) != 0 || fstat(s[0], &o.sock0) != 0 ||
        fstat(s[1], &o.sock1) != 0 || fstat(q, &o.queue) != 0)
      return 2;
    int client = -1;
    int server = -1;
    if (!tcp_loopback_connection(client, server) || !tcp_key(client, o.client) || !tcp_key(server, o.server)) return 5;
    if (write(report_w.get(), &o, sizeof(o)) != static_cast<ssize_t>(sizeof(o))) return 3;
    uint64_t v = 0;
    if (read(go.get(), &v, sizeof(v)) != static_cast<ssize_t>(sizeof(v))) return 4;
    return 0;
  });
  report_w.reset();
  Objects o;
  const bool reported = read(report_r.get(), &o, sizeof(o)) == static_cast<ssize_t>(sizeof(o));
  auto open = (*lister)->list();
  const uint64_t one = 1;
  const bool released = write(go.get(), &one, sizeof(one)) == static_cast<ssize_t>(sizeof(one));
  const int status = wait_exit(child);
  mq_unlink(queue.c_str());
  ASSERT_TRUE(reported && released);
  ASSERT_EQ(status, 0);
  ASSERT_TRUE(open) << open.error().message();
  EXPECT_TRUE(open->has_file(kernel_dev(o.pipe.st_dev), o.pipe.st_ino));
  EXPECT_TRUE(open->has_file(kernel_dev(o.fifo.st_dev), o.fifo.st_ino));
  EXPECT_TRUE(open->has_file(kernel_dev(o.queue.st_dev), o.queue.st_ino));
  EXPECT_TRUE(open->has_socket(o.sock0.st_ino));
  EXPECT_TRUE(open->has_socket(o.sock1.st_ino));
  EXPECT_TRUE(open->has_tcp(o.client));
  EXPECT_TRUE(open->has_tcp(o.server));
  ipct_chan_inet other = o.client;
  other.rport ^= 1;  // another connection
  EXPECT_FALSE(open->has_tcp(other));
  // Another device with the same inode number is another object.
  EXPECT_FALSE(open->has_file(kernel_dev(o.pipe.st_dev) + 1, o.pipe.st_ino));
  EXPECT_GE(open->descriptors, 8U);  // the child's eight, besides everyone else's

  auto after = (*lister)->list();
  ASSERT_TRUE(after) << after.error().message();
  EXPECT_FALSE(after->has_file(kernel_dev(o.pipe.st_dev), o.pipe.st_ino));
  EXPECT_FALSE(after->has_file(kernel_dev(o.fifo.st_dev), o.fifo.st_ino));
  EXPECT_FALSE(after->has_file(kernel_dev(o.queue.st_dev), o.queue.st_ino));
  EXPECT_FALSE(after->has_socket(o.sock0.st_ino));
  EXPECT_FALSE(after->has_socket(o.sock1.st_ino));
  EXPECT_FALSE(after->has_tcp(o.client));
  EXPECT_FALSE(after->has_tcp(o.server));
}

// Outside the initial PID namespace the list would miss processes: load() refuses, saying why.
TEST(OpenFiles, RefusesOutsideTheInitialPidNamespace) {
  IPCTRACE_REQUIRE_KERNEL();
  ASSERT_TRUE(in_initial_pid_namespace());
  const pid_t child = spawn(nullptr, [] {
    if (unshare(CLONE_NEWPID) != 0) return 10;
    const pid_t inner = fork();
    if (inner < 0) return 11;
    if (inner == 0) {
      auto l = OpenFileLister::load();
      const bool says_why = !l && l.error().message().find("initial PID namespace") != std::string::npos;
      _exit(says_why && !in_initial_pid_namespace() ? 0 : 1);
    }
    return wait_exit(inner);
  });
  EXPECT_EQ(wait_exit(child), 0);
}
