// ipctrace-bench-pipe: what tracing adds to a 64-byte pipe write+read loop (bench/README.md).
//
// One thread, pinned to one CPU, writes 64 bytes into a pipe and reads them back, N times: with
// nothing attached (`none`), with an empty tp_btf/sys_exit program (`empty`, the floor), with
// ipctrace's tracer (`ipctrace`) and with a bpftrace one-liner (`bpftrace`). The configurations
// alternate in rounds, in a rotating order, and the median per configuration is reported.
//
// Everything attached is owned by an RAII object (the skeleton, the Tracer, the bpftrace child),
// and SIGINT/SIGTERM/SIGHUP only set a flag that the loop and every wait check: every exit path,
// errors, exceptions and signals included, detaches the programs and stops bpftrace. bpftrace also
// gets PR_SET_PDEATHSIG, so it dies with the benchmark even if the benchmark is SIGKILLed.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <poll.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <array>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <fstream>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "base/error.h"
#include "base/fd.h"
#include "base/log.h"
#include "base/stop.h"
#include "ipctrace_bench_empty.skel.h"
#include "kernel/facts.h"
#include "kernel/libbpf_log.h"
#include "kernel/probe.h"
#include "kernel/tracer.h"

extern char** environ;  // NOLINT(readability-redundant-declaration): POSIX leaves it undeclared

namespace {

using ipctrace::Error;
using ipctrace::Fd;
using ipctrace::Ok;
using ipctrace::Result;
using ipctrace::Status;
using json = nlohmann::json;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

constexpr int kExitOk = 0;
constexpr int kExitFailure = 1;
constexpr int kExitUsage = 2;
constexpr const char* kName = "ipctrace-bench-pipe";

constexpr size_t kMessageBytes = 64;
// The empty program's name as the kernel keeps it (bench/bpf/empty.bpf.c).
constexpr std::string_view kEmptyProgramName = "bench_sys_exit";
constexpr const char* kBpftraceProgram =
    "tracepoint:syscalls:sys_exit_read,tracepoint:syscalls:sys_exit_write /args->ret > 0/ "
    "{ @bytes[cgroup] = sum(args->ret); }";
// With this variable set, bpftrace prints the variable's name on stderr once every probe is
// attached (its runtime tests use it); "Attaching N probes..." comes before the attaching.
constexpr const char* kAttachedMarker = "__BPFTRACE_NOTIFY_PROBES_ATTACHED";
// A sample is clean when the measuring thread was on its CPU at least this share of the time.
constexpr double kMinOnCpuShare = 0.97;

// Ipctrace: the default (counting and wait time); IpctraceNoWait: counting only (--no-wait-time).
enum class Config { None, Empty, Ipctrace, IpctraceNoWait, Bpftrace };
constexpr std::array<Config, 5> kAllConfigs{Config::None, Config::Empty, Config::Ipctrace, Config::IpctraceNoWait,
                                            Config::Bpftrace};
bool is_ipctrace(Config c) { return c == Config::Ipctrace || c == Config::IpctraceNoWait; }

std::string_view config_name(Config c) {
  switch (c) {
    case Config::None:
      return "none";
    case Config::Empty:
      return "empty";
    case Config::Ipctrace:
      return "ipctrace";
    case Config::IpctraceNoWait:
      return "ipctrace-nowait";
    case Config::Bpftrace:
      return "bpftrace";
  }
  return "?";
}

std::optional<Config> parse_config(std::string_view name) {
  for (Config c : kAllConfigs) {
    if (config_name(c) == name) return c;
  }
  return std::nullopt;
}

// ---- signals ---------------------------------------------------------------------------------

// SIGINT, SIGTERM and SIGHUP only ask to stop (base/stop.h: no SA_RESTART, so blocking waits return
// EINTR) while main()'s StopSignal lives.
const ipctrace::StopSignal* g_stop = nullptr;

bool interrupted() { return g_stop != nullptr && g_stop->requested(); }
Error interrupted_error() { return Error::msg("interrupted"); }

// Sleeps `d`, or less when a signal arrives.
void interruptible_sleep(std::chrono::milliseconds d) {
  const auto end = Clock::now() + d;
  while (!interrupted() && Clock::now() < end) std::this_thread::sleep_for(std::min(d, 20ms));
}

// ---- small RAII helpers ----------------------------------------------------------------------

// ---- loaded BPF programs ---------------------------------------------------------------------

struct ProgInfo {
  uint32_t id = 0;
  uint32_t type = 0;
  std::string name;
};

std::vector<ProgInfo> loaded_programs() {
  std::vector<ProgInfo> out;
  __u32 id = 0;
  while (bpf_prog_get_next_id(id, &id) == 0) {
    Fd fd(bpf_prog_get_fd_by_id(id));
    if (fd.get() < 0) continue;  // freed meanwhile
    bpf_prog_info info{};
    __u32 len = sizeof(info);
    if (bpf_obj_get_info_by_fd(fd.get(), &info, &len) != 0) continue;
    out.push_back({id, info.type, std::string(info.name, strnlen(info.name, sizeof(info.name)))});
  }
  return out;
}

// Program types that can run inside a pipe read or write or on the syscall path.
bool may_run_in_loop(uint32_t type) {
  switch (type) {
    case BPF_PROG_TYPE_KPROBE:
    case BPF_PROG_TYPE_TRACEPOINT:
    case BPF_PROG_TYPE_PERF_EVENT:
    case BPF_PROG_TYPE_RAW_TRACEPOINT:
    case BPF_PROG_TYPE_RAW_TRACEPOINT_WRITABLE:
    case BPF_PROG_TYPE_TRACING:
    case BPF_PROG_TYPE_LSM:
      return true;
    default:
      return false;
  }
}

std::string prog_type_name(uint32_t type) {
  const char* s = libbpf_bpf_prog_type_str(static_cast<bpf_prog_type>(type));
  return s != nullptr ? s : fmt::format("type {}", type);
}

// ipctrace's tracing programs (ipct_*), its feature probes (probe_*) and this benchmark's own.
bool named_like_ours(std::string_view name) {
  return name.starts_with("ipct_") || name.starts_with("probe_") || name == kEmptyProgramName;
}

std::string describe(const std::vector<ProgInfo>& progs) {
  std::vector<std::string> parts;
  parts.reserve(progs.size());
  for (const ProgInfo& p : progs) parts.push_back(fmt::format("{} ({}, id {})", p.name, prog_type_name(p.type), p.id));
  return fmt::format("{}", fmt::join(parts, ", "));
}

// Programs that may run in the loop and are not in `known`.
std::vector<ProgInfo> foreign_programs(const std::set<uint32_t>& known) {
  std::vector<ProgInfo> out;
  for (ProgInfo& p : loaded_programs()) {
    if (may_run_in_loop(p.type) && !known.contains(p.id)) out.push_back(std::move(p));
  }
  return out;
}

std::set<uint32_t> ids_of(const std::vector<ProgInfo>& progs) {
  std::set<uint32_t> ids;
  for (const ProgInfo& p : progs) ids.insert(p.id);
  return ids;
}

// The kernel frees a detached program through deferred work: waits up to `timeout` for the
// programs `pred` selects to be gone and returns those still there.
template <typename Pred>
std::vector<ProgInfo> wait_until_gone(Pred pred, std::chrono::milliseconds timeout) {
  const auto end = Clock::now() + timeout;
  while (true) {
    std::vector<ProgInfo> left;
    for (ProgInfo& p : loaded_programs()) {
      if (pred(p)) left.push_back(std::move(p));
    }
    if (left.empty() || Clock::now() >= end || interrupted()) return left;
    std::this_thread::sleep_for(20ms);
  }
}

// ---- the workload ----------------------------------------------------------------------------

class PipeLoop {
 public:
  static Result<PipeLoop> open() {
    std::array<int, 2> fds{-1, -1};
    if (pipe2(fds.data(), O_CLOEXEC) != 0) return Error::from_errno("pipe2");
    PipeLoop loop{Fd(fds[0]), Fd(fds[1])};
    struct stat st {};
    if (fstat(fds[0], &st) != 0) return Error::from_errno("fstat pipe");
    loop.inode_ = st.st_ino;
    return loop;
  }

