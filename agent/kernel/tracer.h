// The tracing programs, loaded and attached with the hooks chosen for this kernel; owns the
// skeleton (RAII: destroying the Tracer detaches and unloads everything) and reads its maps
// into plain C++ values. What the agent, `flows`, `top` and `trace` build on.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "base/error.h"
#include "base/fd.h"
#include "kernel/abi.h"
#include "kernel/bpf_object.h"
#include "kernel/hooks.h"
#include "kernel/planner.h"

struct ipctrace_bpf;  // the skeleton (bpf/, generated)

namespace ipctrace {

// Entries of each CPU's in-kernel flow tables (at most): flows first seen on that CPU between two
// reads. What the agent keeps between reads is bounded by TracerConfig::flow_map_entries.
constexpr uint32_t kMaxCpuFlowTableEntries = 16384;
constexpr uint32_t kMinCpuFlowTableEntries = 64;
// Kernel memory the tracer's maps may take, whatever the number of CPUs (a DaemonSet's memory
// limit must not depend on the node's size): the other maps first, then each possible CPU's two
// flow tables get an equal part of what is left (cpu_flow_table_entries()). With the defaults
// the other maps take about 10 MiB, so a 192-CPU node gets tables of about 650 entries per CPU
// (a table holds the flows first seen on its CPU within one collection; past it, operations
// are folded, still counted), a node of up to 7 CPUs the full kMaxCpuFlowTableEntries.
constexpr uint64_t kKernelMapBudgetBytes = uint64_t{64} << 20;
// Bytes a hash map's element takes besides its key and value (struct htab_elem and its bucket,
// kernel/bpf/hashtab.c; measured from the maps' memlock in /proc/PID/fdinfo on Linux 6.18).
constexpr uint64_t kHashElementOverhead = 64;
// The kernel memory of a map, in bytes, as kernel/bpf/{arraymap,hashtab,ringbuf}.c allocate it
// (preallocated hash maps; `type` a BPF_MAP_TYPE_*); 0 for kinds allocated as used. Linux 6.4+
// reports the same in each map's fdinfo `memlock` (the maps' map_mem_usage()); earlier kernels
// report an older approximation there (6.1: about 11% less at 192 CPUs).
uint64_t map_memory_bytes(uint32_t type, uint32_t key_size, uint32_t value_size, uint32_t max_entries,
                          uint32_t possible_cpus);
// Entries of each CPU's flow tables for `possible_cpus` when the other maps take `fixed_bytes`:
// two tables of ipct_flow_entry with their index (at most 8 buckets of 8 bytes per entry) per
// CPU, and the per-CPU arrays' pointers, within kKernelMapBudgetBytes; at most
// kMaxCpuFlowTableEntries, at least kMinCpuFlowTableEntries (past about 4,000 CPUs the budget is
// exceeded rather than go lower), and never more than `wanted`.
uint32_t cpu_flow_table_entries(uint32_t wanted, uint32_t possible_cpus, uint64_t fixed_bytes);
// The agent reads a flow table a chunk of keys at a time, each key with every possible CPU's
// entry (a per-CPU array's value), and adds each chunk to its flows before reading the next:
// its buffer is at most kFlowReadChunkBytes, however many CPUs (one key of 8,192 CPUs' entries,
// 1.25 MiB, past 6,553 of them).
constexpr uint64_t kFlowReadChunkBytes = uint64_t{1} << 20;
// Keys of a chunk: kFlowReadChunkBytes / (possible_cpus x sizeof(ipct_flow_entry)), from 1 to
// `cpu_table_entries` (6,553 keys at 1 CPU, 3,276 at 2, 34 at 192).
uint32_t flow_read_chunk_keys(uint32_t cpu_table_entries, uint32_t possible_cpus);
// The agent's resident memory (RSS) at a collection's peak, estimated from what it was measured
// at: the release build (jemalloc), beside a neighbour churning 36,000-42,000 single-use pipes a
// second and `stress-ng --sockpair 2`, which holds the flows kept at --flow-map-entries (the
// README's "What the kernel side counts" and bench/run.py's noisy-neighbour row). Measured on a
// 2-core VM with Linux 6.18, 2026-12-06: 24-25 MiB idle (libraries, the BPF objects and the ring
// buffers mapped, the HTTP server), peaks of 85.5-94.7 MiB with 65,536 flows kept and a 1 MiB
// read buffer, so up to 1,115 bytes a kept flow past the idle 24 MiB (the tracer's sample and
// index entry, the collector's entry, the exporter's totals, the join of the channels that
// moved). Nothing else grows with the CPUs (read_buffer_bytes() is at most kFlowReadChunkBytes)
// nor with the rate.
constexpr uint64_t kAgentIdleRssBytes = uint64_t{24} << 20;
constexpr uint64_t kAgentRssPerKeptFlowBytes = 1120;
// What the tracer's maps take on a node (Tracer::plan_memory(), Tracer::kernel_map_bytes()).
struct KernelMemory {
  // libbpf_num_possible_cpus() (/sys/devices/system/cpu/possible), or the number planned for
  // (TracerConfig::plan_possible_cpus: this_node false)
  uint32_t possible_cpus = 0;
  bool this_node = true;
  uint32_t flow_map_entries = 0;   // TracerConfig::flow_map_entries
  uint32_t cpu_table_entries = 0;  // entries of each CPU's two flow tables (cpu_flow_table_entries())
  uint64_t kernel_map_bytes = 0;   // every map, estimated (map_memory_bytes())
  uint64_t budget_bytes = 0;       // kKernelMapBudgetBytes
  // The agent's buffer for a read of the flow tables, at most: bytes (a chunk of keys,
  // flow_read_chunk_keys(), every possible CPU's entry of each).
  [[nodiscard]] uint64_t read_buffer_bytes() const {
    return uint64_t{flow_read_chunk_keys(cpu_table_entries, possible_cpus)} * possible_cpus * sizeof(ipct_flow_entry);
  }
  // The agent's RSS at a collection's peak, estimated: bytes, kAgentIdleRssBytes +
  // kAgentRssPerKeptFlowBytes x flow_map_entries + read_buffer_bytes() (95.0 MiB at the
  // defaults, whatever the number of CPUs).
  [[nodiscard]] uint64_t agent_rss_bytes() const {
    return kAgentIdleRssBytes + kAgentRssPerKeptFlowBytes * flow_map_entries + read_buffer_bytes();
  }
};
// Lifecycle events the tracer holds between two drain_events() calls (Tracer::drain_events):
// 6.5 collections' worth at 10,000 a second, 12 MiB at most (struct ipct_event is 184 bytes).
constexpr size_t kEventQueueMax = 65536;
// Fairness of the flows the tracer keeps (TracerConfig::flow_map_entries, N): the last N /
// kFlowReserveDivisor of them (16,384 of the default 65,536) are kept for cgroups that hold
// fewer than N / kFlowReserveShareDivisor flows (1,024), so that a cgroup churning channels
// fills at most the first three quarters and every quiet container's new flows still find room.
// Filling the reserve too takes kFlowReserveShareDivisor / kFlowReserveDivisor (16) cgroups or
// more, each close to its share. Each CPU's in-kernel tables do the same per table, by an
// approximate count per cgroup (bpf/maps.bpf.h ipct_flow_share). Operations of flows not kept
// are folded (FlowSample::folded).
constexpr uint32_t kFlowReserveDivisor = IPCT_FLOW_RESERVE_DIVISOR;
constexpr uint32_t kFlowReserveShareDivisor = IPCT_FLOW_SHARE_DIVISOR;

struct TracerConfig {
  // Flows the tracer keeps (their totals since first seen); each CPU's in-kernel tables hold
  // min(flow_map_entries, kMaxCpuFlowTableEntries) flows between two reads.
  uint32_t flow_map_entries = 65536;
  uint32_t ringbuf_bytes = 256 * 1024;
  uint32_t self_tgid = 0;    // a process never traced (the agent itself); 0: none
  uint64_t only_cgroup = 0;  // trace only this cgroup v2 id; 0: all
  bool wait_time = true;     // time blocked in receiving calls (costs a sys_enter hook)
  // Cgroups as they are made (cgroup:cgroup_mkdir; poll_cgroups()), to name short-lived containers.
  // Off unless something reads them (Session does): unread, the ring buffer fills and counts drops.
  bool cgroup_events = false;

