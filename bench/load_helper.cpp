// ipctrace-bench-load: the workloads and the floor that bench/run.py drives (bench/README.md).
//
//   floor [--no-sys-enter]          empty programs on every hook ipctrace attaches, held until
//                                   SIGINT/SIGTERM or stdin closes
//   fileread --calls N [--bytes B]  reads of a page-cached file: the unrelated workload
//   pipe-rate --rate R --seconds S  64-byte pipe messages at R per second (0: as fast as it can)
//   lifecycle-rate --rate R ...     SysV queue msgget + msgctl(IPC_RMID) pairs at R per second
//   pipe-churn --seconds S          single-use pipes (made, 4 bytes written and read, closed) as
//                                   fast as it can: the noisy neighbour's channel churn
//   quiet --messages N              N 64-byte pipe messages and N SysV queue messages, each sent
//                                   and received: the quiet container beside the noisy one
//   flows --containers N ...        N cgroups ("containers"), a process in each, talking in pairs
//
// Each prints one JSON object on stdout when done (`floor` and `flows` print "ready" first and
// then hold). Everything made is undone on every exit path: programs detached, children killed
// and reaped (they also get PR_SET_PDEATHSIG), cgroups removed, the temporary file unlinked
// before it is used, SysV queues removed as soon as made.
#include <fcntl.h>
#include <fmt/format.h>
#include <linux/sched.h>
#include <poll.h>
#include <sys/msg.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "base/fd.h"
#include "base/stop.h"
#include "ipctrace_bench_floor.skel.h"

namespace {

using ipctrace::Fd;
using json = nlohmann::json;
using namespace std::chrono_literals;

constexpr const char* kName = "ipctrace-bench-load";
constexpr int kExitOk = 0;
constexpr int kExitFailure = 1;
constexpr int kExitUsage = 2;
constexpr size_t kMessageBytes = 64;

// ---- signals: SIGINT, SIGTERM, SIGHUP only set a flag (no SA_RESTART) ---------------------

// SIGINT, SIGTERM and SIGHUP only ask to stop (base/stop.h: no SA_RESTART, so blocking waits return
// EINTR) while helper_main()'s StopSignal lives.
const ipctrace::StopSignal* g_stop = nullptr;
bool interrupted() { return g_stop != nullptr && g_stop->requested(); }

// Thrown, not exit(): unwinding runs the destructors that detach, kill, reap and remove.
[[noreturn]] void fail(const std::string& what) { throw std::runtime_error(what); }
std::string errno_text(const std::string& what) { return what + ": " + std::strerror(errno); }

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

uint64_t now_ns(clockid_t clock) {
  timespec ts{};
  clock_gettime(clock, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000ULL + static_cast<uint64_t>(ts.tv_nsec);
}

// Blocks until a signal arrives or stdin reaches end of file (the driver went away).
void hold() {
  while (!interrupted()) {
    pollfd p{STDIN_FILENO, POLLIN, 0};
    const int n = poll(&p, 1, 200);
    if (n > 0) {
      std::array<char, 256> buf{};
      const ssize_t r = read(STDIN_FILENO, buf.data(), buf.size());
      if (r <= 0) return;  // EOF or error: nobody can tell us to stop any more
    }
  }
}

void say_ready(const json& j) { std::cout << "ready " << j.dump() << std::endl; }

// Kills and reaps children; the destructor does it on every path.
class Children {
 public:
  Children() = default;
  ~Children() { stop(); }
  Children(const Children&) = delete;
  Children& operator=(const Children&) = delete;
  Children(Children&&) = delete;
  Children& operator=(Children&&) = delete;
  void add(pid_t pid) { pids_.push_back(pid); }
  // SIGKILL to all, then reap all.
  void stop() {
    for (pid_t p : pids_) kill(p, SIGKILL);
    for (pid_t p : pids_) {
      while (waitpid(p, nullptr, 0) < 0 && errno == EINTR) {
      }
    }
    pids_.clear();
  }
  [[nodiscard]] size_t size() const { return pids_.size(); }

 private:
  std::vector<pid_t> pids_;
};

// In a child: die with the parent, and leave the parent's signal handling behind.
void child_setup(pid_t parent) {
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() != parent) _exit(0);
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) signal(sig, SIG_DFL);
}

// ---- floor -------------------------------------------------------------------------------------

