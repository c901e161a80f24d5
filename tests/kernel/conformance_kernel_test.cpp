// The conformance patterns (README, "Conformance"): ways real programs move data that tracers
// have been caught out by, each a known workload with exact figures, on every hook setup.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "tracer_fixture.h"

using namespace ipctrace;
using namespace ipctrace::test;
using namespace std::chrono_literals;

namespace {

// Sends `fd` over the unix socket `sock` with one byte of data (SCM_RIGHTS).
bool send_fd(int sock, int fd) {
  char data = 'f';
  iovec iov{&data, 1};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof(control);
  cmsghdr* c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  std::memcpy(CMSG_DATA(c), &fd, sizeof(int));
  return sendmsg(sock, &msg, 0) == 1;
}

// Receives a descriptor sent with send_fd; -1 on failure.
int recv_fd(int sock) {
  char data = 0;
  iovec iov{&data, 1};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof(control);
  if (recvmsg(sock, &msg, 0) != 1) return -1;
  cmsghdr* c = CMSG_FIRSTHDR(&msg);
  if (c == nullptr || c->cmsg_type != SCM_RIGHTS) return -1;
  int fd = -1;
  std::memcpy(&fd, CMSG_DATA(c), sizeof(int));
  return fd;
}

// Moves process `pid` into `cg` (cgroup v2: its cgroup.procs).
bool move_to(const TestCgroup& cg, pid_t pid) {
  std::ofstream procs(cg.path() + "/cgroup.procs");
  procs << pid << std::flush;
  return procs.good();
}

// In a fresh network namespace (the caller has unshared one): loopback up.
bool loopback_up() {
  const int ctl = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  ifreq ifr{};
  std::strcpy(ifr.ifr_name, "lo");
  ifr.ifr_flags = IFF_UP | IFF_LOOPBACK | IFF_RUNNING;
  const bool ok = ctl >= 0 && ioctl(ctl, SIOCSIFFLAGS, &ifr) == 0;
  if (ctl >= 0) close(ctl);
  return ok;
}

void on_signal(int /*sig*/) {}

}  // namespace

// A peek (recv, recvmsg, recvmmsg) moves nothing; a datagram read into a short buffer is counted with the bytes it
// returned (the rest is discarded); with MSG_TRUNC the call returns, and is counted with, the
// datagram's whole length.
TEST_P(TracerTest, PeekedAndTruncatedDatagramReads) {
  TestCgroup cg("peek-trunc");
  Shared<uint64_t> reader;
  ASSERT_EQ(run_in(&cg,
                   [&] {
                     int sv[2];
                     if (socketpair(AF_UNIX, SOCK_DGRAM, 0, sv) != 0) return 1;
                     *reader = ino_of(sv[1]);
                     char buf[200] = {};
                     if (send(sv[0], buf, 100, 0) != 100) return 2;
                     if (recv(sv[1], buf, sizeof(buf), MSG_PEEK) != 100) return 3;  // not counted
                     if (recv(sv[1], buf, 10, 0) != 10) return 4;                   // 10 B, 90 discarded
                     if (send(sv[0], buf, 100, 0) != 100) return 5;
                     if (recv(sv[1], buf, 10, MSG_TRUNC) != 100) return 6;  // 100 B
                     // Peeks through recvmsg and recvmmsg (their own system calls), then a read.
                     if (send(sv[0], buf, 100, 0) != 100) return 7;
                     iovec iov{buf, sizeof(buf)};
                     msghdr msg{};
                     msg.msg_iov = &iov;
                     msg.msg_iovlen = 1;
                     if (recvmsg(sv[1], &msg, MSG_PEEK) != 100) return 8;  // not counted
                     mmsghdr mm{};
                     mm.msg_hdr = msg;
                     if (recvmmsg(sv[1], &mm, 1, MSG_PEEK, nullptr) != 1 || mm.msg_len != 100) return 9;
                     if (recvmsg(sv[1], &msg, 0) != 100) return 10;  // 100 B
                     return 0;
                   }),
            0);
  const Totals got = totals(cg, IPCT_KIND_UNIX_DGRAM, IPCT_DIR_RECV, obj(*reader));
  EXPECT_EQ(got.msgs, 3U);
  EXPECT_EQ(got.bytes, 210U);
  const Totals sent = totals(cg, IPCT_KIND_UNIX_DGRAM, IPCT_DIR_SEND);
  EXPECT_EQ(sent.msgs, 3U);
  EXPECT_EQ(sent.bytes, 300U);
}