  // `pairs` times: write 64 bytes, read them back. Checks for a signal every 4096 pairs.
  Status run(uint64_t pairs) {
    std::array<char, kMessageBytes> buf{};
    buf.fill('p');
    const int w = w_.get();
    const int r = r_.get();
    for (uint64_t i = 0; i < pairs; ++i) {
      if ((i & 4095U) == 0 && interrupted()) return interrupted_error();
      if (const ssize_t n = write(w, buf.data(), buf.size()); n != static_cast<ssize_t>(buf.size())) {
        return failed("write", n);
      }
      if (const ssize_t n = read(r, buf.data(), buf.size()); n != static_cast<ssize_t>(buf.size())) {
        return failed("read", n);
      }
    }
    return Ok{};
  }

  [[nodiscard]] uint64_t inode() const { return inode_; }

 private:
  PipeLoop(Fd r, Fd w) : r_(std::move(r)), w_(std::move(w)) {}
  static Error failed(const char* op, ssize_t n) {
    if (interrupted()) return interrupted_error();
    if (n >= 0) return Error::msg(fmt::format("pipe {}: {} bytes instead of {}", op, n, kMessageBytes));
    return Error::from_errno(fmt::format("pipe {}", op));
  }

  Fd r_;
  Fd w_;
  uint64_t inode_ = 0;
};

// ---- configurations: what is attached while the loop runs ------------------------------------

// Did the programs see the loop? Not every configuration can tell (`checked` false).
struct Check {
  bool checked = false;
  bool ok = true;
  std::string detail;
};

// Owns what one configuration attached; destroying it detaches everything.
class Attachment {
 public:
  Attachment() = default;
  virtual ~Attachment() = default;
  Attachment(const Attachment&) = delete;
  Attachment& operator=(const Attachment&) = delete;
  Attachment(Attachment&&) = delete;
  Attachment& operator=(Attachment&&) = delete;

  // Called once after the timed loop, while still attached; `pairs` write+read pairs ran on
  // `loop` since the attachment.
  virtual Check finish(const PipeLoop& loop, uint64_t pairs) = 0;
};

class Nothing final : public Attachment {
 public:
  Check finish(const PipeLoop& /*loop*/, uint64_t /*pairs*/) override { return {}; }
};

class EmptyProgram final : public Attachment {
 public:
  static Result<std::unique_ptr<Attachment>> start() {
    ipctrace_bench_empty* skel = ipctrace_bench_empty__open_and_load();
    if (skel == nullptr) return Error(errno, "load the empty tp_btf/sys_exit program");
    std::unique_ptr<EmptyProgram> p(new EmptyProgram(skel));
    if (int err = ipctrace_bench_empty__attach(skel); err != 0) {
      return Error(err, "attach the empty tp_btf/sys_exit program");
    }
    return std::unique_ptr<Attachment>(std::move(p));
  }
  ~EmptyProgram() override { ipctrace_bench_empty__destroy(skel_); }
  EmptyProgram(const EmptyProgram&) = delete;
  EmptyProgram& operator=(const EmptyProgram&) = delete;
  EmptyProgram(EmptyProgram&&) = delete;
  EmptyProgram& operator=(EmptyProgram&&) = delete;

  Check finish(const PipeLoop& /*loop*/, uint64_t /*pairs*/) override { return {}; }

 private:
  explicit EmptyProgram(ipctrace_bench_empty* skel) : skel_(skel) {}
  ipctrace_bench_empty* skel_;
};

class IpctraceTracer final : public Attachment {
 public:
  static Result<std::unique_ptr<Attachment>> start(const std::vector<ipctrace::HookChoice>& hooks, bool wait_time) {
    ipctrace::TracerConfig config;
    config.wait_time = wait_time;
    auto t = ipctrace::Tracer::start(config, hooks);
    if (!t) return Error(t.error().code(), "start ipctrace's tracer: " + t.error().context());
    return std::unique_ptr<Attachment>(new IpctraceTracer(std::move(t).value()));
  }