int cmd_floor(bool sys_enter) {
  struct Destroy {
    void operator()(ipctrace_bench_floor* s) const { ipctrace_bench_floor__destroy(s); }
  };
  const std::unique_ptr<ipctrace_bench_floor, Destroy> owner(ipctrace_bench_floor__open());
  ipctrace_bench_floor* skel = owner.get();
  if (skel == nullptr) fail(errno_text("open the floor programs"));
  if (!sys_enter) bpf_program__set_autoload(skel->progs.bench_fl_enter, false);
  if (int err = ipctrace_bench_floor__load(skel); err != 0) {
    fail(fmt::format("load the floor programs: {}", std::strerror(-err)));
  }
  if (int err = ipctrace_bench_floor__attach(skel); err != 0) {
    fail(fmt::format("attach the floor programs: {}", std::strerror(-err)));
  }
  say_ready(
      {{"hooks", sys_enter ? json{"sys_exit", "sys_enter", "sock_send_length", "sock_recv_length", "signal_generate"}
                           : json{"sys_exit", "sock_send_length", "sock_recv_length", "signal_generate"}}});
  hold();
  return kExitOk;
}

// ---- fileread: the unrelated, syscall-heavy workload ------------------------------------------

int cmd_fileread(uint64_t calls, size_t bytes) {
  constexpr size_t kFileBytes = size_t{1} << 20;
  std::string path = "/var/tmp/ipctrace-bench-XXXXXX";
  Fd fd(mkstemp(path.data()));
  if (fd.get() < 0) fail(errno_text("mkstemp " + path));
  unlink(path.c_str());  // nothing left behind, whatever happens next
  std::vector<char> block(kFileBytes, 'f');
  if (write(fd.get(), block.data(), block.size()) != static_cast<ssize_t>(block.size())) {
    fail(errno_text("write the file"));
  }
  std::vector<char> buf(bytes);
  auto one_pass = [&](uint64_t n) {
    for (uint64_t i = 0; i < n; ++i) {
      const ssize_t r = read(fd.get(), buf.data(), buf.size());
      if (r < 0) fail(errno_text("read"));
      if (static_cast<size_t>(r) < buf.size()) lseek(fd.get(), 0, SEEK_SET);  // end of file: start over
    }
  };
  lseek(fd.get(), 0, SEEK_SET);
  one_pass(calls / 10 + 1000);  // warm: page cache, caches, frequency
  if (interrupted()) return kExitFailure;
  const uint64_t wall0 = now_ns(CLOCK_MONOTONIC);
  const uint64_t cpu0 = now_ns(CLOCK_THREAD_CPUTIME_ID);
  one_pass(calls);
  const uint64_t cpu1 = now_ns(CLOCK_THREAD_CPUTIME_ID);
  const uint64_t wall1 = now_ns(CLOCK_MONOTONIC);
  if (interrupted()) return kExitFailure;
  const double wall = static_cast<double>(wall1 - wall0);
  const double cpu = static_cast<double>(cpu1 - cpu0);
  std::cout << json{{"calls", calls},
                    {"bytes_per_call", bytes},
                    {"ns_per_call", wall / static_cast<double>(calls)},
                    {"cpu_ns_per_call", cpu / static_cast<double>(calls)},
                    {"on_cpu_share", cpu / wall}}
                   .dump()
            << std::endl;
  return kExitOk;
}

// ---- paced loops -----------------------------------------------------------------------------

// Calls `op` `rate` times per second for `seconds` (rate 0: back to back), in batches due every
// millisecond. Returns how many it did and how long that took.
template <typename Op>
std::pair<uint64_t, double> paced(double rate, double seconds, Op op) {
  const auto t0 = std::chrono::steady_clock::now();
  uint64_t done = 0;
  timespec next{};
  clock_gettime(CLOCK_MONOTONIC, &next);
  while (!interrupted()) {
    const double elapsed = seconds_since(t0);
    if (elapsed >= seconds) break;
    if (rate <= 0) {
      for (int i = 0; i < 256; ++i) op();
      done += 256;
      continue;
    }
    const auto due = static_cast<uint64_t>(rate * elapsed);
    while (done < due) {
      op();
      ++done;
    }
    next.tv_nsec += 1'000'000;
    if (next.tv_nsec >= 1'000'000'000) {
      next.tv_nsec -= 1'000'000'000;
      ++next.tv_sec;
    }
    clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, nullptr);
  }
  return {done, seconds_since(t0)};
}

