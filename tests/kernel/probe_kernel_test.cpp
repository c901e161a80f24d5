// `ipctrace probe` against independent attempts: for each feature the test loads, attaches and
// triggers its own program, built from raw instructions and attached with raw calls, and
// requires the probe's claim to agree. Nothing here goes through ipctrace's code or skeleton.
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <linux/bpf.h>
#include <linux/perf_event.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "kernel_test.h"
#include "subprocess.h"

using ::testing::HasSubstr;

using ipctrace::test::ipctrace_binary;
using ipctrace::test::run_process;
using nlohmann::json;

namespace {

// RAII fd.
struct Fd {
  int fd = -1;
  Fd() = default;
  explicit Fd(int f) : fd(f) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  Fd(Fd&& o) noexcept : fd(o.fd) { o.fd = -1; }
  Fd& operator=(Fd&& o) noexcept {
    std::swap(fd, o.fd);
    return *this;
  }
  ~Fd() {
    if (fd >= 0) close(fd);
  }
};

bpf_insn insn(__u8 code, __u8 dst, __u8 src, __s16 off, __s32 imm) {
  bpf_insn i{};
  i.code = code;
  i.dst_reg = dst & 0xfU;
  i.src_reg = src & 0xfU;
  i.off = off;
  i.imm = imm;
  return i;
}

// *(u64 *)map[0] += 1 via an atomic add, then return 0.
// (Several opcode parts are 0, e.g. BPF_LD and BPF_IMM; they are spelled out for the reader.)
std::vector<bpf_insn> counting_program(int map_fd) {
  // NOLINTBEGIN(misc-redundant-expression)
  return {
      insn(BPF_LD | BPF_DW | BPF_IMM, BPF_REG_1, BPF_PSEUDO_MAP_FD, 0, map_fd),  // r1 = map
      insn(0, 0, 0, 0, 0),
      insn(BPF_ST | BPF_MEM | BPF_W, BPF_REG_10, 0, -4, 0),  // *(u32 *)(r10 - 4) = 0
      insn(BPF_ALU64 | BPF_MOV | BPF_X, BPF_REG_2, BPF_REG_10, 0, 0),
      insn(BPF_ALU64 | BPF_ADD | BPF_K, BPF_REG_2, 0, 0, -4),  // r2 = &key
      insn(BPF_JMP | BPF_CALL, 0, 0, 0, BPF_FUNC_map_lookup_elem),
      insn(BPF_JMP | BPF_JEQ | BPF_K, BPF_REG_0, 0, 2, 0),  // if !r0 skip
      insn(BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_1, 0, 0, 1),
      insn(BPF_STX | BPF_ATOMIC | BPF_DW, BPF_REG_0, BPF_REG_1, 0, BPF_ADD),
      insn(BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_0, 0, 0, 0),
      insn(BPF_JMP | BPF_EXIT, 0, 0, 0, 0),
  };
  // NOLINTEND(misc-redundant-expression)
}

struct Attempt {
  bool works = false;
  std::string why;
};

class Independent {
 public:
  Independent() {
    map_ = Fd(bpf_map_create(BPF_MAP_TYPE_ARRAY, "ipct_indep", 4, 8, 1, nullptr));
    vmlinux_ = btf__load_vmlinux_btf();
  }
  ~Independent() { btf__free(vmlinux_); }
  Independent(const Independent&) = delete;
  Independent& operator=(const Independent&) = delete;
  Independent(Independent&&) = delete;
  Independent& operator=(Independent&&) = delete;

  [[nodiscard]] __u64 count() const {
    __u32 k = 0;
    __u64 v = 0;
    bpf_map_lookup_elem(map_.fd, &k, &v);
    return v;
  }
  void reset() const {
    __u32 k = 0;
    __u64 v = 0;
    bpf_map_update_elem(map_.fd, &k, &v, BPF_ANY);
  }

