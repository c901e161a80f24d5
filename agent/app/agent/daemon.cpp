// `ipctrace agent`: the daemon. Loads the programs, collects on an interval, and serves /metrics,
// /api/v1/flows, /healthz and /readyz (app/agent/http_api.h) from app/agent/http_server.h.
#include <fmt/format.h>
#include <malloc.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <map>
#include <memory>
#include <optional>

#include "app/agent/http_api.h"
#include "app/agent/http_security.h"
#include "app/agent/http_server.h"
#include "app/commands.h"
#include "app/session.h"
#include "app/version.h"
#include "base/stop.h"
#include "exporters/flows_format.h"
#include "exporters/json_text.h"
#include "exporters/metrics.h"
#include "kernel/facts.h"

namespace ipctrace {
namespace {

// What protects the endpoints, checked before anything is loaded: a bad users file or certificate
// is a configuration error, and the agent never serves unprotected what it was asked to protect.
struct Protection {
  std::optional<BasicAuth> auth;
  TlsFiles tls;
  HttpTls pem;  // the files' contents, as the server takes them
  bool use_tls = false;
};

Result<Protection> load_protection(const AgentOptions& o) {
  Protection p;
  if (!o.basic_auth_file.empty()) {
    auto loaded = BasicAuth::load(o.basic_auth_file);
    if (!loaded) return Error::msg("--basic-auth-file: " + loaded.error().message());
    p.auth = std::move(loaded).value();
  }
  p.tls = TlsFiles{o.tls_cert, o.tls_key};
  p.use_tls = !o.tls_cert.empty() || !o.tls_key.empty();
  if (p.use_tls) {
    // What the server serves is what was checked: the files' bytes, read once.
    auto pem = check_tls(p.tls);
    if (!pem) return pem.error();
    p.pem = HttpTls{std::move(pem->cert), std::move(pem->key)};
  }
  return p;
}

Result<std::unique_ptr<HttpServer>> serve(const MetricsExporter& exporter, const Published& published,
                                          const ListenAddress& listen, const Protection& p) {
  HttpServerOptions so;
  so.host = listen.host;
  so.port = listen.port;
  so.tls = p.use_tls;
  so.tls_files = p.pem;
  return HttpServer::start(so, api_routes(exporter, published, p.auth ? &*p.auth : nullptr));
}

std::map<std::string, uint64_t> http_rejections(const HttpServer& server) {
  const HttpServerStats s = server.stats();
  return {{"request_timeout", s.request_timeouts},
          {"connection_limit", s.evicted},
          {"lifetime", s.lifetime_exceeded},
          {"busy", s.busy}};
}

// One collection: the metrics, the flows document and readiness, or the failure counted.
void collect_and_publish(Session& session, MetricsExporter& exporter, Published& published) {
  const Status st = session.collect();
  const CollectorStats& stats = session.collector().stats();
  if (!st) {
    spdlog::warn("agent: collection failed: {}", st.error().message());
    exporter.update_failed(stats);
    published.set_readiness(readiness(stats.cycles, stats.failed_in_a_row, st.error().message()));
    return;
  }
  MetricsCycle cycle;
  cycle.flows = session.collector().flow_refs();
  cycle.waits = session.collector().waits();
  cycle.drops = session.collector().drops();
  cycle.stats = stats;
  cycle.hooks = session.hooks();
  cycle.identity_errors = session.resolver().resolve_errors();
  cycle.channel_paths = session.collector().path_stats();
  if (const CgroupWatch* watch = session.cgroup_watch()) {
    const CgroupWatch::Stats w = watch->stats();
    cycle.cgroup_watch = {{"made", w.cgroups},
                          {"named_late", w.named_late},
                          {"unusable_path", w.unusable_path},
                          {"backlog_full", w.backlog_full}};
  }
  cycle.now = std::chrono::steady_clock::now();
  exporter.update(cycle, session.namer());
  FlowsReport report = session.report(Filters{});
  std::string doc = json_text(flows_to_json(report));
  published.publish(std::move(report), std::move(doc));
  published.set_readiness(readiness(stats.cycles, stats.failed_in_a_row, {}));
}

}  // namespace

int run_agent_command(const Cli& cli) {
  const AgentOptions& o = cli.agent;
  auto parsed = parse_listen(o.listen);
  auto listen = parsed ? resolve_listen(*parsed) : parsed;
  if (!listen) {
    spdlog::error("agent: --listen {}: {}", o.listen, listen.error().message());
    return kExitUsage;
  }
  auto protection = load_protection(o);
  if (!protection) {
    spdlog::error("agent: {}", protection.error().message());
    return kExitUsage;
  }
  const StopSignal stop;
  // Serving before the programs load: an address in use is reported at once, and /healthz answers
  // while they load (/readyz does not until the first collection).
  Published published;
  MetricsOptions mo;
  mo.max_series = o.max_series;
  mo.idle_timeout = o.idle_timeout;
  MetricsExporter exporter(mo, BuildInfo{build::kVersion, build::kCommit, kernel_release(), libbpf_version()});
  auto served = serve(exporter, published, *listen, *protection);
  if (!served) {
    spdlog::error("agent: cannot listen on {}: {}", o.listen, served.error().message());
    return kExitFailure;
  }
  std::unique_ptr<HttpServer> server = std::move(served).value();
  SessionOptions so;
  so.hooks = o.hooks;
  so.tracer.flow_map_entries = o.flow_map_entries;
  so.tracer.wait_time = !o.no_wait_time;
  so.host_root = cli.global.host_root;
  so.containerd_state = cli.global.containerd_state;
  so.idle_timeout = o.idle_timeout;
  auto session = Session::start(so);
  if (!session) {
    spdlog::error("agent: {}", session.error().message());
    return kExitFailure;
  }
  const KernelMemory memory = (*session)->tracer().memory();  // what it loaded, within kKernelMapBudgetBytes
  spdlog::info(
      "agent: kernel maps about {:.1f} MiB (at most {} MiB) for {} possible CPUs: flow tables of {} entries per CPU; "
      "this agent's RSS about {:.1f} MiB at most ({} flows kept)",
      static_cast<double>(memory.kernel_map_bytes) / (1 << 20), memory.budget_bytes >> 20, memory.possible_cpus,
      memory.cpu_table_entries, static_cast<double>(memory.agent_rss_bytes()) / (1 << 20), memory.flow_map_entries);
  spdlog::info(
      "agent: serving /metrics, /api/v1/flows, /healthz, /readyz over {} on {} (port {}; at most {} connections){}; "
      "collecting every {}",
      protection->use_tls ? "HTTPS" : "HTTP", o.listen, server->port(), server->max_connections(),
      protection->auth ? fmt::format(", basic authentication for {} user(s) on /metrics and /api/v1/flows",
                                     protection->auth->users())
                       : "",
      format_duration(o.interval));

  auto next = std::chrono::steady_clock::now();
  while (!stop.requested()) {
    const auto now = std::chrono::steady_clock::now();
    if (now < next) {
      (void)stop.sleep_for(std::min<Duration>(next - now, std::chrono::milliseconds(50)));
      continue;
    }
    next += o.interval;
    if (next < now) next = now + o.interval;  // a slow cycle: do not try to catch up
    exporter.update_http(http_rejections(*server));
    collect_and_publish(**session, exporter, published);
    // A collection's temporaries (the join of every kept flow) are freed in the middle of the
    // heap, where glibc keeps them resident: handed back to the kernel, so that the agent's RSS
    // is what it holds, not the largest collection's leftovers.
    malloc_trim(0);
  }
  // Programs first: the tracer detaches every one as it goes. Then the server.
  spdlog::info("agent: stopping");
  session->reset();
  spdlog::info("agent: programs detached");
  server.reset();
  return kExitOk;
}

}  // namespace ipctrace
