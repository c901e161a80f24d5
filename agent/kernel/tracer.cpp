#include "kernel/tracer.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <pthread.h>
#include <spdlog/spdlog.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <map>
#include <set>

#include "ipctrace_bpf.skel.h"
#include "kernel/facts.h"
#include "kernel/kinds.h"

namespace ipctrace {

namespace {
// Folded samples (one per cgroup, kind and direction that had operations folded) the flows' vector
// has room for besides the kept flows, before it grows.
constexpr size_t kFoldedReserve = 4096;
// ENOTSUPP, an errno the kernel uses internally (include/linux/errno.h) and returns for a batch
// operation a map type lacks (kernel/bpf/syscall.c BPF_DO_BATCH); no userspace header has it.
constexpr int kEnotsupp = 524;
}  // namespace

std::string_view drop_reason_name(int reason) {
  switch (reason) {
    case IPCT_DROP_FOLD_MAP_FULL:
      return "fold_map_full";
    case IPCT_DROP_RINGBUF_FULL:
      return "ringbuf_full";
    case IPCT_DROP_READ_FAILED:
      return "kernel_read_failed";
    case IPCT_DROP_WAIT_MAP_FULL:
      return "wait_map_full";
    case IPCT_DROP_TRACE_FULL:
      return "trace_buffer_full";
    case IPCT_DROP_CGROUP_FULL:
      return "cgroup_events_full";
    case IPCT_DROP_EVENT_QUEUE_FULL:
      return "event_queue_full";
    case IPCT_DROP_FLOW_READ_FAILED:
      return "flow_table_read_failed";
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

// Called with event_mu_ held (the ring buffer is consumed only under it).
int on_tracer_event(void* ctx, void* data, size_t size) {
  auto* self = static_cast<Tracer*>(ctx);
  if (size < sizeof(ipct_event)) return 0;
  if (self->event_queue_.size() >= kEventQueueMax) {
    self->event_queue_lost_.fetch_add(1, std::memory_order_relaxed);
    return 0;
  }
  ipct_event& e = self->event_queue_.emplace_back();
  std::memcpy(&e, data, sizeof(e));
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

int on_tracer_cgroup(void* ctx, void* data, size_t size) {
  auto* self = static_cast<Tracer*>(ctx);
  if (size < sizeof(ipct_cgroup_event) || self->cgroup_fn_ == nullptr) return 0;
  ipct_cgroup_event e{};
  std::memcpy(&e, data, sizeof(e));
  (*self->cgroup_fn_)(e);
  return 0;
}

Result<std::unique_ptr<Tracer>> Tracer::prepare(const TracerConfig& config, const std::vector<HookChoice>& hooks,
                                                bool quiet) {
  std::unique_ptr<Tracer> t(new Tracer());
  t->ncpu_ = config.plan_possible_cpus != 0 ? static_cast<int>(config.plan_possible_cpus) : libbpf_num_possible_cpus();
  if (t->ncpu_ <= 0) return Error(-t->ncpu_, "count possible CPUs");
  if (config.flow_map_entries == 0) return Error::msg("the flow map needs at least one entry");
  bool io_uring_request = false;
  if (auto btf = KernelBtf::load()) {
    t->rdonly_cast_ = (*btf)->has_function("bpf_rdonly_cast") && !config.test_only_without_rdonly_cast;
    io_uring_request = (*btf)->io_uring_complete_has_request();
  }
  if (!io_uring_request && !quiet) {
    spdlog::info(
        "tracer: io_uring:io_uring_complete does not pass the request on this kernel: io_uring's reads and "
        "writes are counted only where the pipe's functions or the socket tracepoints see them");
  }
  auto plan =
      plan_programs(hooks, PlanOptions{config.wait_time, t->rdonly_cast_, io_uring_request, config.cgroup_events});
  if (!plan) return plan.error();
  t->plan_ = std::move(plan).value();
  if (config.wait_time && t->plan_.wait == WaitPath::None && !quiet) {
    spdlog::warn(
        "tracer: wait time needs the sys_exit hook or function hooks, neither of which is in use here: "
        "not measured");
  }

  t->skel_ = {ipctrace_bpf__open(), ipctrace_bpf__destroy};
  if (!t->skel_) return Error(errno, "open BPF object");
  if (Status st = t->configure(config); !st) return st.error();
  if (Status st = t->size_maps(config); !st) return st.error();
  return t;
}

Result<std::unique_ptr<Tracer>> Tracer::start(const TracerConfig& config, const std::vector<HookChoice>& hooks) {
  if (config.plan_possible_cpus != 0) return Error::msg("plan_possible_cpus is for plan_memory() only");
  auto prepared = prepare(config, hooks, false);
  if (!prepared) return prepared.error();
  std::unique_ptr<Tracer> t = std::move(prepared).value();
  if (int err = ipctrace_bpf__load(t->skel_.get()); err != 0) return Error(err, "load BPF programs");
  if (Status st = t->attach(config); !st) return st.error();
  for (const auto& a : t->plan_.hooks) {
    spdlog::debug("tracer: {} via {} ({})", mechanism_name(a.mechanism), family_name(a.family),
                  fmt::join(a.programs, ", "));
  }
  return t;
}

Result<KernelMemory> Tracer::plan_memory(const TracerConfig& config, const std::vector<HookChoice>& hooks) {
  auto prepared = prepare(config, hooks, true);
  if (!prepared) return prepared.error();
  KernelMemory m = prepared.value()->memory();
  m.this_node = config.plan_possible_cpus == 0;
  return m;
}

KernelMemory Tracer::memory() const {
  return KernelMemory{static_cast<uint32_t>(ncpu_), true, flow_capacity_, table_cap_, kernel_map_bytes_,
                      kKernelMapBudgetBytes};
}

// The plan into the object, before load: which programs load and where function hooks attach,
// which maps exist, and the configuration globals.
Status Tracer::configure(const TracerConfig& config) {
  ipctrace_bpf* skel = skel_.get();
  bpf_program* prog = nullptr;
  bpf_object__for_each_program(prog, skel->obj) { bpf_program__set_autoload(prog, false); }
  for (const PlannedProgram& p : plan_.programs) {
    prog = bpf_object__find_program_by_name(skel->obj, p.name.c_str());
    if (prog == nullptr) return Error::msg(fmt::format("no program {} in the BPF object", p.name));
    bpf_program__set_autoload(prog, true);
    if (p.function.empty()) continue;
    if (int err = bpf_program__set_attach_target(prog, 0, p.function.c_str()); err != 0) {
      return Error(err, fmt::format("attach {} to {}", p.name, p.function));
    }
  }
  // Only the receive-start map the loaded programs use: task-local storage needs 5.11 (the
  // sys_enter flavour with bpf_rdonly_cast); function hooks and the others use the LRU.
  bpf_map__set_autocreate(skel->maps.ipct_wait_starts, plan_.task_storage);
  bpf_map__set_autocreate(skel->maps.ipct_inflight, plan_.inflight_lru);

  auto* rodata = skel->rodata;
  rodata->ipct_cfg_self_tgid = config.self_tgid;
  rodata->ipct_cfg_only_cgroup = config.only_cgroup;
  rodata->ipct_cfg_sys_exit_kinds = plan_.sys_exit_kinds;
  rodata->ipct_cfg_wait_time = plan_.wait == WaitPath::SysEnter ? 1 : 0;
  rodata->ipct_cfg_fexit_kinds = plan_.fexit_kinds;
  rodata->ipct_cfg_fn_wait = plan_.wait == WaitPath::Functions ? 1 : 0;
  rodata->ipct_cfg_splice_kinds = plan_.splice_kinds;
  rodata->ipct_cfg_nr_splice = SYS_splice;
  rodata->ipct_cfg_nr_sendfile = SYS_sendfile;
  rodata->ipct_cfg_nr_sendto = SYS_sendto;
  rodata->ipct_cfg_nr_sendmsg = SYS_sendmsg;
  rodata->ipct_cfg_nr_sendmmsg = plan_.mmsg_index ? SYS_sendmmsg : -1;
  rodata->ipct_cfg_uring_rw_kinds = plan_.uring_rw_kinds;
  rodata->ipct_cfg_uring_splice_out_kinds = plan_.uring_splice_out_kinds;
  rodata->ipct_cfg_uring_splice_in_kinds = plan_.uring_splice_in_kinds;
  for (size_t nr = 0; nr < plan_.sys_table.size(); ++nr) rodata->ipct_cfg_sys_table[nr] = plan_.sys_table[nr];
  rodata->ipct_cfg_trace_data = config.trace_data ? 1 : 0;
  rodata->ipct_cfg_trace_kinds = config.trace_kinds;
  rodata->ipct_cfg_trace_pids = config.trace_pids.empty() ? 0 : 1;
  rodata->ipct_cfg_trace_skip = config.trace_skip_cgroups ? 1 : 0;
  return Ok{};
}

Status Tracer::size_maps(const TracerConfig& config) {
  ipctrace_bpf* skel = skel_.get();
  // Two tables per CPU (the programs fill one while read_flows() takes in the other), each with
  // an index of four buckets per entry, so that a lookup rarely probes past its first bucket.
  // Within kKernelMapBudgetBytes: the other maps first, then the flow tables of every possible CPU.
  uint64_t fixed = 0;
  bpf_map* map = nullptr;
  bpf_object__for_each_map(map, skel->obj) {
    if (map == skel->maps.ipct_flow_entries || map == skel->maps.ipct_flow_index || !bpf_map__autocreate(map)) continue;
    uint32_t entries = bpf_map__max_entries(map);
    if (map == skel->maps.ipct_events) entries = config.ringbuf_bytes;
    if (map == skel->maps.ipct_trace && config.trace_data) entries = config.trace_ringbuf_bytes;
    fixed += map_memory_bytes(bpf_map__type(map), bpf_map__key_size(map), bpf_map__value_size(map), entries,
                              static_cast<uint32_t>(ncpu_));
  }
  fail_flow_read_at_ = config.test_only_fail_flow_read_at_key;
  table_cap_ = config.test_only_cpu_table_entries != 0
                   ? std::min(config.test_only_cpu_table_entries, kMaxCpuFlowTableEntries)
                   : cpu_flow_table_entries(config.flow_map_entries, static_cast<uint32_t>(ncpu_), fixed);
  read_chunk_keys_ = config.test_only_flow_read_chunk_keys != 0
                         ? config.test_only_flow_read_chunk_keys
                         : flow_read_chunk_keys(table_cap_, static_cast<uint32_t>(ncpu_));
  uint32_t buckets = 1;
  while (buckets < 4 * table_cap_) buckets <<= 1;
  skel->rodata->ipct_cfg_flow_cap = table_cap_;
  skel->rodata->ipct_cfg_flow_buckets = buckets;
  skel->rodata->ipct_cfg_flow_share = std::max<uint32_t>(1, table_cap_ / kFlowReserveShareDivisor);
  // The share slots' hash key (bpf/maps.bpf.h ipct_flow_share): unknown to the containers.
  uint64_t seed = 0;
  if (getrandom(&seed, sizeof(seed), 0) != static_cast<ssize_t>(sizeof(seed))) {
    return Error(errno, "draw the flow tables' share key");
  }
  skel->rodata->ipct_cfg_share_seed = seed;
  if (int err = bpf_map__set_max_entries(skel->maps.ipct_flow_entries, 2 * table_cap_); err != 0) {
    return Error(err, "size the flow tables");
  }
  if (int err = bpf_map__set_max_entries(skel->maps.ipct_flow_index, 2 * buckets); err != 0) {
    return Error(err, "size the flow tables' index");
  }
  if (int err = bpf_map__set_max_entries(skel->maps.ipct_events, config.ringbuf_bytes); err != 0) {
    return Error(err, "size event ring buffer");
  }
  if (config.trace_data) {
    const auto page = static_cast<uint32_t>(sysconf(_SC_PAGESIZE));
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
  flow_capacity_ = config.flow_map_entries;
  // Room for every flow it may keep, reserved once: grown by doubling, the old and the new vector
  // would be held together at a collection (pages not yet written take no memory).
  flows_.reserve(flow_capacity_ + kFoldedReserve);
  kernel_map_bytes_ =
      fixed +
      map_memory_bytes(BPF_MAP_TYPE_PERCPU_ARRAY, 4, sizeof(ipct_flow_entry), 2 * table_cap_,
                       static_cast<uint32_t>(ncpu_)) +
      map_memory_bytes(BPF_MAP_TYPE_PERCPU_ARRAY, 4, sizeof(uint64_t), 2 * buckets, static_cast<uint32_t>(ncpu_));
  return Ok{};
}

// After load: the grace-period maps, the trace's pid filter, the links and the ring buffers.
Status Tracer::attach(const TracerConfig& config) {
  ipctrace_bpf* skel = skel_.get();
  // An array of maps, used for nothing but its update, after which the kernel has waited for
  // every program that was running (maybe_wait_bpf_programs(): synchronize_rcu()).
  sync_inner_ = Fd(bpf_map_create(BPF_MAP_TYPE_ARRAY, "ipct_sync_in", 4, 4, 1, nullptr));
  if (sync_inner_.get() < 0) return Error(errno, "create the grace-period map");
  LIBBPF_OPTS(bpf_map_create_opts, outer_opts, .inner_map_fd = static_cast<__u32>(sync_inner_.get()));
  sync_outer_ = Fd(bpf_map_create(BPF_MAP_TYPE_ARRAY_OF_MAPS, "ipct_sync", 4, 4, 1, &outer_opts));
  if (sync_outer_.get() < 0) return Error(errno, "create the grace-period map");
  for (uint32_t pid : config.trace_pids) {
    const uint8_t one = 1;
    if (bpf_map_update_elem(bpf_map__fd(skel->maps.ipct_trace_pids), &pid, &one, BPF_ANY) != 0) {
      return Error(errno, "fill the trace pid map");
    }
  }
  bool cgroup_attached = false;
  for (const PlannedProgram& p : plan_.programs) {
    BpfLink link(bpf_program__attach(bpf_object__find_program_by_name(skel->obj, p.name.c_str())));
    if (!link && p.name == plan_.cgroup_program) {
      // Only names suffer: a container that lives less than a collection may go unnamed.
      spdlog::warn("tracer: attach {}: {}: cgroups are learned of by walking the tree only", p.name,
                   std::strerror(errno));
      continue;
    }
    if (!link) return Error(errno, fmt::format("attach {}", p.name));
    cgroup_attached = cgroup_attached || p.name == plan_.cgroup_program;
    links_.push_back(std::move(link));
  }
  if (cgroup_attached) {
    cgroups_.reset(ring_buffer__new(bpf_map__fd(skel->maps.ipct_cgroups), on_tracer_cgroup, this, nullptr));
    if (!cgroups_) return Error(errno, "open cgroup ring buffer");
  }
  events_.reset(ring_buffer__new(bpf_map__fd(skel->maps.ipct_events), on_tracer_event, this, nullptr));
  if (!events_) return Error(errno, "open event ring buffer");
  if (auto st = start_event_reader(); !st) return st;
  if (config.trace_data) {
    data_.reset(ring_buffer__new(bpf_map__fd(skel->maps.ipct_trace), on_tracer_data, this, nullptr));
    if (!data_) return Error(errno, "open trace ring buffer");
  }
  return Ok{};
}

uint64_t map_memory_bytes(uint32_t type, uint32_t key_size, uint32_t value_size, uint32_t max_entries,
                          uint32_t possible_cpus) {
  const auto round8 = [](uint64_t n) { return (n + 7) / 8 * 8; };
  const uint64_t n = max_entries;
  const uint64_t cpus = possible_cpus;
  switch (type) {
    case BPF_MAP_TYPE_ARRAY:
      return n * round8(value_size);
    case BPF_MAP_TYPE_PERCPU_ARRAY:
      return n * 8 + n * round8(value_size) * cpus;  // a pointer per element, a value per CPU
    case BPF_MAP_TYPE_HASH:
    case BPF_MAP_TYPE_LRU_HASH:
      return n * (kHashElementOverhead + round8(key_size) + round8(value_size));
    case BPF_MAP_TYPE_PERCPU_HASH:
    case BPF_MAP_TYPE_LRU_PERCPU_HASH:
      return n * (kHashElementOverhead + round8(key_size) + 8) + n * round8(value_size) * cpus;
    case BPF_MAP_TYPE_RINGBUF:
      return n;  // the data pages (mapped twice, allocated once)
    default:
      return 0;  // task storage (per task, as used), maps of maps, program arrays: negligible
  }
}

uint32_t cpu_flow_table_entries(uint32_t wanted, uint32_t possible_cpus, uint64_t fixed_bytes) {
  const uint64_t left = kKernelMapBudgetBytes > fixed_bytes ? kKernelMapBudgetBytes - fixed_bytes : 0;
  // Per entry, on each CPU: two tables' entries and their index (at most 8 buckets an entry); and
  // once, not per CPU: a per-CPU array's pointer per element (map_memory_bytes()).
  const uint64_t per_cpu = uint64_t{2} * (sizeof(ipct_flow_entry) + 8 * sizeof(uint64_t));
  const uint64_t shared = uint64_t{2} * (8 + 8 * 8);
  const uint64_t fits = left / (std::max<uint64_t>(possible_cpus, 1) * per_cpu + shared);
  const uint64_t sized = std::max<uint64_t>(kMinCpuFlowTableEntries, std::min<uint64_t>(kMaxCpuFlowTableEntries, fits));
  return static_cast<uint32_t>(std::min<uint64_t>(wanted, sized));
}

Tracer::~Tracer() { stop_event_reader(); }

Status Tracer::start_event_reader() {
  event_stop_ = Fd(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (event_stop_.get() < 0) return Error(errno, "create the event reader's eventfd");
  event_epoll_ = Fd(epoll_create1(EPOLL_CLOEXEC));
  if (event_epoll_.get() < 0) return Error(errno, "create the event reader's epoll");
  // The ring buffer's own epoll descriptor is readable while a record waits (an epoll set can
  // hold another): one wait covers the ring and the stop.
  for (const int fd : {ring_buffer__epoll_fd(events_.get()), event_stop_.get()}) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = fd;
    if (epoll_ctl(event_epoll_.get(), EPOLL_CTL_ADD, fd, &ev) != 0) return Error(errno, "watch the event ring buffer");
  }
  event_reader_ = std::thread([this] { read_events(); });
  return Ok{};
}

void Tracer::read_events() {
  // Stop signals go to the threads that wait for them (base/stop.h), not to this one.
  sigset_t block;
  sigfillset(&block);
  pthread_sigmask(SIG_BLOCK, &block, nullptr);
  bool reported = false;
  for (;;) {
    std::array<epoll_event, 2> ready{};
    const int n = epoll_wait(event_epoll_.get(), ready.data(), static_cast<int>(ready.size()), -1);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      // Not expected; drain_events() still takes what the ring holds at each collection.
      spdlog::warn("tracer: waiting for lifecycle events: {}; they are read once per collection", std::strerror(errno));
      return;
    }
    if (std::any_of(ready.begin(), ready.begin() + n,
                    [&](const epoll_event& e) { return e.data.fd == event_stop_.get(); }))
      return;
    std::lock_guard lock(event_mu_);
    if (const int got = ring_buffer__consume(events_.get()); got < 0 && !reported) {
      spdlog::warn("tracer: reading lifecycle events: {}", std::strerror(-got));
      reported = true;
    }
  }
}

void Tracer::stop_event_reader() {
  if (!event_reader_.joinable()) return;
  const uint64_t one = 1;
  if (write(event_stop_.get(), &one, sizeof(one)) != sizeof(one)) {
    spdlog::error("tracer: stopping the event reader: {}", std::strerror(errno));
    std::abort();  // joining a thread that will not stop would hang the agent's exit
  }
  event_reader_.join();
}

bool Tracer::may_keep(uint64_t cgroup_id) const {
  const size_t kept = kept_;
  if (kept >= flow_capacity_) return false;
  if (kept < flow_capacity_ - flow_capacity_ / kFlowReserveDivisor) return true;
  const auto it = kept_per_cgroup_.find(cgroup_id);
  return it == kept_per_cgroup_.end() || it->second < std::max<uint32_t>(1, flow_capacity_ / kFlowReserveShareDivisor);
}

void Tracer::add_flow(const ipct_flow_entry& e) {
  auto it = find_flow(e.key);
  uint32_t at = 0;
  if (it != flow_index_.end()) {
    at = *it;
  } else {
    if (!may_keep(e.key.cgroup_id)) {
      add_folded(e.key.cgroup_id, e.key.kind, e.key.dir, e.val.msgs, e.val.bytes);
      return;
    }
    kept_per_cgroup_[e.key.cgroup_id]++;
    ++kept_;
    FlowSample s;
    s.key = e.key;
    s.ns = e.val.ns;
    s.tgid = e.val.tgid;
    s.comm = comm_text(e.val.comm, sizeof(e.val.comm));
    s.exe = comm_text(e.val.exe, sizeof(e.val.exe));
    s.first_read = reads_;
    at = static_cast<uint32_t>(flows_.size());
    flows_.push_back(std::move(s));
    flow_index_.insert(at);
  }
  FlowSample& f = flows_[at];
  f.msgs += e.val.msgs;
  f.bytes += e.val.bytes;
  if (e.val.msgs + e.val.bytes > 0) f.last_read = reads_;
}

void Tracer::add_folded(uint64_t cgroup_id, uint8_t kind, uint8_t dir, uint64_t msgs, uint64_t bytes) {
  ipct_flow_key k{};
  k.cgroup_id = cgroup_id;
  k.kind = kind;
  k.dir = dir;
  k._pad[0] = kFoldedKeyMark;
  auto it = find_flow(k);
  uint32_t at = 0;
  if (it != flow_index_.end()) {
    at = *it;
  } else {
    FlowSample f;
    f.key = k;
    f.folded = true;
    f.first_read = reads_;
    at = static_cast<uint32_t>(flows_.size());
    flows_.push_back(std::move(f));
    flow_index_.insert(at);
  }
  FlowSample& f = flows_[at];
  f.msgs += msgs;
  f.bytes += bytes;
  if (msgs + bytes > 0) f.last_read = reads_;
}

// Takes in the fold map's half of `table` (no program fills it any more: take_flow_table() waited)
// and deletes it for its next turn. Few entries, and none unless a table was full.
Status Tracer::take_folded(uint32_t table) {
  const int fd = bpf_map__fd(skel_->maps.ipct_folded);
  std::vector<ipct_fold_key> keys;
  ipct_fold_key key{};
  ipct_fold_key next{};
  const ipct_fold_key* prev = nullptr;
  while (bpf_map_get_next_key(fd, prev, &next) == 0) {
    if (next.table == table) keys.push_back(next);
    key = next;
    prev = &key;
  }
  for (const ipct_fold_key& k : keys) {
    ipct_fold_val v{};
    if (bpf_map_lookup_elem(fd, &k, &v) != 0) return Error(errno, "read the fold map");
    if (bpf_map_delete_elem(fd, &k) != 0) return Error(errno, "empty the fold map");
    add_folded(k.cgroup_id, k.kind, k.dir, v.msgs, v.bytes);
  }
  return Ok{};
}

// Switches every CPU to the other flow table, waits until no program can still be filling the
// one it left, empties that table for its next turn and adds what it held to flows_, a chunk of
// keys at a time (flow_read_chunk_keys()).
Status Tracer::take_flow_table() {
  const int ctl_fd = bpf_map__fd(skel_->maps.ipct_flow_ctl);
  const int used_fd = bpf_map__fd(skel_->maps.ipct_flow_used);
  const size_t ncpu = static_cast<size_t>(ncpu_);
  const uint32_t zero = 0;

  ipct_flow_ctl ctl{};
  if (bpf_map_lookup_elem(ctl_fd, &zero, &ctl) != 0) return Error(errno, "read the flow tables' control");
  const uint32_t t = ctl.active & 1U;
  ctl.active = t ^ 1U;
  if (bpf_map_update_elem(ctl_fd, &zero, &ctl, BPF_ANY) != 0) return Error(errno, "switch flow tables");
  // A program that read the old table number before the switch may still be filling that table.
  const int inner = sync_inner_.get();
  if (bpf_map_update_elem(sync_outer_.get(), &zero, &inner, BPF_ANY) != 0) {
    return Error(errno, "wait for running programs");
  }

  std::vector<uint64_t> used(ncpu);
  if (bpf_map_lookup_elem(used_fd, &t, used.data()) != 0) return Error(errno, "read the flow tables' fill");
  uint32_t most = 0;
  for (uint64_t& u : used) {
    u = std::min<uint64_t>(u, table_cap_);  // failed claims count past the end
    most = std::max(most, static_cast<uint32_t>(u));
  }

  // Empty the table for its next turn: first a generation no bucket has (new entries are
  // appended after the old ones until `used` goes back to zero, and are read with them), then no
  // entry taken. Until the next switch no program writes to it, so its entries stay to be read.
  // A failure here leaves it all in the table, for the next read to take.
  ctl.gen[t] += 1;
  if (bpf_map_update_elem(ctl_fd, &zero, &ctl, BPF_ANY) != 0) return Error(errno, "empty a flow table");
  std::vector<uint64_t> zeros(ncpu, 0);
  if (bpf_map_update_elem(used_fd, &t, zeros.data(), BPF_ANY) != 0) return Error(errno, "empty a flow table");

  // Entries [t * cap, t * cap + most): each CPU's first used[cpu] of them are its own. A failed
  // read loses the entries not yet read (the table is empty for the programs): counted. What the
  // programs folded beside the table is taken in either way.
  auto st = read_flow_table(t * table_cap_, most, used);
  if (!st) {
    spdlog::error("tracer: {}; the flows of that table not yet read are lost (counted as {})", st.error().message(),
                  drop_reason_name(IPCT_DROP_FLOW_READ_FAILED));
  }
  auto folded = take_folded(t);
  if (!st && !folded) spdlog::error("tracer: {}", folded.error().message());
  return st ? folded : st;
}

uint32_t flow_read_chunk_keys(uint32_t cpu_table_entries, uint32_t possible_cpus) {
  const uint64_t per_key = uint64_t{std::max(possible_cpus, 1U)} * sizeof(ipct_flow_entry);
  const uint64_t keys = std::max<uint64_t>(kFlowReadChunkBytes / per_key, 1);
  return static_cast<uint32_t>(std::min<uint64_t>(keys, std::max(cpu_table_entries, 1U)));
}

Status Tracer::read_flow_table(uint32_t first, uint32_t most, const std::vector<uint64_t>& used) {
  const int entries_fd = bpf_map__fd(skel_->maps.ipct_flow_entries);
  const size_t ncpu = static_cast<size_t>(ncpu_);
  const uint32_t chunk = read_chunk_keys_;
  std::vector<ipct_flow_entry> vals(static_cast<size_t>(std::min(chunk, most)) * ncpu);
  std::vector<uint32_t> keys(std::min(chunk, most));
  // Counts what a failure leaves unread: every CPU's entries from key `from` on.
  const auto lose_from = [&](uint32_t from) {
    for (const uint64_t u : used) flow_read_lost_.fetch_add(u > from ? u - from : 0, std::memory_order_relaxed);
  };
  for (uint32_t done = 0; done < most;) {
    const uint32_t n = std::min(chunk, most - done);
    uint32_t got = 0;
    if (batch_ok_) {
      uint32_t in = first + done - 1;  // the batch starts after `in`
      uint32_t out = 0;
      while (got < n) {
        uint32_t count = n - got;
        const int err =
            bpf_map_lookup_batch(entries_fd, first + done + got == 0 ? nullptr : &in, &out, keys.data() + got,
                                 vals.data() + static_cast<size_t>(got) * ncpu, &count, nullptr);
        const int saved = errno;
        if (err != 0 && saved != ENOENT) {
          // Kernels without batch operations on per-CPU arrays answer ENOTSUPP (524, kernel-internal:
          // kernel/bpf/syscall.c BPF_DO_BATCH), some paths EINVAL or EOPNOTSUPP.
          if (done + got == 0 && (saved == kEnotsupp || saved == EINVAL || saved == EOPNOTSUPP)) {
            spdlog::warn("tracer: batch map reads unsupported ({}); reading entry by entry", std::strerror(saved));
            batch_ok_ = false;
            break;
          }
          lose_from(done);  // the chunk's entries read so far are not added yet
          return Error(saved, "read the flow table (batch)");
        }
        got += count;
        in = out;
        if (err != 0 || count == 0) break;
      }
    }
    // Entry by entry (kernels without batch operations on arrays).
    for (uint32_t i = got; i < n; ++i) {
      const uint32_t key = first + done + i;
      if (bpf_map_lookup_elem(entries_fd, &key, vals.data() + static_cast<size_t>(i) * ncpu) != 0) {
        const int saved = errno;
        lose_from(done);
        return Error(saved, "read the flow table");
      }
    }
    if (fail_flow_read_at_ != 0 && done <= fail_flow_read_at_ && fail_flow_read_at_ < done + n) {
      lose_from(done);
      return Error(EIO, "read the flow table (test_only_fail_flow_read_at_key)");
    }
    for (uint32_t i = 0; i < n; ++i) {
      for (size_t c = 0; c < ncpu; ++c) {
        if (done + i < used[c]) add_flow(vals[i * ncpu + c]);
      }
    }
    done += n;
  }
  return Ok{};
}

Result<std::vector<FlowSample>> Tracer::read_flows() {
  auto held = read_flows_in_place();
  if (!held) return held.error();
  return **held;
}

Result<const std::vector<FlowSample>*> Tracer::read_flows_in_place() {
  ++reads_;
  compact_flows();
  if (auto st = take_flow_table(); !st) return st.error();
  return &flows_;
}

void Tracer::compact_flows() {
  if (deleted_.empty()) return;
  std::vector<bool> gone(flows_.size(), false);
  for (const uint32_t i : deleted_) gone[i] = true;
  deleted_.clear();
  size_t kept = 0;
  for (size_t i = 0; i < flows_.size(); ++i) {
    if (gone[i]) continue;
    if (kept != i) {
      // Its position in the index changes in place (the node is moved, not made again).
      auto node = flow_index_.extract(find_flow(flows_[i].key));
      flows_[kept] = std::move(flows_[i]);
      node.value() = static_cast<uint32_t>(kept);
      flow_index_.insert(std::move(node));
    }
    ++kept;
  }
  flows_.erase(flows_.begin() + static_cast<std::ptrdiff_t>(kept), flows_.end());
}

Status Tracer::delete_flows(const std::vector<ipct_flow_key>& keys) {
  for (const auto& k : keys) {
    const auto it = find_flow(k);
    if (it == flow_index_.end()) continue;
    deleted_.push_back(*it);
    flow_index_.erase(it);
    if (k._pad[0] == kFoldedKeyMark) continue;
    --kept_;
    auto c = kept_per_cgroup_.find(k.cgroup_id);
    if (c != kept_per_cgroup_.end() && --c->second == 0) kept_per_cgroup_.erase(c);
  }
  return Ok{};
}

Result<std::vector<WaitSample>> Tracer::read_waits() {
  std::vector<WaitSample> out;
  if (!wait_time()) return out;
  const int fd = bpf_map__fd(skel_->maps.ipct_waits);
  ipct_wait_val v{};
  ipct_wait_key key{};
  ipct_wait_key next{};
  const ipct_wait_key* prev = nullptr;
  // Few entries (cgroups x kinds): entry by entry is fine.
  while (bpf_map_get_next_key(fd, prev, &next) == 0) {
    if (bpf_map_lookup_elem(fd, &next, &v) == 0) {
      WaitSample w;
      w.cgroup_id = next.cgroup_id;
      w.kind = next.kind;
      std::copy(std::begin(v.slots), std::end(v.slots), w.slots.begin());
      w.count = v.count;
      w.sum_ns = v.sum_ns;
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
  out[IPCT_DROP_EVENT_QUEUE_FULL] += event_queue_lost_.load(std::memory_order_relaxed);
  out[IPCT_DROP_FLOW_READ_FAILED] += flow_read_lost_.load(std::memory_order_relaxed);
  return out;
}

Result<size_t> Tracer::drain_events(const std::function<void(const ipct_event&)>& fn) {
  std::vector<ipct_event> taken;
  {
    std::lock_guard lock(event_mu_);
    // What the reader has not taken yet, so that the caller sees everything up to now.
    const int n = ring_buffer__consume(events_.get());
    if (n < 0) return Error(-n, "drain event ring buffer");
    taken.swap(event_queue_);  // and the queue's memory goes with it
  }
  for (const ipct_event& e : taken) fn(e);
  return taken.size();
}

Result<size_t> Tracer::poll_cgroups(int timeout_ms, const std::function<void(const ipct_cgroup_event&)>& fn) {
  if (cgroups_ == nullptr) return Error::msg("the tracer has no cgroup events");
  auto copy = fn;
  cgroup_fn_ = &copy;
  const int n = ring_buffer__poll(cgroups_.get(), timeout_ms);
  cgroup_fn_ = nullptr;
  if (n < 0 && n != -EINTR) return Error(-n, "poll cgroup ring buffer");
  return static_cast<size_t>(std::max(n, 0));
}

Result<size_t> Tracer::drain_data(const std::function<void(const ipct_data_event&)>& fn) {
  if (data_ == nullptr) return Error::msg("the tracer was started without trace_data");
  auto copy = fn;
  data_fn_ = &copy;
  const int n = ring_buffer__consume(data_.get());
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