  Fd load(bpf_prog_type type, std::optional<bpf_attach_type> expected, int btf_id, std::string& why) const {
    auto prog = counting_program(map_.fd);
    bpf_prog_load_opts opts{};  // what LIBBPF_OPTS does, without its C99 compound literal
    opts.sz = sizeof(opts);
    if (expected) opts.expected_attach_type = *expected;
    if (btf_id > 0) opts.attach_btf_id = static_cast<__u32>(btf_id);
    const int fd = bpf_prog_load(type, "ipct_indep", "GPL", prog.data(), prog.size(), &opts);
    if (fd < 0) why = std::string("load: ") + std::strerror(errno);
    return Fd(fd);
  }

  int btf_id(const char* name, __u32 kind) const {
    return vmlinux_ != nullptr ? btf__find_by_name_kind(vmlinux_, name, kind) : -1;
  }

  // Fired at least three times after three triggers.
  Attempt fire(void (*trigger)()) const {
    reset();
    trigger();
    const __u64 n = count();
    if (n >= 3) return {true, ""};
    return {false, "fired " + std::to_string(n) + " times"};
  }

 private:
  Fd map_;
  struct btf* vmlinux_ = nullptr;
};

void getppid3() {
  for (int i = 0; i < 3; ++i) syscall(SYS_getppid);
}

void vfs_read3() {
  Fd fd(open("/dev/zero", O_RDONLY | O_CLOEXEC));
  char c = 0;
  for (int i = 0; i < 3; ++i) ASSERT_EQ(read(fd.fd, &c, 1), 1);
}

std::optional<std::string> tracefs_dir() {
  std::ifstream mounts("/proc/self/mounts");
  std::string src;
  std::string dst;
  std::string type;
  std::string rest;
  while (mounts >> src >> dst >> type && std::getline(mounts, rest)) {
    if (type == "tracefs") return dst;
  }
  return std::nullopt;
}

int perf_event_open(perf_event_attr* attr) {
  return static_cast<int>(syscall(SYS_perf_event_open, attr, -1, 0, -1, PERF_FLAG_FD_CLOEXEC));
}

Attempt attach_perf(Independent& ind, Fd& prog, perf_event_attr& attr, void (*trigger)()) {
  Fd pfd(perf_event_open(&attr));
  if (pfd.fd < 0) return {false, std::string("perf_event_open: ") + std::strerror(errno)};
  if (ioctl(pfd.fd, PERF_EVENT_IOC_SET_BPF, prog.fd) != 0)
    return {false, std::string("SET_BPF: ") + std::strerror(errno)};
  if (ioctl(pfd.fd, PERF_EVENT_IOC_ENABLE, 0) != 0) return {false, std::string("ENABLE: ") + std::strerror(errno)};
  return ind.fire(trigger);
}

Attempt try_tracepoint(Independent& ind) {
  auto tracefs = tracefs_dir();
  if (!tracefs) return {false, "tracefs not mounted"};
  std::ifstream idf(*tracefs + "/events/syscalls/sys_enter_getppid/id");
  __u64 id = 0;
  if (!(idf >> id)) return {false, "no sys_enter_getppid event"};
  std::string why;
  Fd prog = ind.load(BPF_PROG_TYPE_TRACEPOINT, std::nullopt, 0, why);
  if (prog.fd < 0) return {false, why};
  perf_event_attr attr{};
  attr.type = PERF_TYPE_TRACEPOINT;
  attr.size = sizeof(attr);
  attr.config = id;
  attr.sample_period = 1;
  return attach_perf(ind, prog, attr, getppid3);
}

Attempt try_raw_tp(Independent& ind) {
  std::string why;
  Fd prog = ind.load(BPF_PROG_TYPE_RAW_TRACEPOINT, std::nullopt, 0, why);
  if (prog.fd < 0) return {false, why};
  Fd link(bpf_raw_tracepoint_open("sys_enter", prog.fd));
  if (link.fd < 0) return {false, std::string("attach: ") + std::strerror(errno)};
  return ind.fire(getppid3);
}

Attempt try_tracing(Independent& ind, bpf_attach_type type, const char* target, __u32 kind, void (*trigger)()) {
  const int id = ind.btf_id(target, kind);
  if (id <= 0) return {false, std::string("no BTF for ") + target};
  std::string why;
  Fd prog = ind.load(BPF_PROG_TYPE_TRACING, type, id, why);
  if (prog.fd < 0) return {false, why};
  Fd link(bpf_raw_tracepoint_open(nullptr, prog.fd));
  if (link.fd < 0) return {false, std::string("attach: ") + std::strerror(errno)};
  return ind.fire(trigger);
}

Attempt try_kprobe(Independent& ind) {
  std::ifstream typef("/sys/bus/event_source/devices/kprobe/type");
  int pmu = 0;
  if (!(typef >> pmu)) return {false, "no kprobe PMU"};
  std::string why;
  Fd prog = ind.load(BPF_PROG_TYPE_KPROBE, std::nullopt, 0, why);
  if (prog.fd < 0) return {false, why};
  static const char func[] = "vfs_read";
  perf_event_attr attr{};
  attr.type = static_cast<__u32>(pmu);
  attr.size = sizeof(attr);
  attr.config1 = reinterpret_cast<__u64>(func);
  return attach_perf(ind, prog, attr, vfs_read3);
}

Attempt try_map(bpf_map_type type, __u32 key, __u32 value, __u32 entries) {
  Fd m(bpf_map_create(type, "ipct_indep_m", key, value, entries, nullptr));
  if (m.fd < 0) return {false, std::string("create: ") + std::strerror(errno)};
  return {true, ""};
}

Attempt try_batch() {
  Fd m(bpf_map_create(BPF_MAP_TYPE_HASH, "ipct_indep_b", 4, 8, 8, nullptr));
  if (m.fd < 0) return {false, std::string("create: ") + std::strerror(errno)};
  for (__u32 k = 0; k < 3; ++k) {
    __u64 v = k;
    bpf_map_update_elem(m.fd, &k, &v, BPF_ANY);
  }
  __u32 keys[8];
  __u64 vals[8];
  __u32 out = 0;
  __u32 count = 8;
  const int err = bpf_map_lookup_batch(m.fd, nullptr, &out, keys, vals, &count, nullptr);
  if (err != 0 && errno != ENOENT) return {false, std::string("lookup_batch: ") + std::strerror(errno)};
  return {count == 3, "batch returned " + std::to_string(count)};
}

json run_probe_json(const std::vector<std::string>& extra = {}) {
  std::vector<std::string> argv{ipctrace_binary(), "probe", "--output", "json"};
  argv.insert(argv.end(), extra.begin(), extra.end());
  auto r = run_process(argv);
  EXPECT_FALSE(r.timed_out);
  return json::parse(r.out);
}

// Programs of ipctrace's probe object still loaded (names as the kernel keeps them: 15 chars).
size_t loaded_probe_programs() {
  size_t n = 0;
  __u32 id = 0;
  while (bpf_prog_get_next_id(id, &id) == 0) {
    Fd fd(bpf_prog_get_fd_by_id(id));
    if (fd.fd < 0) continue;  // went away meanwhile
    bpf_prog_info info{};
    __u32 len = sizeof(info);
    if (bpf_obj_get_info_by_fd(fd.fd, &info, &len) == 0 && std::string_view(info.name).starts_with("probe_")) ++n;
  }
  return n;
}

// The kernel frees a program after its last reference goes, through deferred work: wait for it.
size_t settled_probe_programs() {
  size_t n = loaded_probe_programs();
  for (int i = 0; i < 50 && n != 0; ++i) {
    usleep(100 * 1000);
    n = loaded_probe_programs();
  }
  return n;
}

}  // namespace

