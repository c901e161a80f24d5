// The agent's HTTP(S) server, on libmicrohttpd: one event loop (epoll) holds every connection, so
// idle and slow clients cost a descriptor and a little memory each, never a thread; handlers that
// may take time (basic authentication's password hashing, building a document) run on a small
// pool of worker threads while their connection is suspended, so /healthz answers whatever the
// other connections do.
//
// Limits (HttpLimits; README "Security" states the defaults):
//   - connections: at most max_connections open at once. A new connection over the limit closes
//     the oldest connection that has not yet sent a whole request (an idle or slow client), or, if
//     every connection is being answered, is itself closed. Either way it is counted.
//   - request: the request line and headers must arrive within request_timeout of the accept and
//     fit in max_request_bytes (larger: 431 or 414, as libmicrohttpd answers); no request body is
//     accepted (Content-Length above 0 or a chunked body: 413).
//   - lifetime: a connection still open connection_lifetime after its accept (a client that
//     reads its answer too slowly) is closed.
//   - workers: handlers marked `slow` run on `workers` threads with at most `queue` requests
//     waiting; past that the answer is 503 with Retry-After.
// Only GET and HEAD are served (others: 405 with Allow); paths match exactly (no prefixes, no
// trailing slash); every answer closes its connection.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "base/error.h"

namespace ipctrace {

struct HttpRequest {
  std::string method;         // "GET" or "HEAD"
  std::string path;           // as sent, before any '?': "/metrics"
  std::string query;          // as sent, after the first '?', not decoded; "" without one
  std::string authorization;  // the Authorization header's value, "" without one
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // added as given (WWW-Authenticate, Retry-After)

  // A plain-text answer.
  static HttpResponse text(int status, std::string body) {
    HttpResponse r;
    r.status = status;
    r.body = std::move(body);
    return r;
  }
};

using HttpHandler = std::function<HttpResponse(const HttpRequest&)>;

struct HttpRoute {
  std::string path;  // exact: "/metrics"
  HttpHandler handler;
  bool slow = false;  // run on a worker thread (may hash a password, may build a large document)
};

struct HttpLimits {
  size_t max_connections = 1000;
  std::chrono::milliseconds request_timeout{10'000};
  std::chrono::milliseconds connection_lifetime{60'000};
  size_t max_request_bytes = size_t{16} * 1024;  // request line + headers; a flows query is at most 8 KiB
  size_t workers = 2;
  size_t queue = 64;
};

struct HttpTls {
  std::string cert_pem;  // the certificate, then any intermediates
  std::string key_pem;   // its unencrypted private key
};

struct HttpServerOptions {
  std::string host;   // an address: "" or "0.0.0.0" all IPv4, "::" all IPv6 (and IPv4), "127.0.0.1"
  uint16_t port = 0;  // 0: a free port (port() says which)
  bool tls = false;
  HttpTls tls_files;  // with tls: served with TLS 1.2 or later
  HttpLimits limits;
};

// Counters since start; read by any thread.
struct HttpServerStats {
  uint64_t connections = 0;        // accepted
  uint64_t request_timeouts = 0;   // closed: no whole request within request_timeout
  uint64_t evicted = 0;            // closed: over max_connections (this one or the oldest unfinished one)
  uint64_t lifetime_exceeded = 0;  // closed: open past connection_lifetime
  uint64_t busy = 0;               // answered 503: the workers' queue was full
};

class HttpServer {
 public:
  // Binds, listens and starts serving. Errors: the address cannot be bound ("bind: Address already
  // in use"), TLS material the library refuses, no TLS support in libmicrohttpd.
  static Result<std::unique_ptr<HttpServer>> start(const HttpServerOptions& options, std::vector<HttpRoute> routes);
  ~HttpServer();  // stops: answers what the workers hold, then closes every connection
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;
  HttpServer(HttpServer&&) = delete;
  HttpServer& operator=(HttpServer&&) = delete;

  [[nodiscard]] uint16_t port() const;
  [[nodiscard]] HttpServerStats stats() const;
  // The connection limit in force: max_connections, lowered if the descriptor limit
  // (RLIMIT_NOFILE, raised to its hard limit at start) leaves less room.
  [[nodiscard]] size_t max_connections() const;

  struct Impl;

 private:
  explicit HttpServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace ipctrace
