#include "kernel/probe.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <linux/bpf.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <functional>
#include <memory>

#include "base/fd.h"
#include "ipctrace_probe.skel.h"
#include "kernel/abi.h"
#include "kernel/bpf_object.h"
#include "kernel/libbpf_log.h"
#include "kernel/open_files.h"
#include "kernel/planner.h"

namespace ipctrace {

std::string_view feature_name(Feature f) {
  switch (f) {
    case Feature::SyscallTracepoint:
      return "syscall_tracepoint";
    case Feature::RawTracepoint:
      return "raw_tracepoint";
    case Feature::TpBtf:
      return "tp_btf";
    case Feature::Fentry:
      return "fentry";
    case Feature::Fexit:
      return "fexit";
    case Feature::Kprobe:
      return "kprobe";
    case Feature::RingBuffer:
      return "ring_buffer";
    case Feature::PercpuMaps:
      return "percpu_maps";
    case Feature::BatchMapOps:
      return "batch_map_ops";
    case Feature::TaskFileIter:
      return "task_file_iter";
    case Feature::CoRe:
      return "co_re";
  }
  return "?";
}

const FeatureResult* ProbeReport::find(Feature f) const {
  for (const auto& r : features) {
    if (r.feature == f) return &r;
  }
  return nullptr;
}

bool ProbeReport::works(Feature f) const {
  const FeatureResult* r = find(f);
  return r != nullptr && r->works;
}

std::vector<std::string> ProbeReport::blockers() const {
  std::vector<std::string> out;
  if (!missing_caps.empty()) {
    out.push_back(fmt::format(
        "missing privileges: {} (run as root, or grant CAP_BPF and CAP_PERFMON; CAP_SYS_ADMIN before Linux 5.8)",
        fmt::join(missing_caps, ", ")));
  }
  if (!btf) out.push_back("kernel BTF unavailable: " + btf_detail);
  if (missing_caps.empty() && btf && !hooks.empty() &&
      std::none_of(hooks.begin(), hooks.end(), [](const HookChoice& h) { return h.family.has_value(); })) {
    out.emplace_back("no IPC mechanism has a usable hook");
  }
  return out;
}

bool ProbeReport::agent_can_run() const { return blockers().empty(); }

std::set<HookFamily> working_families(const ProbeReport& report) {
  std::set<HookFamily> out;
  if (report.works(Feature::Fentry) && report.works(Feature::Fexit)) out.insert(HookFamily::Fentry);
  if (report.works(Feature::TpBtf)) out.insert(HookFamily::TpBtf);
  if (report.works(Feature::RawTracepoint)) out.insert(HookFamily::RawTp);
  if (report.works(Feature::SyscallTracepoint)) out.insert(HookFamily::Tracepoint);
  return out;
}

namespace {

constexpr int kTriggers = 3;

using ProbeSkel = SkeletonPtr<ipctrace_probe, ipctrace_probe__destroy>;

FeatureResult failed(Feature f, std::string stage, int err, const std::string& what) {
  FeatureResult r{f, false, std::move(stage), {}, err < 0 ? -err : err};
  r.detail = what;
  if (r.error != 0) r.detail += std::string(": ") + std::strerror(r.error);
  return r;
}

void trigger_getppid() {
  for (int i = 0; i < kTriggers; ++i) syscall(SYS_getppid);
}

void trigger_vfs_read() {
  const Fd fd(open("/dev/zero", O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) return;
  char c = 0;
  for (int i = 0; i < kTriggers; ++i) {
    if (read(fd.get(), &c, 1) != 1) break;
  }
}

// Opens the probe object with only `prog_name` set to load.
Result<ProbeSkel> open_only(const char* prog_name) {
  ProbeSkel skel(ipctrace_probe__open());
  if (!skel) return Error(errno, "open probe object");
  skel->rodata->target_tgid = static_cast<__u32>(getpid());
  skel->rodata->trigger_syscall_nr = SYS_getppid;
  bpf_program* prog = nullptr;
  bpf_object__for_each_program(prog, skel->obj) {
    bpf_program__set_autoload(prog, std::string_view(bpf_program__name(prog)) == prog_name);
  }
  return skel;
}

// Load, attach, trigger, count: the claim a feature works rests on all four.
FeatureResult probe_program(Feature f, const char* prog_name, const std::function<void()>& trigger) {
  LibbpfQuiet quiet;
  auto skel = open_only(prog_name);
  if (!skel) return failed(f, "load", skel.error().code(), skel.error().context());
  if (int err = ipctrace_probe__load(skel->get()); err != 0) return failed(f, "load", err, "load");
  bpf_program* prog = bpf_object__find_program_by_name((*skel)->obj, prog_name);
  BpfLink link(bpf_program__attach(prog));
  if (!link) return failed(f, "attach", errno, "attach");
  trigger();
  const __u64 hits = __atomic_load_n(&(*skel)->bss->hits, __ATOMIC_RELAXED);
  if (hits < static_cast<__u64>(kTriggers)) {
    return failed(f, "trigger", 0, fmt::format("attached but fired {} of {} times", hits, kTriggers));
  }
  return {f, true, "ok", fmt::format("loaded, attached, fired {} of {}", kTriggers, kTriggers), 0};
}

Result<uint32_t> ns_inode(const char* name) {
  struct stat st {};
  const std::string path = std::string("/proc/self/ns/") + name;
  if (stat(path.c_str(), &st) != 0) return Error::from_errno("stat " + path);
  return static_cast<uint32_t>(st.st_ino);
}

struct RingbufState {
  int records = 0;
  ipct_probe_event last{};
};

int on_probe_event(void* ctx, void* data, size_t size) {
  auto* st = static_cast<RingbufState*>(ctx);
  if (size >= sizeof(ipct_probe_event)) {
    std::memcpy(&st->last, data, sizeof(ipct_probe_event));
    st->records++;
  }
  return 0;
}

// Ring buffer, per-CPU array and CO-RE reads, from one program on raw_tp/sys_enter.
std::array<FeatureResult, 3> probe_ringbuf_percpu_core() {
  const char* name = "probe_ringbuf";
  auto all_failed = [](const std::string& stage, int err, const std::string& what) {
    return std::array<FeatureResult, 3>{failed(Feature::RingBuffer, stage, err, what),
                                        failed(Feature::PercpuMaps, stage, err, what),
                                        failed(Feature::CoRe, stage, err, what)};
  };
  LibbpfQuiet quiet;
  auto skel = open_only(name);
  if (!skel) return all_failed("load", skel.error().code(), skel.error().context());
  if (int err = ipctrace_probe__load(skel->get()); err != 0) return all_failed("load", err, "load");
  RingbufState state;
  RingBufferPtr rb(ring_buffer__new(bpf_map__fd((*skel)->maps.probe_events), on_probe_event, &state, nullptr));
  if (!rb) return all_failed("attach", errno, "ring buffer");
  BpfLink link(bpf_program__attach((*skel)->progs.probe_ringbuf));
  if (!link) return all_failed("attach", errno, "attach raw_tp/sys_enter");
  trigger_getppid();
  link.reset();
  ring_buffer__consume(rb.get());

  std::array<FeatureResult, 3> out{failed(Feature::RingBuffer, "verify", 0, ""),
                                   failed(Feature::PercpuMaps, "verify", 0, ""),
                                   failed(Feature::CoRe, "verify", 0, "")};
  if (state.records == kTriggers) {
    out[0] = {Feature::RingBuffer, true, "ok", fmt::format("{} of {} records received", kTriggers, kTriggers), 0};
  } else {
    out[0] =
        failed(Feature::RingBuffer, "verify", 0, fmt::format("{} of {} records received", state.records, kTriggers));
  }

  const int ncpu = libbpf_num_possible_cpus();
  if (ncpu <= 0) {
    out[1] = failed(Feature::PercpuMaps, "verify", ncpu, "count possible CPUs");
  } else {
    std::vector<__u64> per_cpu(static_cast<size_t>(ncpu));
    const __u32 zero = 0;
    if (bpf_map_lookup_elem(bpf_map__fd((*skel)->maps.probe_percpu), &zero, per_cpu.data()) != 0) {
      out[1] = failed(Feature::PercpuMaps, "verify", errno, "lookup per-CPU array");
    } else {
      __u64 sum = 0;
      for (__u64 v : per_cpu) sum += v;
      if (sum == kTriggers) {
        out[1] = {Feature::PercpuMaps, true, "ok", fmt::format("summed {} over {} CPUs", sum, ncpu), 0};
      } else {
        out[1] = failed(Feature::PercpuMaps, "verify", 0, fmt::format("summed {}, expected {}", sum, kTriggers));
      }
    }
  }

  if (state.records == 0) {
    out[2] = failed(Feature::CoRe, "verify", 0, "no record to check");
    return out;
  }
  const std::pair<const char*, __u32> expect[] = {{"ipc", state.last.ns.ipc},  {"net", state.last.ns.net},
                                                  {"pid", state.last.ns.pid},  {"mnt", state.last.ns.mnt},
                                                  {"uts", state.last.ns.uts},  {"cgroup", state.last.ns.cgroup},
                                                  {"user", state.last.ns.user}};
  for (const auto& [ns, got] : expect) {
    auto want = ns_inode(ns);
    if (!want) {
      out[2] = failed(Feature::CoRe, "verify", want.error().code(), want.error().context());
      return out;
    }
    if (*want != got) {
      out[2] =
          failed(Feature::CoRe, "verify", 0, fmt::format("{} namespace read as {}, /proc says {}", ns, got, *want));
      return out;
    }
  }
  if (state.last.tgid != static_cast<__u32>(getpid())) {
    out[2] = failed(Feature::CoRe, "verify", 0, "record names another process");
    return out;
  }
  out[2] = {Feature::CoRe, true, "ok", "namespace ids of 7 namespaces match /proc/self/ns", 0};
  return out;
}

FeatureResult probe_batch_ops() {
  LibbpfQuiet quiet;
  const Fd fd(bpf_map_create(BPF_MAP_TYPE_PERCPU_HASH, "ipct_probe_b", sizeof(__u32), sizeof(__u64), 16, nullptr));
  if (fd.get() < 0) return failed(Feature::BatchMapOps, "load", errno, "create per-CPU hash");
  const int ncpu = libbpf_num_possible_cpus();
  std::vector<__u64> values(static_cast<size_t>(ncpu > 0 ? ncpu : 1) * 4, 1);
  for (__u32 k = 0; k < 4; ++k) {
    if (bpf_map_update_elem(fd.get(), &k, values.data(), BPF_ANY) != 0) {
      return failed(Feature::BatchMapOps, "load", errno, "update per-CPU hash");
    }
  }
  std::array<__u32, 4> keys{};
  __u32 out_batch = 0;
  __u32 count = 4;
  LIBBPF_OPTS(bpf_map_batch_opts, opts);
  const int err =
      bpf_map_lookup_and_delete_batch(fd.get(), nullptr, &out_batch, keys.data(), values.data(), &count, &opts);
  if (err != 0 && errno != ENOENT) return failed(Feature::BatchMapOps, "attach", errno, "lookup_and_delete_batch");
  __u32 next = 0;
  const bool empty = bpf_map_get_next_key(fd.get(), nullptr, &next) != 0;
  if (count != 4 || !empty) {
    return failed(Feature::BatchMapOps, "verify", 0, fmt::format("batch returned {} of 4 entries", count));
  }
  return {Feature::BatchMapOps, true, "ok", "lookup_and_delete_batch drained 4 of 4 entries", 0};
}

// The open-files iterator (kernel/open_files.h): loaded, read, and this process's own pipe and
// socket pair found in what it lists.
FeatureResult probe_task_file_iter() {
  const Feature f = Feature::TaskFileIter;
  auto lister = OpenFileLister::load();
  if (!lister) return failed(f, "load", lister.error().code(), lister.error().context());
  std::array<int, 2> p{-1, -1};
  std::array<int, 2> s{-1, -1};
  if (pipe2(p.data(), O_CLOEXEC) != 0) return failed(f, "trigger", errno, "pipe");
  const Fd p0(p[0]);
  const Fd p1(p[1]);
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, s.data()) != 0)
    return failed(f, "trigger", errno, "socketpair");
  const Fd s0(s[0]);
  const Fd s1(s[1]);
  struct stat ps {};
  struct stat ss0 {};
  struct stat ss1 {};
  if (fstat(p0.get(), &ps) != 0 || fstat(s0.get(), &ss0) != 0 || fstat(s1.get(), &ss1) != 0) {
    return failed(f, "trigger", errno, "fstat");
  }
  auto open = (*lister)->list();
  if (!open) return failed(f, "attach", open.error().code(), open.error().context());
  int found = 0;
  // The pipe's device as the kernel encodes it (MKDEV: major << 20 | minor).
  const auto kdev = static_cast<uint32_t>((major(ps.st_dev) << 20) | minor(ps.st_dev));
  found += open->has_file(kdev, ps.st_ino) ? 1 : 0;
  found += open->has_socket(ss0.st_ino) ? 1 : 0;
  found += open->has_socket(ss1.st_ino) ? 1 : 0;
  if (found != 3) return failed(f, "verify", 0, fmt::format("found {} of this process's 3 open channel files", found));
  return {
      f, true, "ok",
      fmt::format("listed {} pipes, FIFOs, sockets and queues open, this process's 3 among them", open->descriptors),
      0};
}

}  // namespace