TEST(ProbeKernel, ClaimsAgreeWithIndependentAttempts) {
  IPCTRACE_REQUIRE_KERNEL();
  const json report = run_probe_json();
  ASSERT_TRUE(report.contains("features")) << report.dump();
  const json& f = report["features"];

  Independent ind;
  const std::vector<std::pair<std::string, Attempt>> attempts = {
      {"syscall_tracepoint", try_tracepoint(ind)},
      {"raw_tracepoint", try_raw_tp(ind)},
      {"tp_btf", try_tracing(ind, BPF_TRACE_RAW_TP, "btf_trace_sys_enter", BTF_KIND_TYPEDEF, getppid3)},
      {"fentry", try_tracing(ind, BPF_TRACE_FENTRY, "vfs_read", BTF_KIND_FUNC, vfs_read3)},
      {"fexit", try_tracing(ind, BPF_TRACE_FEXIT, "vfs_read", BTF_KIND_FUNC, vfs_read3)},
      {"kprobe", try_kprobe(ind)},
      {"ring_buffer", try_map(BPF_MAP_TYPE_RINGBUF, 0, 0, 4096)},
      {"percpu_maps", try_map(BPF_MAP_TYPE_PERCPU_HASH, 4, 8, 16)},
      {"batch_map_ops", try_batch()},
  };
  for (const auto& [name, attempt] : attempts) {
    ASSERT_TRUE(f.contains(name)) << name;
    EXPECT_EQ(f[name]["works"].get<bool>(), attempt.works)
        << name << ": probe says " << f[name]["detail"]
        << ", independent attempt: " << (attempt.works ? "works" : attempt.why);
    std::cout << "  " << name << ": " << (attempt.works ? "works" : "does not work (" + attempt.why + ")") << "\n";
  }
  // CO-RE works wherever BTF-typed programs and the ring buffer do.
  EXPECT_EQ(f["co_re"]["works"].get<bool>(), f["tp_btf"]["works"].get<bool>() && f["ring_buffer"]["works"].get<bool>());
  EXPECT_EQ(report["agent_can_run"], true) << report["blockers"];
  EXPECT_EQ(report["privileges"]["sufficient"], true);
  EXPECT_EQ(report["btf"]["available"], true);
}

