#include "tracer.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <set>

#include "ipctrace_bpf.skel.h"
#include "kernel.h"
#include "log.h"

namespace ipctrace {

std::string_view drop_reason_name(int reason) {
  switch (reason) {
    case IPCT_DROP_FLOW_MAP_FULL:
      return "flow_map_full";
    case IPCT_DROP_RINGBUF_FULL:
      return "ringbuf_full";
    case IPCT_DROP_READ_FAILED:
      return "kernel_read_failed";
    case IPCT_DROP_WAIT_MAP_FULL:
      return "wait_map_full";
    case IPCT_DROP_TRACE_FULL:
      return "trace_buffer_full";
    default:
      return "unknown";
  }
}

double wait_slot_upper_seconds(int slot) { return std::ldexp(1.0, slot) * 1e-6; }

uint64_t kernel_dev_to_user(uint32_t kdev) {
  const uint32_t major = kdev >> 20;
  const uint32_t minor = kdev & 0xfffff;
  return makedev(major, minor);
}

namespace {

// Syscalls of each mechanism on the sys_exit path, by their numbers on this architecture.
struct SysEntry {
  long nr;
  ipct_sys code;
};

const std::vector<SysEntry> kSocketSyscalls = {{SYS_read, IPCT_SYS_READ},         {SYS_readv, IPCT_SYS_READV},
                                               {SYS_write, IPCT_SYS_WRITE},       {SYS_writev, IPCT_SYS_WRITEV},
                                               {SYS_sendto, IPCT_SYS_SENDTO},     {SYS_sendmsg, IPCT_SYS_SENDMSG},
                                               {SYS_sendmmsg, IPCT_SYS_SENDMMSG}, {SYS_recvfrom, IPCT_SYS_RECVFROM},
                                               {SYS_recvmsg, IPCT_SYS_RECVMSG},   {SYS_recvmmsg, IPCT_SYS_RECVMMSG}};

std::vector<SysEntry> sys_exit_syscalls(Mechanism m) {
  switch (m) {
    case Mechanism::PipeFifo:
      return {{SYS_read, IPCT_SYS_READ},        {SYS_readv, IPCT_SYS_READV},     {SYS_pread64, IPCT_SYS_PREAD},
              {SYS_preadv, IPCT_SYS_PREAD},     {SYS_preadv2, IPCT_SYS_PREAD},   {SYS_write, IPCT_SYS_WRITE},
              {SYS_writev, IPCT_SYS_WRITEV},    {SYS_pwrite64, IPCT_SYS_PWRITE}, {SYS_pwritev, IPCT_SYS_PWRITE},
              {SYS_pwritev2, IPCT_SYS_PWRITE},  {SYS_splice, IPCT_SYS_SPLICE},   {SYS_tee, IPCT_SYS_TEE},
              {SYS_vmsplice, IPCT_SYS_VMSPLICE}};
    case Mechanism::Unix:
    case Mechanism::Inet:
      return kSocketSyscalls;
    case Mechanism::SysvMsg:
      return {{SYS_msgsnd, IPCT_SYS_MSGSND},
              {SYS_msgrcv, IPCT_SYS_MSGRCV},
              {SYS_msgget, IPCT_SYS_MSGGET},
              {SYS_msgctl, IPCT_SYS_MSGCTL}};
    case Mechanism::PosixMq:
      return {{SYS_mq_open, IPCT_SYS_MQ_OPEN},
              {SYS_mq_unlink, IPCT_SYS_MQ_UNLINK},
              {SYS_mq_timedsend, IPCT_SYS_MQ_TIMEDSEND},
              {SYS_mq_timedreceive, IPCT_SYS_MQ_TIMEDRECEIVE},
              {SYS_mq_notify, IPCT_SYS_MQ_NOTIFY}};
    case Mechanism::SysvShm:
      return {{SYS_shmget, IPCT_SYS_SHMGET},
              {SYS_shmat, IPCT_SYS_SHMAT},
              {SYS_shmdt, IPCT_SYS_SHMDT},
              {SYS_shmctl, IPCT_SYS_SHMCTL}};
    case Mechanism::Signal:
      return {};
  }
  return {};
}

// The receiving calls whose blocked time is measured: their exits must reach sys_exit too.
const std::vector<SysEntry> kReceiveSyscalls = {
    {SYS_read, IPCT_SYS_READ},       {SYS_readv, IPCT_SYS_READV},
    {SYS_pread64, IPCT_SYS_PREAD},   {SYS_preadv, IPCT_SYS_PREAD},
    {SYS_preadv2, IPCT_SYS_PREAD},   {SYS_recvfrom, IPCT_SYS_RECVFROM},
    {SYS_recvmsg, IPCT_SYS_RECVMSG}, {SYS_recvmmsg, IPCT_SYS_RECVMMSG},
    {SYS_msgrcv, IPCT_SYS_MSGRCV},   {SYS_mq_timedreceive, IPCT_SYS_MQ_TIMEDRECEIVE}};

// The kinds a mechanism's data is counted under (on the path it chose: each path counts only
// its mechanisms' kinds, so a call two paths see is counted once).
uint32_t kind_bits(Mechanism m) {
  switch (m) {
    case Mechanism::PipeFifo:
      return IPCT_KIND_BIT(IPCT_KIND_PIPE) | IPCT_KIND_BIT(IPCT_KIND_FIFO);
    case Mechanism::Unix:
      return IPCT_KIND_BIT(IPCT_KIND_UNIX_STREAM) | IPCT_KIND_BIT(IPCT_KIND_UNIX_DGRAM) |
             IPCT_KIND_BIT(IPCT_KIND_UNIX_SEQPACKET);
    case Mechanism::Inet:
      return IPCT_KIND_BIT(IPCT_KIND_TCP) | IPCT_KIND_BIT(IPCT_KIND_UDP);
    case Mechanism::SysvMsg:
      return IPCT_KIND_BIT(IPCT_KIND_SYSV_MSG);
    case Mechanism::PosixMq:
      return IPCT_KIND_BIT(IPCT_KIND_POSIX_MQ);
    default:
      return 0;
  }
}

bpf_program* find_program(ipctrace_bpf* skel, const std::string& name) {
  return bpf_object__find_program_by_name(skel->obj, name.c_str());
}

// Function hooks: the program written for the function's arguments (fexit; `entry`: the fentry
// that starts a receive's wait). Syscall functions share the syscall-exit handler; the pipe's
// functions count the kinds they serve (see bpf/sys_exit.bpf.c).
bpf_program* function_program(ipctrace_bpf* skel, const std::string& function, bool entry = false) {
  const std::string prefix = entry ? "ipct_fe_" : "ipct_fx_";
  if (auto sys = syscall_of_function(function)) return find_program(skel, prefix + std::string(*sys));
  static const std::map<std::string, std::string, std::less<>> pipe_functions = {
      {"pipe_read", "pipe_read_any"},       {"pipe_write", "pipe_write_any"},
      {"anon_pipe_read", "pipe_read_anon"}, {"anon_pipe_write", "pipe_write_anon"},
      {"fifo_pipe_read", "pipe_read_fifo"}, {"fifo_pipe_write", "pipe_write_fifo"}};
  auto it = pipe_functions.find(function);
  if (it == pipe_functions.end()) return nullptr;
  return find_program(skel, prefix + it->second);
}

// The program serving each (attach point, family) the hook table can choose. On the syscall
// path, typed programs come in two builds: with bpf_rdonly_cast (Linux 6.2, "bpf: Add a kfunc
// for generic type cast") everything behind a file is read with plain loads and receive start
// times live in task-local storage; without it, CO-RE helper reads and an LRU hash.
bpf_program* program_for(ipctrace_bpf* skel, const std::string& point, HookFamily family, bool cast = false) {
  if (family == HookFamily::Fentry) return function_program(skel, point);
  const bool btf = family == HookFamily::TpBtf;
  if (family != HookFamily::TpBtf && family != HookFamily::RawTp) return nullptr;
  if (point == "sys_exit") {
    if (!btf) return skel->progs.ipct_sys_exit_raw;
    return cast ? skel->progs.ipct_sys_exit_cast : skel->progs.ipct_sys_exit_btf;
  }
  if (point == "sys_enter") {
    if (!btf) return skel->progs.ipct_sys_enter_raw;
    return cast ? skel->progs.ipct_sys_enter_cast : skel->progs.ipct_sys_enter_btf;
  }
  if (point == "sock_send_length") return btf ? skel->progs.ipct_sock_send_btf : skel->progs.ipct_sock_send_raw;
  if (point == "sock_recv_length") return btf ? skel->progs.ipct_sock_recv_btf : skel->progs.ipct_sock_recv_raw;
  if (point == "signal_generate") return btf ? skel->progs.ipct_signal_btf : skel->progs.ipct_signal_raw;
  return nullptr;
}

}  // namespace

int on_tracer_event(void* ctx, void* data, size_t size) {
  auto* self = static_cast<Tracer*>(ctx);
  if (size < sizeof(ipct_event) || self->event_fn_ == nullptr) return 0;
  ipct_event e{};
  std::memcpy(&e, data, sizeof(e));
  (*self->event_fn_)(e);
  return 0;
}

int on_tracer_data(void* ctx, void* data, size_t size) {
  auto* self = static_cast<Tracer*>(ctx);
  if (size < sizeof(ipct_data_event) || self->data_fn_ == nullptr) return 0;
  ipct_data_event e{};
  std::memcpy(&e, data, sizeof(e));
  (*self->data_fn_)(e);
  return 0;
}

Result<std::unique_ptr<Tracer>> Tracer::start(const TracerConfig& config, const std::vector<HookChoice>& hooks) {
  std::unique_ptr<Tracer> t(new Tracer());
  t->ncpu_ = libbpf_num_possible_cpus();
  if (t->ncpu_ <= 0) return Error(-t->ncpu_, "count possible CPUs");

  t->skel_ = ipctrace_bpf__open();
  if (t->skel_ == nullptr) return Error(errno, "open BPF object");
  ipctrace_bpf* skel = t->skel_;
  bool cast = false;
  if (auto btf = KernelBtf::load()) cast = (*btf)->has_function("bpf_rdonly_cast");
  t->rdonly_cast_ = cast;

  // Which program serves which mechanism. Mechanisms sharing an attach point (the four on
  // sys_exit, unix and inet on the socket tracepoints or the socket syscall functions) share its
  // program: attaching it twice would count twice.
  std::set<bpf_program*> wanted;
  std::map<bpf_program*, std::string> targets;  // function hooks: the function each attaches to
  uint32_t sys_exit_kinds = 0;
  uint32_t fexit_kinds = 0;
  bool functions = false;
  std::set<Mechanism> chosen;
  for (const HookChoice& h : hooks) {
    if (!h.family) continue;
    chosen.insert(h.mechanism);
    AttachedHook a{h.mechanism, *h.family, {}};
    for (const std::string& point : h.attach) {
      bpf_program* p = program_for(skel, point, *h.family, cast);
      if (p == nullptr) {
        return Error::msg(
            fmt::format("no {} program for {} ({})", family_name(*h.family), point, mechanism_name(h.mechanism)));
      }
      wanted.insert(p);
      a.programs.emplace_back(bpf_program__name(p));
      if (*h.family == HookFamily::Fentry) {
        targets[p] = point;
        fexit_kinds |= kind_bits(h.mechanism);
        functions = true;
      }
      if (point == "sys_exit") {
        sys_exit_kinds |= kind_bits(h.mechanism);
        for (const SysEntry& s : sys_exit_syscalls(h.mechanism)) {
          if (s.nr >= 0 && s.nr < IPCT_SYS_TABLE_SIZE) skel->rodata->ipct_cfg_sys_table[s.nr] = s.code;
        }
      }
    }
    t->attached_.push_back(std::move(a));
  }
  if (wanted.empty()) return Error::msg("no IPC mechanism has a usable hook on this kernel");

  auto set_sys = [&](const std::vector<SysEntry>& entries) {
    for (const SysEntry& s : entries) {
      if (s.nr >= 0 && s.nr < IPCT_SYS_TABLE_SIZE) skel->rodata->ipct_cfg_sys_table[s.nr] = s.code;
    }
  };
  // Wait time: one path times every receiving call, so no call is timed twice. Where the
  // sys_exit tracepoint is in use anyway, its sys_enter twin starts the clock; otherwise, where
  // function hooks work, fentry/fexit on the receiving functions do (nothing then runs on other
  // syscalls); else the socket tracepoints and signals alone cannot time anything.
  bool fn_wait = false;
  if (config.wait_time) {
    std::optional<HookFamily> exit_family;
    for (HookFamily f : {HookFamily::TpBtf, HookFamily::RawTp}) {
      if (wanted.contains(program_for(skel, "sys_exit", f, cast))) exit_family = f;
    }
    if (exit_family) {
      bpf_program* enter = program_for(skel, "sys_enter", *exit_family, cast);
      wanted.insert(enter);
      set_sys(kReceiveSyscalls);
      t->wait_time_ = true;
      t->attached_.push_back({Mechanism::PipeFifo, *exit_family, {bpf_program__name(enter)}});
    } else if (functions) {
      AttachedHook a{Mechanism::PipeFifo, HookFamily::Fentry, {}};
      auto add = [&](bpf_program* p, const std::string& function) {
        if (p == nullptr) return;
        wanted.insert(p);
        targets[p] = function;
        a.programs.emplace_back(bpf_program__name(p));
      };
      // Pipes and FIFOs: the pipe's read function, entry and exit.
      for (const auto& [p, function] : std::map<bpf_program*, std::string>(targets)) {
        if (function.find("pipe_read") != std::string::npos) add(function_program(skel, function, true), function);
      }
      // Sockets, SysV and POSIX queues: their receiving syscalls' functions, entry and exit
      // (the exit counts no data its mechanism's own path counts: see fexit_kinds).
      std::vector<std::string> receives;
      if (chosen.contains(Mechanism::Unix) || chosen.contains(Mechanism::Inet)) {
        receives = {"read", "readv", "recvfrom", "recvmsg", "recvmmsg"};
      }
      if (chosen.contains(Mechanism::SysvMsg)) receives.emplace_back("msgrcv");
      if (chosen.contains(Mechanism::PosixMq)) receives.emplace_back("mq_timedreceive");
      for (const std::string& r : receives) {
        const std::string function = syscall_function(r);
        bpf_program* exit = function_program(skel, function);
        if (!wanted.contains(exit)) add(exit, function);
        add(function_program(skel, function, true), function);
      }
      fn_wait = true;
      t->wait_time_ = true;
      t->attached_.push_back(std::move(a));
    } else {
      spdlog::warn(
          "tracer: wait time needs the sys_exit hook or function hooks, neither of which is in use here: "
          "not measured");
    }
  }

  // Both flavours of one attach point on one kernel would double count: refuse.
  for (const char* point : {"sys_exit", "sys_enter", "sock_send_length", "sock_recv_length", "signal_generate"}) {
    const bool btf = wanted.contains(program_for(skel, point, HookFamily::TpBtf, cast));
    const bool raw = wanted.contains(program_for(skel, point, HookFamily::RawTp, cast));
    if (btf && raw) return Error::msg(fmt::format("{} chosen in two hook families", point));
  }

  bpf_program* prog = nullptr;
  bpf_object__for_each_program(prog, skel->obj) { bpf_program__set_autoload(prog, wanted.contains(prog)); }
  for (const auto& [p, function] : targets) {
    if (int err = bpf_program__set_attach_target(p, 0, function.c_str()); err != 0) {
      return Error(err, fmt::format("attach {} to {}", bpf_program__name(p), function));
    }
  }
  // Create only the receive-start maps the loaded programs use: task-local storage needs 5.11
  // (the sys_enter flavour with bpf_rdonly_cast); function hooks and the others use the LRU.
  const bool task_storage = wanted.contains(skel->progs.ipct_sys_enter_cast);
  bpf_map__set_autocreate(skel->maps.ipct_wait_starts, task_storage);
  bpf_map__set_autocreate(skel->maps.ipct_inflight, (t->wait_time_ && !task_storage) || fn_wait);

  skel->rodata->ipct_cfg_self_tgid = config.self_tgid;
  skel->rodata->ipct_cfg_only_cgroup = config.only_cgroup;
  skel->rodata->ipct_cfg_sys_exit_kinds = sys_exit_kinds;
  skel->rodata->ipct_cfg_wait_time = t->wait_time_ && !fn_wait ? 1 : 0;
  skel->rodata->ipct_cfg_fexit_kinds = fexit_kinds;
  skel->rodata->ipct_cfg_fn_wait = fn_wait ? 1 : 0;
  if (config.flow_map_entries == 0) return Error::msg("the flow map needs at least one entry");
  // Two tables per CPU (the programs fill one while read_flows() takes in the other), each with
  // an index of four buckets per entry, so that a lookup rarely probes past its first bucket.
  t->table_cap_ = std::min(config.flow_map_entries, kMaxCpuFlowTableEntries);
  uint32_t buckets = 1;
  while (buckets < 4 * t->table_cap_) buckets <<= 1;
  skel->rodata->ipct_cfg_flow_cap = t->table_cap_;
  skel->rodata->ipct_cfg_flow_buckets = buckets;
  if (int err = bpf_map__set_max_entries(skel->maps.ipct_flow_entries, 2 * t->table_cap_); err != 0) {
    return Error(err, "size the flow tables");
  }
  if (int err = bpf_map__set_max_entries(skel->maps.ipct_flow_index, 2 * buckets); err != 0) {
    return Error(err, "size the flow tables' index");
  }
  if (int err = bpf_map__set_max_entries(skel->maps.ipct_events, config.ringbuf_bytes); err != 0) {
    return Error(err, "size event ring buffer");
  }
  skel->rodata->ipct_cfg_trace_data = config.trace_data ? 1 : 0;
  skel->rodata->ipct_cfg_trace_kinds = config.trace_kinds;
  skel->rodata->ipct_cfg_trace_pids = config.trace_pids.empty() ? 0 : 1;
  skel->rodata->ipct_cfg_trace_skip = config.trace_skip_cgroups ? 1 : 0;
  if (config.trace_data) {
    const uint32_t page = static_cast<uint32_t>(sysconf(_SC_PAGESIZE));
    const uint32_t n = config.trace_ringbuf_bytes;
    if (n < page || (n & (n - 1)) != 0) {
      return Error::msg(fmt::format("the trace buffer must be a power of two of at least {} bytes, not {}", page, n));
    }
    if (int err = bpf_map__set_max_entries(skel->maps.ipct_trace, n); err != 0) {
      return Error(err, "size trace ring buffer");
    }
  }
  if (config.trace_pids.size() > bpf_map__max_entries(skel->maps.ipct_trace_pids)) {
    return Error::msg(
        fmt::format("at most {} processes can be traced by pid", bpf_map__max_entries(skel->maps.ipct_trace_pids)));
  }
  t->flow_capacity_ = config.flow_map_entries;

  if (int err = ipctrace_bpf__load(skel); err != 0) return Error(err, "load BPF programs");
  {
    // An array of maps, used for nothing but its update, after which the kernel has waited for
    // every program that was running (maybe_wait_bpf_programs(): synchronize_rcu()).
    t->sync_inner_fd_ = bpf_map_create(BPF_MAP_TYPE_ARRAY, "ipct_sync_in", 4, 4, 1, nullptr);
    if (t->sync_inner_fd_ < 0) return Error(errno, "create the grace-period map");
    LIBBPF_OPTS(bpf_map_create_opts, outer_opts, .inner_map_fd = static_cast<__u32>(t->sync_inner_fd_));
    t->sync_outer_fd_ = bpf_map_create(BPF_MAP_TYPE_ARRAY_OF_MAPS, "ipct_sync", 4, 4, 1, &outer_opts);
    if (t->sync_outer_fd_ < 0) return Error(errno, "create the grace-period map");
  }
  for (uint32_t pid : config.trace_pids) {
    const uint8_t one = 1;
    if (bpf_map_update_elem(bpf_map__fd(skel->maps.ipct_trace_pids), &pid, &one, BPF_ANY) != 0) {
      return Error(errno, "fill the trace pid map");
    }
  }

  for (bpf_program* p : wanted) {
    bpf_link* link = bpf_program__attach(p);
    if (link == nullptr) return Error(errno, fmt::format("attach {}", bpf_program__name(p)));
    t->links_.push_back(link);
  }

  t->events_ = ring_buffer__new(bpf_map__fd(skel->maps.ipct_events), on_tracer_event, t.get(), nullptr);
  if (t->events_ == nullptr) return Error(errno, "open event ring buffer");
  if (config.trace_data) {
    t->data_ = ring_buffer__new(bpf_map__fd(skel->maps.ipct_trace), on_tracer_data, t.get(), nullptr);
    if (t->data_ == nullptr) return Error(errno, "open trace ring buffer");
  }

  for (const auto& a : t->attached_) {
    spdlog::debug("tracer: {} via {} ({})", mechanism_name(a.mechanism), family_name(a.family),
                  fmt::join(a.programs, ", "));
  }
  return t;
}

Tracer::~Tracer() {
  if (sync_outer_fd_ >= 0) close(sync_outer_fd_);
  if (sync_inner_fd_ >= 0) close(sync_inner_fd_);
  ring_buffer__free(data_);
  ring_buffer__free(events_);
  for (bpf_link* l : links_) bpf_link__destroy(l);
  ipctrace_bpf__destroy(skel_);
}

void Tracer::add_flow(const ipct_flow_entry& e) {
  std::string raw(reinterpret_cast<const char*>(&e.key), sizeof(e.key));
  auto it = flows_.find(raw);
  if (it == flows_.end()) {
    if (flows_.size() >= flow_capacity_) {
      flows_dropped_ += e.val.msgs;
      return;
    }
    FlowSample s;
    s.key = e.key;
    s.ns = e.val.ns;
    s.tgid = e.val.tgid;
    s.comm.assign(e.val.comm, strnlen(e.val.comm, sizeof(e.val.comm)));
    it = flows_.emplace(std::move(raw), std::move(s)).first;
  }
  it->second.msgs += e.val.msgs;
  it->second.bytes += e.val.bytes;
}

// Switches every CPU to the other flow table, waits until no program can still be filling the
// one it left, adds that table's entries to flows_ and empties it for its next turn.
Status Tracer::take_flow_table() {
  const int ctl_fd = bpf_map__fd(skel_->maps.ipct_flow_ctl);
  const int used_fd = bpf_map__fd(skel_->maps.ipct_flow_used);
  const int entries_fd = bpf_map__fd(skel_->maps.ipct_flow_entries);
  const size_t ncpu = static_cast<size_t>(ncpu_);
  const uint32_t zero = 0;

  ipct_flow_ctl ctl{};
  if (bpf_map_lookup_elem(ctl_fd, &zero, &ctl) != 0) return Error(errno, "read the flow tables' control");
  const uint32_t t = ctl.active & 1U;
  ctl.active = t ^ 1U;
  if (bpf_map_update_elem(ctl_fd, &zero, &ctl, BPF_ANY) != 0) return Error(errno, "switch flow tables");
  // A program that read the old table number before the switch may still be filling that table.
  if (bpf_map_update_elem(sync_outer_fd_, &zero, &sync_inner_fd_, BPF_ANY) != 0) {
    return Error(errno, "wait for running programs");
  }

  std::vector<uint64_t> used(ncpu);
  if (bpf_map_lookup_elem(used_fd, &t, used.data()) != 0) return Error(errno, "read the flow tables' fill");
  uint32_t most = 0;
  for (uint64_t& u : used) {
    u = std::min<uint64_t>(u, table_cap_);  // failed claims count past the end
    most = std::max(most, static_cast<uint32_t>(u));
  }

  // Entries [t * cap, t * cap + most): each CPU's first used[cpu] of them are its own.
  const uint32_t first = t * table_cap_;
  std::vector<ipct_flow_entry> vals(static_cast<size_t>(most) * ncpu);
  uint32_t got = 0;
  if (batch_ok_ && most > 0) {
    std::vector<uint32_t> keys(most);
    uint32_t in = first - 1;  // the batch starts after `in`
    uint32_t out = 0;
    while (got < most) {
      uint32_t count = most - got;
      const int err = bpf_map_lookup_batch(entries_fd, first + got == 0 ? nullptr : &in, &out, keys.data() + got,
                                           vals.data() + static_cast<size_t>(got) * ncpu, &count, nullptr);
      const int saved = errno;
      if (err != 0 && saved != ENOENT) {
        if (got == 0 && (saved == EINVAL || saved == EOPNOTSUPP)) {
          spdlog::warn("tracer: batch map reads unsupported ({}); reading entry by entry", std::strerror(saved));
          batch_ok_ = false;
          break;
        }
        return Error(saved, "read the flow table (batch)");
      }
      got += count;
      in = out;
      if (err != 0 || count == 0) break;
    }
  }
  // Entry by entry (kernels without batch operations on arrays).
  for (uint32_t i = got; i < most; ++i) {
    const uint32_t key = first + i;
    if (bpf_map_lookup_elem(entries_fd, &key, vals.data() + static_cast<size_t>(i) * ncpu) != 0) {
      return Error(errno, "read the flow table");
    }
  }

  // Empty the table for its next turn, then keep what it held; a failure on the way leaves it
  // all in the table, for the next read to take. First a generation no bucket has (new entries
  // are appended after the old ones until `used` goes back to zero, and are read with them),
  // then no entry taken.
  ctl.gen[t] += 1;
  if (bpf_map_update_elem(ctl_fd, &zero, &ctl, BPF_ANY) != 0) return Error(errno, "empty a flow table");
  std::vector<uint64_t> zeros(ncpu, 0);
  if (bpf_map_update_elem(used_fd, &t, zeros.data(), BPF_ANY) != 0) return Error(errno, "empty a flow table");
  for (size_t c = 0; c < ncpu; ++c) {
    for (uint64_t i = 0; i < used[c]; ++i) add_flow(vals[i * ncpu + c]);
  }
  return Ok{};
}

Result<std::vector<FlowSample>> Tracer::read_flows() {
  if (auto st = take_flow_table(); !st) return st.error();
  std::vector<FlowSample> out;
  out.reserve(flows_.size());
  for (const auto& [raw, s] : flows_) out.push_back(s);
  return out;
}

Status Tracer::delete_flows(const std::vector<ipct_flow_key>& keys) {
  for (const auto& k : keys) flows_.erase(std::string(reinterpret_cast<const char*>(&k), sizeof(k)));
  return Ok{};
}

Result<std::vector<WaitSample>> Tracer::read_waits() {
  std::vector<WaitSample> out;
  if (!wait_time_) return out;
  const int fd = bpf_map__fd(skel_->maps.ipct_waits);
  std::vector<ipct_wait_val> per_cpu(static_cast<size_t>(ncpu_));
  ipct_wait_key key{};
  ipct_wait_key next{};
  const ipct_wait_key* prev = nullptr;
  // Few entries (cgroups x kinds): entry by entry is fine.
  while (bpf_map_get_next_key(fd, prev, &next) == 0) {
    if (bpf_map_lookup_elem(fd, &next, per_cpu.data()) == 0) {
      WaitSample w;
      w.cgroup_id = next.cgroup_id;
      w.kind = next.kind;
      for (const auto& v : per_cpu) {
        for (size_t i = 0; i < w.slots.size(); ++i) w.slots[i] += v.slots[i];
        w.count += v.count;
        w.sum_ns += v.sum_ns;
      }
      out.push_back(w);
    } else if (errno != ENOENT) {
      return Error(errno, "read wait map");
    }
    key = next;
    prev = &key;
  }
  return out;
}

DropCounts Tracer::read_drops() {
  DropCounts out{};
  const int fd = bpf_map__fd(skel_->maps.ipct_drops);
  std::vector<uint64_t> per_cpu(static_cast<size_t>(ncpu_));
  for (uint32_t r = 0; r < IPCT_DROP_MAX; ++r) {
    if (bpf_map_lookup_elem(fd, &r, per_cpu.data()) != 0) continue;
    for (uint64_t v : per_cpu) out[r] += v;
  }
  out[IPCT_DROP_FLOW_MAP_FULL] += flows_dropped_;
  return out;
}

Result<size_t> Tracer::drain_events(const std::function<void(const ipct_event&)>& fn) {
  auto copy = fn;
  event_fn_ = &copy;
  const int n = ring_buffer__consume(events_);
  event_fn_ = nullptr;
  if (n < 0) return Error(-n, "drain event ring buffer");
  return static_cast<size_t>(n);
}

Result<size_t> Tracer::drain_data(const std::function<void(const ipct_data_event&)>& fn) {
  if (data_ == nullptr) return Error::msg("the tracer was started without trace_data");
  auto copy = fn;
  data_fn_ = &copy;
  const int n = ring_buffer__consume(data_);
  data_fn_ = nullptr;
  if (n < 0) return Error(-n, "drain trace ring buffer");
  return static_cast<size_t>(n);
}

Status Tracer::skip_cgroup(uint64_t cgroup_id) {
  const uint8_t one = 1;
  if (bpf_map_update_elem(bpf_map__fd(skel_->maps.ipct_trace_skip), &cgroup_id, &one, BPF_ANY) != 0) {
    return Error(errno, "update the trace skip map");
  }
  return Ok{};
}

}  // namespace ipctrace
