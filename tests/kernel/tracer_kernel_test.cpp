// The kernel side, for real: each test runs a known workload in fresh cgroups (and fresh IPC
// namespaces where it matters) and asserts the exact messages and bytes the programs counted
// for that cgroup and channel, and the namespace ids they recorded.
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <liburing.h>
#include <malloc.h>
#include <mqueue.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/udp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/msg.h>
#include <sys/prctl.h>
#include <sys/sendfile.h>
#include <sys/shm.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <iterator>
#include <map>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <tuple>
#include <vector>

#include "kernel/kinds.h"
#include "kernel/probe.h"
#include "kernel/tracer.h"
#include "kernel_test.h"
#include "model/flows.h"
#include "tracer_fixture.h"
#include "workload.h"

using namespace ipctrace;
using namespace ipctrace::test;

TEST_P(TracerTest, PipeTenThousandBytesBetweenTwoCgroups) {
  TestCgroup writer_cg("pipe-w");
  TestCgroup reader_cg("pipe-r");
  int p[2];
  ASSERT_EQ(pipe(p), 0);
  const uint64_t ino = ino_of(p[0]);
  struct Result {
    int reads;
    NsIds ns;
    pid_t pid;
  };
  Shared<Result> res;

  const pid_t reader = spawn(&reader_cg, [&] {
    close(p[1]);
    char buf[4096];
    ssize_t n;
    while ((n = read(p[0], buf, sizeof(buf))) > 0) res->reads++;
    return n == 0 ? 0 : 1;
  });
  const pid_t writer = spawn(&writer_cg, [&] {
    close(p[0]);
    res->ns = own_ns();
    res->pid = getpid();
    const std::vector<char> chunk(1000, 'x');
    for (int i = 0; i < 10; ++i) {
      if (!write_all(p[1], chunk.data(), chunk.size())) return 1;
    }
    return 0;
  });
  close(p[0]);
  close(p[1]);
  ASSERT_EQ(wait_exit(writer), 0);
  ASSERT_EQ(wait_exit(reader), 0);

  const Totals sent = totals(writer_cg, IPCT_KIND_PIPE, IPCT_DIR_SEND, obj(ino));
  EXPECT_EQ(sent.msgs, 10U);
  EXPECT_EQ(sent.bytes, 10000U);
  const Totals got = totals(reader_cg, IPCT_KIND_PIPE, IPCT_DIR_RECV, obj(ino));
  EXPECT_EQ(got.bytes, 10000U);
  EXPECT_EQ(got.msgs, static_cast<uint64_t>(res->reads));
  // Nothing counted the other way round.
  EXPECT_EQ(totals(writer_cg, IPCT_KIND_PIPE, IPCT_DIR_RECV).msgs, 0U);
  EXPECT_EQ(totals(reader_cg, IPCT_KIND_PIPE, IPCT_DIR_SEND).msgs, 0U);
  // The identity recorded with the flow is the writer's.
  EXPECT_EQ(sent.tgid, static_cast<uint32_t>(res->pid));
  EXPECT_EQ(sent.ns.ipc, res->ns.ipc);
  EXPECT_EQ(sent.ns.net, res->ns.net);
  EXPECT_EQ(sent.ns.pid, res->ns.pid);
  EXPECT_EQ(sent.ns.mnt, res->ns.mnt);
  EXPECT_EQ(sent.ns.uts, res->ns.uts);
  EXPECT_EQ(sent.ns.cgroup, res->ns.cgroup);
  EXPECT_EQ(sent.ns.user, res->ns.user);
}

TEST_P(TracerTest, WritevReadvWithSeveralBuffersAreOneMessage) {
  TestCgroup cg("vec");
  Shared<uint64_t> ino;
  ASSERT_EQ(run_in(&cg,
                   [&] {
                     int p[2];
                     if (pipe(p) != 0) return 1;
                     *ino = ino_of(p[0]);
                     char a[100], b[200], c[300];
                     iovec out[3] = {{a, sizeof(a)}, {b, sizeof(b)}, {c, sizeof(c)}};
                     if (writev(p[1], out, 3) != 600) return 2;
                     char d[250], e[350];
                     iovec in[2] = {{d, sizeof(d)}, {e, sizeof(e)}};
                     return readv(p[0], in, 2) == 600 ? 0 : 3;
                   }),
            0);
  const Totals sent = totals(cg, IPCT_KIND_PIPE, IPCT_DIR_SEND, obj(*ino));
  EXPECT_EQ(sent.msgs, 1U);
  EXPECT_EQ(sent.bytes, 600U);
  const Totals got = totals(cg, IPCT_KIND_PIPE, IPCT_DIR_RECV, obj(*ino));
  EXPECT_EQ(got.msgs, 1U);
  EXPECT_EQ(got.bytes, 600U);
}

TEST_P(TracerTest, PartialWriteToFullPipeCountsWhatMoved) {
  TestCgroup cg("partial");
  Shared<uint64_t> ino;
  ASSERT_EQ(run_in(&cg,
                   [&] {
                     int p[2];
                     if (pipe2(p, O_NONBLOCK) != 0) return 1;
                     *ino = ino_of(p[0]);
                     if (fcntl(p[1], F_SETPIPE_SZ, 4096) != 4096) return 2;
                     const std::vector<char> big(10000, 'y');
                     if (write(p[1], big.data(), big.size()) != 4096) return 3;                   // partial
                     if (write(p[1], big.data(), big.size()) != -1 || errno != EAGAIN) return 4;  // full: nothing
                     return 0;
                   }),
            0);
  const Totals sent = totals(cg, IPCT_KIND_PIPE, IPCT_DIR_SEND, obj(*ino));
  EXPECT_EQ(sent.msgs, 1U);
  EXPECT_EQ(sent.bytes, 4096U);
}

TEST_P(TracerTest, FifoIsToldApartFromPipe) {
  TestCgroup writer_cg("fifo-w");
  TestCgroup reader_cg("fifo-r");
  char dir[] = "/tmp/ipctrace-test-XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  const std::string path = std::string(dir) + "/fifo";
  ASSERT_EQ(mkfifo(path.c_str(), 0600), 0);
  struct stat st {};
  ASSERT_EQ(stat(path.c_str(), &st), 0);

  const pid_t reader = spawn(&reader_cg, [&] {
    const int fd = open(path.c_str(), O_RDONLY);
    char buf[1024];
    ssize_t n;
    size_t total = 0;
    while ((n = read(fd, buf, sizeof(buf))) > 0) total += static_cast<size_t>(n);
    return total == 3500 ? 0 : 1;
  });
  const pid_t writer = spawn(&writer_cg, [&] {
    const int fd = open(path.c_str(), O_WRONLY);
    const std::vector<char> chunk(700, 'f');
    for (int i = 0; i < 5; ++i) {
      if (!write_all(fd, chunk.data(), chunk.size())) return 1;
    }
    return 0;
  });
  const int wrc = wait_exit(writer);
  const int rrc = wait_exit(reader);
  unlink(path.c_str());
  rmdir(dir);
  ASSERT_EQ(wrc, 0);
  ASSERT_EQ(rrc, 0);

  auto same_fifo = [&](const ipct_flow_key& k) {
    return k.ch.obj.id == st.st_ino && kernel_dev_to_user(k.ch.obj.dev) == st.st_dev;
  };
  const Totals sent = totals(writer_cg, IPCT_KIND_FIFO, IPCT_DIR_SEND, same_fifo);
  EXPECT_EQ(sent.msgs, 5U);
  EXPECT_EQ(sent.bytes, 3500U);
  EXPECT_EQ(totals(reader_cg, IPCT_KIND_FIFO, IPCT_DIR_RECV, same_fifo).bytes, 3500U);
  EXPECT_EQ(totals(writer_cg, IPCT_KIND_PIPE, IPCT_DIR_SEND).msgs, 0U);
}

TEST_P(TracerTest, SpliceAndTeeBetweenPipes) {
  TestCgroup cg("splice");
  struct Inodes {
    uint64_t a, b, c;
  };
  Shared<Inodes> ino;
  ASSERT_EQ(run_in(&cg,
                   [&] {
                     int a[2], b[2], c[2];
                     if (pipe(a) != 0 || pipe(b) != 0 || pipe(c) != 0) return 1;
                     *ino = {ino_of(a[0]), ino_of(b[0]), ino_of(c[0])};
                     const std::vector<char> data(500, 's');
                     if (!write_all(a[1], data.data(), data.size())) return 2;
                     if (tee(a[0], c[1], 500, 0) != 500) return 3;  // copies a -> c, a keeps its data
                     if (splice(a[0], nullptr, b[1], nullptr, 500, 0) != 500) return 4;  // moves a -> b
                     char buf[500];
                     return read(b[0], buf, sizeof(buf)) == 500 ? 0 : 5;
                   }),
            0);
  EXPECT_EQ(totals(cg, IPCT_KIND_PIPE, IPCT_DIR_SEND, obj(ino->a)).bytes, 500U);  // write
  EXPECT_EQ(totals(cg, IPCT_KIND_PIPE, IPCT_DIR_RECV, obj(ino->a)).msgs, 1U);     // splice out
  EXPECT_EQ(totals(cg, IPCT_KIND_PIPE, IPCT_DIR_SEND, obj(ino->b)).msgs, 1U);     // splice in
  EXPECT_EQ(totals(cg, IPCT_KIND_PIPE, IPCT_DIR_RECV, obj(ino->b)).bytes, 500U);  // read
  EXPECT_EQ(totals(cg, IPCT_KIND_PIPE, IPCT_DIR_SEND, obj(ino->c)).bytes, 500U);  // tee in
  EXPECT_EQ(totals(cg, IPCT_KIND_PIPE, IPCT_DIR_RECV, obj(ino->c)).msgs, 0U);
}

// splice into and out of sockets, one call at a time moving more than the 16 pipe buffers that
// splice_to_socket() (Linux 6.5) hands to one sendmsg: each successful call is one message, at
// the socket's end and at the pipe's, whatever the hook setup. A TCP connection and a unix
// stream socketpair, each spliced from a pipe in one cgroup and into a pipe in another; and UDP
// datagrams spliced out of a socket, one per call.
namespace {

// A TCP listener on a free loopback port (its address in `addr`); -1 on failure.
int tcp_listener(sockaddr_in& addr, int backlog) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  addr = {};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t alen = sizeof(addr);
  if (fd < 0 || bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 || listen(fd, backlog) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &alen) != 0) {
    if (fd >= 0) close(fd);
    return -1;
  }
  return fd;
}

constexpr size_t kSpliceBytes = size_t{40} * 4096;  // 40 pipe buffers of one page each

// Splices `total` bytes from `in` to `out`, each call asking for all that is left; the number of
// successful calls, or -1.
long splice_all(int in, int out, size_t total) {
  long calls = 0;
  size_t moved = 0;
  while (moved < total) {
    const ssize_t n = splice(in, nullptr, out, nullptr, total - moved, SPLICE_F_MOVE);
    if (n <= 0) return -1;
    moved += static_cast<size_t>(n);
    ++calls;
  }
  return calls;
}

struct SpliceCalls {
  long out_of_pipe = 0;  // pipe -> socket, in the sending cgroup
  long into_pipe = 0;    // socket -> pipe, in the receiving cgroup
  uint64_t send_pipe = 0, recv_pipe = 0;
};

// The sender fills a 1 MiB pipe with kSpliceBytes in page-sized writes and splices it into
// `tx`; the receiver splices `rx` into a pipe of its own and drains it with read().
void splice_through(int tx, int rx, const TestCgroup& sender_cg, const TestCgroup& receiver_cg,
                    Shared<SpliceCalls>& calls) {
  const pid_t receiver = spawn(&receiver_cg, [&] {
    close(tx);
    int p[2];
    if (pipe(p) != 0 || fcntl(p[1], F_SETPIPE_SZ, 1 << 20) < 0) return 1;
    calls->recv_pipe = ino_of(p[0]);
    size_t moved = 0;
    std::vector<char> buf(kSpliceBytes);
    while (moved < kSpliceBytes) {
      const ssize_t n = splice(rx, nullptr, p[1], nullptr, kSpliceBytes - moved, SPLICE_F_MOVE);
      if (n <= 0) return 2;
      ++calls->into_pipe;
      if (read(p[0], buf.data(), buf.size()) != n) return 3;
      moved += static_cast<size_t>(n);
    }
    return 0;
  });
  const pid_t sender = spawn(&sender_cg, [&] {
    close(rx);
    int p[2];
    if (pipe(p) != 0 || fcntl(p[1], F_SETPIPE_SZ, 1 << 20) < 0) return 1;
    calls->send_pipe = ino_of(p[0]);
    const std::vector<char> page(4096, 'p');
    for (size_t i = 0; i < kSpliceBytes / page.size(); ++i) {
      if (!write_all(p[1], page.data(), page.size())) return 2;
    }
    calls->out_of_pipe = splice_all(p[0], tx, kSpliceBytes);
    return calls->out_of_pipe > 0 ? 0 : 3;
  });
  EXPECT_EQ(wait_exit(sender), 0);
  EXPECT_EQ(wait_exit(receiver), 0);
}

}  // namespace