TEST(ProbeKernel, ChosenHooksUseOnlyWorkingFamilies) {
  IPCTRACE_REQUIRE_KERNEL();
  const json report = run_probe_json();
  const json& f = report["features"];
  const std::map<std::string, bool> family_works = {
      {"fentry", f["fentry"]["works"].get<bool>() && f["fexit"]["works"].get<bool>()},
      {"tp_btf", f["tp_btf"]["works"].get<bool>()},
      {"raw_tp", f["raw_tracepoint"]["works"].get<bool>()},
      {"tracepoint", f["syscall_tracepoint"]["works"].get<bool>()},
  };
  for (const char* mech : {"pipe_fifo", "unix", "inet", "sysv_msg", "posix_mq", "sysv_shm", "signal"}) {
    ASSERT_TRUE(report["hooks"].contains(mech)) << mech;
    const json& h = report["hooks"][mech];
    ASSERT_FALSE(h["family"].is_null()) << mech << " has no hook: " << h["rejected"];
    EXPECT_TRUE(family_works.at(h["family"].get<std::string>())) << mech;
    EXPECT_FALSE(h["attach"].empty()) << mech;
    std::cout << "  " << mech << ": " << h["family"].get<std::string>() << " " << h["attach"].dump() << "\n";
    ASSERT_TRUE(h["not_seen"].is_array()) << mech;
  }
  // What the hooks cannot see: nothing of the queues and signals (io_uring and AIO cannot reach
  // them); Linux AIO's pipe reads and writes exactly where pipes are on the syscall paths, not on
  // the pipe's own functions.
  for (const char* mech : {"sysv_msg", "posix_mq", "sysv_shm", "signal"}) {
    EXPECT_TRUE(report["hooks"][mech]["not_seen"].empty()) << mech;
  }
  const json& pipes = report["hooks"]["pipe_fifo"];
  const bool aio_unseen = std::find(pipes["not_seen"].begin(), pipes["not_seen"].end(),
                                    "Linux AIO (io_submit) reads and writes") != pipes["not_seen"].end();
  EXPECT_EQ(aio_unseen, pipes["family"] != "fentry") << pipes["not_seen"].dump();
}

