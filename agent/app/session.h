// A command session: what every tracing command (agent, flows, top, trace) does before and while it
// traces. Start: probe this kernel, check the agent can run here (privileges, BTF, a hook), start
// the tracer with the hooks chosen, a collector over it and an identity resolver. Then: collect,
// and make the flows report (aggregated, named, filtered).
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "app/cgroup_watch.h"
#include "base/duration.h"
#include "base/error.h"
#include "identity/resolver.h"
#include "kernel/tracer.h"
#include "model/collector.h"
#include "model/filter.h"
#include "model/report.h"

namespace ipctrace {

struct SessionOptions {
  std::string hooks = "auto";  // "auto", or the hook family to force (kernel/hooks.h)
  TracerConfig tracer;         // self_tgid is set to this process if left 0
  std::string host_root = "/";
  std::vector<std::string> containerd_state{};      // containerd's state directories (identity/runtimes.h)
  Duration idle_timeout = std::chrono::minutes(5);  // flows idle this long are forgotten
};

class Session {
 public:
  // Errors say what stands in the way: "cannot trace here: missing privileges: CAP_BPF ...",
  // or the tracer's step that failed. Mechanisms without a usable hook are a warning each.
  static Result<std::unique_ptr<Session>> start(const SessionOptions& options);

  // One collection (Collector::collect). Then, at most once a minute per container, a warning
  // naming each container whose operations were folded since (a full flow table: model/flows.h
  // EndpointRef::Type::Other), with how many.
  Status collect(std::chrono::steady_clock::time_point now = std::chrono::steady_clock::now());
  // Names every endpoint of the flows held now: a short-lived container can be gone when the
  // report is made.
  void name_endpoints();
  // The flows report of what was collected, with the time since the session started.
  FlowsReport report(const Filters& filters);

  [[nodiscard]] Tracer& tracer() { return collector_->tracer(); }
  [[nodiscard]] Collector& collector() { return *collector_; }
  [[nodiscard]] IdentityResolver& resolver() { return *resolver_; }
  // Names containers as their cgroups are made; nullptr where the tracer has no cgroup events.
  [[nodiscard]] const CgroupWatch* cgroup_watch() const { return watch_.get(); }
  [[nodiscard]] Namer namer();
  [[nodiscard]] const std::vector<AttachedHook>& hooks() const { return hooks_; }
  [[nodiscard]] const std::string& node() const { return node_; }
  [[nodiscard]] const std::string& kernel() const { return kernel_; }
  [[nodiscard]] std::chrono::steady_clock::time_point started() const { return started_; }

 private:
  Session() = default;
  std::unique_ptr<IdentityResolver> resolver_;
  std::unique_ptr<Collector> collector_;
  std::vector<AttachedHook> hooks_;
  std::string node_;
  std::string kernel_;
  std::chrono::steady_clock::time_point started_;
  // Per cgroup with folded operations: the total last logged and when.
  struct FoldedLog {
    uint64_t logged = 0;
    std::chrono::steady_clock::time_point at{};
  };
  std::map<uint64_t, FoldedLog> folded_log_;
  void log_folded(std::chrono::steady_clock::time_point now);
  std::unique_ptr<CgroupWatch> watch_;  // last: stopped before the collector (its tracer) and resolver go
};

// This node's name for reports: $NODE_NAME (a DaemonSet sets it from the downward API), else the
// host name. And the running kernel's release ("?" if uname fails).
std::string node_name();
std::string kernel_release();

}  // namespace ipctrace