  // The tracer must have counted every write and read of the loop's pipe, exactly.
  Check finish(const PipeLoop& loop, uint64_t pairs) override {
    auto flows = tracer_->read_flows();
    if (!flows) return {true, false, "read flows: " + flows.error().message()};
    uint64_t writes = 0;
    uint64_t reads = 0;
    uint64_t written = 0;
    uint64_t read_bytes = 0;
    for (const ipctrace::FlowSample& f : *flows) {
      if (f.key.kind != IPCT_KIND_PIPE || f.key.ch.obj.id != loop.inode()) continue;
      if (f.key.dir == IPCT_DIR_SEND) {
        writes += f.msgs;
        written += f.bytes;
      } else {
        reads += f.msgs;
        read_bytes += f.bytes;
      }
    }
    const uint64_t bytes = pairs * kMessageBytes;
    const bool ok = writes == pairs && reads == pairs && written == bytes && read_bytes == bytes;
    if (ok) return {true, true, fmt::format("counted {} writes and {} reads, exact", writes, reads)};
    return {true, false,
            fmt::format("counted {} writes ({} B) and {} reads ({} B); the loop did {} of each ({} B)", writes, written,
                        reads, read_bytes, pairs, bytes)};
  }

 private:
  explicit IpctraceTracer(std::unique_ptr<ipctrace::Tracer> t) : tracer_(std::move(t)) {}
  std::unique_ptr<ipctrace::Tracer> tracer_;
};

// The last `n` lines of `text`, on one line, for error messages.
std::string tail_lines(const std::string& text, size_t n) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty() && line != kAttachedMarker) lines.push_back(line);
  }
  if (lines.size() > n) lines.erase(lines.begin(), lines.end() - static_cast<std::ptrdiff_t>(n));
  return lines.empty() ? "(no output)" : fmt::format("{}", fmt::join(lines, " | "));
}

// A bpftrace child process. Its stdout and stderr come to us through one pipe. The destructor
// stops it (SIGINT, then SIGKILL after 5 s) and reaps it, whatever happened before.
class Bpftrace final : public Attachment {
 public:
  static Result<std::unique_ptr<Attachment>> start(const std::string& path, const cpu_set_t& child_cpus) {
    std::array<int, 2> fds{-1, -1};
    if (pipe2(fds.data(), O_CLOEXEC) != 0) return Error::from_errno("pipe2 for bpftrace");
    Fd out_r(fds[0]);
    Fd out_w(fds[1]);

    // Everything the child needs, prepared before fork: after it only async-signal-safe calls.
    std::vector<std::string> args{path, "-e", kBpftraceProgram};
    std::vector<char*> argv;
    argv.reserve(args.size() + 1);
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    std::vector<std::string> env_storage{std::string(kAttachedMarker) + "=1"};
    for (char** e = environ; *e != nullptr; ++e) {
      if (!std::string_view(*e).starts_with(std::string(kAttachedMarker) + "=")) env_storage.emplace_back(*e);
    }
    std::vector<char*> envp;
    envp.reserve(env_storage.size() + 1);
    for (std::string& e : env_storage) envp.push_back(e.data());
    envp.push_back(nullptr);
    const pid_t parent = getpid();

    const pid_t pid = fork();
    if (pid < 0) return Error::from_errno("fork bpftrace");
    if (pid == 0) {
      // Its own process group (a terminal's ^C reaches us, and we stop it), dies with us, and
      // stays off the measuring CPU.
      setpgid(0, 0);
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (getppid() != parent) _exit(127);
      sched_setaffinity(0, sizeof(child_cpus), &child_cpus);
      struct sigaction dfl {};
      dfl.sa_handler = SIG_DFL;
      for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGPIPE}) sigaction(sig, &dfl, nullptr);
      dup2(out_w.get(), STDOUT_FILENO);
      dup2(out_w.get(), STDERR_FILENO);
      execve(path.c_str(), argv.data(), envp.data());
      static constexpr char kMsg[] = "exec bpftrace failed\n";
      (void)!write(STDERR_FILENO, kMsg, sizeof(kMsg) - 1);
      _exit(127);
    }
    setpgid(pid, pid);  // also from here: no window in which a signal to the group misses it
    out_w.reset();
    std::unique_ptr<Bpftrace> b(new Bpftrace(pid, std::move(out_r)));
    if (Status s = b->wait_attached(60s); !s) return s.error();
    return std::unique_ptr<Attachment>(std::move(b));
  }

  ~Bpftrace() override { stop(); }
  Bpftrace(const Bpftrace&) = delete;
  Bpftrace& operator=(const Bpftrace&) = delete;
  Bpftrace(Bpftrace&&) = delete;
  Bpftrace& operator=(Bpftrace&&) = delete;

  // Stops bpftrace, which prints its map on SIGINT: the loop's process wrote and read 64 bytes
  // per operation, so its cgroup sums at least that (other processes add their own).
  Check finish(const PipeLoop& /*loop*/, uint64_t pairs) override {
    stop();
    uint64_t total = 0;
    size_t entries = 0;
    std::istringstream in(output_);
    for (std::string line; std::getline(in, line);) {
      if (!line.starts_with("@bytes[")) continue;
      const size_t colon = line.rfind(": ");
      if (colon == std::string::npos) continue;
      total += std::strtoull(line.c_str() + colon + 2, nullptr, 10);
      ++entries;
    }
    const uint64_t expected = 2 * pairs * kMessageBytes;
    if (entries == 0) return {true, false, "bpftrace printed no @bytes map: " + tail_lines(output_, 3)};
    return {true, total >= expected,
            fmt::format("summed {} B over {} cgroup(s); the loop alone moved {} B", total, entries, expected)};
  }

 private:
  Bpftrace(pid_t pid, Fd out) : pid_(pid), out_(std::move(out)) {}

  // Reads what is available, waiting up to `timeout` for it. False at end of file.
  bool read_some(std::chrono::milliseconds timeout) {
    if (out_.get() < 0) return false;
    pollfd p{out_.get(), POLLIN, 0};
    const int n = poll(&p, 1, static_cast<int>(timeout.count()));
    if (n <= 0) return true;  // nothing yet, or EINTR
    std::array<char, 4096> buf{};
    const ssize_t r = read(out_.get(), buf.data(), buf.size());
    if (r > 0) {
      output_.append(buf.data(), static_cast<size_t>(r));
      return true;
    }
    if (r < 0 && errno == EINTR) return true;
    out_.reset();
    return false;
  }

  Status wait_attached(std::chrono::seconds timeout) {
    const auto deadline = Clock::now() + timeout;
    std::optional<Clock::time_point> attaching_seen;
    while (true) {
      if (output_.find(kAttachedMarker) != std::string::npos) return Ok{};
      if (interrupted()) return interrupted_error();
      const auto now = Clock::now();
      // A bpftrace too old for the marker: "Attaching" and then a grace period.
      if (attaching_seen && now - *attaching_seen > 5s) {
        std::cerr << kName << ": note: bpftrace printed no attach marker; assuming it attached\n";
        return Ok{};
      }
      if (now >= deadline) {
        return Error::msg(
            fmt::format("bpftrace did not attach within {} s: {}", timeout.count(), tail_lines(output_, 3)));
      }
      if (!read_some(100ms)) {
        return Error::msg(fmt::format("bpftrace exited before attaching: {}", tail_lines(output_, 3)));
      }
      if (!attaching_seen && output_.find("Attaching") != std::string::npos) attaching_seen = Clock::now();
    }
  }

  void stop() {
    if (pid_ > 0) {
      kill(pid_, SIGINT);
      const auto deadline = Clock::now() + 5s;
      bool reaped = false;
      while (!reaped && Clock::now() < deadline) {
        if (!read_some(50ms)) std::this_thread::sleep_for(10ms);
        reaped = waitpid(pid_, nullptr, WNOHANG) == pid_;
      }
      if (!reaped) {
        std::cerr << kName << ": bpftrace did not stop on SIGINT within 5 s; killing it\n";
        kill(-pid_, SIGKILL);
        kill(pid_, SIGKILL);
        while (waitpid(pid_, nullptr, 0) < 0 && errno == EINTR) {
        }
      }
      pid_ = -1;
    }
    while (read_some(0ms) && out_.get() >= 0) {
      pollfd p{out_.get(), POLLIN, 0};
      if (poll(&p, 1, 0) <= 0) break;
    }
    out_.reset();
  }

  pid_t pid_;
  Fd out_;
  std::string output_;
};

