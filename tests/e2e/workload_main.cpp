// ipctrace-test-workload: the processes of the containers end-to-end test, linked statically
// so it runs in a rootfs that holds nothing but busybox. Each role does exact, known IPC and
// exits 0 only if every call moved exactly the intended bytes:
//
//   server  (pod alpha)  creates a SysV queue, a POSIX queue and a 64 KiB SysV segment, listens
//                        on TCP 127.0.0.1:<port> and on /shared/sock; pipes 5 x 1,000 bytes from
//                        a forked child to itself; receives 20 x 100 bytes (SysV), 15 x 64 bytes
//                        (POSIX), 10,000 bytes (TCP), 6,000 bytes (unix); removes its objects.
//   client  (pod alpha)  waits for the server's objects, attaches and detaches the segment, sends
//                        20 x 100 bytes (msgsnd), 15 x 64 bytes (mq_send), 10 x 1,000 bytes (TCP),
//                        then reads 8,000 bytes from the FIFO /shared/fifo (made by the test).
//   write BYTES          (the kernel tests' exec'd writer) one write(2) of BYTES bytes to stdout.
//   brief MS             writes 10 x 1,000 bytes into /shared/fifo and exits MS ms after it
//                        started: a container shorter-lived than a collection.
//   peer    (pod beta)   writes 8 x 1,000 bytes into /shared/fifo, then connects to /shared/sock,
//                        sends 3 x 1,000 bytes before the server accepts (/shared/unix.sent),
//                        and 3 x 1,000 once it has (/shared/unix.accepted).
//
// The unix data goes both before and after the server's accept(), in that order every run: data
// sent before accept() goes into a socket that has no inode yet, and must still be joined to the
// server (README, "How the ends are joined"). The server holds its accept() kPreAcceptHold past
// the data, longer than a collection (`flows` collects every second): a collection always sees
// that data go to an unknown reader first, and the next must hand it over to the server whole.
//
// Nothing else: the roles wait for each other by retrying (bounded), never through IPC that
// would add flows between them. When done, a role creates /shared/<role>.done and stays until
// /shared/release exists (so the tracer can name it while it runs), at most kLinger. A watchdog
// (alarm) ends any role stuck longer than kWatchdog. Progress goes to stdout.
#include <arpa/inet.h>
#include <fcntl.h>
#include <mqueue.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/shm.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace {

using namespace std::chrono_literals;

constexpr key_t kMsgKey = 0x49504331;  // "IPC1"
constexpr key_t kShmKey = 0x49504332;  // "IPC2"
constexpr const char* kMqName = "/ipctrace-e2e";
constexpr size_t kShmSize = 65536;
constexpr const char* kSock = "/shared/sock";
constexpr const char* kFifo = "/shared/fifo";
constexpr const char* kRelease = "/shared/release";
constexpr const char* kUnixSent = "/shared/unix.sent";
constexpr const char* kUnixAccepted = "/shared/unix.accepted";
constexpr std::string_view kShmMarker = "ipctrace-e2e";

constexpr int kMsgCount = 20;
constexpr size_t kMsgSize = 100;
constexpr int kMqCount = 15;
constexpr size_t kMqSize = 64;
constexpr int kTcpWrites = 10;
constexpr int kUnixWrites = 6;
constexpr int kFifoWrites = 8;
constexpr int kPipeWrites = 5;
constexpr size_t kChunk = 1000;

constexpr auto kPreAcceptHold = 1500ms;
constexpr auto kRetryFor = 20s;
constexpr auto kLinger = 20s;
constexpr unsigned kWatchdogSeconds = 40;

// The step in progress, for the watchdog's message.
const char* volatile g_step = "start";

void on_alarm(int /*sig*/) {
  const char* prefix = "workload: watchdog: stuck in step ";
  (void)!write(STDOUT_FILENO, prefix, strlen(prefix));
  const char* step = g_step;
  (void)!write(STDOUT_FILENO, step, strlen(step));
  (void)!write(STDOUT_FILENO, "\n", 1);
  _exit(3);
}

void step(const char* name) {
  g_step = name;
  std::printf("workload: %s\n", name);
  std::fflush(stdout);
}

bool fail(const char* what) {
  std::printf("workload: FAILED in %s: %s: %s\n", g_step, what, std::strerror(errno));
  std::fflush(stdout);
  return false;
}

