// `ipctrace agent`: the daemon. Loads the programs, collects on an interval, and serves
// /metrics (Prometheus text), /api/v1/flows (the flows document), /healthz and /readyz from one
// civetweb server (the library prometheus-cpp's own exposer is built on).
#include "agent.h"

#include <CivetServer.h>
#include <arpa/inet.h>
#include <bpf/libbpf.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <thread>

#include "collector.h"
#include "commands.h"
#include "flows_format.h"
#include "http_security.h"
#include "identity.h"
#include "metrics.h"
#include "top.h"
#include "version.h"

namespace ipctrace {

namespace {

std::atomic<bool> g_agent_stop{false};
void on_agent_stop(int /*sig*/) { g_agent_stop.store(true); }

// What the HTTP threads serve, replaced by the collection thread after every cycle.
struct Published {
  std::mutex mu;
  std::string flows_json = R"({"flows": []})";
  bool ready = false;
};

void reply(mg_connection* conn, int status, const char* type, const std::string& body) {
  const char* reason = status == 200 ? "OK" : status == 503 ? "Service Unavailable" : "Error";
  mg_printf(conn,
            "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\nCache-Control: no-store\r\n"
            "Connection: close\r\n\r\n",
            status, reason, type, body.size());
  mg_write(conn, body.data(), body.size());
}

// With basic authentication on, whether the request carries a user's credentials; if not, it
// answers 401 with the challenge and the handler is done.
bool authorized(mg_connection* conn, const BasicAuth* auth) {
  if (auth == nullptr) return true;
  const char* header = mg_get_header(conn, "Authorization");
  if (header != nullptr && auth->check(header)) return true;
  const std::string body = "authentication required\n";
  mg_printf(conn,
            "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"ipctrace\", charset=\"UTF-8\"\r\n"
            "Content-Type: text/plain\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n",
            body.size());
  mg_write(conn, body.data(), body.size());
  return false;
}

class MetricsHandler : public CivetHandler {
 public:
  MetricsHandler(const MetricsExporter& exporter, const BasicAuth* auth) : exporter_(exporter), auth_(auth) {}
  bool handleGet(CivetServer* /*server*/, mg_connection* conn) override {
    if (!authorized(conn, auth_)) return true;
    reply(conn, 200, "text/plain; version=0.0.4; charset=utf-8", exporter_.scrape());
    return true;
  }

 private:
  const MetricsExporter& exporter_;
  const BasicAuth* auth_;
};

// /api/v1/flows[?kind=..&namespace=..&pod=..&container=..&pid=..]: the same document as
// `ipctrace flows --output json`, filtered like the command line (repeat a key for several).
class FlowsHandler : public CivetHandler {
 public:
  FlowsHandler(Published& published, const BasicAuth* auth) : published_(published), auth_(auth) {}
  bool handleGet(CivetServer* /*server*/, mg_connection* conn) override {
    if (!authorized(conn, auth_)) return true;
    std::string body;
    {
      std::lock_guard<std::mutex> lock(published_.mu);
      body = published_.flows_json;
    }
    const mg_request_info* info = mg_get_request_info(conn);
    if (info != nullptr && info->query_string != nullptr && *info->query_string != 0) {
      Filters f;
      const std::string query = info->query_string;
      size_t start = 0;
      while (start < query.size()) {
        size_t end = query.find('&', start);
        if (end == std::string::npos) end = query.size();
        const std::string pair = query.substr(start, end - start);
        start = end + 1;
        const size_t eq = pair.find('=');
        if (eq == std::string::npos) continue;
        std::string value(pair.size() - eq, '\0');
        const int n = mg_url_decode(pair.c_str() + eq + 1, static_cast<int>(pair.size() - eq - 1), value.data(),
                                    static_cast<int>(value.size()), 1);
        value.resize(n < 0 ? 0 : static_cast<size_t>(n));
        const std::string key = pair.substr(0, eq);
        if (key == "kind") f.kinds.push_back(value);
        if (key == "namespace") f.namespaces.push_back(value);
        if (key == "pod") f.pods.push_back(value);
        if (key == "container") f.containers.push_back(value);
        if (key == "pid") {
          try {
            f.pids.push_back(std::stoi(value));
          } catch (const std::exception&) {
            reply(conn, 400, "text/plain", "pid must be a number\n");
            return true;
          }
        }
      }
      nlohmann::json doc = nlohmann::json::parse(body);
      filter_document(doc, f);
      body = doc.dump();
    }
    reply(conn, 200, "application/json", body);
    return true;
  }