  // `ipctrace trace --data`: a record per data operation into a ring buffer of its own.
  bool trace_data = false;
  uint32_t trace_ringbuf_bytes = 8U << 20;  // a power of two, at least a page
  uint32_t trace_kinds = 0;                 // IPCT_KIND_BIT()s streamed; 0: all
  std::vector<uint32_t> trace_pids;         // only these processes (tgid); empty: all
  bool trace_skip_cgroups = false;          // honour skip_cgroup() (name filters in userspace)

  // plan_memory() only: plan for a node with this many possible CPUs instead of this one's
  // (`ipctrace probe --possible-cpus`); 0: this node's. start() refuses it.
  uint32_t plan_possible_cpus = 0;

  // For tests only: the typed syscall path's build without bpf_rdonly_cast (CO-RE reads behind a
  // file, LRU wait starts), as on kernels 5.5 to 6.1, on a kernel that has the cast.
  bool test_only_without_rdonly_cast = false;
  // For tests only: each CPU's in-kernel tables hold this many flows (0: as above), so that the
  // kernel's fold and fairness can be tested apart from the tracer's, and in fewer operations.
  uint32_t test_only_cpu_table_entries = 0;
  // For tests only: the read of the chunk of a flow table that holds this key fails (EIO) once
  // the chunk was read, as a bpf_map_lookup_batch() failing part-way would (0: never); and
  // chunks of this many keys instead of flow_read_chunk_keys() (0: those).
  uint32_t test_only_fail_flow_read_at_key = 0;
  uint32_t test_only_flow_read_chunk_keys = 0;
};

// One flow's totals since it was first seen, summed over CPUs.
struct FlowSample {
  ipct_flow_key key{};
  uint64_t msgs = 0;
  uint64_t bytes = 0;
  ipct_ns_ids ns{};   // of the task that created the entry
  uint32_t tgid = 0;  // that task's process
  std::string comm;   // its command (task->comm: the process sets it)
  // The file name of its executable (mm->exe_file, set by execve: what /proc/PID/exe links to;
  // unlike comm, no prctl(PR_SET_NAME) changes it), at most IPCT_EXE_LEN - 1 bytes; "" for a
  // kernel thread (bpf/ipctrace.h ipct_flow_val).
  std::string exe;
  // The operations of (cgroup, kind, direction) whose flows could not be kept: a CPU's flow table
  // was full, or three quarters full and the cgroup had its share of it (bpf/flow.bpf.h
  // flow_insert()), or the tracer kept as many flows as it may (flow_map_entries and
  // kFlowReserveDivisor). The key's channel is zero and key._pad[0] is kFoldedKeyMark, which no
  // kernel key has (they are zero-filled): a folded sample's key is its own. ns, tgid, comm and
  // exe are not known.
  bool folded = false;
  // The tracer's reads (read_flows() calls, from 1) in which the key was first taken in and in
  // which its counts last grew: which end moved first, at the granularity of a collection.
  uint64_t first_read = 0;
  uint64_t last_read = 0;
};
inline constexpr uint8_t kFoldedKeyMark = 1;

// Hash and equality of a flow key by its bytes (zero-filled by the kernel side and by the folded
// ones' makers: no padding byte differs between equal keys), for tables keyed by it.
struct FlowKeyHash {
  size_t operator()(const ipct_flow_key& k) const noexcept {
    return std::hash<std::string_view>{}(std::string_view(reinterpret_cast<const char*>(&k), sizeof(k)));
  }
};
struct FlowKeyEqual {
  bool operator()(const ipct_flow_key& a, const ipct_flow_key& b) const noexcept {
    return std::memcmp(&a, &b, sizeof(a)) == 0;
  }
};
template <typename V>
using FlowKeyMap = std::unordered_map<ipct_flow_key, V, FlowKeyHash, FlowKeyEqual>;

// Time blocked in receiving calls of one (cgroup, kind), summed over CPUs.
struct WaitSample {
  uint64_t cgroup_id = 0;
  int kind = 0;
  std::array<uint64_t, IPCT_WAIT_SLOTS> slots{};  // log2 microseconds, see bpf/ipctrace.h
  uint64_t count = 0;
  uint64_t sum_ns = 0;
};
// Upper bound (exclusive) of a wait histogram slot, in seconds: slot 0 < 1 us, slot i < 2^i us.
double wait_slot_upper_seconds(int slot);

using DropCounts = std::array<uint64_t, IPCT_DROP_MAX>;
std::string_view drop_reason_name(int reason);  // "fold_map_full", ...

class Tracer {
 public:
  // Plans (kernel/planner.h), opens, configures, loads and attaches the programs for `hooks`
  // (mechanisms without a chosen hook are left out). Fails with the step that failed, leaving
  // nothing loaded.
  static Result<std::unique_ptr<Tracer>> start(const TracerConfig& config, const std::vector<HookChoice>& hooks);
  // The kernel memory start() would take on this node with `config` and `hooks`: the BPF object
  // opened, planned and sized as start() does it, then closed, nothing loaded (`ipctrace probe`).
  static Result<KernelMemory> plan_memory(const TracerConfig& config, const std::vector<HookChoice>& hooks);
  ~Tracer();
  Tracer(const Tracer&) = delete;
  Tracer& operator=(const Tracer&) = delete;
  Tracer(Tracer&&) = delete;
  Tracer& operator=(Tracer&&) = delete;