// A read interrupted by a signal (EINTR, no SA_RESTART) moved nothing; the read after it is one.
TEST_P(TracerTest, AReadInterruptedByASignalCountsNothing) {
  TestCgroup writer_cg("eintr-w");
  TestCgroup reader_cg("eintr-r");
  int p[2];
  ASSERT_EQ(pipe(p), 0);
  const uint64_t ino = ino_of(p[0]);
  Shared<int> interrupted;
  const pid_t reader = spawn(&reader_cg, [&] {
    struct sigaction sa {};
    sa.sa_handler = on_signal;  // no SA_RESTART: the blocked read returns EINTR
    sigaction(SIGUSR1, &sa, nullptr);
    close(p[1]);
    char buf[64];
    ssize_t n = read(p[0], buf, sizeof(buf));
    if (n != -1 || errno != EINTR) return 1;
    *interrupted = 1;
    n = read(p[0], buf, sizeof(buf));
    return n == 50 ? 0 : 2;
  });
  // Signalled only once blocked in read(2): earlier, the signal would find no read to interrupt.
  for (int i = 0; i < 1000 && !blocked_in(reader, SYS_read); ++i) std::this_thread::sleep_for(10ms);
  std::this_thread::sleep_for(20ms);  // and asleep in it, not between the check and the wait
  if (!blocked_in(reader, SYS_read)) {
    kill(reader, SIGKILL);
    wait_exit(reader);
    FAIL() << "the reader never blocked in read(2)";
  }
  ASSERT_EQ(kill(reader, SIGUSR1), 0);
  for (int i = 0; i < 200 && *interrupted == 0; ++i) std::this_thread::sleep_for(10ms);
  ASSERT_EQ(*interrupted, 1);
  ASSERT_EQ(run_in(&writer_cg, [&] { return write_all(p[1], std::string(50, 'x').data(), 50) ? 0 : 1; }), 0);
  close(p[0]);
  close(p[1]);
  ASSERT_EQ(wait_exit(reader), 0);
  const Totals got = totals(reader_cg, IPCT_KIND_PIPE, IPCT_DIR_RECV, obj(ino));
  EXPECT_EQ(got.msgs, 1U);
  EXPECT_EQ(got.bytes, 50U);
}

// kill() of a process group is one signal to each process of the group.
TEST_P(TracerTest, ASignalToAProcessGroupIsOnePerProcess) {
  TestCgroup sender_cg("pgrp-s");
  TestCgroup target_cg("pgrp-t");
  Shared<int> ready;
  // A group leader and two children, in the target cgroup, each waiting for SIGUSR2.
  const pid_t leader = spawn(&target_cg, [&] {
    setpgid(0, 0);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR2);
    sigprocmask(SIG_BLOCK, &set, nullptr);
    pid_t kids[2];
    for (pid_t& k : kids) {
      k = fork();
      if (k == 0) {
        int sig = 0;
        sigwait(&set, &sig);
        _exit(sig == SIGUSR2 ? 0 : 1);
      }
    }
    __atomic_store_n(&*ready, 1, __ATOMIC_SEQ_CST);
    int sig = 0;
    sigwait(&set, &sig);
    int bad = sig == SIGUSR2 ? 0 : 1;
    for (pid_t k : kids) {
      int st = 0;
      waitpid(k, &st, 0);
      bad += WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : 1;
    }
    return bad;
  });
  for (int i = 0; i < 500 && __atomic_load_n(&*ready, __ATOMIC_SEQ_CST) == 0; ++i) std::this_thread::sleep_for(10ms);
  ASSERT_EQ(*ready, 1);
  ASSERT_EQ(run_in(&sender_cg, [&] { return kill(-leader, SIGUSR2) == 0 ? 0 : 1; }), 0);
  ASSERT_EQ(wait_exit(leader), 0);
  const Totals sent = totals(sender_cg, IPCT_KIND_SIGNAL, IPCT_DIR_SEND, [&](const ipct_flow_key& k) {
    return k.ch.obj.id == target_cg.id() && k.ch.obj.dev == SIGUSR2;
  });
  EXPECT_EQ(sent.msgs, 3U);
  EXPECT_EQ(sent.entries, 3U);  // one channel per target process
}