// ---- environment -----------------------------------------------------------------------------

// An executable file named `name` on PATH (or `name` itself when it has a slash).
std::optional<std::string> find_executable(const std::string& name) {
  if (name.find('/') != std::string::npos) return access(name.c_str(), X_OK) == 0 ? std::optional(name) : std::nullopt;
  const char* path = std::getenv("PATH");
  std::istringstream dirs(path != nullptr ? path : "/usr/local/bin:/usr/bin:/bin");
  for (std::string dir; std::getline(dirs, dir, ':');) {
    if (dir.empty()) continue;
    std::string candidate = dir;
    candidate.append("/").append(name);
    struct stat st {};
    if (stat(candidate.c_str(), &st) == 0 && S_ISREG(st.st_mode) && access(candidate.c_str(), X_OK) == 0) {
      return candidate;
    }
  }
  return std::nullopt;
}

// The first line `cmd` prints (a version string), or "".
std::string first_line_of(const std::string& cmd) {
  std::unique_ptr<FILE, int (*)(FILE*)> p(popen(cmd.c_str(), "r"), pclose);
  if (!p) return "";
  std::array<char, 256> buf{};
  if (std::fgets(buf.data(), static_cast<int>(buf.size()), p.get()) == nullptr) return "";
  std::string s(buf.data());
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
  return s;
}

std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  for (std::string line; std::getline(in, line);) {
    if (line.starts_with("model name")) {
      const size_t colon = line.find(':');
      if (colon != std::string::npos) return line.substr(line.find_first_not_of(' ', colon + 1));
    }
  }
  return "unknown";
}

// The 1, 5 and 15 minute load averages, as /proc/loadavg has them.
std::string load_average() {
  std::ifstream in("/proc/loadavg");
  std::string one;
  std::string five;
  std::string fifteen;
  if (!(in >> one >> five >> fifteen)) return "unknown";
  return fmt::format("{} {} {}", one, five, fifteen);
}

std::string utc_now() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  std::array<char, 32> buf{};
  std::strftime(buf.data(), buf.size(), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf.data();
}

std::string cpu_list(const cpu_set_t& set) {
  std::vector<std::string> parts;
  for (int c = 0; c < CPU_SETSIZE; ++c) {
    if (CPU_ISSET(c, &set)) parts.push_back(std::to_string(c));
  }
  return fmt::format("{}", fmt::join(parts, ","));
}

// ---- measuring -------------------------------------------------------------------------------

struct Options {
  int rounds = 7;
  uint64_t iterations = 1'000'000;
  uint64_t warmup = 50'000;
  int cpu = 1;
  int retries = 5;
  std::vector<std::string> config_names{"none", "empty", "ipctrace", "ipctrace-nowait", "bpftrace"};
  bool quick = false;
  std::string json_path;
  int verbose = 0;
};

struct Sample {
  int round = 0;
  double ns_per_pair = 0;
  double cpu_ns_per_pair = 0;  // the thread's CPU time: what the loop cost without preemption
  long involuntary_switches = 0;
  int attempts = 1;
  bool clean = true;
  std::string disturbance;  // why the sample is not clean
  Check check;
};

struct Context {
  Options opt;
  cpu_set_t child_cpus{};                   // where bpftrace may run: every allowed CPU but the measuring one
  std::vector<ipctrace::HookChoice> hooks;  // for ipctrace
  std::string bpftrace_path;
  std::set<uint32_t> baseline;  // programs that may run in the loop, loaded before we started
};

double to_ns(const timespec& ts) { return static_cast<double>(ts.tv_sec) * 1e9 + static_cast<double>(ts.tv_nsec); }

Result<std::unique_ptr<Attachment>> attach(Config c, const Context& ctx) {
  switch (c) {
    case Config::None:
      return std::unique_ptr<Attachment>(new Nothing());
    case Config::Empty:
      return EmptyProgram::start();
    case Config::Ipctrace:
      return IpctraceTracer::start(ctx.hooks, true);
    case Config::IpctraceNoWait:
      return IpctraceTracer::start(ctx.hooks, false);
    case Config::Bpftrace:
      return Bpftrace::start(ctx.bpftrace_path, ctx.child_cpus);
  }
  return Error::msg("unknown configuration");
}

