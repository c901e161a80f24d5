#include "app/agent/http_server.h"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <condition_variable>
#include <cstdarg>
#include <cstring>
#include <deque>
#include <list>
#include <mutex>
#include <thread>

#include "base/fd.h"

namespace ipctrace {
namespace {

using Clock = std::chrono::steady_clock;

// Descriptors kept for everything but connections: the programs' maps and links, /proc and state
// files, the listening socket, the workers' and libmicrohttpd's own.
constexpr size_t kReservedFds = 256;
constexpr size_t kMinConnections = 16;
// How often the loop looks for connections past their deadlines, and how often it logs what it closed.
constexpr auto kSweepInterval = std::chrono::milliseconds(100);
constexpr auto kReportInterval = std::chrono::seconds(60);

enum class Phase { kNew, kRunning, kDone };

// One request (libmicrohttpd's per-request context): created when its request line arrives,
// deleted when the request completes.
struct Request {
  HttpRequest http;
  Phase phase = Phase::kNew;
  HttpResponse response;  // kDone: what to send (written by a worker before it resumes the connection)
};

// One connection (libmicrohttpd's per-socket context), in accept order.
struct Connection {
  int fd = -1;
  Clock::time_point accepted;
  bool requested = false;  // a whole request arrived
  bool closing = false;    // shut down by us; libmicrohttpd closes it on its next pass
  std::list<Connection*>::iterator pos;
};

// The descriptor budget for connections: RLIMIT_NOFILE's soft limit raised to its hard limit.
size_t connection_budget(size_t wanted) {
  rlimit lim{};
  if (getrlimit(RLIMIT_NOFILE, &lim) != 0) return wanted;
  if (lim.rlim_cur < lim.rlim_max) {
    rlimit raised = lim;
    raised.rlim_cur = lim.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &raised) == 0) lim = raised;
  }
  if (lim.rlim_cur == RLIM_INFINITY) return wanted;
  const size_t fds = lim.rlim_cur;
  const size_t room = fds > kReservedFds + kMinConnections ? fds - kReservedFds : kMinConnections;
  return std::min(wanted, room);
}