  // Every flow kept, totals since first seen summed over CPUs, and the folded operations of each
  // (cgroup, kind, direction) whose flows could not be kept (FlowSample::folded). Takes in what
  // the programs counted up to now: switches the CPUs' flow tables and waits for an RCU grace
  // period (milliseconds), so it is called once per collection, not per flow.
  Result<std::vector<FlowSample>> read_flows();
  // The same without a copy: the tracer's own samples, valid until its next read (delete_flows()
  // marks them and leaves them in place until then). What a collection reads: a copy of every
  // kept flow (208 bytes and an executable's name each) would add to the agent's peak.
  Result<const std::vector<FlowSample>*> read_flows_in_place();
  // read_flows() calls so far: the read the last one returned (FlowSample::first_read, last_read).
  [[nodiscard]] uint64_t reads() const { return reads_; }
  // Forgets flows, folded ones included (idle ones when the collector evicts, single-use ones when
  // it releases them): operations on them from now on make new flows, counted from zero.
  Status delete_flows(const std::vector<ipct_flow_key>& keys);
  Result<std::vector<WaitSample>> read_waits();
  DropCounts read_drops();
  // Hands every lifecycle event read since the last call to `fn`, in order; returns how many.
  // A thread of the tracer's takes them out of the kernel's ring buffer (256 KiB, 1,365
  // records of 192 bytes) as they come, into a queue of at most kEventQueueMax; a record that finds the queue
  // full is counted in read_drops()[IPCT_DROP_EVENT_QUEUE_FULL], one that found the ring full
  // (the reader did not keep up) in IPCT_DROP_RINGBUF_FULL.
  Result<size_t> drain_events(const std::function<void(const ipct_event&)>& fn);
  // Waits up to `timeout_ms` for cgroups made in the unified hierarchy and hands each to `fn`;
  // returns how many. The ring buffer is this call's alone: one thread may poll it while another
  // collects. An error without cgroup events (cgroup_events() false).
  Result<size_t> poll_cgroups(int timeout_ms, const std::function<void(const ipct_cgroup_event&)>& fn);
  // Whether the cgroup_mkdir program is attached (it is left out, with a warning, where it cannot be).
  [[nodiscard]] bool cgroup_events() const { return cgroups_ != nullptr; }
  // With trace_data: hands every queued data operation to `fn`; returns how many.
  Result<size_t> drain_data(const std::function<void(const ipct_data_event&)>& fn);
  // With trace_skip_cgroups: stop streaming this cgroup's data operations (it matches no filter).
  Status skip_cgroup(uint64_t cgroup_id);