// One sample: attach `c`, warm up, time the loop, check, detach.
Result<Sample> measure_once(Config c, const Context& ctx, PipeLoop& loop) {
  Sample s;
  // Whatever the previous configuration loaded must be gone (the kernel frees it shortly after
  // detaching), and nothing else may have appeared.
  std::vector<ProgInfo> before = wait_until_gone(
      [&](const ProgInfo& p) { return may_run_in_loop(p.type) && !ctx.baseline.contains(p.id); }, 3000ms);
  if (interrupted()) return interrupted_error();

  auto attached = attach(c, ctx);
  if (!attached) return attached.error();
  std::unique_ptr<Attachment> a = std::move(attached).value();
  // What may run in the loop now: the baseline, what this configuration loaded (and what was
  // left over, already reported).
  const std::set<uint32_t> known = ids_of(foreign_programs({}));

  if (Status st = loop.run(ctx.opt.warmup); !st) return st.error();
  rusage ru0{};
  rusage ru1{};
  timespec wall0{};
  timespec wall1{};
  timespec cpu0{};
  timespec cpu1{};
  getrusage(RUSAGE_THREAD, &ru0);
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &cpu0);
  clock_gettime(CLOCK_MONOTONIC, &wall0);
  Status st = loop.run(ctx.opt.iterations);
  clock_gettime(CLOCK_MONOTONIC, &wall1);
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &cpu1);
  getrusage(RUSAGE_THREAD, &ru1);
  if (!st) return st.error();

  const double n = static_cast<double>(ctx.opt.iterations);
  s.ns_per_pair = (to_ns(wall1) - to_ns(wall0)) / n;
  s.cpu_ns_per_pair = (to_ns(cpu1) - to_ns(cpu0)) / n;
  s.involuntary_switches = ru1.ru_nivcsw - ru0.ru_nivcsw;

  std::vector<std::string> why;
  if (!before.empty()) why.push_back("other programs were loaded: " + describe(before));
  if (auto appeared = foreign_programs(known); !appeared.empty()) {
    why.push_back("other programs appeared: " + describe(appeared));
  }
  const double on_cpu = s.cpu_ns_per_pair / s.ns_per_pair;
  if (on_cpu < kMinOnCpuShare) why.push_back(fmt::format("the loop was on its CPU {:.0f}% of the time", on_cpu * 100));
  s.clean = why.empty();
  s.disturbance = fmt::format("{}", fmt::join(why, "; "));

  s.check = a->finish(loop, ctx.opt.warmup + ctx.opt.iterations);
  a.reset();  // detach before anything else runs
  if (interrupted()) return interrupted_error();
  return s;
}

// A sample, measured again (up to --retries times) while disturbed.
Result<Sample> measure(Config c, const Context& ctx, PipeLoop& loop, int round) {
  for (int attempt = 1;; ++attempt) {
    auto s = measure_once(c, ctx, loop);
    if (!s) return s;
    s->round = round;
    s->attempts = attempt;
    if (s->clean || attempt > ctx.opt.retries) return s;
    // Back off (1, 2, 4 ... 30 s): whatever disturbed it may be a build or a test run.
    const auto pause = std::min<std::chrono::milliseconds>(1000ms * (1 << std::min(attempt - 1, 5)), 30s);
    std::cerr << fmt::format("  {}: sample disturbed ({}); measuring again in {} s\n", config_name(c), s->disturbance,
                             pause.count() / 1000);
    interruptible_sleep(pause);
  }
}

// ---- results ---------------------------------------------------------------------------------

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t m = v.size() / 2;
  return v.size() % 2 == 1 ? v[m] : (v[m - 1] + v[m]) / 2;
}

struct Summary {
  Config config = Config::None;
  std::vector<Sample> samples;
  double median_ns = 0;
  double min_ns = 0;
  double max_ns = 0;
  double median_cpu_ns = 0;
  std::optional<double> added_ns;  // median over rounds of (this - none) in the same round
  std::optional<double> ratio;     // median over rounds of (this / none) in the same round
  int checked = 0;
  int checks_ok = 0;
  int disturbed = 0;  // samples still disturbed after the retries
  int retried = 0;    // samples measured more than once
};

std::vector<Summary> summarize(const std::vector<Config>& configs, const std::vector<std::vector<Sample>>& by_config) {
  std::vector<Summary> out;
  const std::vector<Sample>* none = nullptr;
  for (size_t i = 0; i < configs.size(); ++i) {
    if (configs[i] == Config::None) none = &by_config[i];
  }
  for (size_t i = 0; i < configs.size(); ++i) {
    Summary s;
    s.config = configs[i];
    s.samples = by_config[i];
    std::vector<double> ns;
    std::vector<double> cpu;
    std::vector<double> added;
    std::vector<double> ratio;
    for (size_t r = 0; r < s.samples.size(); ++r) {
      const Sample& x = s.samples[r];
      ns.push_back(x.ns_per_pair);
      cpu.push_back(x.cpu_ns_per_pair);
      if (none != nullptr && r < none->size()) {
        added.push_back(x.ns_per_pair - (*none)[r].ns_per_pair);
        ratio.push_back(x.ns_per_pair / (*none)[r].ns_per_pair);
      }
      if (x.check.checked) {
        ++s.checked;
        if (x.check.ok) ++s.checks_ok;
      }
      if (!x.clean) ++s.disturbed;
      if (x.attempts > 1) ++s.retried;
    }
    if (ns.empty()) continue;
    s.median_ns = median(ns);
    s.min_ns = *std::min_element(ns.begin(), ns.end());
    s.max_ns = *std::max_element(ns.begin(), ns.end());
    s.median_cpu_ns = median(cpu);
    if (!added.empty()) {
      s.added_ns = median(added);
      s.ratio = median(ratio);
    }
    out.push_back(std::move(s));
  }
  return out;
}

const Summary* find(const std::vector<Summary>& v, Config c) {
  for (const Summary& s : v) {
    if (s.config == c) return &s;
  }
  return nullptr;
}

struct Comparisons {
  std::optional<double> ipctrace_over_bpftrace;  // added ns, ipctrace / bpftrace
  std::optional<double> ipctrace_over_empty;     // added ns, ipctrace / empty
  std::optional<double> ipctrace_minus_empty;    // added ns, ipctrace - empty
};
constexpr double kBudget = 0.5;  // ipctrace may add at most half of what the bpftrace one-liner adds