Result<Fd> listen_socket(const std::string& host, uint16_t port, size_t backlog) {
  const bool v6 = host.find(':') != std::string::npos;
  Fd fd(socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (fd.get() < 0) return Error::from_errno("socket");
  const int one = 1;
  setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  int rc = 0;
  if (v6) {
    const int zero = 0;  // "::" takes IPv4 too
    setsockopt(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
    sockaddr_in6 sa{};
    sa.sin6_family = AF_INET6;
    sa.sin6_port = htons(port);
    if (inet_pton(AF_INET6, host.c_str(), &sa.sin6_addr) != 1) return Error::msg("not an IPv6 address: " + host);
    rc = bind(fd.get(), reinterpret_cast<sockaddr*>(&sa), sizeof(sa));
  } else {
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    const std::string h = host.empty() ? "0.0.0.0" : host;
    if (inet_pton(AF_INET, h.c_str(), &sa.sin_addr) != 1) return Error::msg("not an IPv4 address: " + h);
    rc = bind(fd.get(), reinterpret_cast<sockaddr*>(&sa), sizeof(sa));
  }
  if (rc != 0) return Error::from_errno("bind");
  if (listen(fd.get(), static_cast<int>(std::min<size_t>(backlog, 4096))) != 0) return Error::from_errno("listen");
  return fd;
}

void log_mhd(void* /*cls*/, const char* fmt, va_list ap) {
  std::array<char, 512> buf{};
  va_list copy;
  va_copy(copy, ap);
  (void)vsnprintf(buf.data(), buf.size(), fmt, copy);  // NOLINT(clang-analyzer-valist.Uninitialized)
  va_end(copy);
  std::string line(buf.data());
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.pop_back();
  spdlog::debug("http: {}", line);
}

}  // namespace

struct HttpServer::Impl {
  HttpServerOptions opt;
  std::vector<HttpRoute> routes;
  size_t max_connections = 0;
  Fd listen_fd;
  uint16_t port = 0;
  MHD_Daemon* daemon = nullptr;

  // The loop thread's own state: connections in accept order.
  std::list<Connection*> connections;
  size_t open = 0;  // connections not closing
  Clock::time_point last_sweep{};
  Clock::time_point last_report{};
  HttpServerStats reported{};

  std::atomic<uint64_t> accepted{0}, request_timeouts{0}, evicted{0}, lifetime_exceeded{0}, busy{0};

  // The workers and their queue.
  struct Job {
    MHD_Connection* connection;
    Request* request;
    const HttpRoute* route;
  };
  std::mutex mu;
  std::condition_variable cv;
  std::deque<Job> jobs;
  bool stopping = false;
  std::vector<std::thread> workers;

  std::atomic<bool> loop_stop{false};
  std::thread loop;

  ~Impl() { stop(); }

  void stop() {
    {
      const std::lock_guard<std::mutex> lock(mu);
      stopping = true;
    }
    cv.notify_all();
    for (auto& w : workers) w.join();  // each answers what it holds and what is queued
    workers.clear();
    loop_stop = true;
    if (loop.joinable()) loop.join();
    if (daemon != nullptr) {
      MHD_stop_daemon(daemon);
      daemon = nullptr;
    }
  }

  [[nodiscard]] HttpServerStats stats() const {
    HttpServerStats s;
    s.connections = accepted.load(std::memory_order_relaxed);
    s.request_timeouts = request_timeouts.load(std::memory_order_relaxed);
    s.evicted = evicted.load(std::memory_order_relaxed);
    s.lifetime_exceeded = lifetime_exceeded.load(std::memory_order_relaxed);
    s.busy = busy.load(std::memory_order_relaxed);
    return s;
  }

  // --- the loop thread ------------------------------------------------------------------------

  void run_loop() {
    while (!loop_stop.load()) {
      (void)MHD_run_wait(daemon, static_cast<int32_t>(kSweepInterval.count()));
      const auto now = Clock::now();
      if (now - last_sweep >= kSweepInterval) {
        sweep(now);
        last_sweep = now;
      }
      if (now - last_report >= kReportInterval) {
        report();
        last_report = now;
      }
    }
  }

  void close_connection(Connection* c, std::atomic<uint64_t>& counter) {
    if (c->closing) return;
    c->closing = true;
    --open;
    counter.fetch_add(1, std::memory_order_relaxed);
    // libmicrohttpd sees the end of the stream on its next pass and closes the connection itself;
    // the descriptor stays ours to name until then (this thread is the only one that closes).
    (void)shutdown(c->fd, SHUT_RDWR);
  }

  void sweep(Clock::time_point now) {
    for (Connection* c : connections) {
      if (c->closing) continue;
      if (!c->requested && now - c->accepted >= opt.limits.request_timeout) {
        close_connection(c, request_timeouts);
      } else if (now - c->accepted >= opt.limits.connection_lifetime) {
        close_connection(c, lifetime_exceeded);
      }
    }
  }

  void report() {
    const HttpServerStats s = stats();
    const uint64_t t = s.request_timeouts - reported.request_timeouts;
    const uint64_t e = s.evicted - reported.evicted;
    const uint64_t l = s.lifetime_exceeded - reported.lifetime_exceeded;
    const uint64_t b = s.busy - reported.busy;
    if (t + e + l + b > 0) {
      spdlog::warn(
          "http: in the last minute, closed {} connection(s) that sent no whole request within {} ms, {} over the "
          "limit of {} connections, {} open longer than {} ms; answered {} request(s) busy (503)",
          t, opt.limits.request_timeout.count(), e, max_connections, l, opt.limits.connection_lifetime.count(), b);
    }
    reported = s;
  }

  void on_connection(MHD_Connection* mc, void** socket_context, MHD_ConnectionNotificationCode code) {
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
      auto* c = new Connection;  // NOLINT(cppcoreguidelines-owning-memory): libmicrohttpd holds it until CLOSED
      const MHD_ConnectionInfo* info = MHD_get_connection_info(mc, MHD_CONNECTION_INFO_CONNECTION_FD);
      c->fd = info != nullptr ? info->connect_fd : -1;
      c->accepted = Clock::now();
      c->pos = connections.insert(connections.end(), c);
      *socket_context = c;
      accepted.fetch_add(1, std::memory_order_relaxed);
      ++open;
      if (open > max_connections) {
        // The oldest connection still waiting for its request makes room; if every one is being
        // answered, the new one goes.
        Connection* victim = c;
        for (Connection* other : connections) {
          if (!other->closing && !other->requested && other != c) {
            victim = other;
            break;
          }
        }
        close_connection(victim, evicted);
      }
      return;
    }
    auto* c = static_cast<Connection*>(*socket_context);
    if (c == nullptr) return;
    if (!c->closing) --open;
    connections.erase(c->pos);
    delete c;  // NOLINT(cppcoreguidelines-owning-memory)
    *socket_context = nullptr;
  }

  static Connection* connection_of(MHD_Connection* mc) {
    const MHD_ConnectionInfo* info = MHD_get_connection_info(mc, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return info != nullptr ? static_cast<Connection*>(info->socket_context) : nullptr;
  }

  static MHD_Result send(MHD_Connection* mc, const HttpResponse& r) {
    auto* body = new std::string(r.body);  // NOLINT(cppcoreguidelines-owning-memory): freed by libmicrohttpd
    MHD_Response* resp = MHD_create_response_from_buffer_with_free_callback_cls(
        body->size(), body->data(), [](void* p) { delete static_cast<std::string*>(p); }, body);
    if (resp == nullptr) {
      delete body;  // NOLINT(cppcoreguidelines-owning-memory)
      return MHD_NO;
    }
    MHD_add_response_header(resp, "Content-Type", r.content_type.c_str());
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    for (const auto& [name, value] : r.headers) MHD_add_response_header(resp, name.c_str(), value.c_str());
    MHD_add_response_header(resp, "Connection", "close");
    const MHD_Result rc = MHD_queue_response(mc, static_cast<unsigned int>(r.status), resp);
    MHD_destroy_response(resp);
    return rc;
  }

  MHD_Result on_request(MHD_Connection* mc, const char* method, size_t* upload_size, void** req_cls) {
    auto* req = static_cast<Request*>(*req_cls);
    if (req == nullptr) return MHD_NO;  // the URI callback always sets it
    if (req->phase == Phase::kDone) return send(mc, req->response);
    if (req->phase == Phase::kRunning) {
      *upload_size = 0;
      return MHD_YES;
    }
    if (Connection* c = connection_of(mc)) c->requested = true;
    req->phase = Phase::kDone;  // unless a worker takes it below
    req->http.method = method;
    if (req->http.method != "GET" && req->http.method != "HEAD") {
      req->response = HttpResponse::text(405, "only GET and HEAD\n");
      req->response.headers.emplace_back("Allow", "GET, HEAD");
      return send(mc, req->response);
    }
    const char* length = MHD_lookup_connection_value(mc, MHD_HEADER_KIND, "Content-Length");
    const char* chunked = MHD_lookup_connection_value(mc, MHD_HEADER_KIND, "Transfer-Encoding");
    if ((length != nullptr && std::strcmp(length, "0") != 0) || chunked != nullptr || *upload_size != 0) {
      *upload_size = 0;
      req->response = HttpResponse::text(413, "no request body is accepted\n");
      return send(mc, req->response);
    }
    const char* auth = MHD_lookup_connection_value(mc, MHD_HEADER_KIND, "Authorization");
    req->http.authorization = auth != nullptr ? auth : "";
    const auto route =
        std::find_if(routes.begin(), routes.end(), [&](const HttpRoute& r) { return r.path == req->http.path; });
    if (route == routes.end()) {
      req->response = HttpResponse::text(404, "not found\n");
      return send(mc, req->response);
    }
    if (!route->slow) {
      req->response = route->handler(req->http);
      return send(mc, req->response);
    }
    {
      const std::lock_guard<std::mutex> lock(mu);
      if (!stopping && jobs.size() < opt.limits.queue) {
        req->phase = Phase::kRunning;
        MHD_suspend_connection(mc);
        jobs.push_back(Job{mc, req, &*route});
      }
    }
    if (req->phase == Phase::kRunning) {
      cv.notify_one();
      return MHD_YES;
    }
    busy.fetch_add(1, std::memory_order_relaxed);
    req->response = HttpResponse::text(503, "busy, try again\n");
    req->response.headers.emplace_back("Retry-After", "1");
    return send(mc, req->response);
  }

  // --- the workers ----------------------------------------------------------------------------

  void work() {
    for (;;) {
      Job job{};
      {
        std::unique_lock<std::mutex> lock(mu);
        cv.wait(lock, [&] { return stopping || !jobs.empty(); });
        if (jobs.empty()) return;  // stopping, and nothing left to answer
        job = jobs.front();
        jobs.pop_front();
      }
      HttpResponse r;
      try {
        r = job.route->handler(job.request->http);
      } catch (const std::exception& e) {
        r = HttpResponse::text(500, "internal error\n");
        spdlog::error("http: {} {}: {}", job.request->http.method, job.request->http.path, e.what());
      }
      job.request->response = std::move(r);
      job.request->phase = Phase::kDone;
      MHD_resume_connection(job.connection);  // the loop sends it; the request is not ours any more
    }
  }
};

namespace {

void* on_uri(void* /*cls*/, const char* uri, MHD_Connection* /*mc*/) {
  auto* req = new Request;  // NOLINT(cppcoreguidelines-owning-memory): deleted in on_completed
  const std::string_view target = uri != nullptr ? uri : "";
  const size_t q = target.find('?');
  req->http.path = std::string(target.substr(0, q));
  if (q != std::string_view::npos) req->http.query = std::string(target.substr(q + 1));
  return req;
}

void on_completed(void* /*cls*/, MHD_Connection* /*mc*/, void** req_cls, MHD_RequestTerminationCode /*code*/) {
  delete static_cast<Request*>(*req_cls);  // NOLINT(cppcoreguidelines-owning-memory)
  *req_cls = nullptr;
}

void on_connection(void* cls, MHD_Connection* mc, void** socket_context, MHD_ConnectionNotificationCode code) {
  static_cast<HttpServer::Impl*>(cls)->on_connection(mc, socket_context, code);
}

MHD_Result on_request(void* cls, MHD_Connection* mc, const char* /*url*/, const char* method, const char* /*version*/,
                      const char* /*upload_data*/, size_t* upload_size, void** req_cls) {
  return static_cast<HttpServer::Impl*>(cls)->on_request(mc, method, upload_size, req_cls);
}

}  // namespace

Result<std::unique_ptr<HttpServer>> HttpServer::start(const HttpServerOptions& options, std::vector<HttpRoute> routes) {
  if (options.tls && MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
    return Error::msg("this libmicrohttpd has no TLS support");
  }
  auto impl = std::make_unique<Impl>();
  impl->opt = options;
  impl->routes = std::move(routes);
  impl->max_connections = connection_budget(std::max(options.limits.max_connections, kMinConnections));
  if (impl->max_connections < options.limits.max_connections) {
    spdlog::warn("http: the descriptor limit (RLIMIT_NOFILE) leaves room for {} connections, not {}",
                 impl->max_connections, options.limits.max_connections);
  }
  auto fd = listen_socket(options.host, options.port, impl->max_connections);
  if (!fd) return fd.error();
  impl->listen_fd = std::move(fd).value();
  sockaddr_storage ss{};
  socklen_t len = sizeof(ss);
  if (getsockname(impl->listen_fd.get(), reinterpret_cast<sockaddr*>(&ss), &len) != 0) {
    return Error::from_errno("getsockname");
  }
  impl->port = ntohs(ss.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port
                                              : reinterpret_cast<sockaddr_in*>(&ss)->sin_port);

  unsigned int flags = MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
  if (options.tls) flags |= MHD_USE_TLS;
  const auto lifetime_s = static_cast<unsigned int>(
      std::max<int64_t>(1, std::chrono::ceil<std::chrono::seconds>(options.limits.connection_lifetime).count()));
  // libmicrohttpd's own limit sits above ours: connections we shut down close on its next pass.
  const auto hard_limit = static_cast<unsigned int>(impl->max_connections + kMinConnections);
  std::vector<MHD_OptionItem> opts = {
      {MHD_OPTION_LISTEN_SOCKET, impl->listen_fd.get(), nullptr},
      {MHD_OPTION_CONNECTION_LIMIT, hard_limit, nullptr},
      {MHD_OPTION_CONNECTION_TIMEOUT, lifetime_s, nullptr},
      {MHD_OPTION_CONNECTION_MEMORY_LIMIT, static_cast<intptr_t>(options.limits.max_request_bytes), nullptr},
      {MHD_OPTION_URI_LOG_CALLBACK, reinterpret_cast<intptr_t>(&on_uri), nullptr},
      {MHD_OPTION_NOTIFY_COMPLETED, reinterpret_cast<intptr_t>(&on_completed), nullptr},
      {MHD_OPTION_NOTIFY_CONNECTION, reinterpret_cast<intptr_t>(&on_connection), impl.get()},
      {MHD_OPTION_EXTERNAL_LOGGER, reinterpret_cast<intptr_t>(&log_mhd), nullptr},
  };
  if (options.tls) {
    opts.push_back({MHD_OPTION_HTTPS_MEM_CERT, 0, const_cast<char*>(impl->opt.tls_files.cert_pem.c_str())});
    opts.push_back({MHD_OPTION_HTTPS_MEM_KEY, 0, const_cast<char*>(impl->opt.tls_files.key_pem.c_str())});
    opts.push_back({MHD_OPTION_HTTPS_PRIORITIES, 0, const_cast<char*>("NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2")});
  }
  opts.push_back({MHD_OPTION_END, 0, nullptr});
  impl->daemon = MHD_start_daemon(flags, 0, nullptr, nullptr, &on_request, impl.get(), MHD_OPTION_ARRAY, opts.data(),
                                  MHD_OPTION_END);
  if (impl->daemon == nullptr) {
    return Error::msg(options.tls ? "cannot start the HTTPS server (libmicrohttpd refused the certificate or key)"
                                  : "cannot start the HTTP server");
  }
  (void)impl->listen_fd.release();  // the daemon closes it
  impl->last_report = Clock::now();
  Impl* raw = impl.get();
  for (size_t i = 0; i < std::max<size_t>(1, options.limits.workers); ++i) {
    impl->workers.emplace_back([raw] { raw->work(); });
  }
  impl->loop = std::thread([raw] { raw->run_loop(); });
  return std::unique_ptr<HttpServer>(new HttpServer(std::move(impl)));
}

HttpServer::HttpServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
HttpServer::~HttpServer() = default;
uint16_t HttpServer::port() const { return impl_->port; }
HttpServerStats HttpServer::stats() const { return impl_->stats(); }
size_t HttpServer::max_connections() const { return impl_->max_connections; }

}  // namespace ipctrace