int cmd_pipe_rate(double rate, double seconds) {
  std::array<int, 2> fds{-1, -1};
  if (pipe2(fds.data(), O_CLOEXEC) != 0) fail(errno_text("pipe2"));
  Fd r(fds[0]);
  Fd w(fds[1]);
  Children kids;
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid < 0) fail(errno_text("fork"));
  if (pid == 0) {  // the reader: one 64-byte read per message until end of file
    child_setup(parent);
    w.reset();
    std::array<char, kMessageBytes> buf{};
    while (read(r.get(), buf.data(), buf.size()) > 0) {
    }
    _exit(0);
  }
  kids.add(pid);
  r.reset();
  std::array<char, kMessageBytes> msg{};
  msg.fill('r');
  bool write_failed = false;
  const auto [done, took] = paced(rate, seconds, [&] {
    if (write(w.get(), msg.data(), msg.size()) != static_cast<ssize_t>(msg.size())) write_failed = true;
  });
  w.reset();  // end of file: the reader finishes what is queued and exits
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (write_failed && !interrupted()) fail("a pipe write failed");
  if (interrupted()) return kExitFailure;
  std::cout << json{{"messages", done}, {"seconds", took}, {"rate", static_cast<double>(done) / took}}.dump()
            << std::endl;
  return kExitOk;
}

int cmd_pipe_churn(double seconds) {
  std::array<char, 4> back{};
  bool failed = false;
  const auto [done, took] = paced(0, seconds, [&] {
    std::array<int, 2> fds{-1, -1};
    if (pipe2(fds.data(), O_CLOEXEC) != 0) {
      failed = true;
      return;
    }
    const Fd r(fds[0]);
    const Fd w(fds[1]);
    if (write(w.get(), "abcd", 4) != 4 || read(r.get(), back.data(), back.size()) != 4) failed = true;
  });
  if (failed && !interrupted()) fail(errno_text("a single-use pipe"));
  if (interrupted()) return kExitFailure;
  std::cout << json{{"pipes", done}, {"seconds", took}, {"rate", static_cast<double>(done) / took}}.dump() << std::endl;
  return kExitOk;
}

int cmd_quiet(int messages) {
  std::array<int, 2> fds{-1, -1};
  if (pipe2(fds.data(), O_CLOEXEC) != 0) fail(errno_text("pipe2"));
  const Fd r(fds[0]);
  const Fd w(fds[1]);
  std::array<char, kMessageBytes> buf{};
  buf.fill('q');
  for (int i = 0; i < messages; ++i) {
    if (write(w.get(), buf.data(), buf.size()) != static_cast<ssize_t>(buf.size()) ||
        read(r.get(), buf.data(), buf.size()) != static_cast<ssize_t>(buf.size()))
      fail(errno_text("a pipe message"));
  }
  const int id = msgget(IPC_PRIVATE, IPC_CREAT | 0600);
  if (id < 0) fail(errno_text("msgget"));
  struct Message {
    long type;
    std::array<char, kMessageBytes> text;
  } m{1, buf};
  bool failed = false;
  for (int i = 0; i < messages && !failed; ++i) {
    failed = msgsnd(id, &m, m.text.size(), 0) != 0 || msgrcv(id, &m, m.text.size(), 0, 0) < 0;
  }
  const int err = errno;
  msgctl(id, IPC_RMID, nullptr);
  errno = err;
  if (failed) fail(errno_text("a SysV queue message"));
  std::cout << json{{"pipe_messages", messages}, {"msg_messages", messages}}.dump() << std::endl;
  return kExitOk;
}

int cmd_lifecycle_rate(double rate, double seconds) {
  bool failed = false;
  const auto [done, took] = paced(rate, seconds, [&] {
    const int id = msgget(IPC_PRIVATE, IPC_CREAT | 0600);
    if (id < 0 || msgctl(id, IPC_RMID, nullptr) != 0) failed = true;
  });
  if (failed && !interrupted()) fail(errno_text("msgget/msgctl(IPC_RMID)"));
  if (interrupted()) return kExitFailure;
  // Two lifecycle records per pair: the queue's creation and its removal.
  std::cout << json{{"pairs", done},
                    {"events", 2 * done},
                    {"seconds", took},
                    {"events_per_second", 2.0 * static_cast<double>(done) / took}}
                   .dump()
            << std::endl;
  return kExitOk;
}

// ---- flows: N cgroups, a process in each, talking in pairs -------------------------------------

