#include "commands.h"

#include <bpf/libbpf.h>
#include <fmt/format.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <iostream>
#include <nlohmann/json.hpp>
#include <thread>

#include "collector.h"
#include "flows_format.h"
#include "identity.h"
#include "probe.h"
#include "probe_format.h"
#include "version.h"

namespace ipctrace {

int run_probe_command(const Cli& cli) {
  ProbeOptions options;
  if (cli.probe.hooks != "auto") options.force_family = parse_family(cli.probe.hooks);
  const ProbeReport report = run_probe(options);
  if (cli.probe.output == "json") {
    std::cout << probe_to_json(report).dump(2) << "\n";
  } else {
    std::cout << probe_to_text(report);
  }
  std::cout.flush();
  if (!report.agent_can_run()) {
    spdlog::error("probe: the agent cannot run here: {}", fmt::join(report.blockers(), "; "));
    return kExitFailure;
  }
  for (const auto& h : report.hooks) {
    if (!h.family) spdlog::warn("probe: no usable hook for {}: it would not be traced", mechanism_name(h.mechanism));
  }
  return kExitOk;
}

int run_version_command(const Cli& cli) {
  struct utsname u {};
  uname(&u);
  const std::string libbpf = fmt::format("{}.{}", libbpf_major_version(), libbpf_minor_version());
  if (cli.version.output == "json") {
    nlohmann::json j = {{"version", build::kVersion},   {"commit", build::kCommit}, {"build_type", build::kBuildType},
                        {"compiler", build::kCompiler}, {"libbpf", libbpf},         {"kernel", u.release}};
    std::cout << j.dump(2) << "\n";
  } else {
    std::cout << fmt::format("ipctrace {} (commit {}, {} build, {}, libbpf {}; running on Linux {})\n", build::kVersion,
                             build::kCommit, build::kBuildType, build::kCompiler, libbpf, u.release);
  }
  return kExitOk;
}

namespace {

std::atomic<bool> g_stop{false};

void on_stop_signal(int /*sig*/) { g_stop.store(true); }

// SIGINT/SIGTERM end a timed command early: it still reports what it saw.
void install_stop_handlers() {
  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
}

}  // namespace

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

int run_flows_command(const Cli& cli) {
  const FlowsOptions& o = cli.flows;
  TracerConfig config;
  config.self_tgid = static_cast<uint32_t>(getpid());
  auto tracer = start_tracing(o.hooks, config);
  if (!tracer) {
    spdlog::error("flows: {}", tracer.error().message());
    return kExitFailure;
  }
  std::vector<AttachedHook> hooks = (*tracer)->hooks();
  CollectorOptions co;
  co.idle_timeout = o.duration + std::chrono::minutes(1);  // nothing expires during the run
  co.host_root = cli.global.host_root;
  Collector collector(std::move(tracer).value(), co);
  IdentityResolver::Options io;
  io.host_root = cli.global.host_root;
  IdentityResolver resolver(io);

  install_stop_handlers();
  const auto start = std::chrono::steady_clock::now();
  const auto end = start + o.duration;
  spdlog::info("flows: tracing for {} (Ctrl-C to stop early)", format_duration(o.duration));
  while (!g_stop.load()) {
    const auto now = std::chrono::steady_clock::now();
    if (now >= end) break;
    const auto step = std::min<std::chrono::steady_clock::duration>(end - now, std::chrono::seconds(1));
    // Sleep in small steps so a signal ends the run at once.
    for (auto slept = std::chrono::steady_clock::duration{0}; slept < step && !g_stop.load();
         slept += std::chrono::milliseconds(50)) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    if (auto st = collector.collect(); !st) {
      spdlog::error("flows: {}", st.error().message());
      return kExitFailure;
    }
    // Name endpoints while they exist: short-lived containers are gone by the end.
    for (const auto& f : collector.flows()) {
      for (const EndpointRef* r : {&f.flow.src, &f.flow.dst}) {
        if (r->type == EndpointRef::Type::Cgroup) resolver.resolve(r->cgroup_id);
      }
    }
  }
  if (auto st = collector.collect(); !st) {
    spdlog::error("flows: {}", st.error().message());
    return kExitFailure;
  }
  const Namer namer = [&resolver](uint64_t id) { return resolver.resolve(id); };
  FlowsReport report;
  report.duration_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  report.node = node_name();
  report.kernel = kernel_release();
  report.flows = filter_flows(aggregate_flows(collector.flows()), o.filters, namer);
  report.waits = collector.waits();
  report.drops = collector.drops();
  report.hooks = hooks;
  if (o.output == "json") {
    std::cout << flows_to_json(report, namer).dump(2) << "\n";
  } else {
    std::cout << flows_to_table(report, namer);
  }
  std::cout.flush();
  return kExitOk;
}

}  // namespace ipctrace