// A descriptor number closed and reused is another channel: each pipe keeps its own bytes.
TEST_P(TracerTest, AReusedDescriptorNumberIsAnotherChannel) {
  TestCgroup cg("fd-reuse");
  struct Inodes {
    uint64_t first, second;
    int first_fd, second_fd;
  };
  Shared<Inodes> ino;
  ASSERT_EQ(run_in(&cg,
                   [&] {
                     char buf[64] = {};
                     int p[2];
                     if (pipe(p) != 0) return 1;
                     ino->first = ino_of(p[0]);
                     ino->first_fd = p[1];
                     if (!write_all(p[1], buf, 10) || read(p[0], buf, sizeof(buf)) != 10) return 2;
                     close(p[0]);
                     close(p[1]);
                     if (pipe(p) != 0) return 3;
                     ino->second = ino_of(p[0]);
                     ino->second_fd = p[1];
                     if (!write_all(p[1], buf, 20) || read(p[0], buf, sizeof(buf)) != 20) return 4;
                     return 0;
                   }),
            0);
  ASSERT_NE(ino->first, ino->second);
  EXPECT_EQ(ino->first_fd, ino->second_fd);  // the same number, reused
  EXPECT_EQ(totals(cg, IPCT_KIND_PIPE, IPCT_DIR_SEND, obj(ino->first)).bytes, 10U);
  EXPECT_EQ(totals(cg, IPCT_KIND_PIPE, IPCT_DIR_SEND, obj(ino->second)).bytes, 20U);
  EXPECT_EQ(totals(cg, IPCT_KIND_PIPE, IPCT_DIR_RECV, obj(ino->first)).bytes, 10U);
  EXPECT_EQ(totals(cg, IPCT_KIND_PIPE, IPCT_DIR_RECV, obj(ino->second)).bytes, 20U);
}