Comparisons compare(const std::vector<Summary>& v, Config which) {
  Comparisons c;
  const Summary* ipc = find(v, which);
  const Summary* bt = find(v, Config::Bpftrace);
  const Summary* empty = find(v, Config::Empty);
  if (ipc == nullptr || !ipc->added_ns) return c;
  if (bt != nullptr && bt->added_ns && *bt->added_ns > 0) c.ipctrace_over_bpftrace = *ipc->added_ns / *bt->added_ns;
  if (empty != nullptr && empty->added_ns) {
    if (*empty->added_ns > 0) c.ipctrace_over_empty = *ipc->added_ns / *empty->added_ns;
    c.ipctrace_minus_empty = *ipc->added_ns - *empty->added_ns;
  }
  return c;
}

struct RunInfo {
  std::string date;
  std::string kernel;
  std::string machine;
  std::string cpu_model;
  long cpus = 0;
  std::string loadavg;
  size_t programs_before = 0;
  std::string bpftrace_version;
  std::vector<std::pair<std::string, std::string>> skipped;  // configuration, why
};

std::string check_cell(const Summary& s) {
  if (s.checked == 0) return "n/a";
  const std::string what = is_ipctrace(s.config) ? "exact counts" : "bytes seen";
  std::string cell = fmt::format("{}/{} {}", s.checks_ok, s.checked, what);
  for (const Sample& x : s.samples) {
    if (x.check.checked && !x.check.ok)
      return cell + " (round " + std::to_string(x.round) + ": " + x.check.detail + ")";
  }
  return cell;
}

std::string markdown(const Options& opt, const RunInfo& info, const std::vector<Summary>& v,
                     const std::vector<std::pair<Config, Comparisons>>& cmps) {
  std::string md;
  auto line = [&](const std::string& s) { md += s + "\n"; };
  line("## ipctrace-bench-pipe: 64-byte pipe write+read loop");
  line("");
  line(fmt::format("- date: {}; kernel: {} ({}); CPU: {}, {} online", info.date, info.kernel, info.machine,
                   info.cpu_model, info.cpus));
  line(
      fmt::format("- loop: one thread pinned to CPU {}, {} write+read pairs per sample after {} warm-up pairs; "
                  "{} rounds, configurations in rotating order; load average before: {}",
                  opt.cpu, opt.iterations, opt.warmup, opt.rounds, info.loadavg));
  line(fmt::format("- BPF programs loaded before the run: {}", info.programs_before));
  if (!info.bpftrace_version.empty()) line(fmt::format("- bpftrace: {}", info.bpftrace_version));
  for (const auto& [name, why] : info.skipped) line(fmt::format("- skipped `{}`: {}", name, why));
  line("");
  line("| configuration | median ns/pair | added ns/pair | added % | min–max ns/pair | programs saw the loop |");
  line("|---|---:|---:|---:|---:|---|");
  for (const Summary& s : v) {
    std::string added = "n/a";
    std::string pct = "n/a";
    if (s.config == Config::None) {
      added = "—";
      pct = "—";
    } else if (s.added_ns) {
      added = fmt::format("{:+.1f}", *s.added_ns);
      pct = fmt::format("{:+.1f}%", (*s.ratio - 1) * 100);
    }
    line(fmt::format("| {} | {:.1f} | {} | {} | {:.1f}–{:.1f} | {} |", config_name(s.config), s.median_ns, added, pct,
                     s.min_ns, s.max_ns, check_cell(s)));
  }
  line("");
  bool header = false;
  for (const auto& [which, c] : cmps) {
    if (!c.ipctrace_over_bpftrace && !c.ipctrace_over_empty && !c.ipctrace_minus_empty) continue;
    if (!header) {
      line("| comparison (added ns/pair) | value |");
      line("|---|---:|");
      header = true;
    }
    const std::string_view name = config_name(which);
    if (c.ipctrace_over_bpftrace) {
      line(fmt::format("| {} / bpftrace one-liner | {:.2f} (budget ≤ {:.2f}: {}) |", name, *c.ipctrace_over_bpftrace,
                       kBudget, *c.ipctrace_over_bpftrace <= kBudget ? "met" : "NOT met"));
    }
    if (c.ipctrace_over_empty) line(fmt::format("| {} / empty program | {:.2f} |", name, *c.ipctrace_over_empty));
    if (c.ipctrace_minus_empty) {
      line(fmt::format("| {} − empty program | {:+.1f} ns |", name, *c.ipctrace_minus_empty));
    }
  }
  if (header) line("");
  std::vector<std::string> retried;
  std::vector<std::string> disturbed;
  for (const Summary& s : v) {
    if (s.retried > 0) retried.push_back(fmt::format("{} {}", config_name(s.config), s.retried));
    if (s.disturbed > 0) disturbed.push_back(fmt::format("{} {}", config_name(s.config), s.disturbed));
  }
  if (!retried.empty()) {
    line(
        fmt::format("Samples measured again because they were disturbed (loop preempted, or other tracing programs "
                    "loaded): {}.",
                    fmt::join(retried, ", ")));
  }
  if (!disturbed.empty()) {
    line(fmt::format("Samples still disturbed after {} retries, kept: {}.", opt.retries, fmt::join(disturbed, ", ")));
  }
  line(
      "added: median over rounds of (configuration − none) measured in the same round; "
      "added %: median of the same-round ratios.");
  return md;
}

json optional_json(const std::optional<double>& v) { return v ? json(*v) : json(nullptr); }