std::string cgroup2_root() {
  FILE* f = std::fopen("/proc/mounts", "re");
  if (f == nullptr) fail(errno_text("open /proc/mounts"));
  std::array<char, 4096> line{};
  std::string root;
  while (std::fgets(line.data(), line.size(), f) != nullptr) {
    std::array<char, 1024> dev{};
    std::array<char, 1024> dir{};
    std::array<char, 64> type{};
    if (std::sscanf(line.data(), "%1023s %1023s %63s", dev.data(), dir.data(), type.data()) == 3 &&
        std::string(type.data()) == "cgroup2") {
      root = dir.data();
      break;
    }
  }
  std::fclose(f);
  if (root.empty()) fail("no cgroup2 mount in /proc/mounts");
  return root;
}

// The cgroups made; removed (after their processes are gone) by the destructor.
class Cgroups {
 public:
  Cgroups() = default;
  ~Cgroups() { remove_all(); }
  Cgroups(const Cgroups&) = delete;
  Cgroups& operator=(const Cgroups&) = delete;
  Cgroups(Cgroups&&) = delete;
  Cgroups& operator=(Cgroups&&) = delete;
  void add(std::string path) { paths_.push_back(std::move(path)); }
  void remove_all() {
    for (const std::string& p : paths_) {
      // A reaped process can stay charged to its cgroup for a moment: EBUSY, try again.
      for (int i = 0; i < 100 && rmdir(p.c_str()) != 0 && errno == EBUSY; ++i) std::this_thread::sleep_for(20ms);
    }
    paths_.clear();
  }

 private:
  std::vector<std::string> paths_;
};

// clone3(CLONE_INTO_CGROUP): the child starts in the cgroup, without a migration (which takes
// the cgroup threadgroup lock for writing: milliseconds each, far too slow for 1,000).
pid_t fork_into(int cgroup_fd) {
  clone_args args{};
  args.flags = CLONE_INTO_CGROUP;
  args.exit_signal = SIGCHLD;
  args.cgroup = static_cast<uint64_t>(cgroup_fd);
  return static_cast<pid_t>(syscall(SYS_clone3, &args, sizeof(args)));
}

// Every `period`: one 64-byte write on each of `out`, then drain `in` (non-blocking).
[[noreturn]] void talk(const std::vector<int>& out, const std::vector<int>& in, std::chrono::milliseconds period) {
  std::array<char, kMessageBytes> buf{};
  buf.fill('c');
  for (int fd : in) fcntl(fd, F_SETFL, O_NONBLOCK);
  while (true) {
    for (int fd : out) {
      if (write(fd, buf.data(), buf.size()) < 0 && errno != EAGAIN) _exit(3);
    }
    for (int fd : in) {
      while (read(fd, buf.data(), buf.size()) > 0) {
      }
    }
    std::this_thread::sleep_for(period);
  }
}