TEST_P(TracerTest, SpliceWithASocketAtEitherEnd) {
  TestCgroup sender_cg("splice-sock-s");
  TestCgroup receiver_cg("splice-sock-r");
  Shared<SpliceCalls> tcp_calls;
  Shared<SpliceCalls> unix_calls;

  sockaddr_in addr{};
  const int listener = tcp_listener(addr, 1);
  ASSERT_GE(listener, 0);
  const int client = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_EQ(connect(client, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  const int server = accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
  ASSERT_GE(server, 0);
  close(listener);
  sockaddr_in local{};
  socklen_t llen = sizeof(local);
  ASSERT_EQ(getsockname(client, reinterpret_cast<sockaddr*>(&local), &llen), 0);
  const uint16_t client_port = ntohs(local.sin_port);
  const uint16_t server_port = ntohs(addr.sin_port);
  splice_through(client, server, sender_cg, receiver_cg, tcp_calls);
  close(client);
  close(server);

  int sv[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  const uint64_t a = ino_of(sv[0]);
  const uint64_t b = ino_of(sv[1]);
  splice_through(sv[0], sv[1], sender_cg, receiver_cg, unix_calls);
  close(sv[0]);
  close(sv[1]);

  const auto tcp_tx = [&](const ipct_flow_key& k) {
    return k.ch.inet.lport == client_port && k.ch.inet.rport == server_port;
  };
  const auto tcp_rx = [&](const ipct_flow_key& k) {
    return k.ch.inet.lport == server_port && k.ch.inet.rport == client_port;
  };
  for (const auto& [kind, calls, tx, rx] :
       {std::tuple{IPCT_KIND_TCP, &tcp_calls, std::function<bool(const ipct_flow_key&)>(tcp_tx),
                   std::function<bool(const ipct_flow_key&)>(tcp_rx)},
        std::tuple{IPCT_KIND_UNIX_STREAM, &unix_calls,
                   std::function<bool(const ipct_flow_key&)>(
                       [&](const ipct_flow_key& k) { return k.ch.obj.id == a && k.ch.obj.peer == b; }),
                   obj(b)}}) {
    SCOPED_TRACE(kind_name(kind));
    const SpliceCalls& c = **calls;
    const Totals sent = totals(sender_cg, kind, IPCT_DIR_SEND, tx);
    EXPECT_EQ(sent.msgs, static_cast<uint64_t>(c.out_of_pipe));
    EXPECT_EQ(sent.bytes, kSpliceBytes);
    const Totals got = totals(receiver_cg, kind, IPCT_DIR_RECV, rx);
    EXPECT_EQ(got.msgs, static_cast<uint64_t>(c.into_pipe));
    EXPECT_EQ(got.bytes, kSpliceBytes);
    // The pipes' ends: 40 writes then the splices out; the splices in then as many reads.
    const Totals spliced_out = totals(sender_cg, IPCT_KIND_PIPE, IPCT_DIR_RECV, obj(c.send_pipe));
    EXPECT_EQ(spliced_out.msgs, static_cast<uint64_t>(c.out_of_pipe));
    EXPECT_EQ(spliced_out.bytes, kSpliceBytes);
    EXPECT_EQ(totals(sender_cg, IPCT_KIND_PIPE, IPCT_DIR_SEND, obj(c.send_pipe)).msgs, 40U);
    const Totals spliced_in = totals(receiver_cg, IPCT_KIND_PIPE, IPCT_DIR_SEND, obj(c.recv_pipe));
    EXPECT_EQ(spliced_in.msgs, static_cast<uint64_t>(c.into_pipe));
    EXPECT_EQ(spliced_in.bytes, kSpliceBytes);
    EXPECT_EQ(totals(receiver_cg, IPCT_KIND_PIPE, IPCT_DIR_RECV, obj(c.recv_pipe)).bytes, kSpliceBytes);
  }
}

// Datagrams spliced out of a UDP socket, one per call (the socket's read_iter, through
// sock_recvmsg(), which the socket tracepoints see): three calls, three messages, at the socket.
TEST_P(TracerTest, SpliceOutOfADatagramSocket) {
  TestCgroup cg("splice-udp");
  const int receiver = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(receiver, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  socklen_t alen = sizeof(addr);
  ASSERT_EQ(getsockname(receiver, reinterpret_cast<sockaddr*>(&addr), &alen), 0);
  const uint16_t port = ntohs(addr.sin_port);
  Shared<uint64_t> pipe_ino;
  ASSERT_EQ(run_in(&cg,
                   [&] {
                     const int s = socket(AF_INET, SOCK_DGRAM, 0);
                     if (connect(s, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) return 1;
                     int p[2];
                     if (pipe(p) != 0) return 2;
                     *pipe_ino = ino_of(p[0]);
                     char buf[64] = {};
                     for (const size_t len : {10U, 20U, 30U}) {
                       if (send(s, buf, len, 0) != static_cast<ssize_t>(len)) return 3;
                       if (splice(receiver, nullptr, p[1], nullptr, sizeof(buf), 0) != static_cast<ssize_t>(len)) {
                         return 4;
                       }
                       if (read(p[0], buf, sizeof(buf)) != static_cast<ssize_t>(len)) return 5;
                     }
                     return 0;
                   }),
            0);
  close(receiver);
  const Totals got =
      totals(cg, IPCT_KIND_UDP, IPCT_DIR_RECV, [&](const ipct_flow_key& k) { return k.ch.inet.lport == port; });
  EXPECT_EQ(got.msgs, 3U);
  EXPECT_EQ(got.bytes, 60U);
  const Totals into_pipe = totals(cg, IPCT_KIND_PIPE, IPCT_DIR_SEND, obj(*pipe_ino));
  EXPECT_EQ(into_pipe.msgs, 3U);
  EXPECT_EQ(into_pipe.bytes, 60U);
}

// sendfile from a file into a TCP socket, a unix stream socket and (Linux 5.12+) a pipe: one
// message per successful call at the receiving descriptor, as the socket or pipe sees it.
TEST_P(TracerTest, SendfileIntoASocketAndAPipe) {
  TestCgroup cg("sendfile");
  constexpr size_t kFileBytes = 100000;
  char path[] = "/tmp/ipctrace-sendfile-XXXXXX";
  const int file = mkstemp(path);
  ASSERT_GE(file, 0);
  unlink(path);
  const std::vector<char> data(kFileBytes, 'f');
  ASSERT_TRUE(write_all(file, data.data(), data.size()));

  sockaddr_in addr{};
  const int listener = tcp_listener(addr, 1);
  ASSERT_GE(listener, 0);
  const int client = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_EQ(connect(client, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  const int server = accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
  ASSERT_GE(server, 0);
  close(listener);
  const uint16_t server_port = ntohs(addr.sin_port);
  int sv[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  const uint64_t ua = ino_of(sv[0]);
  struct Result {
    long tcp_calls, unix_calls;
    uint64_t pipe;
  };
  Shared<Result> r;
  // Drains both sockets while the sender's calls run (they block on full send buffers).
  const pid_t drain = fork();
  if (drain == 0) {
    std::vector<char> buf(65536);
    size_t got = 0;
    while (got < 2 * kFileBytes) {
      pollfd fds[2] = {{server, POLLIN, 0}, {sv[1], POLLIN, 0}};
      if (poll(fds, 2, 10000) <= 0) _exit(1);
      for (const pollfd& f : fds) {
        if (f.revents & POLLIN) {
          const ssize_t n = read(f.fd, buf.data(), buf.size());
          if (n <= 0) _exit(2);
          got += static_cast<size_t>(n);
        }
      }
    }
    _exit(0);
  }
  ASSERT_GT(drain, 0);
  ASSERT_EQ(
      run_in(&cg,
             [&] {
               for (const auto& [out, count] : {std::pair{client, &r->tcp_calls}, std::pair{sv[0], &r->unix_calls}}) {
                 off_t off = 0;
                 while (off < static_cast<off_t>(kFileBytes)) {
                   if (sendfile(out, file, &off, kFileBytes - static_cast<size_t>(off)) <= 0) return 1;
                   ++*count;
                 }
               }
               int p[2];
               if (pipe(p) != 0 || fcntl(p[1], F_SETPIPE_SZ, 1 << 20) < 0) return 2;
               r->pipe = ino_of(p[0]);
               off_t off = 0;
               return sendfile(p[1], file, &off, 30000) == 30000 ? 0 : 3;
             }),
      0);
  EXPECT_EQ(wait_exit(drain), 0);
  close(file);
  close(client);
  close(server);
  close(sv[0]);
  close(sv[1]);

  const Totals tcp =
      totals(cg, IPCT_KIND_TCP, IPCT_DIR_SEND, [&](const ipct_flow_key& k) { return k.ch.inet.rport == server_port; });
  EXPECT_EQ(tcp.msgs, static_cast<uint64_t>(r->tcp_calls));
  EXPECT_EQ(tcp.bytes, kFileBytes);
  const Totals unix_sent = totals(cg, IPCT_KIND_UNIX_STREAM, IPCT_DIR_SEND, obj(ua));
  EXPECT_EQ(unix_sent.msgs, static_cast<uint64_t>(r->unix_calls));
  EXPECT_EQ(unix_sent.bytes, kFileBytes);
  const Totals into_pipe = totals(cg, IPCT_KIND_PIPE, IPCT_DIR_SEND, obj(r->pipe));
  EXPECT_EQ(into_pipe.msgs, 1U);
  EXPECT_EQ(into_pipe.bytes, 30000U);
}

// io_uring: data moved by requests, not by read/write/send/recv calls. One message per
// successful completion, at the right end, on every hook setup (the pipe's functions and the
// socket tracepoints see io_uring's reads and writes; sys_exit and the syscall functions do not,
// and io_uring's completion program counts for them).
namespace {

// Submits the one request `prep` fills and waits for its completion; its result, or -errno.
template <typename Prep>
int uring_do(io_uring* ring, Prep prep) {
  io_uring_sqe* sqe = io_uring_get_sqe(ring);
  if (sqe == nullptr) return -EBUSY;
  prep(sqe);
  if (const int n = io_uring_submit(ring); n != 1) return n < 0 ? n : -EIO;
  io_uring_cqe* cqe = nullptr;
  if (const int err = io_uring_wait_cqe(ring, &cqe); err != 0) return err;
  const int res = cqe->res;
  io_uring_cqe_seen(ring, cqe);
  return res;
}

}  // namespace

TEST_P(TracerTest, IoUringReadsWritesSendsAndReceives) {
  TestCgroup writer_cg("uring-w");
  TestCgroup reader_cg("uring-r");
  int p[2];
  ASSERT_EQ(pipe2(p, O_CLOEXEC), 0);
  int sv[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  const uint64_t pipe_ino = ino_of(p[0]);
  const uint64_t a = ino_of(sv[0]);
  const uint64_t b = ino_of(sv[1]);
  // The writer: IORING_OP_WRITE 100 B and IORING_OP_WRITEV 60 + 40 B into the pipe; IORING_OP_SEND
  // 300 B, IORING_OP_SENDMSG 2 x 100 B and, through an io-wq worker (IOSQE_ASYNC), IORING_OP_SEND
  // 100 B into the socket.
  ASSERT_EQ(
      run_in(&writer_cg,
             [&] {
               io_uring ring{};
               if (io_uring_queue_init(4, &ring, 0) != 0) return 1;
               char buf[300] = {};
               iovec iov[2] = {{buf, 60}, {buf + 60, 40}};
               int rc = 0;
               if (uring_do(&ring, [&](io_uring_sqe* s) { io_uring_prep_write(s, p[1], buf, 100, 0); }) != 100) {
                 rc = 2;
               } else if (uring_do(&ring, [&](io_uring_sqe* s) { io_uring_prep_writev(s, p[1], iov, 2, 0); }) != 100) {
                 rc = 3;
               } else if (uring_do(&ring, [&](io_uring_sqe* s) { io_uring_prep_send(s, sv[0], buf, 300, 0); }) != 300) {
                 rc = 4;
               } else {
                 iovec two[2] = {{buf, 100}, {buf + 100, 100}};
                 msghdr msg{};
                 msg.msg_iov = two;
                 msg.msg_iovlen = 2;
                 if (uring_do(&ring, [&](io_uring_sqe* s) { io_uring_prep_sendmsg(s, sv[0], &msg, 0); }) != 200) {
                   rc = 5;
                 } else if (uring_do(&ring, [&](io_uring_sqe* s) {
                              io_uring_prep_send(s, sv[0], buf, 100, 0);
                              s->flags |= IOSQE_ASYNC;  // run by an io-wq worker of this process
                            }) != 100) {
                   rc = 6;
                 }
               }
               io_uring_queue_exit(&ring);
               return rc;
             }),
      0);
  // The reader: IORING_OP_READ 150 B then read(2) 50 B from the pipe; IORING_OP_RECV 300 B,
  // IORING_OP_READV 200 B, then IORING_OP_RECV 100 B through an io-wq worker.
  ASSERT_EQ(
      run_in(&reader_cg,
             [&] {
               io_uring ring{};
               if (io_uring_queue_init(4, &ring, 0) != 0) return 1;
               char buf[512];
               int rc = 0;
               iovec iov[1] = {{buf, 200}};
               if (uring_do(&ring, [&](io_uring_sqe* s) { io_uring_prep_read(s, p[0], buf, 150, 0); }) != 150) {
                 rc = 2;
               } else if (read(p[0], buf, sizeof(buf)) != 50) {
                 rc = 3;
               } else if (uring_do(&ring, [&](io_uring_sqe* s) { io_uring_prep_recv(s, sv[1], buf, 300, 0); }) != 300) {
                 rc = 4;
               } else if (uring_do(&ring, [&](io_uring_sqe* s) { io_uring_prep_readv(s, sv[1], iov, 1, 0); }) != 200) {
                 rc = 5;
               } else if (uring_do(&ring, [&](io_uring_sqe* s) {
                            io_uring_prep_recv(s, sv[1], buf, 100, 0);
                            s->flags |= IOSQE_ASYNC;
                          }) != 100) {
                 rc = 6;
               }
               io_uring_queue_exit(&ring);
               return rc;
             }),
      0);
  close(p[0]);
  close(p[1]);
  close(sv[0]);
  close(sv[1]);

  const Totals written = totals(writer_cg, IPCT_KIND_PIPE, IPCT_DIR_SEND, obj(pipe_ino));
  EXPECT_EQ(written.msgs, 2U);
  EXPECT_EQ(written.bytes, 200U);
  const Totals read_out = totals(reader_cg, IPCT_KIND_PIPE, IPCT_DIR_RECV, obj(pipe_ino));
  EXPECT_EQ(read_out.msgs, 2U);
  EXPECT_EQ(read_out.bytes, 200U);
  const Totals sent = totals(writer_cg, IPCT_KIND_UNIX_STREAM, IPCT_DIR_SEND,
                             [&](const ipct_flow_key& k) { return k.ch.obj.id == a && k.ch.obj.peer == b; });
  EXPECT_EQ(sent.msgs, 3U);
  EXPECT_EQ(sent.bytes, 600U);
  const Totals got = totals(reader_cg, IPCT_KIND_UNIX_STREAM, IPCT_DIR_RECV, obj(b));
  EXPECT_EQ(got.msgs, 3U);
  EXPECT_EQ(got.bytes, 600U);
}

// IORING_OP_SPLICE between two pipes and from a unix stream socket into a pipe, IORING_OP_TEE
// between two pipes: at each end that moved bytes, once per request, as the syscalls are.
TEST_P(TracerTest, IoUringSpliceAndTee) {
  TestCgroup cg("uring-splice");
  struct Inodes {
    uint64_t a, b, c;
  };
  Shared<Inodes> ino;
  int sv[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  const uint64_t sock_b = ino_of(sv[1]);
  ASSERT_EQ(
      run_in(&cg,
             [&] {
               int a[2], b[2], c[2];
               if (pipe(a) != 0 || pipe(b) != 0 || pipe(c) != 0) return 1;
               *ino = {ino_of(a[0]), ino_of(b[0]), ino_of(c[0])};
               io_uring ring{};
               if (io_uring_queue_init(4, &ring, 0) != 0) return 2;
               const std::vector<char> data(500, 'u');
               int rc = 0;
               char buf[1024];
               if (!write_all(a[1], data.data(), data.size())) {
                 rc = 3;
               } else if (uring_do(&ring, [&](io_uring_sqe* s) { io_uring_prep_tee(s, a[0], c[1], 500, 0); }) != 500) {
                 rc = 4;
               } else if (uring_do(&ring, [&](io_uring_sqe* s) {
                            io_uring_prep_splice(s, a[0], -1, b[1], -1, 500, 0);
                          }) != 500) {
                 rc = 5;
               } else if (!write_all(sv[0], data.data(), 200)) {
                 rc = 6;
               } else if (uring_do(&ring, [&](io_uring_sqe* s) {
                            io_uring_prep_splice(s, sv[1], -1, b[1], -1, 200, 0);
                          }) != 200) {
                 rc = 7;
               } else if (read(b[0], buf, sizeof(buf)) != 700) {
                 rc = 8;
               }
               io_uring_queue_exit(&ring);
               return rc;
             }),
      0);
  close(sv[0]);
  close(sv[1]);
  EXPECT_EQ(totals(cg, IPCT_KIND_PIPE, IPCT_DIR_SEND, obj(ino->a)).bytes, 500U);  // write
  const Totals a_out = totals(cg, IPCT_KIND_PIPE, IPCT_DIR_RECV, obj(ino->a));    // spliced out
  EXPECT_EQ(a_out.msgs, 1U);
  EXPECT_EQ(a_out.bytes, 500U);
  const Totals c_in = totals(cg, IPCT_KIND_PIPE, IPCT_DIR_SEND, obj(ino->c));  // tee in
  EXPECT_EQ(c_in.msgs, 1U);
  EXPECT_EQ(c_in.bytes, 500U);
  const Totals b_in = totals(cg, IPCT_KIND_PIPE, IPCT_DIR_SEND, obj(ino->b));  // two splices in
  EXPECT_EQ(b_in.msgs, 2U);
  EXPECT_EQ(b_in.bytes, 700U);
  const Totals b_out = totals(cg, IPCT_KIND_PIPE, IPCT_DIR_RECV, obj(ino->b));  // one read
  EXPECT_EQ(b_out.msgs, 1U);
  EXPECT_EQ(b_out.bytes, 700U);
  const Totals sock_out = totals(cg, IPCT_KIND_UNIX_STREAM, IPCT_DIR_RECV, obj(sock_b));
  EXPECT_EQ(sock_out.msgs, 1U);
  EXPECT_EQ(sock_out.bytes, 200U);
}

// An io_uring splice whose input is a registered file (SPLICE_F_FD_IN_FIXED) names it by its index
// in the ring's file table, not by a descriptor: the input end is not seen (README), and the
// descriptor that happens to have the index's number is not taken for it. Index y[0] holds pipe
// x's read end while descriptor y[0] is pipe y: nothing may be counted on y.
TEST_P(TracerTest, IoUringSpliceFromARegisteredFileIsNotTakenForADescriptor) {
  TestCgroup cg("uring-fixed");
  struct Inodes {
    uint64_t x, y, z;
  };
  Shared<Inodes> ino;
  ASSERT_EQ(run_in(&cg,
                   [&] {
                     int x[2], y[2], z[2];
                     if (pipe(x) != 0 || pipe(y) != 0 || pipe(z) != 0) return 1;
                     *ino = {ino_of(x[0]), ino_of(y[0]), ino_of(z[0])};
                     io_uring ring{};
                     if (io_uring_queue_init(4, &ring, 0) != 0) return 2;
                     std::vector<int> table(static_cast<size_t>(y[0]) + 1, -1);
                     table[static_cast<size_t>(y[0])] = x[0];
                     int rc = 0;
                     const std::vector<char> data(100, 'x');
                     char buf[256];
                     if (io_uring_register_files(&ring, table.data(), static_cast<unsigned>(table.size())) != 0) {
                       rc = 3;
                     } else if (!write_all(x[1], data.data(), data.size()) || !write_all(y[1], data.data(), 10)) {
                       rc = 4;
                     } else if (uring_do(&ring, [&](io_uring_sqe* s) {
                                  io_uring_prep_splice(s, y[0], -1, z[1], -1, 100, SPLICE_F_FD_IN_FIXED);
                                }) != 100) {
                       rc = 5;
                     } else if (read(z[0], buf, sizeof(buf)) != 100 || read(y[0], buf, sizeof(buf)) != 10) {
                       rc = 6;
                     }
                     io_uring_queue_exit(&ring);
                     return rc;
                   }),
            0);
  const Totals out_of_y = totals(cg, IPCT_KIND_PIPE, IPCT_DIR_RECV, obj(ino->y));  // the plain read only
  EXPECT_EQ(out_of_y.msgs, 1U);
  EXPECT_EQ(out_of_y.bytes, 10U);
  EXPECT_EQ(totals(cg, IPCT_KIND_PIPE, IPCT_DIR_RECV, obj(ino->x)).msgs, 0U);  // not seen (README)
  const Totals into_z = totals(cg, IPCT_KIND_PIPE, IPCT_DIR_SEND, obj(ino->z));
  EXPECT_EQ(into_z.msgs, 1U);
  EXPECT_EQ(into_z.bytes, 100U);
}

TEST_P(TracerTest, SameChannelFromTwoCgroups) {
  TestCgroup a("shared-a");
  TestCgroup b("shared-b");
  int p[2];
  ASSERT_EQ(pipe(p), 0);
  const uint64_t ino = ino_of(p[0]);
  auto writes = [&](int n) {
    return [&, n] {
      char buf[100] = {};
      for (int i = 0; i < n; ++i) {
        if (!write_all(p[1], buf, sizeof(buf))) return 1;
      }
      return 0;
    };
  };
  ASSERT_EQ(run_in(&a, writes(2)), 0);
  ASSERT_EQ(run_in(&b, writes(3)), 0);
  close(p[0]);
  close(p[1]);
  EXPECT_EQ(totals(a, IPCT_KIND_PIPE, IPCT_DIR_SEND, obj(ino)).bytes, 200U);
  EXPECT_EQ(totals(b, IPCT_KIND_PIPE, IPCT_DIR_SEND, obj(ino)).bytes, 300U);
  EXPECT_EQ(totals(b, IPCT_KIND_PIPE, IPCT_DIR_SEND, obj(ino)).msgs, 3U);
}

// msgrcv(MSG_COPY) (Linux 3.8, checkpoint/restore) copies a message and leaves it queued: like a
// peek, not a receive. One 10-byte message copied, then received: one receive of 10 bytes.
TEST_P(TracerTest, MsgrcvWithMsgCopyIsNotAReceive) {
  TestCgroup cg("msg-copy");
  Shared<int> msqid;
  ASSERT_EQ(run_in(&cg,
                   [&] {
                     *msqid = msgget(IPC_PRIVATE, IPC_CREAT | 0600);
                     if (*msqid < 0) return 1;
                     struct {
                       long mtype;
                       char mtext[10];
                     } m{1, {}};
                     if (msgsnd(*msqid, &m, sizeof(m.mtext), 0) != 0) return 2;
                     // MSG_COPY takes an index in msgtyp and needs IPC_NOWAIT (CONFIG_CHECKPOINT_RESTORE).
                     if (msgrcv(*msqid, &m, sizeof(m.mtext), 0, MSG_COPY | IPC_NOWAIT) != 10) return 3;
                     if (msgrcv(*msqid, &m, sizeof(m.mtext), 0, 0) != 10) return 4;
                     return msgctl(*msqid, IPC_RMID, nullptr) == 0 ? 0 : 5;
                   }),
            0);
  auto queue = [&](const ipct_flow_key& k) { return k.ch.obj.id == static_cast<uint64_t>(*msqid); };
  const Totals sent = totals(cg, IPCT_KIND_SYSV_MSG, IPCT_DIR_SEND, queue);
  EXPECT_EQ(sent.msgs, 1U);
  EXPECT_EQ(sent.bytes, 10U);
  const Totals got = totals(cg, IPCT_KIND_SYSV_MSG, IPCT_DIR_RECV, queue);
  EXPECT_EQ(got.msgs, 1U);
  EXPECT_EQ(got.bytes, 10U);
}

TEST_P(TracerTest, SysvMessageQueueAndAFailedSendCountsNothing) {
  TestCgroup cg("msg");
  struct Result {
    int msqid;
    uint32_t ipc_ns;
  };
  Shared<Result> res;
  ASSERT_EQ(run_in(&cg,
                   [&] {
                     if (unshare(CLONE_NEWIPC) != 0) return 1;  // a fresh IPC namespace
                     res->ipc_ns = self_ns("ipc");
                     const int id = msgget(IPC_PRIVATE, IPC_CREAT | 0600);
                     if (id < 0) return 2;
                     res->msqid = id;
                     msqid_ds ds{};
                     if (msgctl(id, IPC_STAT, &ds) != 0) return 3;
                     ds.msg_qbytes = 300;
                     if (msgctl(id, IPC_SET, &ds) != 0) return 4;
                     struct {
                       long mtype;
                       char mtext[100];
                     } m{1, {}};
                     for (int i = 0; i < 3; ++i) {
                       if (msgsnd(id, &m, sizeof(m.mtext), IPC_NOWAIT) != 0) return 5;
                     }
                     // The queue holds 300 bytes: this one fails and must count nothing.
                     if (msgsnd(id, &m, sizeof(m.mtext), IPC_NOWAIT) != -1 || errno != EAGAIN) return 6;
                     for (int i = 0; i < 3; ++i) {
                       if (msgrcv(id, &m, sizeof(m.mtext), 0, IPC_NOWAIT) != 100) return 7;
                     }
                     // Empty queue: a failing receive counts nothing either.
                     if (msgrcv(id, &m, sizeof(m.mtext), 0, IPC_NOWAIT) != -1) return 8;
                     return msgctl(id, IPC_RMID, nullptr) == 0 ? 0 : 9;
                   }),
            0);
  auto queue = [&](const ipct_flow_key& k) {
    return k.ch.obj.id == static_cast<uint64_t>(res->msqid) && k.ch.obj.dev == res->ipc_ns;
  };
  const Totals sent = totals(cg, IPCT_KIND_SYSV_MSG, IPCT_DIR_SEND, queue);
  EXPECT_EQ(sent.msgs, 3U);
  EXPECT_EQ(sent.bytes, 300U);
  EXPECT_EQ(sent.ns.ipc, res->ipc_ns);
  const Totals got = totals(cg, IPCT_KIND_SYSV_MSG, IPCT_DIR_RECV, queue);
  EXPECT_EQ(got.msgs, 3U);
  EXPECT_EQ(got.bytes, 300U);

  int creates = 0;
  int removes = 0;
  for (const auto& e : events_of(cg)) {
    if (e.kind != IPCT_KIND_SYSV_MSG) continue;
    EXPECT_EQ(e.dev, res->ipc_ns);
    EXPECT_EQ(e.id, static_cast<uint64_t>(res->msqid));
    creates += e.op == IPCT_OP_CREATE;
    removes += e.op == IPCT_OP_REMOVE;
  }
  EXPECT_EQ(creates, 1);
  EXPECT_EQ(removes, 1);
}

TEST_P(TracerTest, TwoIpcNamespacesWithMsqidZeroAreNotMerged) {
  TestCgroup cg("msg-ns");
  // Both namespaces must be alive at once, as two pods' are: a dead namespace's inode number
  // is free for the next one.
  struct State {
    std::array<uint32_t, 2> ns;
    std::array<int, 2> sent;
  };
  Shared<State> st;
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGUSR1);
  sigset_t old;
  ASSERT_EQ(sigprocmask(SIG_BLOCK, &set, &old), 0);
  std::array<pid_t, 2> kids{};
  for (int i = 0; i < 2; ++i) {
    kids[i] = spawn(&cg, [&, i] {
      if (unshare(CLONE_NEWIPC) != 0) return 1;
      st->ns[i] = self_ns("ipc");
      const int id = msgget(IPC_PRIVATE, IPC_CREAT | 0600);
      if (id != 0) return 2;  // the first queue of a fresh namespace is 0
      struct {
        long mtype;
        char mtext[20];
      } m{1, {}};
      if (msgsnd(id, &m, static_cast<size_t>(i + 1) * 10, 0) != 0) return 3;
      __atomic_store_n(&st->sent[i], 1, __ATOMIC_SEQ_CST);
      if (sigwaitinfo(&set, nullptr) != SIGUSR1) return 4;  // keep the namespace until told
      return msgctl(id, IPC_RMID, nullptr) == 0 ? 0 : 5;
    });
  }
  for (int i = 0; i < 2000 &&
                  !(__atomic_load_n(&st->sent[0], __ATOMIC_SEQ_CST) && __atomic_load_n(&st->sent[1], __ATOMIC_SEQ_CST));
       ++i) {
    usleep(1000);
  }
  for (pid_t k : kids) kill(k, SIGUSR1);
  const int rc0 = wait_exit(kids[0]);
  const int rc1 = wait_exit(kids[1]);
  sigprocmask(SIG_SETMASK, &old, nullptr);
  ASSERT_EQ(rc0, 0);
  ASSERT_EQ(rc1, 0);
  ASSERT_NE(st->ns[0], st->ns[1]);
  for (int i = 0; i < 2; ++i) {
    const uint32_t want_ns = st->ns[i];
    const Totals t = totals(cg, IPCT_KIND_SYSV_MSG, IPCT_DIR_SEND,
                            [&](const ipct_flow_key& k) { return k.ch.obj.id == 0 && k.ch.obj.dev == want_ns; });
    EXPECT_EQ(t.entries, 1U) << i;
    EXPECT_EQ(t.msgs, 1U) << i;
    EXPECT_EQ(t.bytes, static_cast<uint64_t>((i + 1) * 10)) << i;
  }
}

TEST_P(TracerTest, PosixMessageQueueWithNotify) {
  TestCgroup cg("mq");
  const std::string name = "/ipctrace-test-" + std::to_string(getpid());
  Shared<uint64_t> ino;
  ASSERT_EQ(run_in(&cg,
                   [&] {
                     mq_attr attr{};
                     attr.mq_maxmsg = 10;
                     attr.mq_msgsize = 64;
                     const mqd_t q = mq_open(name.c_str(), O_CREAT | O_EXCL | O_RDWR, 0600, &attr);
                     if (q < 0) return 1;
                     *ino = ino_of(q);
                     sigevent sev{};
                     sev.sigev_notify = SIGEV_NONE;
                     if (mq_notify(q, &sev) != 0) return 2;
                     const char msg[50] = {};
                     for (int i = 0; i < 3; ++i) {
                       if (mq_send(q, msg, sizeof(msg), 0) != 0) return 3;
                     }
                     char buf[64];
                     for (int i = 0; i < 3; ++i) {
                       if (mq_receive(q, buf, sizeof(buf), nullptr) != 50) return 4;
                     }
                     mq_close(q);
                     return mq_unlink(name.c_str()) == 0 ? 0 : 5;
                   }),
            0);
  const Totals sent = totals(cg, IPCT_KIND_POSIX_MQ, IPCT_DIR_SEND, obj(*ino));
  EXPECT_EQ(sent.msgs, 3U);
  EXPECT_EQ(sent.bytes, 150U);
  const Totals got = totals(cg, IPCT_KIND_POSIX_MQ, IPCT_DIR_RECV, obj(*ino));
  EXPECT_EQ(got.msgs, 3U);
  EXPECT_EQ(got.bytes, 150U);

  int opens = 0;
  int notifies = 0;
  int unlinks = 0;
  for (const auto& e : events_of(cg)) {
    if (e.kind != IPCT_KIND_POSIX_MQ) continue;
    const std::string ev_name(e.name, strnlen(e.name, sizeof(e.name)));
    if (e.op == IPCT_OP_OPEN) {
      ++opens;
      EXPECT_EQ(ev_name, name.substr(1));  // the C library passes the name without its '/'
      EXPECT_EQ(e.id, *ino);
    } else if (e.op == IPCT_OP_NOTIFY) {
      ++notifies;
      EXPECT_EQ(e.id, *ino);
      EXPECT_EQ(e.ret, 1);  // registered
    } else if (e.op == IPCT_OP_UNLINK) {
      ++unlinks;
      EXPECT_EQ(ev_name, name.substr(1));
    }
  }
  EXPECT_EQ(opens, 1);
  EXPECT_EQ(notifies, 1);
  EXPECT_EQ(unlinks, 1);
}

TEST_P(TracerTest, UnixSocketpairStreamBetweenTwoCgroups) {
  TestCgroup writer_cg("unix-w");
  TestCgroup reader_cg("unix-r");
  int sv[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
  const uint64_t a = ino_of(sv[0]);
  const uint64_t b = ino_of(sv[1]);
  const pid_t reader = spawn(&reader_cg, [&] {
    close(sv[0]);
    char buf[2048];
    size_t total = 0;
    ssize_t n;
    while ((n = read(sv[1], buf, sizeof(buf))) > 0) total += static_cast<size_t>(n);
    return total == 1050 ? 0 : 1;
  });
  const pid_t writer = spawn(&writer_cg, [&] {
    close(sv[1]);
    char buf[150] = {};
    for (int i = 0; i < 7; ++i) {
      if (!write_all(sv[0], buf, sizeof(buf))) return 1;
    }
    return 0;
  });
  close(sv[0]);
  close(sv[1]);
  ASSERT_EQ(wait_exit(writer), 0);
  ASSERT_EQ(wait_exit(reader), 0);
  const Totals sent = totals(writer_cg, IPCT_KIND_UNIX_STREAM, IPCT_DIR_SEND,
                             [&](const ipct_flow_key& k) { return k.ch.obj.id == a && k.ch.obj.peer == b; });
  EXPECT_EQ(sent.msgs, 7U);
  EXPECT_EQ(sent.bytes, 1050U);
  // Receives are keyed by the receiving socket, and by the sending end while it is open (so
  // reads after the writer's exit have peer 0).
  const Totals got = totals(reader_cg, IPCT_KIND_UNIX_STREAM, IPCT_DIR_RECV, [&](const ipct_flow_key& k) {
    return k.ch.obj.id == b && (k.ch.obj.peer == a || k.ch.obj.peer == 0) && k.ch.obj.sk_tag != 0;
  });
  EXPECT_EQ(got.bytes, 1050U);
}

TEST_P(TracerTest, UnixDatagramsWithSendmmsg) {
  TestCgroup cg("unix-dgram");
  struct Inodes {
    uint64_t a, b;
  };
  Shared<Inodes> ino;
  ASSERT_EQ(run_in(&cg,
                   [&] {
                     int sv[2];
                     if (socketpair(AF_UNIX, SOCK_DGRAM, 0, sv) != 0) return 1;
                     *ino = {ino_of(sv[0]), ino_of(sv[1])};
                     char bufs[4][40] = {};
                     iovec iov[4];
                     mmsghdr msgs[4] = {};
                     for (int i = 0; i < 4; ++i) {
                       iov[i] = {bufs[i], static_cast<size_t>((i + 1) * 10)};
                       msgs[i].msg_hdr.msg_iov = &iov[i];
                       msgs[i].msg_hdr.msg_iovlen = 1;
                     }
                     if (sendmmsg(sv[0], msgs, 4, 0) != 4) return 2;
                     char rbufs[4][64];
                     iovec riov[4];
                     mmsghdr rmsgs[4] = {};
                     for (int i = 0; i < 4; ++i) {
                       riov[i] = {rbufs[i], sizeof(rbufs[i])};
                       rmsgs[i].msg_hdr.msg_iov = &riov[i];
                       rmsgs[i].msg_hdr.msg_iovlen = 1;
                     }
                     return recvmmsg(sv[1], rmsgs, 4, MSG_DONTWAIT, nullptr) == 4 ? 0 : 3;
                   }),
            0);
  const Totals sent = totals(cg, IPCT_KIND_UNIX_DGRAM, IPCT_DIR_SEND,
                             [&](const ipct_flow_key& k) { return k.ch.obj.id == ino->a && k.ch.obj.peer == ino->b; });
  EXPECT_EQ(sent.msgs, 4U);  // one per message of the sendmmsg
  EXPECT_EQ(sent.bytes, 100U);
  const Totals got = totals(cg, IPCT_KIND_UNIX_DGRAM, IPCT_DIR_RECV, obj(ino->b));
  EXPECT_EQ(got.msgs, 4U);
  EXPECT_EQ(got.bytes, 100U);
}

TEST_P(TracerTest, UnixDatagramsBetweenTwoBoundSockets) {
  TestCgroup cg("unix-bound");
  struct Inodes {
    uint64_t client, server;
  };
  Shared<Inodes> ino;
  const std::string abstract = "ipctrace-test-" + std::to_string(getpid());
  ASSERT_EQ(run_in(&cg,
                   [&] {
                     sockaddr_un addr{};
                     addr.sun_family = AF_UNIX;
                     std::memcpy(addr.sun_path + 1, abstract.data(), abstract.size());  // abstract name
                     const auto len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + abstract.size());
                     const int server = socket(AF_UNIX, SOCK_DGRAM, 0);
                     const int client = socket(AF_UNIX, SOCK_DGRAM, 0);
                     if (bind(server, reinterpret_cast<sockaddr*>(&addr), len) != 0) return 1;
                     if (connect(client, reinterpret_cast<sockaddr*>(&addr), len) != 0) return 2;
                     *ino = {ino_of(client), ino_of(server)};
                     char buf[64] = {};
                     for (int i = 0; i < 3; ++i) {
                       if (send(client, buf, 33, 0) != 33) return 3;
                     }
                     for (int i = 0; i < 3; ++i) {
                       if (recv(server, buf, sizeof(buf), 0) != 33) return 4;
                     }
                     return 0;
                   }),
            0);
  const Totals sent = totals(cg, IPCT_KIND_UNIX_DGRAM, IPCT_DIR_SEND, [&](const ipct_flow_key& k) {
    return k.ch.obj.id == ino->client && k.ch.obj.peer == ino->server;
  });
  EXPECT_EQ(sent.msgs, 3U);
  EXPECT_EQ(sent.bytes, 99U);
  EXPECT_EQ(totals(cg, IPCT_KIND_UNIX_DGRAM, IPCT_DIR_RECV, obj(ino->server)).bytes, 99U);
}

namespace {

// Two unix datagram sockets bound to names of their own, for unconnected sends to find: `a` to
// the filesystem name `path`, `b` to an abstract one (-1 on failure). The caller closes them and
// unlinks `path`.
struct NamedReceivers {
  std::string path;
  sockaddr_un to_path{};
  sockaddr_un to_abstract{};
  socklen_t abstract_len = 0;
  int a = -1;
  int b = -1;
};

NamedReceivers named_receivers(const std::string& stem) {
  NamedReceivers r;
  r.path = fmt::format("/tmp/ipctrace-{}-{}.sock", stem, getpid());
  const std::string abstract = fmt::format("ipctrace-{}-{}", stem, getpid());
  unlink(r.path.c_str());
  r.to_path.sun_family = AF_UNIX;
  std::memcpy(r.to_path.sun_path, r.path.data(), r.path.size());
  r.to_abstract.sun_family = AF_UNIX;
  std::memcpy(r.to_abstract.sun_path + 1, abstract.data(), abstract.size());
  r.abstract_len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + abstract.size());
  r.a = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  r.b = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (r.a >= 0 && bind(r.a, reinterpret_cast<const sockaddr*>(&r.to_path), sizeof(r.to_path)) != 0) {
    close(r.a);
    r.a = -1;
  }
  if (r.b >= 0 && bind(r.b, reinterpret_cast<const sockaddr*>(&r.to_abstract), r.abstract_len) != 0) {
    close(r.b);
    r.b = -1;
  }
  return r;
}

}  // namespace

// Unconnected unix datagram sends name their receiver with each call: to a filesystem name and
// an abstract one, and a reply to the autobound address recvfrom() gave. Each send carries the
// tag of the name it names, each receive the tag of its socket's own name, and no send names a
// peer; the figures are exact.
TEST_P(TracerTest, UnconnectedUnixDatagramsCarryTheNameTheySendTo) {
  TestCgroup client_cg("unix-unconn-c");
  TestCgroup server_cg("unix-unconn-s");
  const NamedReceivers r = named_receivers("dgram");
  ASSERT_TRUE(r.a >= 0 && r.b >= 0);
  const std::string& path = r.path;
  sockaddr_un to_path = r.to_path;  // copies: the calls take them unqualified
  sockaddr_un to_abstract = r.to_abstract;
  const socklen_t abstract_len = r.abstract_len;
  const int a = r.a;
  const int b = r.b;
  const int client = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  const sa_family_t family = AF_UNIX;
  ASSERT_EQ(bind(client, reinterpret_cast<const sockaddr*>(&family), sizeof(family)), 0);  // autobind
  ASSERT_EQ(run_in(&client_cg,
                   [&] {
                     char buf[16] = {};
                     for (int i = 0; i < 3; ++i) {
                       if (sendto(client, buf, 7, 0, reinterpret_cast<sockaddr*>(&to_path), sizeof(to_path)) != 7)
                         return 1;
                     }
                     for (int i = 0; i < 2; ++i) {
                       iovec iov{buf, 9};
                       msghdr m{};
                       m.msg_name = &to_abstract;
                       m.msg_namelen = abstract_len;
                       m.msg_iov = &iov;
                       m.msg_iovlen = 1;
                       if (sendmsg(client, &m, 0) != 9) return 2;
                     }
                     return 0;
                   }),
            0);
  ASSERT_EQ(run_in(&server_cg,
                   [&] {
                     char buf[16];
                     sockaddr_un from{};
                     socklen_t from_len = sizeof(from);
                     for (int i = 0; i < 3; ++i) {
                       from_len = sizeof(from);
                       if (recvfrom(a, buf, sizeof(buf), 0, reinterpret_cast<sockaddr*>(&from), &from_len) != 7)
                         return 1;
                     }
                     for (int i = 0; i < 2; ++i) {
                       if (recv(b, buf, sizeof(buf), 0) != 9) return 2;
                     }
                     // the reply, to the client's autobound (abstract) address
                     return sendto(a, buf, 4, 0, reinterpret_cast<sockaddr*>(&from), from_len) == 4 ? 0 : 3;
                   }),
            0);
  ASSERT_EQ(run_in(&client_cg,
                   [&] {
                     char reply[16];
                     return recv(client, reply, sizeof(reply), 0) == 4 ? 0 : 1;
                   }),
            0);
  const uint64_t a_ino = ino_of(a);
  const uint64_t b_ino = ino_of(b);
  const uint64_t client_ino = ino_of(client);
  close(a);
  close(b);
  close(client);
  unlink(path.c_str());
  const uint64_t a_tag = recv_tag(a_ino);
  const uint64_t b_tag = recv_tag(b_ino);
  ASSERT_NE(a_tag, 0U);
  ASSERT_NE(b_tag, 0U);
  ASSERT_NE(a_tag, b_tag);
  const Totals to_a = totals(client_cg, IPCT_KIND_UNIX_DGRAM, IPCT_DIR_SEND, named(client_ino, a_tag));
  EXPECT_EQ(to_a.msgs, 3U);
  EXPECT_EQ(to_a.bytes, 21U);
  const Totals to_b = totals(client_cg, IPCT_KIND_UNIX_DGRAM, IPCT_DIR_SEND, named(client_ino, b_tag));
  EXPECT_EQ(to_b.msgs, 2U);
  EXPECT_EQ(to_b.bytes, 18U);
  EXPECT_EQ(totals(client_cg, IPCT_KIND_UNIX_DGRAM, IPCT_DIR_SEND).entries, 2U);
  const Totals replied = totals(server_cg, IPCT_KIND_UNIX_DGRAM, IPCT_DIR_SEND, named(a_ino, recv_tag(client_ino)));
  EXPECT_EQ(replied.msgs, 1U);
  EXPECT_EQ(replied.bytes, 4U);
  EXPECT_EQ(totals(server_cg, IPCT_KIND_UNIX_DGRAM, IPCT_DIR_RECV, obj(a_ino)).bytes, 21U);
  EXPECT_EQ(totals(server_cg, IPCT_KIND_UNIX_DGRAM, IPCT_DIR_RECV, obj(b_ino)).bytes, 18U);
}

// Data a unix client sends before the server's accept() goes into a socket that has no inode
// yet: its sends carry the socket's sk_tag, the accepted socket's reads the same tag, and the
// join makes them one flow, for stream and seqpacket alike.
TEST_P(TracerTest, UnixDataSentBeforeAcceptIsJoinedToTheAcceptedSocket) {
  for (const int type : {SOCK_STREAM, SOCK_SEQPACKET}) {
    const int kind = type == SOCK_STREAM ? IPCT_KIND_UNIX_STREAM : IPCT_KIND_UNIX_SEQPACKET;
    SCOPED_TRACE(kind_name(kind));
    TestCgroup client_cg("preaccept-c");
    TestCgroup server_cg("preaccept-s");
    const std::string abstract = fmt::format("ipctrace-test-preaccept-{}-{}", getpid(), type);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path + 1, abstract.data(), abstract.size());
    const auto len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + abstract.size());
    const int listener = socket(AF_UNIX, type | SOCK_CLOEXEC, 0);
    ASSERT_GE(listener, 0);
    ASSERT_EQ(bind(listener, reinterpret_cast<sockaddr*>(&addr), len), 0);
    ASSERT_EQ(listen(listener, 1), 0);
    int sent_all[2];
    ASSERT_EQ(pipe2(sent_all, O_CLOEXEC), 0);
    struct Inodes {
      uint64_t client, accepted;
    };
    Shared<Inodes> ino;
    // The client: 3 x 100 B before the server accepts, 1 B back, 2 x 50 B after.
    const pid_t client = spawn(&client_cg, [&] {
      const int fd = socket(AF_UNIX, type, 0);
      if (connect(fd, reinterpret_cast<sockaddr*>(&addr), len) != 0) return 1;
      ino->client = ino_of(fd);
      char buf[100] = {};
      for (int i = 0; i < 3; ++i) {
        if (send(fd, buf, 100, 0) != 100) return 2;
      }
      if (write(sent_all[1], "s", 1) != 1) return 3;
      if (recv(fd, buf, 1, 0) != 1) return 4;
      for (int i = 0; i < 2; ++i) {
        if (send(fd, buf, 50, 0) != 50) return 5;
      }
      close(fd);
      return 0;
    });
    const pid_t server = spawn(&server_cg, [&] {
      char c = 0;
      if (read(sent_all[0], &c, 1) != 1) return 1;
      const int fd = accept(listener, nullptr, nullptr);
      if (fd < 0) return 2;
      ino->accepted = ino_of(fd);
      char buf[512];
      size_t total = 0;
      while (total < 300) {
        const ssize_t n = recv(fd, buf, 300 - total, 0);
        if (n <= 0) return 3;
        total += static_cast<size_t>(n);
      }
      if (send(fd, "r", 1, 0) != 1) return 4;
      for (ssize_t n; (n = recv(fd, buf, sizeof(buf), 0)) > 0;) total += static_cast<size_t>(n);
      return total == 400 ? 0 : 5;
    });
    close(sent_all[0]);
    close(sent_all[1]);
    close(listener);
    ASSERT_EQ(wait_exit(client), 0);
    ASSERT_EQ(wait_exit(server), 0);

    // The kernel's totals: before accept() into a tag, after it into the accepted inode.
    uint64_t tag = 0;
    const Totals before = totals(client_cg, kind, IPCT_DIR_SEND, [&](const ipct_flow_key& k) {
      if (k.ch.obj.id != ino->client || k.ch.obj.peer != 0) return false;
      tag = k.ch.obj.sk_tag;
      return true;
    });
    EXPECT_EQ(before.msgs, 3U);
    EXPECT_EQ(before.bytes, 300U);
    EXPECT_NE(tag, 0U);
    const Totals after = totals(client_cg, kind, IPCT_DIR_SEND, [&](const ipct_flow_key& k) {
      return k.ch.obj.id == ino->client && k.ch.obj.peer == ino->accepted && k.ch.obj.sk_tag == 0;
    });
    EXPECT_EQ(after.msgs, 2U);
    EXPECT_EQ(after.bytes, 100U);
    const Totals read = totals(server_cg, kind, IPCT_DIR_RECV, [&](const ipct_flow_key& k) {
      return k.ch.obj.id == ino->accepted && k.ch.obj.sk_tag == tag;
    });
    EXPECT_EQ(read.bytes, 400U);
    if (kind == IPCT_KIND_UNIX_SEQPACKET) {
      EXPECT_EQ(read.msgs, 5U);
    }

    // The join: one flow from the client to the server with every byte at both ends.
    auto samples = tracer_->read_flows();
    ASSERT_TRUE(samples.ok());
    std::vector<FlowSample> ours;
    for (const FlowSample& f : *samples) {
      if (f.key.kind == kind && (f.key.cgroup_id == client_cg.id() || f.key.cgroup_id == server_cg.id()))
        ours.push_back(f);
    }
    const std::vector<ChannelFlow> flows = join_flows(ours);
    const ChannelFlow* to_server = nullptr;
    for (const ChannelFlow& f : flows) {
      EXPECT_NE(f.src, EndpointRef::unknown()) << f.channel;
      EXPECT_NE(f.dst, EndpointRef::unknown()) << f.channel;
      if (f.src == EndpointRef::cgroup(client_cg.id()) && f.dst == EndpointRef::cgroup(server_cg.id())) to_server = &f;
    }
    ASSERT_NE(to_server, nullptr);
    EXPECT_EQ(to_server->channel, fmt::format("{}:ino={}", kind_name(kind), ino->accepted));
    EXPECT_EQ(to_server->msgs, 5U);
    EXPECT_EQ(to_server->bytes, 400U);
    EXPECT_EQ(to_server->recv_bytes, 400U);
    if (kind == IPCT_KIND_UNIX_SEQPACKET) {
      EXPECT_EQ(to_server->recv_msgs, 5U);
    }
  }
}

TEST_P(TracerTest, TcpOverLoopback) {
  TestCgroup client_cg("tcp-c");
  TestCgroup server_cg("tcp-s");
  sockaddr_in addr{};
  const int listener = tcp_listener(addr, 1);
  ASSERT_GE(listener, 0);
  const uint16_t server_port = ntohs(addr.sin_port);
  Shared<uint16_t> client_port;

  const pid_t server = spawn(&server_cg, [&] {
    const int c = accept(listener, nullptr, nullptr);
    char buf[4096];
    size_t total = 0;
    ssize_t n;
    while ((n = recv(c, buf, sizeof(buf), 0)) > 0) total += static_cast<size_t>(n);
    return total == 5000 ? 0 : 1;
  });
  const pid_t client = spawn(&client_cg, [&] {
    const int s = socket(AF_INET, SOCK_STREAM, 0);
    if (connect(s, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) return 1;
    sockaddr_in local{};
    socklen_t llen = sizeof(local);
    getsockname(s, reinterpret_cast<sockaddr*>(&local), &llen);
    *client_port = ntohs(local.sin_port);
    char buf[1000] = {};
    for (int i = 0; i < 5; ++i) {
      if (send(s, buf, sizeof(buf), 0) != 1000) return 2;
    }
    return 0;
  });
  ASSERT_EQ(wait_exit(client), 0);
  ASSERT_EQ(wait_exit(server), 0);
  close(listener);

  const uint32_t loopback = htonl(INADDR_LOOPBACK);
  const uint32_t netns = self_ns("net");
  const Totals sent = totals(client_cg, IPCT_KIND_TCP, IPCT_DIR_SEND, [&](const ipct_flow_key& k) {
    uint32_t l = 0;
    uint32_t r = 0;
    std::memcpy(&l, k.ch.inet.laddr, 4);
    std::memcpy(&r, k.ch.inet.raddr, 4);
    return k.ch.inet.netns == netns && k.ch.inet.family == AF_INET && l == loopback && r == loopback &&
           k.ch.inet.lport == *client_port && k.ch.inet.rport == server_port;
  });
  EXPECT_EQ(sent.msgs, 5U);
  EXPECT_EQ(sent.bytes, 5000U);
  const Totals got = totals(server_cg, IPCT_KIND_TCP, IPCT_DIR_RECV, [&](const ipct_flow_key& k) {
    return k.ch.inet.lport == server_port && k.ch.inet.rport == *client_port;
  });
  EXPECT_EQ(got.bytes, 5000U);
}

// A peer outside the node, for real: in a network namespace of its own, a UDP socket on
// 10.1.2.1:5000 connected to 10.1.2.3:6000 receives three datagrams (10, 20 and 30 bytes) that a
// raw socket forged with that source. A raw socket is no IPC socket, so, as with a sender on
// another node, no sending end is seen: the flow's figures are the receipts, marked as such.
TEST_P(TracerTest, DatagramsFromARemotePeerAreCountedAtTheReceiver) {
  TestCgroup cg("remote-peer");
  constexpr uint16_t kPort = 5000;
  constexpr uint16_t kPeerPort = 6000;
  Shared<uint32_t> netns;
  ASSERT_EQ(run_in(&cg,
                   [&] {
                     if (unshare(CLONE_NEWNET) != 0) return 1;
                     *netns = self_ns("net");
                     const int ctl = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
                     ifreq ifr{};
                     std::strcpy(ifr.ifr_name, "lo");
                     ifr.ifr_flags = IFF_UP | IFF_LOOPBACK | IFF_RUNNING;
                     if (ioctl(ctl, SIOCSIFFLAGS, &ifr) != 0) return 2;
                     // 10.1.2.1/8 on lo: the node's address here, and a route to the peer.
                     std::strcpy(ifr.ifr_name, "lo:1");
                     sockaddr_in a{};
                     a.sin_family = AF_INET;
                     inet_pton(AF_INET, "10.1.2.1", &a.sin_addr);
                     std::memcpy(&ifr.ifr_addr, &a, sizeof(a));
                     if (ioctl(ctl, SIOCSIFADDR, &ifr) != 0) return 3;
                     const int rx = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
                     sockaddr_in me{};
                     me.sin_family = AF_INET;
                     me.sin_port = htons(kPort);
                     inet_pton(AF_INET, "10.1.2.1", &me.sin_addr);
                     sockaddr_in peer{};
                     peer.sin_family = AF_INET;
                     peer.sin_port = htons(kPeerPort);
                     inet_pton(AF_INET, "10.1.2.3", &peer.sin_addr);
                     if (bind(rx, reinterpret_cast<sockaddr*>(&me), sizeof(me)) != 0) return 4;
                     if (connect(rx, reinterpret_cast<sockaddr*>(&peer), sizeof(peer)) != 0) return 5;
                     const int raw = socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_RAW);  // IP_HDRINCL
                     if (raw < 0) return 6;
                     for (const size_t n : {10, 20, 30}) {
                       std::array<unsigned char, 64> pkt{};
                       iphdr ip{};
                       ip.version = 4;
                       ip.ihl = 5;
                       ip.ttl = 64;
                       ip.protocol = IPPROTO_UDP;
                       ip.tot_len = htons(static_cast<uint16_t>(sizeof(iphdr) + sizeof(udphdr) + n));
                       ip.saddr = peer.sin_addr.s_addr;
                       ip.daddr = me.sin_addr.s_addr;
                       udphdr udp{};
                       udp.source = htons(kPeerPort);
                       udp.dest = htons(kPort);
                       udp.len = htons(static_cast<uint16_t>(sizeof(udphdr) + n));
                       udp.check = 0;  // none (IPv4)
                       std::memcpy(pkt.data(), &ip, sizeof(ip));
                       std::memcpy(pkt.data() + sizeof(ip), &udp, sizeof(udp));
                       const size_t len = sizeof(ip) + sizeof(udp) + n;
                       if (sendto(raw, pkt.data(), len, 0, reinterpret_cast<sockaddr*>(&me), sizeof(me)) !=
                           static_cast<ssize_t>(len))
                         return 7;
                     }
                     char buf[64];
                     for (const ssize_t n : {10, 20, 30}) {
                       if (recv(rx, buf, sizeof(buf), MSG_DONTWAIT) != n) return 8;
                     }
                     return 0;
                   }),
            0);
  const Totals got = totals(cg, IPCT_KIND_UDP, IPCT_DIR_RECV, [&](const ipct_flow_key& k) {
    return k.ch.inet.netns == *netns && k.ch.inet.lport == kPort && k.ch.inet.rport == kPeerPort;
  });
  EXPECT_EQ(got.msgs, 3U);
  EXPECT_EQ(got.bytes, 60U);
  EXPECT_EQ(totals(cg, IPCT_KIND_UDP, IPCT_DIR_SEND).entries, 0U);  // the raw socket is no UDP sender

  auto samples = tracer_->read_flows();
  ASSERT_TRUE(samples.ok());
  std::vector<FlowSample> ours;
  for (const FlowSample& f : *samples) {
    if (f.key.cgroup_id == cg.id()) ours.push_back(f);
  }
  const std::vector<ChannelFlow> flows = join_flows(ours);
  ASSERT_EQ(flows.size(), 1U);
  const ChannelFlow& f = flows[0];
  EXPECT_EQ(f.src, EndpointRef::address("10.1.2.3"));  // the peer's address, not its port
  EXPECT_EQ(f.dst, EndpointRef::cgroup(cg.id()));
  EXPECT_TRUE(f.counted_at_receiver);
  EXPECT_EQ(f.msgs, 3U);
  EXPECT_EQ(f.bytes, 60U);
  EXPECT_EQ(f.recv_msgs, 3U);
  EXPECT_EQ(f.recv_bytes, 60U);
}

// A thousand connections of one process to one listener: keys that differ only in the client's
// port (bits 48-63 of a word of the key) are a thousand flows, each with its own index bucket, so
// the table takes one entry per flow and none is lost (a hash that left those bits out of the bucket
// put them all in one run of buckets, and every send took an entry of its own until the table was
// full).
TEST_P(TracerTest, ManyConnectionsOfOneProcessAreOneFlowEach) {
  constexpr int kConnections = 1000;
  constexpr int kSends = 20;
  TestCgroup client_cg("tcp-many-c");
  TestCgroup server_cg("tcp-many-s");
  sockaddr_in addr{};
  const int listener = tcp_listener(addr, 128);
  ASSERT_GE(listener, 0);
  const uint16_t server_port = ntohs(addr.sin_port);
  const uint64_t lost_before = tracer_->read_drops()[IPCT_DROP_FOLD_MAP_FULL];

  const pid_t server = spawn(&server_cg, [&] {
    size_t total = 0;
    for (int i = 0; i < kConnections; ++i) {
      const int c = accept(listener, nullptr, nullptr);
      if (c < 0) return 1;
      char buf[4096];
      ssize_t n;
      while ((n = recv(c, buf, sizeof(buf), 0)) > 0) total += static_cast<size_t>(n);
      close(c);
    }
    return total == size_t{kConnections} * kSends * 10 ? 0 : 2;
  });
  const pid_t client = spawn(&client_cg, [&] {
    const char buf[10] = {};
    for (int i = 0; i < kConnections; ++i) {
      const int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      // Each from an address of its own in 127/8: loopback reuses a port in TIME_WAIT
      // (tcp_tw_reuse=2), which would make two connections one 4-tuple, one flow.
      sockaddr_in from{};
      from.sin_family = AF_INET;
      from.sin_addr.s_addr = htonl(0x7f000000U | (static_cast<uint32_t>(i / 250 + 1) << 8) | (i % 250 + 1));
      if (bind(s, reinterpret_cast<const sockaddr*>(&from), sizeof(from)) != 0) return 3;
      if (connect(s, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) != 0) return 1;
      for (int j = 0; j < kSends; ++j) {
        if (send(s, buf, sizeof(buf), 0) != 10) return 2;
      }
      close(s);
    }
    return 0;
  });
  ASSERT_EQ(wait_exit(client), 0);
  ASSERT_EQ(wait_exit(server), 0);
  close(listener);

  const Totals sent = totals(client_cg, IPCT_KIND_TCP, IPCT_DIR_SEND,
                             [&](const ipct_flow_key& k) { return k.ch.inet.rport == server_port; });
  EXPECT_EQ(sent.msgs, uint64_t{kConnections} * kSends);
  EXPECT_EQ(sent.bytes, uint64_t{kConnections} * kSends * 10);
  EXPECT_EQ(sent.entries, size_t{kConnections});
  const Totals got = totals(server_cg, IPCT_KIND_TCP, IPCT_DIR_RECV,
                            [&](const ipct_flow_key& k) { return k.ch.inet.lport == server_port; });
  EXPECT_EQ(got.bytes, uint64_t{kConnections} * kSends * 10);
  EXPECT_EQ(got.entries, size_t{kConnections});
  EXPECT_EQ(tracer_->read_drops()[IPCT_DROP_FOLD_MAP_FULL] - lost_before, 0U);
}

TEST_P(TracerTest, UdpOverLoopback) {
  TestCgroup cg("udp");
  const int receiver = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(receiver, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  socklen_t alen = sizeof(addr);
  ASSERT_EQ(getsockname(receiver, reinterpret_cast<sockaddr*>(&addr), &alen), 0);
  const uint16_t port = ntohs(addr.sin_port);
  ASSERT_EQ(run_in(&cg,
                   [&] {
                     const int s = socket(AF_INET, SOCK_DGRAM, 0);
                     if (connect(s, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) return 1;
                     char buf[200] = {};
                     for (int i = 0; i < 3; ++i) {
                       if (send(s, buf, sizeof(buf), 0) != 200) return 2;
                     }
                     for (int i = 0; i < 3; ++i) {
                       if (recv(receiver, buf, sizeof(buf), 0) != 200) return 3;
                     }
                     return 0;
                   }),
            0);
  close(receiver);
  const Totals sent =
      totals(cg, IPCT_KIND_UDP, IPCT_DIR_SEND, [&](const ipct_flow_key& k) { return k.ch.inet.rport == port; });
  EXPECT_EQ(sent.msgs, 3U);
  EXPECT_EQ(sent.bytes, 600U);
  const Totals got =
      totals(cg, IPCT_KIND_UDP, IPCT_DIR_RECV, [&](const ipct_flow_key& k) { return k.ch.inet.lport == port; });
  EXPECT_EQ(got.msgs, 3U);
  EXPECT_EQ(got.bytes, 600U);
}

namespace {

// A UDP socket bound to `host` (a port the kernel picks, in `*port`); -1 on failure.
int udp_bound(int family, const char* host, uint16_t* port) {
  const int fd = socket(family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  sockaddr_storage ss{};
  socklen_t len = family == AF_INET ? sizeof(sockaddr_in) : sizeof(sockaddr_in6);
  ss.ss_family = static_cast<sa_family_t>(family);
  inet_pton(family, host,
            family == AF_INET ? static_cast<void*>(&reinterpret_cast<sockaddr_in*>(&ss)->sin_addr)
                              : static_cast<void*>(&reinterpret_cast<sockaddr_in6*>(&ss)->sin6_addr));
  if (fd < 0 || bind(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) {
    if (fd >= 0) close(fd);
    return -1;
  }
  *port = ntohs(family == AF_INET ? reinterpret_cast<sockaddr_in*>(&ss)->sin_port
                                  : reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port);
  return fd;
}

// Sends keyed to `host`:`port` (an IPv4-mapped address as written, ::ffff:a.b.c.d).
std::function<bool(const ipct_flow_key&)> sent_to(int family, const char* host, uint16_t port) {
  return [=](const ipct_flow_key& k) {
    uint8_t want[16] = {};
    inet_pton(family, host, want);
    return k.ch.inet.family == (family == AF_INET ? AF_INET : AF_INET6) && k.ch.inet.rport == port &&
           std::memcmp(k.ch.inet.raddr, want, family == AF_INET ? 4 : 16) == 0;
  };
}

}  // namespace

// An unconnected UDP socket names its destination with each call: 11 datagrams from one cgroup
// to 4 receivers in another, with sendto() and sendmsg(), over IPv4 and IPv6 (an IPv4 address
// named on an IPv6 socket is its IPv4-mapped address; the unspecified address sends to this
// host), are one entry per destination with its exact figures, and none to an unknown peer.
// A connected socket naming no address keeps its peer.
TEST_P(TracerTest, UnconnectedUdpSendsAreKeyedPerDestination) {
  TestCgroup sender_cg("udp-unconn-s");
  TestCgroup receiver_cg("udp-unconn-r");
  uint16_t p1 = 0;
  uint16_t p2 = 0;
  uint16_t p3 = 0;
  uint16_t p4 = 0;
  const int r1 = udp_bound(AF_INET, "127.0.0.1", &p1);
  const int r2 = udp_bound(AF_INET, "127.0.0.1", &p2);
  const int r3 = udp_bound(AF_INET6, "::1", &p3);
  const int r4 = udp_bound(AF_INET6, "::", &p4);  // dual-stack: takes 127.0.0.1 too
  ASSERT_TRUE(r1 >= 0 && r2 >= 0 && r3 >= 0 && r4 >= 0);
  auto v4 = [](const char* host, uint16_t port) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    inet_pton(AF_INET, host, &a.sin_addr);
    return a;
  };
  auto v6 = [](const char* host, uint16_t port) {
    sockaddr_in6 a{};
    a.sin6_family = AF_INET6;
    a.sin6_port = htons(port);
    inet_pton(AF_INET6, host, &a.sin6_addr);
    return a;
  };
  ASSERT_EQ(run_in(&sender_cg,
                   [&] {
                     const int s4 = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
                     const int s6 = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
                     const int c4 = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
                     const char buf[64] = {};
                     sockaddr_in to1 = v4("127.0.0.1", p1);
                     sockaddr_in to1_any = v4("0.0.0.0", p1);  // this host: loopback, as unbound
                     sockaddr_in to2 = v4("127.0.0.1", p2);
                     sockaddr_in6 to3 = v6("::1", p3);
                     sockaddr_in to4 = v4("127.0.0.1", p4);  // on s6: ::ffff:127.0.0.1
                     auto send_to = [&](int s, const void* to, socklen_t len, size_t n) {
                       return sendto(s, buf, n, 0, static_cast<const sockaddr*>(to), len) == static_cast<ssize_t>(n);
                     };
                     auto send_msg = [&](int s, void* to, socklen_t len, size_t n) {
                       iovec iov{const_cast<char*>(buf), n};
                       msghdr m{};
                       m.msg_name = to;
                       m.msg_namelen = len;
                       m.msg_iov = &iov;
                       m.msg_iovlen = 1;
                       return sendmsg(s, &m, 0) == static_cast<ssize_t>(n);
                     };
                     // 3 + 1 to r1 (1 B each), 4 to r2 (20 B), 2 to r3 (30 B), 1 to r4 (40 B)
                     for (int i = 0; i < 3; ++i) {
                       if (!send_to(s4, &to1, sizeof(to1), 1)) return 1;
                     }
                     if (!send_to(s4, &to1_any, sizeof(to1_any), 1)) return 2;
                     for (int i = 0; i < 4; ++i) {
                       if (!send_msg(s4, &to2, sizeof(to2), 20)) return 3;
                     }
                     for (int i = 0; i < 2; ++i) {
                       if (!send_msg(s6, &to3, sizeof(to3), 30)) return 4;
                     }
                     if (!send_to(s6, &to4, sizeof(to4), 40)) return 5;
                     // connected, no address named: its peer, r2 (5 B)
                     if (connect(c4, reinterpret_cast<sockaddr*>(&to2), sizeof(to2)) != 0) return 6;
                     if (send(c4, buf, 5, 0) != 5) return 7;
                     // a refused address: nothing
                     sockaddr_in bad = v4("127.0.0.1", 0);
                     if (send_to(s4, &bad, sizeof(bad), 1)) return 8;
                     close(s4);
                     close(s6);
                     close(c4);
                     return 0;
                   }),
            0);
  ASSERT_EQ(run_in(&receiver_cg,
                   [&] {
                     char buf[64];
                     const std::array<std::pair<int, int>, 4> expect{{{r1, 4}, {r2, 5}, {r3, 2}, {r4, 1}}};
                     for (const auto& [fd, n] : expect) {
                       for (int i = 0; i < n; ++i) {
                         if (recv(fd, buf, sizeof(buf), 0) < 0) return 1;
                       }
                     }
                     return 0;
                   }),
            0);
  for (int fd : {r1, r2, r3, r4}) close(fd);
  const Totals d1 = totals(sender_cg, IPCT_KIND_UDP, IPCT_DIR_SEND, sent_to(AF_INET, "127.0.0.1", p1));
  EXPECT_EQ(d1.msgs, 4U);
  EXPECT_EQ(d1.bytes, 4U);
  EXPECT_EQ(d1.entries, 1U);
  const Totals d2 = totals(sender_cg, IPCT_KIND_UDP, IPCT_DIR_SEND, sent_to(AF_INET, "127.0.0.1", p2));
  EXPECT_EQ(d2.msgs, 5U);
  EXPECT_EQ(d2.bytes, 85U);
  EXPECT_EQ(d2.entries, 2U);  // the unconnected socket's and the connected one's
  const Totals d3 = totals(sender_cg, IPCT_KIND_UDP, IPCT_DIR_SEND, sent_to(AF_INET6, "::1", p3));
  EXPECT_EQ(d3.msgs, 2U);
  EXPECT_EQ(d3.bytes, 60U);
  const Totals d4 = totals(sender_cg, IPCT_KIND_UDP, IPCT_DIR_SEND, sent_to(AF_INET6, "::ffff:127.0.0.1", p4));
  EXPECT_EQ(d4.msgs, 1U);
  EXPECT_EQ(d4.bytes, 40U);
  const Totals all = totals(sender_cg, IPCT_KIND_UDP, IPCT_DIR_SEND);
  EXPECT_EQ(all.msgs, 12U);
  EXPECT_EQ(all.bytes, 189U);
  EXPECT_EQ(all.entries, 5U);  // no entry to an unknown peer
  const Totals got = totals(receiver_cg, IPCT_KIND_UDP, IPCT_DIR_RECV);
  EXPECT_EQ(got.msgs, 12U);
  EXPECT_EQ(got.bytes, 189U);
  EXPECT_EQ(got.entries, 4U);
}

// sendmmsg() on an unconnected socket sends each message where its own msg_name says. One vector
// of 5 datagrams to two IPv4 receivers, sent twice (the second call reuses the vector: its
// messages are counted from the first again), and 2 datagrams from an IPv6 socket to ::1 and to
// a dual-stack receiver's IPv4-mapped address: one entry per destination with its exact figures,
// none to an unknown peer.
TEST_P(TracerTest, UnconnectedUdpSendmmsgIsKeyedPerMessage) {
  TestCgroup sender_cg("udp-mmsg-s");
  TestCgroup receiver_cg("udp-mmsg-r");
  uint16_t p1 = 0;
  uint16_t p2 = 0;
  uint16_t p3 = 0;
  uint16_t p4 = 0;
  const int r1 = udp_bound(AF_INET, "127.0.0.1", &p1);
  const int r2 = udp_bound(AF_INET, "127.0.0.1", &p2);
  const int r3 = udp_bound(AF_INET6, "::1", &p3);
  const int r4 = udp_bound(AF_INET6, "::", &p4);
  ASSERT_TRUE(r1 >= 0 && r2 >= 0 && r3 >= 0 && r4 >= 0);
  ASSERT_EQ(run_in(&sender_cg,
                   [&] {
                     const int s4 = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
                     const int s6 = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
                     char buf[64] = {};
                     sockaddr_in to1{};
                     to1.sin_family = AF_INET;
                     to1.sin_port = htons(p1);
                     to1.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
                     sockaddr_in to2 = to1;
                     to2.sin_port = htons(p2);
                     sockaddr_in6 to3{};
                     to3.sin6_family = AF_INET6;
                     to3.sin6_port = htons(p3);
                     to3.sin6_addr = in6addr_loopback;
                     sockaddr_in to4 = to1;  // on s6: ::ffff:127.0.0.1
                     to4.sin_port = htons(p4);
                     // r1 10 B, r2 20 B, r1 11 B, r2 21 B, r1 12 B
                     const std::array<std::pair<sockaddr_in*, size_t>, 5> plan{
                         {{&to1, 10}, {&to2, 20}, {&to1, 11}, {&to2, 21}, {&to1, 12}}};
                     std::array<iovec, 5> iov{};
                     std::array<mmsghdr, 5> msgs{};
                     for (size_t i = 0; i < plan.size(); ++i) {
                       iov[i] = {buf, plan[i].second};
                       msgs[i].msg_hdr.msg_name = plan[i].first;
                       msgs[i].msg_hdr.msg_namelen = sizeof(sockaddr_in);
                       msgs[i].msg_hdr.msg_iov = &iov[i];
                       msgs[i].msg_hdr.msg_iovlen = 1;
                     }
                     for (int call = 0; call < 2; ++call) {  // the same vector twice
                       if (sendmmsg(s4, msgs.data(), msgs.size(), 0) != 5) return 1;
                     }
                     std::array<iovec, 2> iov6{{{buf, 30}, {buf, 40}}};
                     std::array<mmsghdr, 2> msgs6{};
                     msgs6[0].msg_hdr.msg_name = &to3;
                     msgs6[0].msg_hdr.msg_namelen = sizeof(to3);
                     msgs6[1].msg_hdr.msg_name = &to4;
                     msgs6[1].msg_hdr.msg_namelen = sizeof(to4);
                     for (size_t i = 0; i < msgs6.size(); ++i) {
                       msgs6[i].msg_hdr.msg_iov = &iov6[i];
                       msgs6[i].msg_hdr.msg_iovlen = 1;
                     }
                     if (sendmmsg(s6, msgs6.data(), msgs6.size(), 0) != 2) return 2;
                     close(s4);
                     close(s6);
                     return 0;
                   }),
            0);
  ASSERT_EQ(run_in(&receiver_cg,
                   [&] {
                     char buf[64];
                     const std::array<std::pair<int, int>, 4> expect{{{r1, 6}, {r2, 4}, {r3, 1}, {r4, 1}}};
                     for (const auto& [fd, n] : expect) {
                       for (int i = 0; i < n; ++i) {
                         if (recv(fd, buf, sizeof(buf), MSG_DONTWAIT) < 0) return 1;
                       }
                     }
                     return 0;
                   }),
            0);
  for (int fd : {r1, r2, r3, r4}) close(fd);
  const Totals got = totals(receiver_cg, IPCT_KIND_UDP, IPCT_DIR_RECV);
  EXPECT_EQ(got.msgs, 12U);
  EXPECT_EQ(got.bytes, 218U);
  const Totals all = totals(sender_cg, IPCT_KIND_UDP, IPCT_DIR_SEND);
  EXPECT_EQ(all.msgs, 12U);
  EXPECT_EQ(all.bytes, 218U);
  if (!tracer_->plan().mmsg_index) {
    // Sockets on a syscall path (sockets_on_sys_exit; 6.1): one entry per sending socket, to an
    // unknown destination (README, known limits).
    EXPECT_EQ(all.entries, 2U);
    EXPECT_EQ(
        totals(sender_cg, IPCT_KIND_UDP, IPCT_DIR_SEND, [](const ipct_flow_key& k) { return k.ch.inet.rport == 0; })
            .msgs,
        12U);
    return;
  }
  const Totals d1 = totals(sender_cg, IPCT_KIND_UDP, IPCT_DIR_SEND, sent_to(AF_INET, "127.0.0.1", p1));
  EXPECT_EQ(d1.msgs, 6U);
  EXPECT_EQ(d1.bytes, 66U);
  EXPECT_EQ(d1.entries, 1U);
  const Totals d2 = totals(sender_cg, IPCT_KIND_UDP, IPCT_DIR_SEND, sent_to(AF_INET, "127.0.0.1", p2));
  EXPECT_EQ(d2.msgs, 4U);
  EXPECT_EQ(d2.bytes, 82U);
  EXPECT_EQ(d2.entries, 1U);
  const Totals d3 = totals(sender_cg, IPCT_KIND_UDP, IPCT_DIR_SEND, sent_to(AF_INET6, "::1", p3));
  EXPECT_EQ(d3.msgs, 1U);
  EXPECT_EQ(d3.bytes, 30U);
  const Totals d4 = totals(sender_cg, IPCT_KIND_UDP, IPCT_DIR_SEND, sent_to(AF_INET6, "::ffff:127.0.0.1", p4));
  EXPECT_EQ(d4.msgs, 1U);
  EXPECT_EQ(d4.bytes, 40U);
  EXPECT_EQ(all.entries, 4U);  // no entry to an unknown peer
}

// A sendmmsg() can send a message and still fail: its vector read-only, the kernel sends message
// 0 and fails writing its length (EFAULT, no message reported). The count of the call's messages
// ends with it all the same: the next call on the same vector, writable again, sends message 0
// (10 B) to r1 and message 1 (20 B) to r2, not message 1 first. The failed call's datagram was
// sent: the socket tracepoints count it, the syscall paths (which see only the failure) do not.
TEST_P(TracerTest, ASendmmsgThatFailsAfterSendingStillEndsItsCount) {
  TestCgroup cg("udp-mmsg-fail");
  uint16_t p1 = 0;
  uint16_t p2 = 0;
  const int r1 = udp_bound(AF_INET, "127.0.0.1", &p1);
  const int r2 = udp_bound(AF_INET, "127.0.0.1", &p2);
  ASSERT_TRUE(r1 >= 0 && r2 >= 0);
  ASSERT_EQ(run_in(&cg,
                   [&] {
                     const int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
                     const auto page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
                     void* mem = mmap(nullptr, page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
                     if (s < 0 || mem == MAP_FAILED) return 1;
                     char buf[32];
                     std::array<sockaddr_in, 2> to{};
                     std::array<iovec, 2> iov{{{buf, 10}, {buf, 20}}};
                     auto* msgs = static_cast<mmsghdr*>(mem);
                     for (size_t i = 0; i < 2; ++i) {
                       to[i].sin_family = AF_INET;
                       to[i].sin_port = htons(i == 0 ? p1 : p2);
                       to[i].sin_addr.s_addr = htonl(INADDR_LOOPBACK);
                       msgs[i].msg_hdr.msg_name = &to[i];
                       msgs[i].msg_hdr.msg_namelen = sizeof(sockaddr_in);
                       msgs[i].msg_hdr.msg_iov = &iov[i];
                       msgs[i].msg_hdr.msg_iovlen = 1;
                     }
                     int rc = 0;
                     if (mprotect(mem, page, PROT_READ) != 0) rc = 2;
                     if (rc == 0 && (sendmmsg(s, msgs, 2, 0) != -1 || errno != EFAULT)) rc = 3;
                     if (rc == 0 && mprotect(mem, page, PROT_READ | PROT_WRITE) != 0) rc = 4;
                     if (rc == 0 && sendmmsg(s, msgs, 2, 0) != 2) rc = 5;
                     munmap(mem, page);
                     close(s);
                     return rc;
                   }),
            0);
  char rbuf[32];
  EXPECT_EQ(recv(r1, rbuf, sizeof(rbuf), MSG_DONTWAIT), 10);  // the failed call's
  EXPECT_EQ(recv(r1, rbuf, sizeof(rbuf), MSG_DONTWAIT), 10);
  EXPECT_EQ(recv(r2, rbuf, sizeof(rbuf), MSG_DONTWAIT), 20);
  close(r1);
  close(r2);
  if (!tracer_->plan().mmsg_index) {
    const Totals all = totals(cg, IPCT_KIND_UDP, IPCT_DIR_SEND);
    EXPECT_EQ(all.msgs, 2U);
    EXPECT_EQ(all.bytes, 30U);
    return;
  }
  const Totals d1 = totals(cg, IPCT_KIND_UDP, IPCT_DIR_SEND, sent_to(AF_INET, "127.0.0.1", p1));
  EXPECT_EQ(d1.msgs, 2U);
  EXPECT_EQ(d1.bytes, 20U);
  const Totals d2 = totals(cg, IPCT_KIND_UDP, IPCT_DIR_SEND, sent_to(AF_INET, "127.0.0.1", p2));
  EXPECT_EQ(d2.msgs, 1U);
  EXPECT_EQ(d2.bytes, 20U);
  EXPECT_EQ(totals(cg, IPCT_KIND_UDP, IPCT_DIR_SEND).entries, 2U);
}

// sendmmsg() of unix datagrams to two names from an unbound, unconnected socket: a filesystem
// name and an abstract one, alternating, each message tagged with the name it names.
TEST_P(TracerTest, UnconnectedUnixSendmmsgCarriesEachMessagesName) {
  TestCgroup client_cg("unix-mmsg-c");
  TestCgroup server_cg("unix-mmsg-s");
  const NamedReceivers r = named_receivers("mmsg");
  ASSERT_TRUE(r.a >= 0 && r.b >= 0);
  const std::string& path = r.path;
  sockaddr_un to_path = r.to_path;  // copies: the calls take them unqualified
  sockaddr_un to_abstract = r.to_abstract;
  const socklen_t abstract_len = r.abstract_len;
  const int a = r.a;
  const int b = r.b;
  const int client = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  ASSERT_EQ(run_in(&client_cg,
                   [&] {
                     char buf[16] = {};
                     // a 7 B, b 9 B, a 7 B, b 9 B, a 7 B
                     std::array<iovec, 5> iov{};
                     std::array<mmsghdr, 5> msgs{};
                     for (size_t i = 0; i < msgs.size(); ++i) {
                       const bool to_a = i % 2 == 0;
                       iov[i] = {buf, to_a ? 7U : 9U};
                       msgs[i].msg_hdr.msg_name = to_a ? &to_path : &to_abstract;
                       msgs[i].msg_hdr.msg_namelen = to_a ? sizeof(to_path) : abstract_len;
                       msgs[i].msg_hdr.msg_iov = &iov[i];
                       msgs[i].msg_hdr.msg_iovlen = 1;
                     }
                     return sendmmsg(client, msgs.data(), msgs.size(), 0) == 5 ? 0 : 1;
                   }),
            0);
  ASSERT_EQ(run_in(&server_cg,
                   [&] {
                     char buf[16];
                     for (int i = 0; i < 3; ++i) {
                       if (recv(a, buf, sizeof(buf), MSG_DONTWAIT) != 7) return 1;
                     }
                     for (int i = 0; i < 2; ++i) {
                       if (recv(b, buf, sizeof(buf), MSG_DONTWAIT) != 9) return 2;
                     }
                     return 0;
                   }),
            0);
  const uint64_t a_ino = ino_of(a);
  const uint64_t b_ino = ino_of(b);
  const uint64_t client_ino = ino_of(client);
  close(a);
  close(b);
  close(client);
  unlink(path.c_str());
  const uint64_t a_tag = recv_tag(a_ino);
  const uint64_t b_tag = recv_tag(b_ino);
  ASSERT_NE(a_tag, 0U);
  ASSERT_NE(b_tag, 0U);
  ASSERT_NE(a_tag, b_tag);
  EXPECT_EQ(totals(server_cg, IPCT_KIND_UNIX_DGRAM, IPCT_DIR_RECV, obj(a_ino)).bytes, 21U);
  EXPECT_EQ(totals(server_cg, IPCT_KIND_UNIX_DGRAM, IPCT_DIR_RECV, obj(b_ino)).bytes, 18U);
  const Totals sent = totals(client_cg, IPCT_KIND_UNIX_DGRAM, IPCT_DIR_SEND);
  EXPECT_EQ(sent.msgs, 5U);
  EXPECT_EQ(sent.bytes, 39U);
  if (!tracer_->plan().mmsg_index) {
    // Sockets on a syscall path (sockets_on_sys_exit; 6.1): one entry for the call, no name.
    EXPECT_EQ(sent.entries, 1U);
    EXPECT_EQ(totals(client_cg, IPCT_KIND_UNIX_DGRAM, IPCT_DIR_SEND, named(client_ino, 0)).msgs, 5U);
    return;
  }
  const Totals to_a = totals(client_cg, IPCT_KIND_UNIX_DGRAM, IPCT_DIR_SEND, named(client_ino, a_tag));
  EXPECT_EQ(to_a.msgs, 3U);
  EXPECT_EQ(to_a.bytes, 21U);
  const Totals to_b = totals(client_cg, IPCT_KIND_UNIX_DGRAM, IPCT_DIR_SEND, named(client_ino, b_tag));
  EXPECT_EQ(to_b.msgs, 2U);
  EXPECT_EQ(to_b.bytes, 18U);
  EXPECT_EQ(sent.entries, 2U);
}

TEST_P(TracerTest, SharedMemoryAttachedByTwoProcesses) {
  TestCgroup owner_cg("shm-a");
  TestCgroup other_cg("shm-b");
  Shared<int> shmid;
  auto attach_detach = [&] {
    void* p = shmat(*shmid, nullptr, 0);
    if (reinterpret_cast<intptr_t>(p) == -1) return 1;
    static_cast<char*>(p)[0] = 1;
    return shmdt(p) == 0 ? 0 : 2;
  };
  ASSERT_EQ(run_in(&owner_cg,
                   [&] {
                     *shmid = shmget(IPC_PRIVATE, 8192, IPC_CREAT | 0600);
                     return *shmid >= 0 ? attach_detach() : 1;
                   }),
            0);
  ASSERT_EQ(run_in(&other_cg, attach_detach), 0);
  ASSERT_EQ(run_in(&owner_cg, [&] { return shmctl(*shmid, IPC_RMID, nullptr) == 0 ? 0 : 1; }), 0);

  std::vector<ipct_event> all;
  ASSERT_TRUE(tracer_
                  ->drain_events([&](const ipct_event& e) {
                    if (e.kind == IPCT_KIND_SYSV_SHM && (e.cgroup_id == owner_cg.id() || e.cgroup_id == other_cg.id()))
                      all.push_back(e);
                  })
                  .ok());
  ASSERT_EQ(all.size(), 6U);
  const uint32_t ipc = self_ns("ipc");
  EXPECT_EQ(all[0].op, IPCT_OP_CREATE);
  EXPECT_EQ(all[0].id, static_cast<uint64_t>(*shmid));
  EXPECT_EQ(all[0].aux2, 8192U);  // size
  EXPECT_EQ(all[0].dev, ipc);
  EXPECT_EQ(all[1].op, IPCT_OP_ATTACH);
  EXPECT_EQ(all[1].cgroup_id, owner_cg.id());
  EXPECT_EQ(all[2].op, IPCT_OP_DETACH);
  EXPECT_EQ(all[2].aux, all[1].aux);  // the address attached
  EXPECT_EQ(all[3].op, IPCT_OP_ATTACH);
  EXPECT_EQ(all[3].cgroup_id, other_cg.id());
  EXPECT_EQ(all[3].id, static_cast<uint64_t>(*shmid));
  EXPECT_EQ(all[4].op, IPCT_OP_DETACH);
  EXPECT_EQ(all[5].op, IPCT_OP_REMOVE);
  EXPECT_EQ(all[5].id, static_cast<uint64_t>(*shmid));
}

TEST_P(TracerTest, SignalsBetweenCgroups) {
  TestCgroup sender_cg("sig-s");
  TestCgroup target_cg("sig-t");
  const int sig = SIGRTMIN + 1;  // real-time signals queue: each one is delivered
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, sig);
  sigset_t old;
  ASSERT_EQ(sigprocmask(SIG_BLOCK, &set, &old), 0);  // children are born with it blocked
  const pid_t target = spawn(&target_cg, [&] {
    for (int i = 0; i < 3; ++i) {
      if (sigwaitinfo(&set, nullptr) != sig) return 1;
    }
    return 0;
  });
  const pid_t sender = spawn(&sender_cg, [&] {
    for (int i = 0; i < 3; ++i) {
      if (kill(target, sig) != 0) return 1;
    }
    return 0;
  });
  const int src = wait_exit(sender);
  const int trc = wait_exit(target);
  sigprocmask(SIG_SETMASK, &old, nullptr);
  ASSERT_EQ(src, 0);
  ASSERT_EQ(trc, 0);
  const Totals t = totals(sender_cg, IPCT_KIND_SIGNAL, IPCT_DIR_SEND, [&](const ipct_flow_key& k) {
    return k.ch.obj.id == target_cg.id() && k.ch.obj.dev == static_cast<uint32_t>(sig) &&
           k.ch.obj.peer == static_cast<uint64_t>(target);
  });
  EXPECT_EQ(t.msgs, 3U);
  EXPECT_EQ(t.bytes, 0U);
}

// A signal one process sends another is counted whatever the target does with it: SIGSTOP
// (delivered), SIGCONT to the stopped process (its default action "ignores" it: the
// tracepoint's result is IGNORED), SIGUSR1 to a process that ignores it, SIGTERM (kills it).
TEST_P(TracerTest, SignalsAreCountedWhateverTheTargetsDisposition) {
  TestCgroup sender_cg("sig-disp-s");
  TestCgroup target_cg("sig-disp-t");
  Shared<int> ready;  // shared memory, not IPC: the handshake adds no flow
  const pid_t target = spawn(&target_cg, [&] {
    prctl(PR_SET_NAME, "sig-target");
    std::signal(SIGUSR1, SIG_IGN);
    __atomic_store_n(&*ready, 1, __ATOMIC_SEQ_CST);
    for (;;) pause();
    return 0;
  });
  const pid_t sender = spawn(&sender_cg, [&] {
    for (int i = 0; i < 1000 && __atomic_load_n(&*ready, __ATOMIC_SEQ_CST) == 0; ++i) usleep(10 * 1000);
    if (__atomic_load_n(&*ready, __ATOMIC_SEQ_CST) == 0) return 4;  // named, disposition set
    if (kill(target, SIGSTOP) != 0) return 1;
    for (int i = 0; i < 200 && state_of(target) != 'T'; ++i) usleep(10 * 1000);
    if (state_of(target) != 'T') return 2;
    if (kill(target, SIGCONT) != 0 || kill(target, SIGUSR1) != 0 || kill(target, SIGTERM) != 0) return 3;
    return 0;
  });
  ASSERT_EQ(wait_exit(sender), 0);
  EXPECT_EQ(wait_exit(target), 128 + SIGTERM);
  for (int sig : {SIGSTOP, SIGCONT, SIGUSR1, SIGTERM}) {
    const Totals t = totals(sender_cg, IPCT_KIND_SIGNAL, IPCT_DIR_SEND, [&](const ipct_flow_key& k) {
      return k.ch.obj.id == target_cg.id() && k.ch.obj.dev == static_cast<uint32_t>(sig) &&
             k.ch.obj.peer == static_cast<uint64_t>(target);
    });
    EXPECT_EQ(t.msgs, 1U) << strsignal(sig);
  }
  // The target is named: the key carries its command.
  const Totals named = totals(sender_cg, IPCT_KIND_SIGNAL, IPCT_DIR_SEND, [&](const ipct_flow_key& k) {
    return k.ch.obj.peer == static_cast<uint64_t>(target) && std::string(k.ch.obj.comm) == "sig-target";
  });
  EXPECT_EQ(named.msgs, 4U);
}

// The programs fill one of two per-CPU flow tables while read_flows() takes in the other: reads
// in the middle of a busy channel switch tables under it, and nothing may be lost or counted
// twice at a switch.
TEST_P(TracerTest, FlowsStayExactAcrossTableSwitches) {
  TestCgroup cg("switches");
  int p[2];
  ASSERT_EQ(pipe(p), 0);
  const uint64_t ino = ino_of(p[0]);
  constexpr int kPairs = 200000;  // about 0.3 s here; a read takes 8-30 ms (a grace period)
  const pid_t child = spawn(&cg, [&] {
    char buf[10] = {};
    for (int i = 0; i < kPairs; ++i) {
      if (write(p[1], buf, sizeof(buf)) != 10 || read(p[0], buf, sizeof(buf)) != 10) return 1;
    }
    return 0;
  });
  close(p[0]);
  close(p[1]);
  auto exited = [](pid_t pid) {  // without reaping it
    siginfo_t si{};
    return waitid(P_PID, static_cast<id_t>(pid), &si, WEXITED | WNOHANG | WNOWAIT) == 0 && si.si_pid == pid;
  };
  int reads = 0;
  while (!exited(child)) {
    ASSERT_TRUE(tracer_->read_flows().ok());
    ++reads;
  }
  ASSERT_EQ(wait_exit(child), 0);
  const Totals sent = totals(cg, IPCT_KIND_PIPE, IPCT_DIR_SEND, obj(ino));
  EXPECT_EQ(sent.msgs, static_cast<uint64_t>(kPairs)) << reads << " reads during the loop";
  EXPECT_EQ(sent.bytes, 10U * kPairs);
  EXPECT_EQ(sent.entries, 1U);
  const Totals got = totals(cg, IPCT_KIND_PIPE, IPCT_DIR_RECV, obj(ino));
  EXPECT_EQ(got.msgs, static_cast<uint64_t>(kPairs));
  EXPECT_EQ(got.bytes, 10U * kPairs);
  EXPECT_GE(reads, 3) << "the loop ended too soon: too few table switches happened under it";
}

// 100 pipes, one write each (i + 1 bytes: 5,050 in all), for 64 kept flows of which one cgroup
// may fill 48 (the last quarter is kept for cgroups holding fewer than 64 / 64 flows,
// kFlowReserveDivisor): the 52 flows that find no room, in a CPU's table or in the tracer, are
// folded into the cgroup's (pipe, send) entry. Its totals stay exact; nothing is lost.
TEST_P(TracerTest, FullFlowMapFoldsWhatItCannotKeep) {
  TestCgroup cg("overflow");
  TracerConfig small;
  small.flow_map_entries = 64;
  small.only_cgroup = cg.id();
  small.test_only_without_rdonly_cast = GetParam().without_rdonly_cast;
  auto t = Tracer::start(small, hooks_);
  ASSERT_TRUE(t.ok()) << t.error().message();
  ASSERT_EQ(run_in(&cg,
                   [&] {
                     const std::vector<char> buf(100, 'x');
                     for (int i = 0; i < 100; ++i) {
                       if (!single_use_pipe(buf.data(), static_cast<size_t>(i) + 1)) return 1;
                     }
                     return 0;
                   }),
            0);
  auto flows = (*t)->read_flows();
  ASSERT_TRUE(flows.ok());
  uint64_t kept = 0;
  uint64_t kept_bytes = 0;
  std::vector<FlowSample> folded;
  for (const FlowSample& s : *flows) {
    ASSERT_EQ(s.key.cgroup_id, cg.id());
    ASSERT_EQ(s.key.kind, IPCT_KIND_PIPE);
    ASSERT_EQ(s.key.dir, IPCT_DIR_SEND);
    if (s.folded) {
      folded.push_back(s);
      continue;
    }
    EXPECT_EQ(s.msgs, 1U);
    ++kept;
    kept_bytes += s.bytes;
  }
  EXPECT_EQ(kept, 48U);
  ASSERT_EQ(folded.size(), 1U);
  EXPECT_EQ(folded[0].msgs, 52U);
  EXPECT_EQ(folded[0].bytes + kept_bytes, 5050U);
  EXPECT_EQ(folded[0].key._pad[0], kFoldedKeyMark);
  const DropCounts drops = (*t)->read_drops();
  EXPECT_EQ(drops[IPCT_DROP_FOLD_MAP_FULL], 0U);
  EXPECT_EQ(drops[IPCT_DROP_RINGBUF_FULL], 0U);
  // A second read adds nothing: the fold map's halves were emptied as they were read.
  flows = (*t)->read_flows();
  ASSERT_TRUE(flows.ok());
  EXPECT_EQ(std::count_if(flows->begin(), flows->end(), [](const FlowSample& s) { return s.folded && s.msgs == 52; }),
            1);
  // Forgotten like any flow.
  ASSERT_TRUE((*t)->delete_flows({folded[0].key}));
  flows = (*t)->read_flows();
  ASSERT_TRUE(flows.ok());
  EXPECT_EQ(std::count_if(flows->begin(), flows->end(), [](const FlowSample& s) { return s.folded; }), 0);
  EXPECT_EQ(flows->size(), 48U);
  // Read in place, deleted: what the read returned stays as it was until the next read, which
  // leaves them out; their room is free again: 10 more pipes are kept, none folded.
  auto held = (*t)->read_flows_in_place();
  ASSERT_TRUE(held.ok());
  const std::vector<FlowSample>& view = **held;
  ASSERT_EQ(view.size(), 48U);
  std::vector<ipct_flow_key> ten;
  for (size_t i = 0; i < 10; ++i) ten.push_back(view[i].key);
  ASSERT_TRUE((*t)->delete_flows(ten));
  ASSERT_EQ(view.size(), 48U);
  EXPECT_EQ(std::memcmp(&view[9].key, &ten[9], sizeof(ten[9])), 0);
  ASSERT_EQ(run_in(&cg,
                   [&] {
                     const std::vector<char> buf(200, 'y');  // more than any of the 100 above
                     for (int i = 0; i < 10; ++i) {
                       if (!single_use_pipe(buf.data(), buf.size())) return 1;
                     }
                     return 0;
                   }),
            0);
  held = (*t)->read_flows_in_place();
  ASSERT_TRUE(held.ok());
  EXPECT_EQ((*held)->size(), 48U);
  size_t fresh = 0;
  for (const FlowSample& s : **held) {
    EXPECT_FALSE(s.folded);
    for (const ipct_flow_key& k : ten) EXPECT_NE(std::memcmp(&s.key, &k, sizeof(k)), 0);
    if (s.bytes == 200) ++fresh;
  }
  EXPECT_EQ(fresh, 10U);
}

// The kernel memory the tracer's maps take is what Tracer::kernel_map_bytes() estimates for this
// node's possible CPUs (map_memory_bytes() of each map), and within the budget. Checked against
// what the kernel charges each map (the memlock line of its /proc/self/fdinfo entry), within 2%:
// on Linux 6.4+ that is the map's own map_mem_usage(); before, memlock was the keys and values
// rounded to a page (a hash map's element headers and buckets left out) and a ring buffer's data
// pages were not in it (7 and 2.3 MiB of ours on 6.1), so there only the arrays are compared. The formula's per-CPU
// part is what the budget scales (unit/kernel/map_budget_test.cpp).
TEST_P(TracerTest, TheMapsTakeTheMemoryTheBudgetEstimates) {
  struct Held {
    uint32_t type = 0, key = 0, value = 0, entries = 0;
    uint64_t memlock = 0;
  };
  auto maps_held = [] {
    std::map<uint64_t, Held> out;  // by map id
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator("/proc/self/fdinfo", ec)) {
      std::ifstream in(entry.path());
      uint64_t id = 0;
      Held h;
      for (std::string line; std::getline(in, line);) {
        const auto colon = line.find(':');
        if (colon == std::string::npos) continue;
        const std::string k = line.substr(0, colon);
        const uint64_t v = std::strtoull(line.c_str() + colon + 1, nullptr, 10);
        if (k == "map_id") id = v;
        if (k == "map_type") h.type = static_cast<uint32_t>(v);
        if (k == "key_size") h.key = static_cast<uint32_t>(v);
        if (k == "value_size") h.value = static_cast<uint32_t>(v);
        if (k == "max_entries") h.entries = static_cast<uint32_t>(v);
        if (k == "memlock") h.memlock = v;
      }
      if (id != 0) out[id] = h;
    }
    return out;
  };
  utsname u{};
  ASSERT_EQ(uname(&u), 0);
  char* dot = nullptr;
  const long major = std::strtol(u.release, &dot, 10);
  ASSERT_EQ(*dot, '.') << u.release;
  const long minor = std::strtol(dot + 1, nullptr, 10);
  const bool memlock_is_usage = major > 6 || (major == 6 && minor >= 4);
  const auto before = maps_held();
  TracerConfig config;
  config.test_only_without_rdonly_cast = GetParam().without_rdonly_cast;
  auto t = Tracer::start(config, hooks_);
  ASSERT_TRUE(t.ok()) << t.error().message();
  const auto cpus = static_cast<uint32_t>((*t)->possible_cpus());
  uint64_t all = 0;       // every map of the tracer, estimated
  uint64_t charged = 0;   // of those comparable, memlock
  uint64_t expected = 0;  // of those comparable, estimated
  for (const auto& [id, h] : maps_held()) {
    if (before.contains(id)) continue;
    const uint64_t est = map_memory_bytes(h.type, h.key, h.value, h.entries, cpus);
    all += est;
    const bool array = h.type == BPF_MAP_TYPE_ARRAY || h.type == BPF_MAP_TYPE_PERCPU_ARRAY;
    if (est < 4096 || (!array && !memlock_is_usage)) continue;  // a page's rounding is no error
    charged += h.memlock;
    expected += est;
  }
  std::cout << "kernel maps: " << (*t)->kernel_map_bytes() << " bytes estimated at start, " << all
            << " from the maps held; comparable " << charged << " charged, " << expected << " estimated; " << cpus
            << " possible CPUs, flow tables of " << (*t)->cpu_table_entries() << " entries per CPU\n";
  EXPECT_NEAR(static_cast<double>(all), static_cast<double>((*t)->kernel_map_bytes()), 0.01 * static_cast<double>(all));
  EXPECT_NEAR(static_cast<double>(charged), static_cast<double>(expected), 0.02 * static_cast<double>(expected));
  EXPECT_LE((*t)->kernel_map_bytes(), kKernelMapBudgetBytes);
  // What `ipctrace probe` prints is this, planned without loading anything.
  auto planned = Tracer::plan_memory(config, hooks_);
  ASSERT_TRUE(planned.ok()) << planned.error().message();
  EXPECT_EQ(planned->kernel_map_bytes, (*t)->kernel_map_bytes());
  EXPECT_EQ(planned->cpu_table_entries, (*t)->cpu_table_entries());
  EXPECT_EQ(planned->possible_cpus, cpus);
  // The 6.1 guest booted with 192 possible CPUs (tests/vm/run-matrix.sh, IPCTRACE_VM_MAXCPUS):
  // the tables sized down to what the budget leaves per CPU.
  const char* want = std::getenv("IPCTRACE_EXPECT_POSSIBLE_CPUS");
  const long want_cpus = want != nullptr ? std::strtol(want, nullptr, 10) : 0;
  if (want_cpus > 1) {
    EXPECT_EQ(cpus, static_cast<uint32_t>(want_cpus));
    EXPECT_LT((*t)->cpu_table_entries(), kMaxCpuFlowTableEntries);
  }
}

namespace {
// In a child's body: `n` single-write pipes (2 bytes each), all on CPU 0 so that one CPU's flow
// table takes them; 0, or 2 if the CPU could not be chosen, 1 if a pipe failed.
int single_use_pipes_on_cpu0(uint64_t n) {
  cpu_set_t one;
  CPU_ZERO(&one);
  CPU_SET(0, &one);
  if (sched_setaffinity(0, sizeof(one), &one) != 0) return 2;
  for (uint64_t i = 0; i < n; ++i) {
    if (!single_use_pipe("xy", 2)) return 1;
  }
  return 0;
}
}  // namespace

// The kernel's side of the fold: one CPU's table takes 16,384 new flows between two reads
// (kMaxCpuFlowTableEntries), the tracer keeps 65,536. 17,000 single-write pipes of one cgroup on
// one CPU: it fills three quarters of the table (12,288; the last quarter is for cgroups that
// took fewer than 256 of it, bpf/maps.bpf.h ipct_flow_share), and the programs fold the other
// 4,712 themselves (bpf/flow.bpf.h fold_op()); the tracer keeps every flow the table had. Under
// emulation (the 6.1 guest, where 17,000 pipes take half a minute per setup) each CPU's table is
// made 2,048 entries (TracerConfig::test_only_cpu_table_entries): of 2,664 pipes 1,536 are kept,
// 1,128 folded in the kernel.
TEST_P(TracerTest, AFullCpuTableFoldsInTheKernel) {
  const uint32_t table = time_scale() > 1 ? 2048 : kMaxCpuFlowTableEntries;
  const int kPipes = static_cast<int>(table) + 616;
  TestCgroup cg("overflow-cpu");
  TracerConfig config;
  config.test_only_cpu_table_entries = table;
  config.only_cgroup = cg.id();
  config.test_only_without_rdonly_cast = GetParam().without_rdonly_cast;
  auto t = Tracer::start(config, hooks_);
  ASSERT_TRUE(t.ok()) << t.error().message();
  ASSERT_EQ(run_in(&cg, [&] { return single_use_pipes_on_cpu0(static_cast<uint64_t>(kPipes)); }), 0);
  auto flows = (*t)->read_flows();
  ASSERT_TRUE(flows.ok());
  uint64_t kept = 0;
  uint64_t folded_msgs = 0;
  uint64_t folded_bytes = 0;
  for (const FlowSample& s : *flows) {
    if (s.folded) {
      folded_msgs += s.msgs;
      folded_bytes += s.bytes;
    } else {
      kept += s.msgs;
    }
  }
  const uint64_t keeps = table - table / kFlowReserveDivisor;
  EXPECT_EQ(kept, keeps);
  EXPECT_EQ(folded_msgs, kPipes - keeps);
  EXPECT_EQ(folded_bytes, 2 * (kPipes - keeps));
  EXPECT_EQ((*t)->read_drops()[IPCT_DROP_FOLD_MAP_FULL], 0U);
}

namespace {
// The process's resident memory (VmRSS) or its peak since the last reset (VmHWM): bytes.
uint64_t status_bytes(const char* field) {
  std::ifstream in("/proc/self/status");
  for (std::string line; std::getline(in, line);) {
    if (line.starts_with(field) && line.size() > std::strlen(field) && line[std::strlen(field)] == ':') {
      return std::strtoull(line.c_str() + std::strlen(field) + 1, nullptr, 10) * 1024;
    }
  }
  return 0;
}
}  // namespace

// The agent reads the flow tables a chunk of keys at a time (flow_read_chunk_keys(): each key
// with every possible CPU's entry, at most 1 MiB), not a table's keys at once: a read of a table
// one CPU filled raises the process's peak RSS by about the chunk and the flows kept, however
// many CPUs the node has. In the 6.1 guest booted with 192 possible CPUs (the matrix's maxcpus192
// test) a table holds 636 entries, 477 of them for one cgroup: read at once, 477 x 192 x 160
// bytes, 14 MiB. The flows it held are all there, kept or folded.
TEST_P(TracerTest, ReadingAFullTableTakesAChunkOfMemoryNotEveryCpusTable) {
  TestCgroup cg("read-chunk");
  TracerConfig config;
  config.only_cgroup = cg.id();
  config.test_only_without_rdonly_cast = GetParam().without_rdonly_cast;
  auto t = Tracer::start(config, hooks_);
  ASSERT_TRUE(t.ok()) << t.error().message();
  const KernelMemory m = (*t)->memory();
  EXPECT_LE(m.read_buffer_bytes(), uint64_t{1} << 20);
  // Enough to fill a table sized down by the budget (the guest's), and no more than emulation
  // makes in a few seconds where tables are large.
  const int kPipes = static_cast<int>(std::min(m.cpu_table_entries + 100, time_scale() > 1 ? 800U : 2048U));
  ASSERT_EQ(run_in(&cg, [&] { return single_use_pipes_on_cpu0(static_cast<uint64_t>(kPipes)); }), 0);
  // Free heap handed back first (glibc's allocator keeps it resident otherwise, and a read of any
  // size would fit in it unseen), then the peak reset to what is resident.
  malloc_trim(0);
  {
    std::ofstream reset("/proc/self/clear_refs");
    reset << "5";  // VmHWM := VmRSS (Linux 4.0+)
  }
  const uint64_t before = status_bytes("VmRSS");
  ASSERT_GT(before, 0U);
  auto flows = (*t)->read_flows();
  ASSERT_TRUE(flows.ok()) << flows.error().message();
  const uint64_t peak = status_bytes("VmHWM");
  uint64_t msgs = 0;
  uint64_t bytes = 0;
  for (const FlowSample& s : *flows) {
    msgs += s.msgs;
    bytes += s.bytes;
  }
  EXPECT_EQ(msgs, static_cast<uint64_t>(kPipes));
  EXPECT_EQ(bytes, 2U * static_cast<uint64_t>(kPipes));
  std::cout << "read of " << kPipes << " flows, " << m.possible_cpus << " possible CPUs, tables of "
            << m.cpu_table_entries << " entries: peak RSS " << before << " -> " << peak << " bytes (read buffer "
            << m.read_buffer_bytes() << ")\n";
  // The chunk (1 MiB at most), what the flows kept take (a few hundred bytes each, twice with
  // read_flows()'s copy) and the allocator's slack: 4 MiB more. Read at once, the guest's table
  // raised the peak by 16.8 MiB (2026-12-06).
  EXPECT_LE(peak, before + (uint64_t{5} << 20));
}

// A read of a flow table that fails part-way comes after the table was emptied for its next
// turn: the chunks read before the failure are kept, each entry of the failing chunk and after it
// is counted lost (flow_table_read_failed), the read says it failed, and the next read goes on.
// 1,000 single-write pipes on one CPU (500 under emulation), read in chunks of 128 keys (several
// chunks here, as on a node of many CPUs), the read of the chunk holding key 300 failing once it
// was read (as a batch read failing part-way would: TracerConfig::test_only_fail_flow_read_at_key):
// 256 kept + 744 lost = 1,000.
TEST_P(TracerTest, AFlowTableReadFailingPartWayCountsWhatItLost) {
  TestCgroup cg("read-fail");
  TracerConfig config;
  config.only_cgroup = cg.id();
  config.test_only_flow_read_chunk_keys = 128;
  config.test_only_fail_flow_read_at_key = 300;
  config.test_only_without_rdonly_cast = GetParam().without_rdonly_cast;
  const uint64_t pipes = time_scale() > 1 ? 500 : 1000;
  auto t = Tracer::start(config, hooks_);
  ASSERT_TRUE(t.ok()) << t.error().message();
  ASSERT_EQ(run_in(&cg, [&] { return single_use_pipes_on_cpu0(pipes); }), 0);
  EXPECT_EQ((*t)->read_drops()[IPCT_DROP_FLOW_READ_FAILED], 0U);
  auto failed = (*t)->read_flows();
  ASSERT_FALSE(failed.ok());
  EXPECT_NE(failed.error().message().find("read the flow table"), std::string::npos) << failed.error().message();
  EXPECT_EQ((*t)->read_drops()[IPCT_DROP_FLOW_READ_FAILED], pipes - 256);
  EXPECT_EQ(drop_reason_name(IPCT_DROP_FLOW_READ_FAILED), "flow_table_read_failed");
  auto next = (*t)->read_flows();  // the other table, empty: nothing to fail on
  ASSERT_TRUE(next.ok()) << next.error().message();
  uint64_t msgs = 0;
  uint64_t bytes = 0;
  for (const FlowSample& s : *next) {
    msgs += s.msgs;
    bytes += s.bytes;
  }
  EXPECT_EQ(msgs, 256U);
  EXPECT_EQ(bytes, 512U);
  EXPECT_EQ((*t)->read_drops()[IPCT_DROP_FLOW_READ_FAILED], pipes - 256);
  EXPECT_EQ((*t)->read_drops()[IPCT_DROP_FOLD_MAP_FULL], 0U);
}

// Read in chunks of a few keys, every flow of a table is there once: 1,000 single-write pipes
// (400 under emulation), chunks of 7 keys (the last one short).
TEST_P(TracerTest, AFlowTableReadInSmallChunksHasEveryFlowOnce) {
  TestCgroup cg("read-chunks");
  TracerConfig config;
  config.only_cgroup = cg.id();
  config.test_only_flow_read_chunk_keys = 7;
  config.test_only_without_rdonly_cast = GetParam().without_rdonly_cast;
  auto t = Tracer::start(config, hooks_);
  ASSERT_TRUE(t.ok()) << t.error().message();
  Shared<std::array<uint64_t, 1000>> inos;
  const size_t pipes = time_scale() > 1 ? 400 : 1000;
  ASSERT_EQ(run_in(&cg,
                   [&] {
                     for (size_t i = 0; i < pipes; ++i) {
                       int p[2];
                       if (pipe(p) != 0) return 1;
                       (*inos)[i] = ino_of(p[0]);
                       const std::string data(i % 50 + 1, 'z');
                       const bool ok = write(p[1], data.data(), data.size()) == static_cast<ssize_t>(data.size());
                       close(p[0]);
                       close(p[1]);
                       if (!ok) return 2;
                     }
                     return 0;
                   }),
            0);
  auto flows = (*t)->read_flows();
  ASSERT_TRUE(flows.ok()) << flows.error().message();
  std::map<uint64_t, std::pair<uint64_t, uint64_t>> by_pipe;  // inode -> messages, bytes
  for (const FlowSample& s : *flows) {
    ASSERT_FALSE(s.folded);
    ASSERT_EQ(s.key.kind, IPCT_KIND_PIPE);
    auto& [m, b] = by_pipe[s.key.ch.obj.id];
    m += s.msgs;
    b += s.bytes;
  }
  ASSERT_EQ(by_pipe.size(), pipes);
  for (size_t i = 0; i < pipes; ++i) {
    const auto it = by_pipe.find((*inos)[i]);
    ASSERT_NE(it, by_pipe.end()) << i;
    EXPECT_EQ(it->second.first, 1U) << i;
    EXPECT_EQ(it->second.second, i % 50 + 1) << i;
  }
  EXPECT_EQ((*t)->read_drops()[IPCT_DROP_FLOW_READ_FAILED], 0U);
}

TEST_P(TracerTest, HooksInUseMatchTheSetup) {
  const std::string setup = GetParam().name;
  const bool functions = setup == "auto" && function_hooks_work();
  std::map<Mechanism, HookFamily> family;
  std::map<Mechanism, std::vector<std::string>> programs;
  for (const auto& h : tracer_->hooks()) {
    if (h.programs.empty()) continue;
    // The wait-time programs are listed last, under pipe_fifo: keep the mechanism's own.
    if (!family.contains(h.mechanism)) {
      family[h.mechanism] = h.family;
      programs[h.mechanism] = h.programs;
    }
  }
  auto has = [&](Mechanism m, std::string_view prefix) {
    for (const auto& p : programs[m]) {
      if (p.starts_with(prefix)) return true;
    }
    return false;
  };
  // Sockets are served by the socket tracepoints wherever the kernel has them (6.3+), except
  // in the setup that plays an older kernel.
  const bool sock_tp = has(Mechanism::Unix, "ipct_sock_");
  auto btf = KernelBtf::load();
  ASSERT_TRUE(btf.ok());
  EXPECT_EQ(sock_tp, setup != "sockets_on_sys_exit" && (*btf)->has_btf_tracepoint("sock_send_length"));
  for (Mechanism m : {Mechanism::PipeFifo, Mechanism::SysvMsg, Mechanism::PosixMq, Mechanism::SysvShm}) {
    if (functions) {
      EXPECT_EQ(family[m], HookFamily::Fentry) << mechanism_name(m);
      EXPECT_TRUE(has(m, "ipct_fx_")) << mechanism_name(m);
    } else {
      EXPECT_EQ(family[m], setup == "raw_tp" ? HookFamily::RawTp : HookFamily::TpBtf) << mechanism_name(m);
      EXPECT_TRUE(has(m, "ipct_sys_exit")) << mechanism_name(m);
    }
  }
  if (!sock_tp) {
    EXPECT_EQ(has(Mechanism::Unix, "ipct_fx_read"), functions);
  }
  // The typed syscall path with plain loads where the kernel has bpf_rdonly_cast (6.2+), unless
  // the setup asks for the build without it.
  if (!functions && setup != "raw_tp") {
    const bool cast = !GetParam().without_rdonly_cast && (*btf)->has_function("bpf_rdonly_cast");
    EXPECT_EQ(tracer_->rdonly_cast(), cast);
    EXPECT_TRUE(has(Mechanism::PipeFifo, cast ? "ipct_sys_exit_cast" : "ipct_sys_exit_btf"));
  }
  // Wait time is on by default: on sys_enter beside sys_exit, or on function entries.
  bool sys_enter = false;
  bool fentry = false;
  for (const auto& h : tracer_->hooks()) {
    for (const auto& p : h.programs) {
      sys_enter |= p.starts_with("ipct_sys_enter");
      fentry |= p.starts_with("ipct_fe_");
    }
  }
  EXPECT_EQ(sys_enter, !functions);
  EXPECT_EQ(fentry, functions);
  EXPECT_TRUE(tracer_->wait_time());
  // io_uring's completions, where the tracepoint passes the request (6.1 and 6.18 do), in the
  // syscall path's family (typed beside function hooks). The BTF reading behind it, on known
  // tracepoints: sys_exit(regs, ret).
  EXPECT_TRUE((*btf)->tracepoint_arg_is_pointer("sys_exit", 0));
  EXPECT_FALSE((*btf)->tracepoint_arg_is_pointer("sys_exit", 1));
  EXPECT_FALSE((*btf)->tracepoint_arg_is_pointer("sys_exit", 2));
  EXPECT_FALSE((*btf)->tracepoint_arg_is_pointer("no_such_tracepoint", 0));
  const bool uring = (*btf)->tracepoint_arg_is_pointer("io_uring_complete", 1);
  std::optional<HookFamily> uring_family;
  for (const auto& h : tracer_->hooks()) {
    for (const auto& p : h.programs) {
      if (p.starts_with("ipct_uring_")) uring_family = h.family;
    }
  }
  EXPECT_EQ(uring_family.has_value(), uring);
  if (uring_family) {
    EXPECT_EQ(*uring_family, setup == "raw_tp" ? HookFamily::RawTp : HookFamily::TpBtf);
  }
}

namespace {

// Wait of the receiving calls of `cg` under `kind`.
WaitSample waits_of(Tracer* t, const TestCgroup& cg, int kind) {
  WaitSample out;
  auto waits = t->read_waits();
  EXPECT_TRUE(waits.ok());
  if (!waits) return out;
  for (const auto& w : *waits) {
    if (w.cgroup_id == cg.id() && w.kind == kind) out = w;
  }
  return out;
}

// The slot a wait of `ns` nanoseconds falls into: 0 under 1 us, else [2^(i-1), 2^i) us.
int slot_of_ns(uint64_t ns) {
  int slot = 0;
  for (uint64_t us = ns / 1000; us != 0; us >>= 1) ++slot;
  return slot;
}

uint64_t now_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ULL + static_cast<uint64_t>(ts.tv_nsec);
}

constexpr int kBlockMs = 150;

// Waits until `pid` sleeps inside system call `sysno` and returns the clock after seeing it: the
// call was entered before that moment.
uint64_t asleep_in(pid_t pid, long sysno) {
  for (int i = 0; i < 20000; ++i) {
    if (blocked_in(pid, sysno) && state_of(pid) == 'S') return now_ns();
    usleep(500);
  }
  ADD_FAILURE() << "process " << pid << " never blocked in system call " << sysno;
  return now_ns();
}

// The kernel's wait for one blocked call lies between what the sender knows (from seeing the
// caller asleep in the call to starting the send that wakes it) and what the caller measured
// around the call. Its histogram slot is exact where both bounds fall in the same slot.
void expect_one_wait(const WaitSample& w, uint64_t at_least_ns, uint64_t caller_ns) {
  EXPECT_EQ(w.count, 1U);
  EXPECT_LE(w.sum_ns, caller_ns);
  EXPECT_GE(w.sum_ns, at_least_ns);
  EXPECT_GE(at_least_ns, static_cast<uint64_t>(kBlockMs) * 1000000) << "the sender did hold back";
  if (slot_of_ns(caller_ns) == slot_of_ns(at_least_ns)) {
    EXPECT_EQ(w.slots[slot_of_ns(caller_ns)], 1U) << "waited " << w.sum_ns << " ns";
  }
}

// Holds the sender back while `pid` sleeps in `sysno`; returns how long the call has waited at
// least once the sender goes on.
uint64_t hold_back(pid_t pid, long sysno) {
  const uint64_t seen = asleep_in(pid, sysno);
  usleep(kBlockMs * 1000);
  return now_ns() - seen;
}

}  // namespace

TEST_P(TracerTest, WaitTimeOfABlockedPipeRead) {
  TestCgroup reader_cg("wait-pipe");
  int p[2];
  ASSERT_EQ(pipe(p), 0);
  Shared<uint64_t> measured;
  const pid_t reader = spawn(&reader_cg, [&] {
    close(p[1]);
    char buf[100];
    const uint64_t t0 = now_ns();
    const ssize_t n = read(p[0], buf, sizeof(buf));  // blocks until the write below
    *measured = now_ns() - t0;
    return n == 100 ? 0 : 1;
  });
  const uint64_t at_least = hold_back(reader, SYS_read);
  char buf[100] = {};
  ASSERT_TRUE(write_all(p[1], buf, sizeof(buf)));
  close(p[0]);
  close(p[1]);
  ASSERT_EQ(wait_exit(reader), 0);
  expect_one_wait(waits_of(tracer_, reader_cg, IPCT_KIND_PIPE), at_least, *measured);
}

TEST_P(TracerTest, WaitTimeOfABlockedMsgrcvAndUnixRecv) {
  TestCgroup cg("wait-msg");
  const int id = msgget(IPC_PRIVATE, IPC_CREAT | 0600);
  ASSERT_GE(id, 0);
  int sv[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
  struct Measured {
    uint64_t msg, sock;
  };
  Shared<Measured> measured;
  const pid_t receiver = spawn(&cg, [&] {
    struct {
      long mtype;
      char mtext[16];
    } m{};
    uint64_t t0 = now_ns();
    if (msgrcv(id, &m, sizeof(m.mtext), 0, 0) != 16) return 1;
    measured->msg = now_ns() - t0;
    char buf[16];
    t0 = now_ns();
    if (recv(sv[1], buf, sizeof(buf), 0) != 16) return 2;
    measured->sock = now_ns() - t0;
    // Non-blocking receives that fail wait for nothing and are not recorded.
    if (recv(sv[1], buf, sizeof(buf), MSG_DONTWAIT) != -1) return 3;
    return 0;
  });
  const uint64_t msg_at_least = hold_back(receiver, SYS_msgrcv);
  struct {
    long mtype;
    char mtext[16];
  } m{1, {}};
  ASSERT_EQ(msgsnd(id, &m, sizeof(m.mtext), 0), 0);
  const uint64_t sock_at_least = hold_back(receiver, SYS_recvfrom);  // glibc's recv
  ASSERT_EQ(send(sv[0], m.mtext, sizeof(m.mtext), 0), 16);
  const int rc = wait_exit(receiver);
  msgctl(id, IPC_RMID, nullptr);
  close(sv[0]);
  close(sv[1]);
  ASSERT_EQ(rc, 0);
  expect_one_wait(waits_of(tracer_, cg, IPCT_KIND_SYSV_MSG), msg_at_least, measured->msg);
  expect_one_wait(waits_of(tracer_, cg, IPCT_KIND_UNIX_STREAM), sock_at_least, measured->sock);
}

TEST_P(TracerTest, WaitTimeSwitchedOff) {
  TestCgroup cg("no-wait");
  TracerConfig cfg;
  cfg.test_only_without_rdonly_cast = GetParam().without_rdonly_cast;
  cfg.wait_time = false;
  cfg.only_cgroup = cg.id();
  auto t = Tracer::start(cfg, hooks_);
  ASSERT_TRUE(t.ok()) << t.error().message();
  EXPECT_FALSE((*t)->wait_time());
  for (const auto& h : (*t)->hooks()) {
    for (const auto& p : h.programs) {
      EXPECT_FALSE(p.starts_with("ipct_sys_enter")) << p;
      EXPECT_FALSE(p.starts_with("ipct_fe_")) << p;
    }
  }
  ASSERT_EQ(run_in(&cg,
                   [] {
                     int p[2];
                     char c = 0;
                     if (pipe(p) != 0 || write(p[1], &c, 1) != 1) return 1;
                     return read(p[0], &c, 1) == 1 ? 0 : 2;
                   }),
            0);
  auto waits = (*t)->read_waits();
  ASSERT_TRUE(waits.ok());
  EXPECT_TRUE(waits->empty());
  auto flows = (*t)->read_flows();
  ASSERT_TRUE(flows.ok());
  EXPECT_EQ(flows->size(), 2U);  // the send and the receive are still counted
}

INSTANTIATE_TEST_SUITE_P(Hooks, TracerTest,
                         testing::Values(HookSetup{"auto", auto_hooks}, HookSetup{"tracepoint", tracepoint_hooks},
                                         HookSetup{"raw_tp", raw_tp_hooks},
                                         HookSetup{"sockets_on_sys_exit", no_sock_tracepoint_hooks},
                                         // The typed syscall path's build for 5.11 to 6.1 (CO-RE reads behind
                                         // a file, LRU wait starts), here where the kernel has the cast.
                                         HookSetup{"tracepoint_without_cast", tracepoint_hooks, true}),
                         [](const testing::TestParamInfo<HookSetup>& p) { return std::string(p.param.name); });
