#include "app/session.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <cstdlib>
#include <utility>

#include "base/text.h"
#include "kernel/open_files.h"
#include "kernel/probe.h"

namespace ipctrace {

namespace {

// Probes, checks the agent can run here, and starts a tracer with the hooks chosen (`hooks`:
// "auto" or a family to force).
Result<std::unique_ptr<Tracer>> start_tracing(const std::string& hooks, const TracerConfig& config) {
  ProbeOptions po;
  if (hooks != "auto") po.force_family = parse_family(hooks);
  const ProbeReport report = run_probe(po);
  if (!report.agent_can_run()) {
    return Error::msg(fmt::format("cannot trace here: {}", fmt::join(report.blockers(), "; ")));
  }
  for (const auto& h : report.hooks) {
    if (!h.family) spdlog::warn("no usable hook for {}: it is not traced", mechanism_name(h.mechanism));
  }
  return Tracer::start(config, report.hooks);
}

}  // namespace

Result<std::unique_ptr<Session>> Session::start(const SessionOptions& options) {
  TracerConfig config = options.tracer;
  config.cgroup_events = true;  // read by the CgroupWatch below
  if (config.self_tgid == 0) config.self_tgid = static_cast<uint32_t>(getpid());
  auto tracer = start_tracing(options.hooks, config);
  if (!tracer) return tracer.error();
  std::unique_ptr<Session> s(new Session());
  s->hooks_ = (*tracer)->hooks();
  IdentityResolver::Options ro;
  ro.host_root = options.host_root;
  ro.containerd_state = options.containerd_state;
  s->resolver_ = std::make_unique<IdentityResolver>(ro);
  CollectorOptions co;
  co.host_root = options.host_root;
  co.idle_timeout = options.idle_timeout;
  s->collector_ = std::make_unique<Collector>(std::move(tracer).value(), co);
  if (auto lister = OpenFileLister::load()) {
    s->collector_->set_open_files(std::move(lister).value());
  } else {
    spdlog::warn(
        "closed channels are released only when single-use, else after --idle-timeout (counted in "
        "ipctrace_open_file_lists_total{{result=\"unavailable\"}}): {}",
        lister.error().message());
  }
  s->node_ = node_name();
  s->kernel_ = kernel_release();
  s->started_ = std::chrono::steady_clock::now();
  if (s->collector_->tracer().cgroup_events()) {
    s->watch_ = std::make_unique<CgroupWatch>(s->collector_->tracer(), *s->resolver_);
  }
  return s;
}

Status Session::collect(std::chrono::steady_clock::time_point now) {
  Status st = collector_->collect();
  if (st) log_folded(now);
  return st;
}

void Session::log_folded(std::chrono::steady_clock::time_point now) {
  const std::map<uint64_t, uint64_t> totals = collector_->folded_messages();
  std::map<uint64_t, FoldedLog> kept;  // cgroups whose folded flows the collector forgot go
  for (const auto& [cgroup, total] : totals) {
    FoldedLog l = folded_log_.contains(cgroup) ? folded_log_[cgroup] : FoldedLog{};
    if (total < l.logged) l.logged = total;  // one of its folded flows went idle and was forgotten
    const bool due = l.logged == 0 || now - l.at >= std::chrono::minutes(1);
    if (total > l.logged && due) {
      spdlog::warn(
          "flows: {} operations of {} folded (a full flow table, or its share of one): its totals are exact, their "
          "channels and peers not kept (ipctrace_ipc_folded_messages_total)",
          total - l.logged, visible(resolver_->resolve(cgroup).display()));
      l = {total, now};
    }
    kept[cgroup] = l;
  }
  folded_log_ = std::move(kept);
}

Namer Session::namer() {
  return [resolver = resolver_.get()](uint64_t id) { return resolver->resolve(id); };
}

void Session::name_endpoints() {
  for (const FlowState* f : collector_->flow_refs()) {
    for (const EndpointRef* r : {&f->flow.src, &f->flow.dst}) {
      if (r->type == EndpointRef::Type::Cgroup) resolver_->resolve(r->cgroup_id);
    }
  }
}

FlowsReport Session::report(const Filters& filters) {
  FlowsReport report;
  report.node = node_;
  report.kernel = kernel_;
  report.duration_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
  std::vector<const FlowState*> flows = collector_->flow_refs();
  for (const FlowState* f : collector_->released_flow_refs()) flows.push_back(f);
  report.flows = filter_flows(aggregate_flows(flows, namer()), filters);
  report.waits = collector_->waits();
  report.drops = collector_->drops();
  report.hooks = hooks_;
  return report;
}

std::string node_name() {
  if (const char* n = std::getenv("NODE_NAME"); n != nullptr && *n != 0) return n;
  char host[256] = {};
  if (gethostname(host, sizeof(host) - 1) != 0) return "?";
  return host;
}

std::string kernel_release() {
  struct utsname u {};
  if (uname(&u) != 0) return "?";
  return u.release;
}

}  // namespace ipctrace