bool fail_count(const char* what, size_t got, size_t want) {
  std::printf("workload: FAILED in %s: %s: %zu, want %zu\n", g_step, what, got, want);
  std::fflush(stdout);
  return false;
}

// Calls `fn` until it returns something other than -1 or kRetryFor passes (then -1).
template <typename Fn>
auto retry(Fn fn) -> decltype(fn()) {
  const auto deadline = std::chrono::steady_clock::now() + kRetryFor;
  while (true) {
    auto r = fn();
    if (r != -1 || std::chrono::steady_clock::now() >= deadline) return r;
    std::this_thread::sleep_for(20ms);
  }
}

// Writes `n` chunks of kChunk bytes, each in one call that must move all of it.
bool write_chunks(int fd, int n) {
  const std::vector<char> chunk(kChunk, 'x');
  for (int i = 0; i < n; ++i) {
    const ssize_t w = write(fd, chunk.data(), chunk.size());
    if (w < 0) return fail("write");
    if (static_cast<size_t>(w) != kChunk) return fail_count("short write", static_cast<size_t>(w), kChunk);
  }
  return true;
}

// Reads until end of file; true if exactly `want` bytes came.
bool read_all(int fd, size_t want) {
  std::array<char, 4096> buf{};
  size_t total = 0;
  while (true) {
    const ssize_t n = read(fd, buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return fail("read");
    if (n == 0) break;
    total += static_cast<size_t>(n);
  }
  return total == want || fail_count("bytes read", total, want);
}

sockaddr_in tcp_address(int port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return a;
}

sockaddr_un unix_address() {
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::strncpy(a.sun_path, kSock, sizeof(a.sun_path) - 1);
  return a;
}

// A connected stream socket, retried while the listener is not there yet; -1 on timeout.
template <typename Addr>
int connect_retry(int family, const Addr& addr) {
  return retry([&] {
    const int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    if (connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) == 0) return fd;
    close(fd);
    return -1;
  });
}

// Creates an empty file (a mark another role waits for).
void touch(const char* path) {
  const int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
  if (fd >= 0) close(fd);
}

// Waits until `path` exists; false after kRetryFor.
bool wait_for_file(const char* path) {
  return retry([&] { return access(path, F_OK); }) == 0 || fail(path);
}

// Announces the role is done and stays until the test releases it (or kLinger passes).
void stay_until_released(const std::string& role) {
  alarm(0);
  step("done");
  touch(("/shared/" + role + ".done").c_str());
  const auto deadline = std::chrono::steady_clock::now() + kLinger;
  while (access(kRelease, F_OK) != 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(20ms);
  }
}

// A child writes kPipeWrites x kChunk bytes through an anonymous pipe to this process.
bool pipe_to_self() {
  step("pipe");
  int p[2];
  if (pipe2(p, O_CLOEXEC) != 0) return fail("pipe2");
  const pid_t child = fork();
  if (child < 0) return fail("fork");
  if (child == 0) {
    close(p[0]);
    const bool ok = write_chunks(p[1], kPipeWrites);
    close(p[1]);
    _exit(ok ? 0 : 1);
  }
  close(p[1]);
  const bool ok = read_all(p[0], kPipeWrites * kChunk);
  close(p[0]);
  int status = 0;
  if (waitpid(child, &status, 0) != child) return fail("waitpid");
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) return fail_count("pipe writer status", status, 0);
  return ok;
}