int cmd_flows(int containers, int channels, int period_ms) {
  // Room for the pipes while a pair is being set up.
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  const std::string root = cgroup2_root();
  const pid_t parent = getpid();
  Cgroups cgroups;
  Children kids;
  const auto t0 = std::chrono::steady_clock::now();
  // Containers 2k and 2k+1 are a pair: `channels` pipes each way. An odd last one talks to itself.
  for (int first = 0; first < containers && !interrupted(); first += 2) {
    const int members = std::min(2, containers - first);
    std::vector<Fd> cg_fds;
    for (int m = 0; m < members; ++m) {
      std::string path = fmt::format("{}/ipctrace-bench-{}-{}", root, parent, first + m);
      if (mkdir(path.c_str(), 0755) != 0) fail(errno_text("mkdir " + path));
      cgroups.add(path);
      Fd d(open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
      if (d.get() < 0) fail(errno_text("open " + path));
      cg_fds.push_back(std::move(d));
    }
    // pipes[m][c]: written by member m, read by the other member (or by m itself when alone).
    std::vector<std::vector<std::array<int, 2>>> pipes(members, std::vector<std::array<int, 2>>(channels));
    for (auto& per_member : pipes) {
      for (auto& p : per_member) {
        if (pipe2(p.data(), O_CLOEXEC) != 0) fail(errno_text("pipe2"));
      }
    }
    for (int m = 0; m < members; ++m) {
      const int peer = members == 2 ? 1 - m : m;
      std::vector<int> out;
      std::vector<int> in;
      for (int c = 0; c < channels; ++c) {
        out.push_back(pipes[m][c][1]);
        in.push_back(pipes[peer][c][0]);
      }
      const pid_t pid = fork_into(cg_fds[m].get());
      if (pid < 0) fail(errno_text("clone3 into " + std::to_string(first + m)));
      if (pid == 0) {
        child_setup(parent);
        talk(out, in, std::chrono::milliseconds(period_ms));
      }
      kids.add(pid);
    }
    for (auto& per_member : pipes) {
      for (auto& p : per_member) {
        close(p[0]);
        close(p[1]);
      }
    }
  }
  if (interrupted()) return kExitFailure;
  say_ready({{"containers", containers},
             {"processes", kids.size()},
             {"channels_per_direction", channels},
             {"setup_seconds", seconds_since(t0)}});
  hold();
  kids.stop();
  cgroups.remove_all();
  return kExitOk;
}

int helper_main(int argc, char** argv) {
  CLI::App app{"Workloads and the empty-program floor for bench/run.py", kName};
  app.require_subcommand(1);
  bool no_sys_enter = false;
  auto* floor = app.add_subcommand("floor", "Empty programs on ipctrace's hooks, held until SIGTERM or stdin EOF");
  floor->add_flag("--no-sys-enter", no_sys_enter, "Leave sys_enter out (the floor of --no-wait-time)");

  uint64_t calls = 1'000'000;
  size_t bytes = 4096;
  auto* fileread = app.add_subcommand("fileread", "Reads of a page-cached 1 MiB file");
  fileread->add_option("--calls", calls, "Timed read calls")->check(CLI::Range(uint64_t{1}, uint64_t{1} << 40));
  fileread->add_option("--bytes", bytes, "Bytes per read")->check(CLI::Range(size_t{1}, size_t{1} << 20));

  double rate = 0;
  double seconds = 5;
  auto* pipe_rate = app.add_subcommand("pipe-rate", "64-byte pipe messages (write + read) at a rate");
  pipe_rate->add_option("--rate", rate, "Messages per second (0: as fast as possible)")->check(CLI::Range(0.0, 1e9));
  pipe_rate->add_option("--seconds", seconds, "How long")->check(CLI::Range(0.01, 3600.0));

  auto* lifecycle = app.add_subcommand("lifecycle-rate", "SysV msgget + msgctl(IPC_RMID) pairs at a rate");
  lifecycle->add_option("--rate", rate, "Pairs per second (0: as fast as possible)")->check(CLI::Range(0.0, 1e9));
  lifecycle->add_option("--seconds", seconds, "How long")->check(CLI::Range(0.01, 3600.0));

  auto* churn = app.add_subcommand("pipe-churn", "Single-use pipes as fast as possible");
  churn->add_option("--seconds", seconds, "How long")->check(CLI::Range(0.01, 3600.0));
  int messages = 20;
  auto* quiet = app.add_subcommand("quiet", "N pipe messages and N SysV queue messages, sent and received");
  quiet->add_option("--messages", messages, "Messages of each")->check(CLI::Range(1, 1000000));

  int containers = 1;
  int channels = 1;
  int period_ms = 500;
  auto* flows = app.add_subcommand("flows", "N cgroups with a process each, talking over pipes in pairs");
  flows->add_option("--containers", containers, "Cgroups (and processes)")->check(CLI::Range(1, 10000));
  flows->add_option("--channels", channels, "Pipes each way between the two of a pair")->check(CLI::Range(1, 64));
  flows->add_option("--period-ms", period_ms, "Each process writes once per channel every period")
      ->check(CLI::Range(1, 60000));
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);
    std::string what = e.what();
    std::replace(what.begin(), what.end(), '\n', ' ');
    std::cerr << kName << ": error: " << what << " (see --help)\n";
    return kExitUsage;
  }
  const ipctrace::StopSignal stop({SIGINT, SIGTERM, SIGHUP});
  g_stop = &stop;
  // A reader that went away must not kill us before we clean up.
  signal(SIGPIPE, SIG_IGN);
  if (floor->parsed()) return cmd_floor(!no_sys_enter);
  if (fileread->parsed()) return cmd_fileread(calls, bytes);
  if (pipe_rate->parsed()) return cmd_pipe_rate(rate, seconds);
  if (lifecycle->parsed()) return cmd_lifecycle_rate(rate, seconds);
  if (churn->parsed()) return cmd_pipe_churn(seconds);
  if (quiet->parsed()) return cmd_quiet(messages);
  return cmd_flows(containers, channels, period_ms);
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return helper_main(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << kName << ": " << e.what() << "\n";
    return kExitFailure;
  }
}