// A pipe's write end passed to another cgroup with SCM_RIGHTS counts for the process that
// writes through it, not for the one that made it.
TEST_P(TracerTest, ADescriptorPassedWithScmRightsCountsForItsUser) {
  TestCgroup maker_cg("scm-maker");
  TestCgroup user_cg("scm-user");
  int sv[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
  Shared<uint64_t> ino;
  const pid_t user = spawn(&user_cg, [&] {
    close(sv[0]);
    const int fd = recv_fd(sv[1]);
    if (fd < 0) return 1;
    return write_all(fd, std::string(70, 'x').data(), 70) ? 0 : 2;
  });
  ASSERT_EQ(run_in(&maker_cg,
                   [&] {
                     close(sv[1]);
                     int p[2];
                     if (pipe(p) != 0) return 1;
                     *ino = ino_of(p[0]);
                     if (!send_fd(sv[0], p[1])) return 2;
                     close(p[1]);
                     char buf[128];
                     size_t total = 0;
                     for (ssize_t n; (n = read(p[0], buf, sizeof(buf))) > 0;) total += static_cast<size_t>(n);
                     return total == 70 ? 0 : 3;
                   }),
            0);
  close(sv[0]);
  close(sv[1]);
  ASSERT_EQ(wait_exit(user), 0);
  const Totals sent = totals(user_cg, IPCT_KIND_PIPE, IPCT_DIR_SEND, obj(*ino));
  EXPECT_EQ(sent.msgs, 1U);
  EXPECT_EQ(sent.bytes, 70U);
  EXPECT_EQ(totals(maker_cg, IPCT_KIND_PIPE, IPCT_DIR_SEND, obj(*ino)).entries, 0U);
  EXPECT_EQ(totals(maker_cg, IPCT_KIND_PIPE, IPCT_DIR_RECV, obj(*ino)).bytes, 70U);
  // The message that carried the descriptor: one byte on the unix socket.
  EXPECT_EQ(totals(maker_cg, IPCT_KIND_UNIX_STREAM, IPCT_DIR_SEND).bytes, 1U);
}

// A process moved to another cgroup counts there from the move on.
TEST_P(TracerTest, AProcessMovedToAnotherCgroupCountsThereFromThen) {
  TestCgroup before_cg("move-a");
  TestCgroup after_cg("move-b");
  int p[2];
  ASSERT_EQ(pipe(p), 0);
  const uint64_t ino = ino_of(p[0]);
  int go[2];
  ASSERT_EQ(pipe(go), 0);
  // The writer says its first write returned: the reader can take the data out before the
  // write's own exit (where the syscall paths count it), so reading it proves nothing.
  int written[2];
  ASSERT_EQ(pipe(written), 0);
  const pid_t writer = spawn(&before_cg, [&] {
    close(go[1]);
    close(written[0]);
    if (!write_all(p[1], std::string(10, 'x').data(), 10)) return 1;
    if (write(written[1], "w", 1) != 1) return 4;
    char c = 0;
    if (read(go[0], &c, 1) != 1) return 2;  // moved by now
    return write_all(p[1], std::string(20, 'x').data(), 20) ? 0 : 3;
  });
  close(go[0]);
  close(written[1]);
  char buf[64];
  ASSERT_EQ(read(p[0], buf, sizeof(buf)), 10);
  ASSERT_EQ(read(written[0], buf, 1), 1);
  close(written[0]);
  ASSERT_TRUE(move_to(after_cg, writer));
  ASSERT_EQ(write(go[1], "g", 1), 1);
  ASSERT_EQ(read(p[0], buf, sizeof(buf)), 20);
  close(go[1]);
  close(p[0]);
  close(p[1]);
  ASSERT_EQ(wait_exit(writer), 0);
  EXPECT_EQ(totals(before_cg, IPCT_KIND_PIPE, IPCT_DIR_SEND, obj(ino)).bytes, 10U);
  EXPECT_EQ(totals(after_cg, IPCT_KIND_PIPE, IPCT_DIR_SEND, obj(ino)).bytes, 20U);
}

// A process in a PID namespace of its own is recorded with its pid on the node (what the
// agent's /proc shows) and its PID namespace's inode.
TEST_P(TracerTest, AProcessInAPidNamespaceIsRecordedWithItsNodePid) {
  TestCgroup cg("pidns");
  int p[2];
  ASSERT_EQ(pipe(p), 0);
  const uint64_t ino = ino_of(p[0]);
  struct Ids {
    pid_t node_pid;
    pid_t inner_pid;
    uint32_t pid_ns;
  };
  Shared<Ids> ids;
  ASSERT_EQ(run_in(&cg,
                   [&] {
                     if (unshare(CLONE_NEWPID) != 0) return 1;
                     const pid_t child = fork();  // pid 1 of the new namespace
                     if (child == 0) {
                       ids->inner_pid = getpid();
                       _exit(write_all(p[1], std::string(30, 'x').data(), 30) ? 0 : 1);
                     }
                     ids->node_pid = child;
                     int st = 0;
                     waitpid(child, &st, 0);
                     char path[64];
                     std::snprintf(path, sizeof(path), "/proc/%d/ns/pid_for_children", getpid());
                     struct stat s {};
                     if (stat(path, &s) != 0) return 2;
                     ids->pid_ns = static_cast<uint32_t>(s.st_ino);
                     return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : 3;
                   }),
            0);
  EXPECT_EQ(ids->inner_pid, 1);
  const Totals sent = totals(cg, IPCT_KIND_PIPE, IPCT_DIR_SEND, obj(ino));
  EXPECT_EQ(sent.bytes, 30U);
  EXPECT_EQ(sent.tgid, static_cast<uint32_t>(ids->node_pid));
  EXPECT_EQ(sent.ns.pid, ids->pid_ns);
  close(p[0]);
  close(p[1]);
}

// exec keeps the descriptors it does not close, and the counting on them: 10 bytes before the
// exec, 20 by the program exec'd.
TEST_P(TracerTest, ExecKeepsCountingOnInheritedDescriptors) {
  TestCgroup cg("exec");
  int p[2];
  ASSERT_EQ(pipe(p), 0);
  const uint64_t ino = ino_of(p[0]);
  const std::string workload = IPCTRACE_TEST_WORKLOAD;
  const pid_t writer = spawn(&cg, [&] {
    if (!write_all(p[1], std::string(10, 'x').data(), 10)) return 1;
    if (dup2(p[1], STDOUT_FILENO) < 0) return 2;
    execl(workload.c_str(), workload.c_str(), "write", "20", static_cast<char*>(nullptr));
    return 3;
  });
  ASSERT_EQ(wait_exit(writer), 0);
  close(p[1]);
  char buf[64];
  size_t total = 0;
  for (ssize_t n; (n = read(p[0], buf, sizeof(buf))) > 0;) total += static_cast<size_t>(n);
  close(p[0]);
  ASSERT_EQ(total, 30U);
  const Totals sent = totals(cg, IPCT_KIND_PIPE, IPCT_DIR_SEND, obj(ino));
  EXPECT_EQ(sent.msgs, 2U);
  EXPECT_EQ(sent.bytes, 30U);
}

// TCP fast open: data sent with the SYN (sendto with MSG_FASTOPEN, the second connection, once
// the client holds a cookie) is one send, counted once, and read once.
TEST_P(TracerTest, TcpFastOpenDataIsCountedOnce) {
  TestCgroup cg("tfo");
  Shared<uint32_t> netns;
  Shared<int> in_syn;
  ASSERT_EQ(run_in(&cg,
                   [&] {
                     if (unshare(CLONE_NEWNET) != 0 || !loopback_up()) return 1;
                     *netns = self_ns("net");
                     std::ofstream("/proc/sys/net/ipv4/tcp_fastopen") << 3 << std::flush;  // client and server
                     const int listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
                     sockaddr_in addr{};
                     addr.sin_family = AF_INET;
                     addr.sin_port = htons(7000);
                     addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
                     const int qlen = 5;
                     if (setsockopt(listener, IPPROTO_TCP, TCP_FASTOPEN, &qlen, sizeof(qlen)) != 0) return 2;
                     if (bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) return 3;
                     if (listen(listener, 4) != 0) return 4;
                     char buf[256] = {};
                     for (int i = 0; i < 2; ++i) {
                       const int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
                       if (sendto(c, buf, 100, MSG_FASTOPEN, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 100)
                         return 5;
                       const int s = accept(listener, nullptr, nullptr);
                       if (s < 0) return 6;
                       size_t got = 0;
                       while (got < 100) {
                         const ssize_t n = read(s, buf, sizeof(buf));
                         if (n <= 0) return 7;
                         got += static_cast<size_t>(n);
                       }
                       tcp_info info{};
                       socklen_t len = sizeof(info);
                       if (i == 1 && getsockopt(c, IPPROTO_TCP, TCP_INFO, &info, &len) == 0)
                         *in_syn = (info.tcpi_options & TCPI_OPT_SYN_DATA) != 0;
                       close(s);
                       close(c);
                     }
                     return 0;
                   }),
            0);
  EXPECT_EQ(*in_syn, 1);  // the second connection's data did go with its SYN
  const Totals sent = totals(cg, IPCT_KIND_TCP, IPCT_DIR_SEND, [&](const ipct_flow_key& k) {
    return k.ch.inet.netns == *netns && k.ch.inet.rport == 7000;
  });
  EXPECT_EQ(sent.msgs, 2U);
  EXPECT_EQ(sent.bytes, 200U);
  const Totals got = totals(cg, IPCT_KIND_TCP, IPCT_DIR_RECV, [&](const ipct_flow_key& k) {
    return k.ch.inet.netns == *netns && k.ch.inet.lport == 7000;
  });
  EXPECT_EQ(got.bytes, 200U);
}
