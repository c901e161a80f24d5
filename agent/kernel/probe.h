// `ipctrace probe`: what this kernel and this process allow, proved by trying.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "kernel/facts.h"
#include "kernel/hooks.h"
#include "kernel/tracer.h"

namespace ipctrace {

enum class Feature {
  SyscallTracepoint,  // tracepoint/syscalls/sys_enter_getppid
  RawTracepoint,      // raw_tp/sys_enter
  TpBtf,              // tp_btf/sys_enter
  Fentry,             // fentry/vfs_read
  Fexit,              // fexit/vfs_read
  Kprobe,             // kprobe/vfs_read
  RingBuffer,         // BPF_MAP_TYPE_RINGBUF written by a program, read by us
  PercpuMaps,         // BPF_MAP_TYPE_PERCPU_ARRAY written by a program, summed by us
  BatchMapOps,        // BPF_MAP_LOOKUP_AND_DELETE_BATCH on a per-CPU hash
  CoRe,               // CO-RE field reads give this task's namespace ids
  TaskFileIter,       // iter/task_file lists this process's pipe and socket pair (kernel/open_files.h)
};
inline constexpr Feature kAllFeatures[] = {Feature::SyscallTracepoint,
                                           Feature::RawTracepoint,
                                           Feature::TpBtf,
                                           Feature::Fentry,
                                           Feature::Fexit,
                                           Feature::Kprobe,
                                           Feature::RingBuffer,
                                           Feature::PercpuMaps,
                                           Feature::BatchMapOps,
                                           Feature::CoRe,
                                           Feature::TaskFileIter};
std::string_view feature_name(Feature f);  // "syscall_tracepoint", "raw_tracepoint", "tp_btf", ...

struct FeatureResult {
  Feature feature;
  bool works = false;
  // Where the attempt ended: "load", "attach", "trigger", "verify" or "ok"; "skipped" when not tried.
  std::string stage;
  std::string detail;  // e.g. "fired 3 of 3" or "attach: Operation not supported"
  int error = 0;       // errno of the failed step, 0 if none
};

struct ProbeReport {
  KernelVersion kernel;
  bool btf = false;
  std::string btf_detail;
  std::optional<std::string> tracefs;
  std::string tracefs_detail;
  Capabilities caps;
  std::vector<std::string> missing_caps;  // what tracing lacks; empty when privileged enough
  std::vector<FeatureResult> features;
  std::optional<HookFamily> forced_family;
  std::vector<HookChoice> hooks;
  // Per mechanism, the ways its data moves that those hooks do not see (paths_not_seen()).
  std::map<Mechanism, std::vector<std::string>> not_seen;
  // The kernel memory the agent's maps would take here at the agent's defaults
  // (Tracer::plan_memory()); set by `ipctrace probe` where the agent can run, else why not in
  // memory_detail.
  std::optional<KernelMemory> memory;
  std::string memory_detail;

  [[nodiscard]] const FeatureResult* find(Feature f) const;
  [[nodiscard]] bool works(Feature f) const;
  // The agent can run here: privileges, BTF, and a hook for at least one mechanism
  // (a mechanism without a hook is a warning: it goes untraced).
  [[nodiscard]] bool agent_can_run() const;
  [[nodiscard]] std::vector<std::string> blockers() const;
};

struct ProbeOptions {
  std::optional<HookFamily> force_family;
  bool mount_tracefs = true;
};

// Probes everything. Never throws; failures are recorded in the report.
ProbeReport run_probe(const ProbeOptions& options);

// Hook families that the probe proved (fentry needs both fentry and fexit).
std::set<HookFamily> working_families(const ProbeReport& report);

}  // namespace ipctrace