  [[nodiscard]] const std::vector<AttachedHook>& hooks() const { return plan_.hooks; }
  [[nodiscard]] const ProgramPlan& plan() const { return plan_; }
  [[nodiscard]] uint32_t flow_map_capacity() const { return flow_capacity_; }
  // Entries of each CPU's flow tables (cpu_flow_table_entries()), and the kernel memory of all the
  // maps, estimated for this node's possible CPUs (map_memory_bytes()).
  [[nodiscard]] uint32_t cpu_table_entries() const { return table_cap_; }
  [[nodiscard]] uint64_t kernel_map_bytes() const { return kernel_map_bytes_; }
  [[nodiscard]] int possible_cpus() const { return ncpu_; }
  // What plan_memory() says of this tracer's maps, and the agent's RSS they lead to.
  [[nodiscard]] KernelMemory memory() const;
  [[nodiscard]] bool used_batch_reads() const { return batch_ok_; }
  [[nodiscard]] bool wait_time() const { return plan_.wait != WaitPath::None; }
  // The syscall path reads behind files with plain loads (bpf_rdonly_cast, Linux 6.2+).
  [[nodiscard]] bool rdonly_cast() const { return rdonly_cast_; }

 private:
  Tracer() = default;
  // start() up to the load: the object opened, its programs chosen, its maps sized. `quiet`: no
  // log lines about what the plan leaves out (plan_memory()).
  static Result<std::unique_ptr<Tracer>> prepare(const TracerConfig& config, const std::vector<HookChoice>& hooks,
                                                 bool quiet);
  Status configure(const TracerConfig& config);
  Status size_maps(const TracerConfig& config);
  Status attach(const TracerConfig& config);
  Status take_flow_table();
  // Adds the entries [first, first + most) of the flow tables' array to flows_, each CPU's first
  // used[cpu] of them, a chunk of keys at a time (flow_read_chunk_keys()). On a failed read the
  // entries not yet added are counted in flow_read_lost_.
  Status read_flow_table(uint32_t first, uint32_t most, const std::vector<uint64_t>& used);
  // The event reader: waits on the ring buffer and event_stop_, moves records into event_queue_.
  Status start_event_reader();
  void read_events();
  void stop_event_reader();
  Status take_folded(uint32_t table);
  void add_flow(const ipct_flow_entry& e);
  // Whether a new flow of `cgroup_id` is kept (kFlowReserveDivisor), or folded.
  [[nodiscard]] bool may_keep(uint64_t cgroup_id) const;
  void add_folded(uint64_t cgroup_id, uint8_t kind, uint8_t dir, uint64_t msgs, uint64_t bytes);

