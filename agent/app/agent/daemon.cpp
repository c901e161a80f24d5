// `ipctrace agent`: the daemon. Loads the programs, collects on an interval, and serves /metrics,
// /api/v1/flows, /healthz and /readyz (app/agent/http_api.h) from one civetweb server (the library
// prometheus-cpp's own exposer is built on).
#include <CivetServer.h>
#include <arpa/inet.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <chrono>
#include <memory>
#include <optional>

#include "app/agent/http_api.h"
#include "app/agent/http_security.h"
#include "app/commands.h"
#include "app/session.h"
#include "app/version.h"
#include "base/fd.h"
#include "base/stop.h"
#include "exporters/flows_format.h"
#include "exporters/json_text.h"
#include "exporters/metrics.h"
#include "kernel/facts.h"

namespace ipctrace {
namespace {

// Binds the address once ourselves, so "in use" or "cannot assign" is reported with the errno
// rather than civetweb's generic failure.
Status check_can_listen(const ListenAddress& a) {
  const bool v6 = a.host.find(':') != std::string::npos;
  const Fd fd(socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (fd.get() < 0) return Error::from_errno("socket");
  const int one = 1;
  setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  int rc = 0;
  if (v6) {
    sockaddr_in6 sa{};
    sa.sin6_family = AF_INET6;
    sa.sin6_port = htons(a.port);
    if (inet_pton(AF_INET6, a.host.c_str(), &sa.sin6_addr) != 1) return Error::msg("not an IPv6 address: " + a.host);
    rc = bind(fd.get(), reinterpret_cast<sockaddr*>(&sa), sizeof(sa));
  } else {
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(a.port);
    const std::string host = a.host.empty() ? "0.0.0.0" : a.host;
    if (inet_pton(AF_INET, host.c_str(), &sa.sin_addr) != 1) return Error::msg("not an IPv4 address: " + host);
    rc = bind(fd.get(), reinterpret_cast<sockaddr*>(&sa), sizeof(sa));
  }
  if (rc != 0) return Error::from_errno("bind");
  return Ok{};
}

// civetweb's listening_ports entry; "s" makes it an HTTPS port.
std::string civet_port(const ListenAddress& a, bool tls) {
  const char* suffix = tls ? "s" : "";
  if (a.host.find(':') != std::string::npos) return fmt::format("[{}]:{}{}", a.host, a.port, suffix);
  return fmt::format("{}:{}{}", a.host.empty() ? "0.0.0.0" : a.host, a.port, suffix);
}

// civetweb's init_ssl callback: our certificate and key into its SSL_CTX. The server passes
// itself as user data; the TlsFiles are its user context.
int init_tls(void* ssl_ctx, void* user_data) {
  const auto* server = static_cast<const CivetServer*>(user_data);
  const auto* files = static_cast<const TlsFiles*>(server->getUserContext());
  if (files == nullptr) return -1;
  return configure_tls_context(ssl_ctx, *files);
}

// What protects the endpoints, checked before anything is loaded: a bad users file or certificate
// is a configuration error, and the agent never serves unprotected what it was asked to protect.
struct Protection {
  std::optional<BasicAuth> auth;
  TlsFiles tls;
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
    if (Status st = check_tls(p.tls); !st) return st.error();
  }
  return p;
}

// The server, its handlers and what they serve.
struct Server {
  Server(const MetricsExporter& exporter, const Protection& p)
      : metrics(exporter, p.auth ? &*p.auth : nullptr),
        flows(published, p.auth ? &*p.auth : nullptr),
        ready(published) {}
  Published published;
  MetricsHandler metrics;
  FlowsHandler flows;
  HealthHandler health;
  ReadyHandler ready;
  std::unique_ptr<CivetServer> civet;  // last: stopped first
};

Status serve(Server& s, const ListenAddress& listen, const Protection& p) {
  try {
    const std::vector<std::string> options = {
        "listening_ports", civet_port(listen, p.use_tls), "num_threads", "4", "request_timeout_ms", "10000"};
    CivetCallbacks callbacks{};
    if (p.use_tls) callbacks.init_ssl = init_tls;
    s.civet = std::make_unique<CivetServer>(options, &callbacks, p.use_tls ? &p.tls : nullptr);
  } catch (const std::exception& e) {
    return Error::msg(e.what());
  }
  s.civet->addHandler("/metrics", s.metrics);
  s.civet->addHandler("/api/v1/flows", s.flows);
  s.civet->addHandler("/healthz", s.health);
  s.civet->addHandler("/readyz", s.ready);
  return Ok{};
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
  cycle.flows = session.collector().flows();
  cycle.waits = session.collector().waits();
  cycle.drops = session.collector().drops();
  cycle.stats = stats;
  cycle.hooks = session.hooks();
  cycle.identity_errors = session.resolver().resolve_errors();
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
  if (Status st = check_can_listen(*listen); !st) {
    spdlog::error("agent: cannot listen on {}: {}", o.listen, st.error().message());
    return kExitFailure;
  }
  const StopSignal stop;
  SessionOptions so;
  so.hooks = o.hooks;
  so.tracer.flow_map_entries = o.flow_map_entries;
  so.tracer.wait_time = !o.no_wait_time;
  so.host_root = cli.global.host_root;
  so.idle_timeout = o.idle_timeout;
  auto session = Session::start(so);
  if (!session) {
    spdlog::error("agent: {}", session.error().message());
    return kExitFailure;
  }
  MetricsOptions mo;
  mo.max_series = o.max_series;
  mo.idle_timeout = o.idle_timeout;
  MetricsExporter exporter(mo, BuildInfo{build::kVersion, build::kCommit, (*session)->kernel(), libbpf_version()});
  Server server(exporter, *protection);
  if (Status st = serve(server, *listen, *protection); !st) {
    spdlog::error("agent: cannot serve on {}: {}", o.listen, st.error().message());
    return kExitFailure;
  }
  const std::vector<int> ports = server.civet->getListeningPorts();
  spdlog::info(
      "agent: serving /metrics, /api/v1/flows, /healthz, /readyz over {} on {} (port {}){}; collecting every {}",
      protection->use_tls ? "HTTPS" : "HTTP", o.listen, ports.empty() ? 0 : ports[0],
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
    collect_and_publish(**session, exporter, server.published);
  }
  // Programs first: the tracer detaches every one as it goes. Then the server, which civetweb
  // takes up to two seconds to wind down.
  spdlog::info("agent: stopping");
  session->reset();
  spdlog::info("agent: programs detached");
  server.civet.reset();
  return kExitOk;
}

}  // namespace ipctrace