 private:
  Published& published_;
  const BasicAuth* auth_;
};

class HealthHandler : public CivetHandler {
 public:
  bool handleGet(CivetServer* /*server*/, mg_connection* conn) override {
    reply(conn, 200, "text/plain", "ok\n");
    return true;
  }
};

class ReadyHandler : public CivetHandler {
 public:
  explicit ReadyHandler(Published& published) : published_(published) {}
  bool handleGet(CivetServer* /*server*/, mg_connection* conn) override {
    bool ready = false;
    {
      std::lock_guard<std::mutex> lock(published_.mu);
      ready = published_.ready;
    }
    if (ready) {
      reply(conn, 200, "text/plain", "ready\n");
    } else {
      reply(conn, 503, "text/plain", "not ready: the first collection has not run yet\n");
    }
    return true;
  }

 private:
  Published& published_;
};

// Binds the address once ourselves, so "in use" or "cannot assign" is reported with the errno
// rather than civetweb's generic failure.
Status check_can_listen(const ListenAddress& a) {
  const bool v6 = a.host.find(':') != std::string::npos;
  const int fd = socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Error::from_errno("socket");
  const int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  int rc = 0;
  if (v6) {
    sockaddr_in6 sa{};
    sa.sin6_family = AF_INET6;
    sa.sin6_port = htons(a.port);
    if (inet_pton(AF_INET6, a.host.c_str(), &sa.sin6_addr) != 1) {
      close(fd);
      return Error::msg("not an IPv6 address: " + a.host);
    }
    rc = bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa));
  } else {
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(a.port);
    const std::string host = a.host.empty() ? "0.0.0.0" : a.host;
    if (inet_pton(AF_INET, host.c_str(), &sa.sin_addr) != 1) {
      close(fd);
      return Error::msg("not an IPv4 address: " + host);
    }
    rc = bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa));
  }
  const int err = errno;
  close(fd);
  if (rc != 0) return Error(err, "bind");
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

}  // namespace