json to_json(const Options& opt, const RunInfo& info, const std::vector<Summary>& v,
             const std::vector<std::pair<Config, Comparisons>>& cmps) {
  json j;
  j["date"] = info.date;
  j["kernel"] = info.kernel;
  j["machine"] = info.machine;
  j["cpu_model"] = info.cpu_model;
  j["cpus_online"] = info.cpus;
  j["loadavg_before"] = info.loadavg;
  j["cpu"] = opt.cpu;
  j["rounds"] = opt.rounds;
  j["iterations"] = opt.iterations;
  j["warmup"] = opt.warmup;
  j["message_bytes"] = kMessageBytes;
  j["bpf_programs_before"] = info.programs_before;
  j["bpftrace_version"] = info.bpftrace_version.empty() ? json(nullptr) : json(info.bpftrace_version);
  j["bpftrace_program"] = kBpftraceProgram;
  j["skipped"] = json::array();
  for (const auto& [name, why] : info.skipped) j["skipped"].push_back({{"config", name}, {"reason", why}});
  j["configs"] = json::array();
  for (const Summary& s : v) {
    json cj;
    cj["name"] = config_name(s.config);
    cj["median_ns_per_pair"] = s.median_ns;
    cj["min_ns_per_pair"] = s.min_ns;
    cj["max_ns_per_pair"] = s.max_ns;
    cj["median_cpu_ns_per_pair"] = s.median_cpu_ns;
    cj["added_ns_per_pair"] = optional_json(s.added_ns);
    cj["ratio_to_none"] = optional_json(s.ratio);
    cj["added_percent"] = s.ratio ? json((*s.ratio - 1) * 100) : json(nullptr);
    cj["checks"] = {{"checked", s.checked}, {"ok", s.checks_ok}};
    cj["samples"] = json::array();
    for (const Sample& x : s.samples) {
      json sj{{"round", x.round},
              {"ns_per_pair", x.ns_per_pair},
              {"cpu_ns_per_pair", x.cpu_ns_per_pair},
              {"involuntary_switches", x.involuntary_switches},
              {"attempts", x.attempts},
              {"clean", x.clean}};
      if (!x.clean) sj["disturbance"] = x.disturbance;
      if (x.check.checked) sj["check"] = {{"ok", x.check.ok}, {"detail", x.check.detail}};
      cj["samples"].push_back(std::move(sj));
    }
    j["configs"].push_back(std::move(cj));
  }
  j["comparisons"] = json::object();
  for (const auto& [which, c] : cmps) {
    j["comparisons"][std::string(config_name(which))] = {
        {"added_over_bpftrace_added", optional_json(c.ipctrace_over_bpftrace)},
        {"budget", kBudget},
        {"within_budget", c.ipctrace_over_bpftrace ? json(*c.ipctrace_over_bpftrace <= kBudget) : json(nullptr)},
        {"added_over_empty_added", optional_json(c.ipctrace_over_empty)},
        {"added_minus_empty_added_ns", optional_json(c.ipctrace_minus_empty)}};
  }
  return j;
}

// ---- the run ---------------------------------------------------------------------------------

int run(Options opt, const std::vector<Config>& requested) {
  if (geteuid() != 0) {
    std::cerr << kName << ": must run as root (it loads BPF programs and runs bpftrace)\n";
    return kExitFailure;
  }
  cpu_set_t allowed;
  CPU_ZERO(&allowed);
  if (sched_getaffinity(0, sizeof(allowed), &allowed) != 0) {
    std::cerr << kName << ": sched_getaffinity: " << std::strerror(errno) << "\n";
    return kExitFailure;
  }
  if (opt.cpu >= CPU_SETSIZE || !CPU_ISSET(opt.cpu, &allowed)) {
    std::cerr << kName << ": --cpu " << opt.cpu << ": not a CPU this process may use (" << cpu_list(allowed) << ")\n";
    return kExitUsage;
  }

  // Nothing of ipctrace's (or of an earlier run of this benchmark) may be loaded: it would run
  // in every configuration.
  const std::vector<ProgInfo> programs = loaded_programs();
  std::vector<ProgInfo> leftovers;
  for (const ProgInfo& p : programs) {
    if (named_like_ours(p.name)) leftovers.push_back(p);
  }
  std::cerr << kName << ": " << programs.size() << " BPF program(s) loaded before starting\n";
  if (!leftovers.empty()) {
    std::cerr << kName << ": refusing to start: ipctrace programs are already loaded (" << describe(leftovers)
              << "); stop whatever loaded them (`bpftool prog show`) and run again\n";
    return kExitFailure;
  }

  RunInfo info;
  info.programs_before = programs.size();
  info.date = utc_now();
  utsname u{};
  uname(&u);
  info.kernel = u.release;
  info.machine = u.machine;
  info.cpu_model = cpu_model();
  info.cpus = sysconf(_SC_NPROCESSORS_ONLN);
  info.loadavg = load_average();

  Context ctx;
  ctx.opt = opt;
  ctx.child_cpus = allowed;
  CPU_CLR(opt.cpu, &ctx.child_cpus);
  if (CPU_COUNT(&ctx.child_cpus) == 0) ctx.child_cpus = allowed;

  std::vector<Config> configs;
  for (Config c : requested) {
    if (c == Config::Bpftrace) {
      auto path = find_executable("bpftrace");
      if (!path) {
        std::cerr << kName << ": note: bpftrace is not installed; skipping the bpftrace configuration "
                  << "(apt-get install bpftrace)\n";
        info.skipped.emplace_back("bpftrace", "bpftrace is not installed");
        continue;
      }
      ctx.bpftrace_path = *path;
      info.bpftrace_version = first_line_of(*path + " --version 2>/dev/null");
      if (auto tracefs = ipctrace::ensure_tracefs(); !tracefs) {
        std::cerr << kName << ": tracefs (bpftrace's tracepoints need it): " << tracefs.error().message() << "\n";
        return kExitFailure;
      }
    }
    if (is_ipctrace(c) && ctx.hooks.empty()) {
      std::cerr << kName << ": probing the kernel for ipctrace's hooks\n";
      const ipctrace::ProbeReport report = ipctrace::run_probe(ipctrace::ProbeOptions{});
      if (!report.agent_can_run()) {
        std::cerr << kName << ": ipctrace cannot run here: " << fmt::format("{}", fmt::join(report.blockers(), "; "))
                  << "\n";
        return kExitFailure;
      }
      ctx.hooks = report.hooks;
    }
    configs.push_back(c);
  }
  if (configs.empty()) {
    std::cerr << kName << ": nothing to measure\n";
    return kExitFailure;
  }

  // The probe's programs go away shortly after it returns; then whatever may run in the loop is
  // the baseline every configuration shares.
  wait_until_gone([](const ProgInfo& p) { return named_like_ours(p.name); }, 5000ms);
  if (interrupted()) return kExitFailure;
  std::vector<ProgInfo> baseline;
  for (const ProgInfo& p : loaded_programs()) {
    if (may_run_in_loop(p.type)) baseline.push_back(p);
  }
  if (!baseline.empty()) {
    std::cerr << kName
              << ": warning: tracing programs already loaded run in every configuration: " << describe(baseline)
              << "\n";
  }
  ctx.baseline = ids_of(baseline);

  cpu_set_t pin;
  CPU_ZERO(&pin);
  CPU_SET(opt.cpu, &pin);
  if (sched_setaffinity(0, sizeof(pin), &pin) != 0) {
    std::cerr << kName << ": pin to CPU " << opt.cpu << ": " << std::strerror(errno) << "\n";
    return kExitFailure;
  }

  auto loop = PipeLoop::open();
  if (!loop) {
    std::cerr << kName << ": " << loop.error().message() << "\n";
    return kExitFailure;
  }

  std::vector<std::vector<Sample>> by_config(configs.size());
  for (int round = 0; round < opt.rounds; ++round) {
    std::vector<std::string> progress;
    for (size_t k = 0; k < configs.size(); ++k) {
      const size_t i = (static_cast<size_t>(round) + k) % configs.size();
      auto s = measure(configs[i], ctx, *loop, round + 1);
      if (!s) {
        if (interrupted()) return kExitFailure;
        std::cerr << kName << ": " << config_name(configs[i]) << ": " << s.error().message() << "\n";
        return kExitFailure;
      }
      progress.push_back(fmt::format("{} {:.1f}", config_name(configs[i]), s->ns_per_pair));
      if (s->check.checked && !s->check.ok) {
        std::cerr << fmt::format("  {}: the programs missed the loop: {}\n", config_name(configs[i]), s->check.detail);
      }
      by_config[i].push_back(std::move(s).value());
    }
    std::cerr << fmt::format("round {}/{}: {} ns/pair\n", round + 1, opt.rounds, fmt::join(progress, ", "));
  }

  const std::vector<Summary> summary = summarize(configs, by_config);
  const std::vector<std::pair<Config, Comparisons>> cmp = {
      {Config::Ipctrace, compare(summary, Config::Ipctrace)},
      {Config::IpctraceNoWait, compare(summary, Config::IpctraceNoWait)}};

  // Everything is detached; the kernel frees it shortly after. Say if anything stays.
  std::vector<ProgInfo> left = wait_until_gone(
      [&](const ProgInfo& p) {
        return named_like_ours(p.name) || (may_run_in_loop(p.type) && !ctx.baseline.contains(p.id));
      },
      5000ms);
  if (!left.empty()) std::cerr << kName << ": warning: still loaded after the run: " << describe(left) << "\n";

  std::cout << markdown(opt, info, summary, cmp) << std::flush;
  if (!opt.json_path.empty()) {
    std::ofstream out(opt.json_path);
    out << to_json(opt, info, summary, cmp).dump(2) << "\n";
    if (!out) {
      std::cerr << kName << ": write " << opt.json_path << ": " << std::strerror(errno) << "\n";
      return kExitFailure;
    }
  }
  return kExitOk;
}