  // Declared in the order they are made, destroyed in reverse: ring buffers and links go before
  // the object whose maps and programs they use.
  std::unique_ptr<ipctrace_bpf, void (*)(ipctrace_bpf*)> skel_{nullptr, nullptr};
  ProgramPlan plan_;
  std::vector<BpfLink> links_;
  RingBufferPtr events_;
  RingBufferPtr data_;
  RingBufferPtr cgroups_;
  // A map-in-map whose update makes the kernel wait for running programs (synchronize_rcu()).
  Fd sync_inner_;
  Fd sync_outer_;

  uint32_t flow_capacity_ = 0;
  uint64_t reads_ = 0;      // read_flows() calls (FlowSample::first_read)
  uint32_t table_cap_ = 0;  // entries of each CPU's flow tables
  uint64_t kernel_map_bytes_ = 0;
  // The flows taken in from the kernel's tables and the folded operations (FlowSample::folded: at
  // most cgroups x kinds x 2), with the position of each live key. A deleted one leaves the index
  // at once and the vector at the next read (compact_flows()), so that what a read returned in
  // place stays as it was until the next.
  std::vector<FlowSample> flows_;
  // The positions in flows_ by their keys, which flows_ holds: a set of 4-byte positions hashed
  // and compared by the key at each (kProbe: the key looked for, find_flow()), not a map holding
  // every 64-byte key again (4 MiB at 65,536 flows).
  static constexpr uint32_t kProbe = UINT32_MAX;
  [[nodiscard]] const ipct_flow_key& key_at(uint32_t i) const { return i == kProbe ? *probe_ : flows_[i].key; }
  struct IndexHash {
    const Tracer* tracer;
    size_t operator()(uint32_t i) const noexcept { return FlowKeyHash{}(tracer->key_at(i)); }
  };
  struct IndexEqual {
    const Tracer* tracer;
    bool operator()(uint32_t a, uint32_t b) const noexcept {
      return FlowKeyEqual{}(tracer->key_at(a), tracer->key_at(b));
    }
  };
  using FlowIndex = std::unordered_set<uint32_t, IndexHash, IndexEqual>;
  FlowIndex::iterator find_flow(const ipct_flow_key& k) {
    probe_ = &k;
    return flow_index_.find(kProbe);
  }
  const ipct_flow_key* probe_ = nullptr;
  FlowIndex flow_index_{0, IndexHash{this}, IndexEqual{this}};
  std::vector<uint32_t> deleted_;                           // positions in flows_, compacted at the next read
  size_t kept_ = 0;                                         // live flows_ not folded: what flow_map_entries bounds
  std::unordered_map<uint64_t, uint32_t> kept_per_cgroup_;  // of those, by the key's cgroup
  void compact_flows();
  int ncpu_ = 0;
  bool batch_ok_ = true;
  uint32_t fail_flow_read_at_ = 0;  // TracerConfig::test_only_fail_flow_read_at_key
  uint32_t read_chunk_keys_ = 0;    // flow_read_chunk_keys(), or test_only_flow_read_chunk_keys
  bool rdonly_cast_ = false;
  // Lifecycle events read from events_ (drain_events()). events_ is consumed only under
  // event_mu_, by the reader thread or by drain_events().
  std::mutex event_mu_;
  std::vector<ipct_event> event_queue_;  // guarded by event_mu_
  std::atomic<uint64_t> event_queue_lost_{0};
  std::atomic<uint64_t> flow_read_lost_{0};  // IPCT_DROP_FLOW_READ_FAILED
  Fd event_epoll_;                           // the ring buffer's epoll descriptor and event_stop_
  Fd event_stop_;                            // an eventfd: written to stop the reader
  std::thread event_reader_;
  std::function<void(const ipct_data_event&)>* data_fn_ = nullptr;
  std::function<void(const ipct_cgroup_event&)>* cgroup_fn_ = nullptr;
  friend int on_tracer_event(void* ctx, void* data, size_t size);
  friend int on_tracer_cgroup(void* ctx, void* data, size_t size);
  friend int on_tracer_data(void* ctx, void* data, size_t size);
};

// The kernel's device encoding (MKDEV: major << 20 | minor), as in ipct_chan_obj.dev, to dev_t.
uint64_t kernel_dev_to_user(uint32_t kdev);

}  // namespace ipctrace