int run_agent_command(const Cli& cli) {
  const AgentOptions& o = cli.agent;
  auto listen = parse_listen(o.listen);
  if (!listen) {
    spdlog::error("agent: --listen {}: {}", o.listen, listen.error().message());
    return kExitUsage;
  }
  // Protection is checked before anything is loaded: a bad users file or certificate is a
  // configuration error, and the agent never serves unprotected what it was asked to protect.
  std::optional<BasicAuth> auth;
  if (!o.basic_auth_file.empty()) {
    auto loaded = BasicAuth::load(o.basic_auth_file);
    if (!loaded) {
      spdlog::error("agent: --basic-auth-file: {}", loaded.error().message());
      return kExitUsage;
    }
    auth = std::move(loaded).value();
  }
  const TlsFiles tls{o.tls_cert, o.tls_key};
  const bool use_tls = !o.tls_cert.empty() || !o.tls_key.empty();
  if (use_tls) {
    if (Status st = check_tls(tls); !st) {
      spdlog::error("agent: {}", st.error().message());
      return kExitUsage;
    }
  }
  if (Status st = check_can_listen(*listen); !st) {
    spdlog::error("agent: cannot listen on {}: {}", o.listen, st.error().message());
    return kExitFailure;
  }

  struct sigaction sa {};
  sa.sa_handler = on_agent_stop;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);

  TracerConfig config;
  config.self_tgid = static_cast<uint32_t>(getpid());
  config.flow_map_entries = o.flow_map_entries;
  config.wait_time = !o.no_wait_time;
  auto tracer = start_tracing(o.hooks, config);
  if (!tracer) {
    spdlog::error("agent: {}", tracer.error().message());
    return kExitFailure;
  }
  const std::vector<AttachedHook> hooks = (*tracer)->hooks();

  IdentityResolver::Options ro;
  ro.host_root = cli.global.host_root;
  IdentityResolver resolver(ro);
  CollectorOptions co;
  co.host_root = cli.global.host_root;
  co.idle_timeout = o.idle_timeout;
  auto collector = std::make_unique<Collector>(std::move(*tracer), co);

  MetricsOptions mo;
  mo.max_series = o.max_series;
  mo.idle_timeout = o.idle_timeout;
  const BuildInfo build{build::kVersion, build::kCommit, kernel_release(),
                        fmt::format("{}.{}", libbpf_major_version(), libbpf_minor_version())};
  MetricsExporter exporter(mo, build);
  Published published;

  std::unique_ptr<CivetServer> server;
  const BasicAuth* auth_ptr = auth ? &*auth : nullptr;
  MetricsHandler metrics_handler(exporter, auth_ptr);
  FlowsHandler flows_handler(published, auth_ptr);
  HealthHandler health_handler;
  ReadyHandler ready_handler(published);
  try {
    const std::vector<std::string> options = {
        "listening_ports", civet_port(*listen, use_tls), "num_threads", "4", "request_timeout_ms", "10000"};
    CivetCallbacks callbacks{};
    if (use_tls) callbacks.init_ssl = init_tls;
    server = std::make_unique<CivetServer>(options, &callbacks, use_tls ? &tls : nullptr);
  } catch (const std::exception& e) {
    spdlog::error("agent: cannot serve on {}: {}", o.listen, e.what());
    return kExitFailure;
  }
  server->addHandler("/metrics", metrics_handler);
  server->addHandler("/api/v1/flows", flows_handler);
  server->addHandler("/healthz", health_handler);
  server->addHandler("/readyz", ready_handler);
  const std::vector<int> ports = server->getListeningPorts();
  spdlog::info(
      "agent: serving /metrics, /api/v1/flows, /healthz, /readyz over {} on {} (port {}){}; collecting every {}",
      use_tls ? "HTTPS" : "HTTP", o.listen, ports.empty() ? 0 : ports[0],
      auth ? fmt::format(", basic authentication for {} user(s) on /metrics and /api/v1/flows", auth->users()) : "",
      format_duration(o.interval));

  const Namer namer = [&resolver](uint64_t id) { return resolver.resolve(id); };
  const auto started = std::chrono::steady_clock::now();
  auto next = started;
  while (!g_agent_stop.load()) {
    const auto now = std::chrono::steady_clock::now();
    if (now < next) {
      std::this_thread::sleep_for(
          std::min<std::chrono::steady_clock::duration>(next - now, std::chrono::milliseconds(50)));
      continue;
    }
    next += o.interval;
    if (next < now) next = now + o.interval;  // a slow cycle: do not try to catch up
    if (Status st = collector->collect(); !st) {
      spdlog::warn("agent: collection failed: {}", st.error().message());
      continue;
    }
    MetricsCycle cycle;
    cycle.flows = collector->flows();
    cycle.waits = collector->waits();
    cycle.drops = collector->drops();
    cycle.stats = collector->stats();
    cycle.hooks = hooks;
    cycle.identity_errors = resolver.resolve_errors();
    cycle.now = std::chrono::steady_clock::now();
    exporter.update(cycle, namer);

    FlowsReport report;
    report.node = node_name();
    report.kernel = build.kernel;
    report.duration_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    report.flows = aggregate_flows(cycle.flows);
    report.waits = cycle.waits;
    report.drops = cycle.drops;
    report.hooks = hooks;
    std::string doc = flows_to_json(report, namer).dump();
    {
      std::lock_guard<std::mutex> lock(published.mu);
      published.flows_json = std::move(doc);
      published.ready = true;
    }
  }
  // Programs first: the collector's tracer detaches every one as it goes. Then the server,
  // which civetweb takes up to two seconds to wind down.
  spdlog::info("agent: stopping");
  collector.reset();
  spdlog::info("agent: programs detached");
  server.reset();
  return kExitOk;
}

}  // namespace ipctrace