int bench_main(int argc, char** argv) {
  Options opt;
  CLI::App app{
      "Measures what tracing adds to a 64-byte pipe write+read loop pinned to one CPU: nothing "
      "attached, an empty tp_btf/sys_exit program, ipctrace's tracer, a bpftrace one-liner.",
      kName};
  app.add_option("--rounds", opt.rounds, "Rounds; each runs every configuration once, in rotating order")
      ->check(CLI::Range(1, 1000));
  app.add_option("--iterations", opt.iterations, "Timed write+read pairs per sample")
      ->check(CLI::Range(uint64_t{1}, uint64_t{10'000'000'000}));
  app.add_option("--warmup", opt.warmup, "Untimed write+read pairs before each sample");
  app.add_option("--cpu", opt.cpu, "CPU the loop runs on")->check(CLI::Range(0, CPU_SETSIZE - 1));
  app.add_option("--configs", opt.config_names, "Configurations, comma-separated: none,empty,ipctrace,bpftrace")
      ->delimiter(',')
      ->check(CLI::IsMember({"none", "empty", "ipctrace", "ipctrace-nowait", "bpftrace"}));
  app.add_option("--retries", opt.retries, "Times a disturbed sample is measured again")->check(CLI::Range(0, 100));
  app.add_flag("--quick", opt.quick, "A smoke run in seconds: 2 rounds of 20000 pairs (explicit flags win)");
  app.add_option("--json", opt.json_path, "Also write the results as JSON to FILE")->type_name("FILE");
  app.add_flag("-v,--verbose", opt.verbose, "More logging (-v debug, -vv trace)");
  try {
    app.parse(argc, argv);
    std::set<std::string> seen;
    for (const std::string& n : opt.config_names) {
      if (!seen.insert(n).second) throw CLI::ValidationError("--configs", n + " given twice");
    }
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);
    std::string what = e.what();
    std::replace(what.begin(), what.end(), '\n', ' ');
    std::cerr << kName << ": error: " << what << " (see --help)\n";
    return kExitUsage;
  }
  if (opt.quick) {
    if (app.count("--rounds") == 0) opt.rounds = 2;
    if (app.count("--iterations") == 0) opt.iterations = 20'000;
    if (app.count("--warmup") == 0) opt.warmup = 2'000;
    if (app.count("--retries") == 0) opt.retries = 1;
  }
  std::vector<Config> configs;
  for (const std::string& n : opt.config_names) configs.push_back(*parse_config(n));

  ipctrace::init_logging(opt.verbose > 0 ? ipctrace::level_from_verbosity(opt.verbose) : spdlog::level::warn);
  ipctrace::route_libbpf_log();
  const ipctrace::StopSignal stop({SIGINT, SIGTERM, SIGHUP});
  g_stop = &stop;
  int rc = kExitFailure;
  try {
    rc = run(opt, configs);
  } catch (const std::exception& e) {
    std::cerr << kName << ": " << e.what() << "\n";
    rc = kExitFailure;
  }
  // Every attachment is destroyed by now: programs detached, bpftrace stopped and reaped.
  g_stop = nullptr;
  if (stop.requested()) {
    std::cerr << kName << ": interrupted by " << strsignal(stop.signal()) << "; everything detached and stopped\n";
    return 128 + stop.signal();
  }
  return rc;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return bench_main(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << kName << ": fatal: " << e.what() << "\n";
    return kExitFailure;
  }
}