ProbeReport run_probe(const ProbeOptions& options) {
  ProbeReport report;
  if (auto v = KernelVersion::running()) report.kernel = *v;

  if (auto held = Capabilities::current()) {
    report.caps = *held;
    report.missing_caps = held->missing_for_tracing();
    // CAP_BPF and CAP_PERFMON exist from Linux 5.8; before, only CAP_SYS_ADMIN allows tracing.
    if (!report.missing_caps.empty() && report.kernel.major > 0 && !report.kernel.at_least(5, 8)) {
      report.missing_caps = {std::string(cap_name(Cap::SysAdmin))};
    }
  } else {
    report.missing_caps = {"(cannot read capabilities: " + held.error().message() + ")"};
  }

  std::shared_ptr<KernelBtf> btf;
  if (auto b = KernelBtf::load()) {
    btf = *b;
    report.btf = true;
    report.btf_detail = kVmlinuxBtfPath;
  } else {
    report.btf_detail = b.error().message();
  }

  if (report.missing_caps.empty() && options.mount_tracefs) {
    if (auto t = ensure_tracefs()) {
      report.tracefs = *t;
    } else {
      report.tracefs_detail = t.error().message();
    }
  } else {
    report.tracefs = find_tracefs();
    if (!report.tracefs) report.tracefs_detail = "not mounted";
  }

  if (!report.missing_caps.empty()) {
    std::string why = "not tried: missing ";
    for (size_t i = 0; i < report.missing_caps.size(); ++i) why += (i ? ", " : "") + report.missing_caps[i];
    for (Feature f : kAllFeatures) report.features.emplace_back(FeatureResult{f, false, "skipped", why, EPERM});
  } else {
    report.features.push_back(probe_program(Feature::SyscallTracepoint, "probe_tracepoint", trigger_getppid));
    report.features.push_back(probe_program(Feature::RawTracepoint, "probe_raw_tp", trigger_getppid));
    report.features.push_back(probe_program(Feature::TpBtf, "probe_tp_btf", trigger_getppid));
    report.features.push_back(probe_program(Feature::Fentry, "probe_fentry", trigger_vfs_read));
    report.features.push_back(probe_program(Feature::Fexit, "probe_fexit", trigger_vfs_read));
    report.features.push_back(probe_program(Feature::Kprobe, "probe_kprobe", trigger_vfs_read));
    for (auto& r : probe_ringbuf_percpu_core()) report.features.push_back(std::move(r));
    report.features.push_back(probe_batch_ops());
    report.features.push_back(probe_task_file_iter());
  }

  KernelFacts facts;
  facts.working = working_families(report);
  if (btf) {
    facts.has_function = [btf](const std::string& n) { return btf->has_function(n); };
    facts.has_btf_tracepoint = [btf](const std::string& n) { return btf->has_btf_tracepoint(n); };
  }
  if (report.tracefs) {
    facts.has_tracefs_event = [tracefs = *report.tracefs](const std::string& n) {
      const auto slash = n.find('/');
      return slash != std::string::npos && tracefs_has_event(tracefs, n.substr(0, slash), n.substr(slash + 1));
    };
  }
  report.forced_family = options.force_family;
  report.hooks = choose_hooks(facts, options.force_family);
  const bool io_uring_request = btf && btf->io_uring_complete_has_request();
  for (const HookChoice& h : report.hooks) {
    report.not_seen[h.mechanism] = paths_not_seen(
        report.hooks, h.mechanism, PlanOptions{true, btf && btf->has_function("bpf_rdonly_cast"), io_uring_request});
  }
  return report;
}

}  // namespace ipctrace