TEST(ProbeKernel, ForcedFamily) {
  IPCTRACE_REQUIRE_KERNEL();
  const json report = run_probe_json({"--hooks", "raw_tp"});
  EXPECT_EQ(report["forced_hook_family"], "raw_tp");
  for (const auto& [mech, h] : report["hooks"].items()) EXPECT_EQ(h["family"], "raw_tp") << mech;

  // `tracepoint`: tracepoint hooks of any kind, no function hooks; the agent can run on them.
  auto r = run_process({ipctrace_binary(), "probe", "--output", "json", "--hooks", "tracepoint"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  const json tp = json::parse(r.out);
  EXPECT_EQ(tp["forced_hook_family"], "tracepoint");
  for (const auto& [mech, h] : tp["hooks"].items()) {
    EXPECT_TRUE(h["family"] == "tp_btf" || h["family"] == "raw_tp") << mech << ": " << h["family"];
  }
  EXPECT_EQ(tp["hooks"]["pipe_fifo"]["attach"], json({"sys_exit"}));

  // `fentry`: function hooks only. Where they work, every syscall mechanism has one and signals
  // (a tracepoint only) have none; where they do not, nothing is left to trace.
  const bool fentry_works = report["features"]["fentry"]["works"].get<bool>();
  r = run_process({ipctrace_binary(), "probe", "--output", "json", "--hooks", "fentry"});
  const json fn = json::parse(r.out);
  for (const auto& [mech, h] : fn["hooks"].items()) {
    if (fentry_works && mech != "signal") {
      EXPECT_EQ(h["family"], "fentry") << mech;
    } else {
      EXPECT_TRUE(h["family"].is_null()) << mech;
    }
  }
  if (fentry_works) {
    EXPECT_EQ(r.exit_code, 0) << r.err;
  } else {
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_EQ(fn["blockers"], json({"no IPC mechanism has a usable hook"}));
    EXPECT_THAT(r.err, HasSubstr("no IPC mechanism has a usable hook")) << r.err;
  }
}

// Function hooks are chosen wherever the kernel allows them (the kernel matrix boots one that
// does and says so with IPCTRACE_EXPECT_FUNCTION_HOOKS=1: a kernel where they silently stopped
// working would otherwise just pass on tracepoints).
TEST(ProbeKernel, FunctionHooksWhereTheKernelAllowsThem) {
  IPCTRACE_REQUIRE_KERNEL();
  const json report = run_probe_json();
  const json& f = report["features"];
  const bool fentry_works = f["fentry"]["works"].get<bool>() && f["fexit"]["works"].get<bool>();
  if (const char* expect = std::getenv("IPCTRACE_EXPECT_FUNCTION_HOOKS"); expect != nullptr && *expect == '1') {
    EXPECT_TRUE(fentry_works) << f["fentry"] << f["fexit"];
    EXPECT_TRUE(f["kprobe"]["works"].get<bool>()) << f["kprobe"];
  }
  for (const char* mech : {"pipe_fifo", "sysv_msg", "posix_mq", "sysv_shm"}) {
    EXPECT_EQ(report["hooks"][mech]["family"], fentry_works ? "fentry" : "tp_btf") << mech;
  }
  if (fentry_works) {
    const std::string pipe_fn = report["hooks"]["pipe_fifo"]["attach"][0];
    EXPECT_TRUE(pipe_fn == "pipe_read" || pipe_fn == "anon_pipe_read") << pipe_fn;
  }
  const bool sock_tp = report["hooks"]["unix"]["attach"][0] == "sock_send_length";
  if (!sock_tp) {
    EXPECT_EQ(report["hooks"]["unix"]["family"], fentry_works ? "fentry" : "tp_btf");
  }
}

// The possible CPUs as the kernel lists them (/sys/devices/system/cpu/possible: "0-191", "0,2-3").
uint32_t count_possible_cpus() {
  std::ifstream in("/sys/devices/system/cpu/possible");
  std::string list;
  std::getline(in, list);
  uint32_t n = 0;
  size_t at = 0;
  while (at < list.size()) {
    const size_t comma = std::min(list.find(',', at), list.size());
    const std::string range = list.substr(at, comma - at);
    const size_t dash = range.find('-');
    const unsigned long first = std::strtoul(range.c_str(), nullptr, 10);
    const unsigned long last = dash == std::string::npos ? first : std::strtoul(range.c_str() + dash + 1, nullptr, 10);
    n += static_cast<uint32_t>(last - first + 1);
    at = comma + 1;
  }
  return n;
}

// Keys the agent reads at once: as many as 1 MiB holds at 160 bytes per CPU, from 1 to a table's
// entries (written out here, not taken from agent/kernel/tracer.h, so that a change is seen).
uint64_t read_chunk_keys(uint64_t table_entries, uint64_t cpus) {
  return std::min(std::max<uint64_t>((uint64_t{1} << 20) / (cpus * 160), 1), table_entries);
}

// The memory figure: for this node's possible CPUs, within the 64 MiB budget, each CPU's tables
// no larger than the agent keeps (--flow-map-entries 65,536) nor than 16,384; the read buffer is
// a chunk of keys of one 160-byte entry per CPU each. Tracer::plan_memory() against a started tracer:
// TracerTest.TheMapsTakeTheMemoryTheBudgetEstimates.
TEST(ProbeKernel, PrintsTheKernelMemoryOfTheAgentsMaps) {
  IPCTRACE_REQUIRE_KERNEL();
  const json report = run_probe_json();
  ASSERT_TRUE(report["agent_can_run"].get<bool>()) << report.dump();
  const json& m = report["memory"];
  ASSERT_TRUE(m.contains("kernel_map_bytes")) << m.dump();
  const uint32_t cpus = count_possible_cpus();
  EXPECT_EQ(m["possible_cpus"].get<uint32_t>(), cpus);
  if (const char* want = std::getenv("IPCTRACE_EXPECT_POSSIBLE_CPUS"); want != nullptr) {
    EXPECT_EQ(std::to_string(cpus), want);
  }
  EXPECT_EQ(m["flow_map_entries"].get<uint32_t>(), 65536U);
  EXPECT_EQ(m["kernel_map_budget_bytes"].get<uint64_t>(), uint64_t{64} << 20);
  const auto entries = m["cpu_table_entries"].get<uint64_t>();
  EXPECT_GE(entries, 64U);
  EXPECT_LE(entries, 16384U);
  if (cpus <= 7) {
    EXPECT_EQ(entries, 16384U);
  }
  if (cpus >= 16) {
    EXPECT_LT(entries, 16384U);
  }
  const auto bytes = m["kernel_map_bytes"].get<uint64_t>();
  EXPECT_LE(bytes, uint64_t{64} << 20);
  // The flow tables alone: two of `entries` 160-byte entries per CPU.
  EXPECT_GE(bytes, 2 * entries * 160 * cpus);
  const uint64_t read_buffer = read_chunk_keys(entries, cpus) * 160 * cpus;
  EXPECT_EQ(m["read_buffer_bytes"].get<uint64_t>(), read_buffer);
  EXPECT_LE(read_buffer, uint64_t{1} << 20);
  // The agent's RSS: 24 MiB idle + 1,120 bytes a kept flow + the read buffer, within 96 MiB.
  EXPECT_EQ(m["agent_rss_bytes"].get<uint64_t>(), (uint64_t{24} << 20) + uint64_t{1120} * 65536 + read_buffer);
  EXPECT_LE(m["agent_rss_bytes"].get<uint64_t>(), uint64_t{96} << 20);

  auto text = run_process({ipctrace_binary(), "probe"});
  EXPECT_EQ(text.exit_code, 0) << text.err;
  EXPECT_THAT(text.out, testing::HasSubstr(fmt::format("Memory at the defaults ({} possible CPUs", cpus)));
  EXPECT_THAT(text.out, testing::HasSubstr(fmt::format("flow tables  {} entries per CPU", entries)));
  EXPECT_THAT(text.out, testing::HasSubstr(fmt::format("({} bytes)", bytes)));
  EXPECT_THAT(text.out, testing::HasSubstr("  agent RSS    "));
}

// `--possible-cpus N` plans as the agent would size its maps on a node with N possible CPUs: for
// this node's own number exactly what the plain probe says (in the 6.1 guest booted with 192
// possible CPUs, what its maps take: PrintsTheKernelMemoryOfTheAgentsMaps), and for 192 CPUs on
// any node within the budget, the tables sized down. Out of range is a usage error.
TEST(ProbeKernel, PlansTheMemoryForAnotherNumberOfCpus) {
  IPCTRACE_REQUIRE_KERNEL();
  const uint32_t cpus = count_possible_cpus();
  const json here = run_probe_json()["memory"];
  const json same = run_probe_json({"--possible-cpus", std::to_string(cpus)})["memory"];
  ASSERT_TRUE(here.contains("kernel_map_bytes") && same.contains("kernel_map_bytes")) << here << same;
  EXPECT_EQ(here["this_node"], true);
  EXPECT_EQ(same["this_node"], false);
  for (const char* k :
       {"possible_cpus", "cpu_table_entries", "kernel_map_bytes", "read_buffer_bytes", "agent_rss_bytes"}) {
    EXPECT_EQ(same[k], here[k]) << k;
  }
  const json big = run_probe_json({"--possible-cpus", "192"})["memory"];
  EXPECT_EQ(big["possible_cpus"].get<uint32_t>(), 192U);
  const auto entries = big["cpu_table_entries"].get<uint64_t>();
  EXPECT_LT(entries, 16384U);
  EXPECT_GE(entries, 64U);
  const auto bytes = big["kernel_map_bytes"].get<uint64_t>();
  EXPECT_LE(bytes, uint64_t{64} << 20);
  EXPECT_GE(bytes, 2 * entries * 160 * 192);
  // A chunk of 34 keys of 192 entries: about 1 MiB, not the 19.5 MiB of a whole table.
  EXPECT_EQ(big["read_buffer_bytes"].get<uint64_t>(), 34U * 160 * 192);
  EXPECT_EQ(big["agent_rss_bytes"].get<uint64_t>(),
            (uint64_t{24} << 20) + uint64_t{1120} * 65536 + uint64_t{34} * 160 * 192);
  EXPECT_LE(big["agent_rss_bytes"].get<uint64_t>(), uint64_t{96} << 20);
  auto text = run_process({ipctrace_binary(), "probe", "--possible-cpus", "192"});
  EXPECT_EQ(text.exit_code, 0) << text.err;
  EXPECT_THAT(text.out, HasSubstr("Memory at the defaults (192 possible CPUs, planned for another node"));
  for (const char* bad : {"0", "8193", "many"}) {
    auto r = run_process({ipctrace_binary(), "probe", "--possible-cpus", bad});
    EXPECT_EQ(r.exit_code, 2) << bad << ": " << r.err;
    EXPECT_THAT(r.err, HasSubstr("--possible-cpus")) << r.err;
  }
}

TEST(ProbeKernel, LeavesNoProgramLoaded) {
  IPCTRACE_REQUIRE_KERNEL();
  ASSERT_EQ(settled_probe_programs(), 0U) << "probe programs were loaded before the test";
  auto r = run_process({ipctrace_binary(), "probe"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(settled_probe_programs(), 0U) << "ipctrace probe left programs loaded";
}

TEST(ProbeKernel, WithoutPrivilegesSaysWhatIsMissing) {
  IPCTRACE_REQUIRE_KERNEL();
  // Drop to nobody with no capabilities at all.
  auto r = run_process({"/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all",
                        "--bounding-set=-all", ipctrace_binary(), "probe", "--output", "json"});
  ASSERT_NE(r.exit_code, 127) << "setpriv missing: " << r.err;
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_THAT(r.err, HasSubstr("missing privileges: CAP_BPF, CAP_PERFMON")) << r.err;
  const json report = json::parse(r.out);
  EXPECT_EQ(report["privileges"]["sufficient"], false);
  EXPECT_EQ(report["privileges"]["missing"], json({"CAP_BPF", "CAP_PERFMON"}));
  EXPECT_EQ(report["features"]["tp_btf"]["stage"], "skipped");
  EXPECT_EQ(report["agent_can_run"], false);

  // With CAP_BPF alone (no CAP_PERFMON) it names just what is missing.
  r = run_process({"/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=+bpf",
                   "--ambient-caps=+bpf", "--bounding-set=-all,+bpf", ipctrace_binary(), "probe"});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_THAT(r.err, HasSubstr("missing privileges: CAP_PERFMON (run as root")) << r.err;
}