int listen_on(int family, const sockaddr* addr, socklen_t len) {
  const int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  const int one = 1;
  if (family == AF_INET) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (bind(fd, addr, len) != 0 || listen(fd, 4) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

// Accepts one connection and reads it to the end: exactly `want` bytes.
bool accept_and_read(int listener, size_t want) {
  const int fd = accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
  if (fd < 0) return fail("accept");
  const bool ok = read_all(fd, want);
  close(fd);
  return ok;
}

bool server(int port) {
  step("create objects");
  const int msqid = msgget(kMsgKey, IPC_CREAT | IPC_EXCL | 0600);
  if (msqid < 0) return fail("msgget");
  mq_attr attr{};
  attr.mq_maxmsg = 10;  // the default msg_max of a fresh IPC namespace
  attr.mq_msgsize = kMqSize;
  const mqd_t mq = mq_open(kMqName, O_CREAT | O_EXCL | O_RDONLY | O_CLOEXEC, 0600, &attr);
  if (mq == static_cast<mqd_t>(-1)) return fail("mq_open");
  const int shmid = shmget(kShmKey, kShmSize, IPC_CREAT | IPC_EXCL | 0600);
  if (shmid < 0) return fail("shmget");
  const sockaddr_in tcp = tcp_address(port);
  const int tcp_listener = listen_on(AF_INET, reinterpret_cast<const sockaddr*>(&tcp), sizeof(tcp));
  if (tcp_listener < 0) return fail("tcp listen");
  const sockaddr_un un = unix_address();
  const int unix_listener = listen_on(AF_UNIX, reinterpret_cast<const sockaddr*>(&un), sizeof(un));
  if (unix_listener < 0) return fail("unix listen");

  if (!pipe_to_self()) return false;

  step("sysv msg receive");
  struct {
    long mtype;
    std::array<char, kMsgSize + 1> mtext;
  } msg{};
  for (int i = 0; i < kMsgCount; ++i) {
    const ssize_t n = msgrcv(msqid, &msg, kMsgSize + 1, 0, 0);
    if (n < 0) return fail("msgrcv");
    if (static_cast<size_t>(n) != kMsgSize) return fail_count("msgrcv bytes", static_cast<size_t>(n), kMsgSize);
  }

  step("posix mq receive");
  std::array<char, kMqSize> mbuf{};
  for (int i = 0; i < kMqCount; ++i) {
    const ssize_t n = mq_receive(mq, mbuf.data(), mbuf.size(), nullptr);
    if (n < 0) return fail("mq_receive");
    if (static_cast<size_t>(n) != kMqSize) return fail_count("mq_receive bytes", static_cast<size_t>(n), kMqSize);
  }

  step("tcp receive");
  if (!accept_and_read(tcp_listener, kTcpWrites * kChunk)) return false;
  step("unix receive");
  {
    if (!wait_for_file(kUnixSent)) return false;
    std::this_thread::sleep_for(kPreAcceptHold);
    const int fd = accept4(unix_listener, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) return fail("accept");
    touch(kUnixAccepted);
    const bool ok = read_all(fd, kUnixWrites * kChunk);
    close(fd);
    if (!ok) return false;
  }

  // The client attached the segment before it sent anything: it has been used by now. The
  // server itself never attaches (that would be a flow of its own).
  step("shm check");
  shmid_ds ds{};
  if (shmctl(shmid, IPC_STAT, &ds) != 0) return fail("shmctl IPC_STAT");
  if (ds.shm_segsz != kShmSize) return fail_count("segment size", ds.shm_segsz, kShmSize);
  if (ds.shm_atime == 0) return fail_count("segment attach time", 0, 1);

  step("cleanup");
  close(tcp_listener);
  close(unix_listener);
  unlink(kSock);
  if (msgctl(msqid, IPC_RMID, nullptr) != 0) return fail("msgctl IPC_RMID");
  mq_close(mq);
  if (mq_unlink(kMqName) != 0) return fail("mq_unlink");
  if (shmctl(shmid, IPC_RMID, nullptr) != 0) return fail("shmctl IPC_RMID");
  return true;
}

bool client(int port) {
  step("open objects");
  const int msqid = retry([] { return msgget(kMsgKey, 0); });
  if (msqid < 0) return fail("msgget");
  const mqd_t mq = retry([] { return mq_open(kMqName, O_WRONLY | O_CLOEXEC); });
  if (mq == static_cast<mqd_t>(-1)) return fail("mq_open");
  const int shmid = retry([] { return shmget(kShmKey, 0, 0); });
  if (shmid < 0) return fail("shmget");

  step("shm attach");
  void* mem = shmat(shmid, nullptr, 0);
  if (reinterpret_cast<intptr_t>(mem) == -1) return fail("shmat");
  std::memcpy(mem, kShmMarker.data(), kShmMarker.size());
  if (shmdt(mem) != 0) return fail("shmdt");

  step("sysv msg send");
  struct {
    long mtype;
    std::array<char, kMsgSize> mtext;
  } msg{};
  msg.mtype = 1;
  msg.mtext.fill('m');
  for (int i = 0; i < kMsgCount; ++i) {
    if (msgsnd(msqid, &msg, kMsgSize, 0) != 0) return fail("msgsnd");
  }

  step("posix mq send");
  std::array<char, kMqSize> mbuf{};
  mbuf.fill('q');
  for (int i = 0; i < kMqCount; ++i) {
    if (mq_send(mq, mbuf.data(), mbuf.size(), 0) != 0) return fail("mq_send");
  }
  mq_close(mq);

  step("tcp send");
  const int tcp = connect_retry(AF_INET, tcp_address(port));
  if (tcp < 0) return fail("tcp connect");
  const bool tcp_ok = write_chunks(tcp, kTcpWrites);
  close(tcp);
  if (!tcp_ok) return false;

  step("fifo read");
  const int fifo = open(kFifo, O_RDONLY | O_CLOEXEC);  // waits for the writer (watchdog-bounded)
  if (fifo < 0) return fail("open fifo");
  const bool fifo_ok = read_all(fifo, kFifoWrites * kChunk);
  close(fifo);
  return fifo_ok;
}

bool peer() {
  step("fifo write");
  const int fifo = open(kFifo, O_WRONLY | O_CLOEXEC);  // waits for the reader (watchdog-bounded)
  if (fifo < 0) return fail("open fifo");
  const bool fifo_ok = write_chunks(fifo, kFifoWrites);
  close(fifo);
  if (!fifo_ok) return false;

  step("unix send");
  const int sock = connect_retry(AF_UNIX, unix_address());
  if (sock < 0) return fail("unix connect");
  if (!write_chunks(sock, kUnixWrites / 2)) {
    close(sock);
    return false;
  }
  touch(kUnixSent);
  if (!wait_for_file(kUnixAccepted)) {
    close(sock);
    return false;
  }
  const bool ok = write_chunks(sock, kUnixWrites - kUnixWrites / 2);
  close(sock);
  return ok;
}

// A TCP port from the command line, 0 if it is not one.
int parse_port(const char* text) {
  char* end = nullptr;
  errno = 0;
  const long v = std::strtol(text, &end, 10);
  if (errno != 0 || end == text || *end != '\0' || v <= 0 || v > 65535) return 0;
  return static_cast<int>(v);
}

int usage() {
  std::fprintf(stderr, "usage: ipctrace-test-workload server|client PORT | peer | write BYTES | brief MS\n");
  return 2;
}

// The short-lived container: 10 writes of 1,000 bytes into /shared/fifo, then it exits MS
// milliseconds after it started (it does not wait to be released: its cgroup and its runtime's
// state go with it).
bool brief(int lifetime_ms) {
  const auto started = std::chrono::steady_clock::now();
  const int fd = open("/shared/fifo", O_WRONLY | O_CLOEXEC);
  if (fd < 0) return false;
  const std::vector<char> data(1000, 'b');
  bool ok = true;
  for (int i = 0; i < 10 && ok; ++i) ok = write(fd, data.data(), data.size()) == 1000;
  close(fd);
  std::this_thread::sleep_until(started + std::chrono::milliseconds(lifetime_ms));
  std::printf("workload: brief %s after %d ms\n", ok ? "ok" : "FAILED", lifetime_ms);
  return ok;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) return usage();
  const std::string role = argv[1];
  if (role == "write" && argc == 3) {
    // The kernel tests' exec'd writer: one write(2) of BYTES bytes to stdout, nothing else.
    const int n = parse_port(argv[2]);  // 1..65535
    if (n == 0) return usage();
    const std::vector<char> data(static_cast<size_t>(n), 'x');
    return write(STDOUT_FILENO, data.data(), data.size()) == n ? 0 : 1;
  }
  if (role == "brief" && argc == 3) {
    const int ms = parse_port(argv[2]);  // 1..65535
    if (ms == 0) return usage();
    alarm(kWatchdogSeconds);
    return brief(ms) ? 0 : 1;
  }
  struct sigaction sa {};
  sa.sa_handler = on_alarm;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGALRM, &sa, nullptr);
  alarm(kWatchdogSeconds);
  setvbuf(stdout, nullptr, _IOLBF, 0);

  const int port = argc == 3 ? parse_port(argv[2]) : 0;
  bool ok = false;
  if (role == "server" && port != 0) {
    ok = server(port);
  } else if (role == "client" && port != 0) {
    ok = client(port);
  } else if (role == "peer" && argc == 2) {
    ok = peer();
  } else {
    return usage();
  }
  if (!ok) return 1;
  stay_until_released(role);
  std::printf("workload: %s ok\n", role.c_str());
  return 0;
}
