// The agent's HTTP server (app/agent/http_server.h) on loopback, driven by raw sockets: exact
// paths, methods, HEAD, no bodies, and the limits that keep idle, slow and greedy clients from
// blinding /healthz: the request timeout, the connection limit, the workers' queue, the lifetime.
#include "app/agent/http_server.h"

#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "app/agent/http_api.h"
#include "base/fd.h"
#include "exporters/metrics.h"

namespace ipctrace {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;
using namespace std::chrono_literals;

Fd connect_to(uint16_t port) {
  Fd fd(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd.get(), reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0) return Fd(-1);
  return fd;
}

void send_all(const Fd& fd, const std::string& data) {
  size_t off = 0;
  while (off < data.size()) {
    const ssize_t n = send(fd.get(), data.data() + off, data.size() - off, MSG_NOSIGNAL);
    if (n <= 0) return;
    off += static_cast<size_t>(n);
  }
}

// Everything the server sends until it closes, or "(timeout)" after `limit`.
std::string read_until_closed(const Fd& fd, std::chrono::milliseconds limit = 5s) {
  std::string out;
  const auto deadline = std::chrono::steady_clock::now() + limit;
  for (;;) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left <= 0ms) return out + "(timeout)";
    pollfd p{fd.get(), POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
    char buf[65536];
    const ssize_t n = recv(fd.get(), buf, sizeof(buf), 0);
    if (n <= 0) return out;
    out.append(buf, static_cast<size_t>(n));
  }
}

// Whether the server closed the connection (it reads the end of stream) within `limit`.
bool closed_within(const Fd& fd, std::chrono::milliseconds limit) {
  pollfd p{fd.get(), POLLIN, 0};
  if (poll(&p, 1, static_cast<int>(limit.count())) <= 0) return false;
  char c = 0;
  return recv(fd.get(), &c, 1, MSG_DONTWAIT) <= 0;
}

std::string ask(uint16_t port, const std::string& request) {
  const Fd fd = connect_to(port);
  send_all(fd, request);
  return read_until_closed(fd);
}

std::string get(uint16_t port, const std::string& target) {
  return ask(port, "GET " + target + " HTTP/1.1\r\nHost: x\r\n\r\n");
}

std::string body_of(const std::string& response) {
  const size_t end = response.find("\r\n\r\n");
  return end == std::string::npos ? "" : response.substr(end + 4);
}

// A gate the slow handlers wait at until the test opens it.
struct Gate {
  std::mutex mu;
  std::condition_variable cv;
  bool open = false;
  int waiting = 0;
  void pass() {
    std::unique_lock<std::mutex> lock(mu);
    ++waiting;
    cv.notify_all();
    cv.wait(lock, [&] { return open; });
  }
  void wait_for_waiters(int n) {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait_for(lock, 5s, [&] { return waiting >= n; });
  }
  void release() {
    const std::lock_guard<std::mutex> lock(mu);
    open = true;
    cv.notify_all();
  }
};

std::unique_ptr<HttpServer> start(HttpLimits limits, std::vector<HttpRoute> routes) {
  HttpServerOptions o;
  o.host = "127.0.0.1";
  o.limits = limits;
  auto s = HttpServer::start(o, std::move(routes));
  if (!s) ADD_FAILURE() << s.error().message();
  return s ? std::move(s).value() : nullptr;
}

std::vector<HttpRoute> echo_routes() {
  return {{"/healthz", [](const HttpRequest&) { return HttpResponse::text(200, "ok\n"); }, false},
          {"/echo",
           [](const HttpRequest& r) {
             return HttpResponse::text(200, r.method + " " + r.path + " ?" + r.query + " auth=" + r.authorization);
           },
           true}};
}

TEST(HttpServer, PathsMatchExactlyAndOnlyGetAndHeadAreServed) {
  auto server = start({}, echo_routes());
  ASSERT_TRUE(server);
  const uint16_t port = server->port();
  EXPECT_THAT(get(port, "/healthz"), StartsWith("HTTP/1.1 200 OK\r\n"));
  EXPECT_EQ(body_of(get(port, "/healthz")), "ok\n");
  for (const char* wrong :
       {"/healthzANYTHING", "/healthz/", "/HEALTHZ", "/metricsX", "/", "//healthz", "/healthz%00"}) {
    EXPECT_THAT(get(port, wrong), StartsWith("HTTP/1.1 404 ")) << wrong;
  }
  // The query comes as sent; the path without it.
  EXPECT_EQ(body_of(get(port, "/echo?pid=1x&kind=pipe")), "GET /echo ?pid=1x&kind=pipe auth=");
  EXPECT_EQ(body_of(ask(port, "GET /echo HTTP/1.1\r\nHost: x\r\nAuthorization: Basic YTpi\r\n\r\n")),
            "GET /echo ? auth=Basic YTpi");
  // HEAD: the headers GET has, no body.
  const std::string head = ask(port, "HEAD /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_THAT(head, StartsWith("HTTP/1.1 200 OK\r\n"));
  EXPECT_THAT(head, HasSubstr("Content-Length: 3\r\n"));
  EXPECT_EQ(body_of(head), "");
  const std::string post = ask(port, "POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n");
  EXPECT_THAT(post, StartsWith("HTTP/1.1 405 "));
  EXPECT_THAT(post, HasSubstr("Allow: GET, HEAD\r\n"));
  EXPECT_THAT(ask(port, "GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"),
              StartsWith("HTTP/1.1 413 "));
  EXPECT_THAT(
      ask(port, "GET /healthz HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"),
      StartsWith("HTTP/1.1 413 "));
  // Every answer closes its connection.
  EXPECT_THAT(get(port, "/healthz"), HasSubstr("Connection: close\r\n"));
}

TEST(HttpServer, HeadersPastTheLimitAreRefused) {
  HttpLimits limits;
  limits.max_request_bytes = 4096;
  auto server = start(limits, echo_routes());
  ASSERT_TRUE(server);
  const std::string big = "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(8192, 'a') + "\r\n\r\n";
  const std::string answer = ask(server->port(), big);
  EXPECT_THAT(answer, StartsWith("HTTP/1.1 431 ")) << answer.substr(0, 80);
  EXPECT_THAT(get(server->port(), "/healthz"), StartsWith("HTTP/1.1 200 "));
}

TEST(HttpServer, ARequestNotWholeWithinTheTimeoutIsClosedAndCounted) {
  HttpLimits limits;
  limits.request_timeout = 300ms;
  auto server = start(limits, echo_routes());
  ASSERT_TRUE(server);
  const Fd idle = connect_to(server->port());
  const Fd slow = connect_to(server->port());
  send_all(slow, "GET /healthz HTTP/1.1\r\n");
  // The slow client keeps sending a header line every 100 ms: activity does not extend the deadline.
  bool slow_closed = false;
  for (int i = 0; i < 20 && !slow_closed; ++i) {
    send_all(slow, "X-Slow: 1\r\n");
    slow_closed = closed_within(slow, 100ms);
  }
  EXPECT_TRUE(slow_closed);
  EXPECT_TRUE(closed_within(idle, 2s));
  EXPECT_EQ(server->stats().request_timeouts, 2U);
  EXPECT_EQ(server->stats().evicted, 0U);
  EXPECT_THAT(get(server->port(), "/healthz"), StartsWith("HTTP/1.1 200 "));
}

TEST(HttpServer, OverTheLimitTheOldestUnfinishedConnectionMakesRoom) {
  HttpLimits limits;
  limits.max_connections = 16;
  auto server = start(limits, echo_routes());
  ASSERT_TRUE(server);
  ASSERT_EQ(server->max_connections(), 16U);
  std::vector<Fd> idle;
  for (int i = 0; i < 16; ++i) {
    idle.push_back(connect_to(server->port()));
    if (i == 0) std::this_thread::sleep_for(50ms);  // the first is the oldest by a clear margin
  }
  std::this_thread::sleep_for(200ms);  // all accepted
  EXPECT_FALSE(closed_within(idle[0], 0ms));
  // A 17th connection: the oldest idle one is closed for it, and it is answered.
  EXPECT_THAT(get(server->port(), "/healthz"), StartsWith("HTTP/1.1 200 "));
  EXPECT_TRUE(closed_within(idle[0], 2s));
  EXPECT_FALSE(closed_within(idle[15], 100ms));
  EXPECT_EQ(server->stats().evicted, 1U);
}

TEST(HttpServer, SlowHandlersRunOnWorkersAndAFullQueueIsBusy) {
  Gate gate;
  HttpLimits limits;
  limits.workers = 1;
  limits.queue = 1;
  auto server = start(limits, {{"/healthz", [](const HttpRequest&) { return HttpResponse::text(200, "ok\n"); }, false},
                               {"/slow",
                                [&gate](const HttpRequest&) {
                                  gate.pass();
                                  return HttpResponse::text(200, "done\n");
                                },
                                true}});
  ASSERT_TRUE(server);
  const uint16_t port = server->port();
  const Fd first = connect_to(port);
  send_all(first, "GET /slow HTTP/1.1\r\nHost: x\r\n\r\n");
  gate.wait_for_waiters(1);  // the worker holds the first
  const Fd second = connect_to(port);
  send_all(second, "GET /slow HTTP/1.1\r\nHost: x\r\n\r\n");  // queued
  std::this_thread::sleep_for(100ms);
  // The queue is full: the third is told to come back, at once.
  const std::string third = get(port, "/slow");
  EXPECT_THAT(third, StartsWith("HTTP/1.1 503 "));
  EXPECT_THAT(third, HasSubstr("Retry-After: 1\r\n"));
  EXPECT_EQ(server->stats().busy, 1U);
  // The loop is not held up by the worker.
  EXPECT_THAT(get(port, "/healthz"), StartsWith("HTTP/1.1 200 "));
  gate.release();
  EXPECT_EQ(body_of(read_until_closed(first)), "done\n");
  EXPECT_EQ(body_of(read_until_closed(second)), "done\n");
}

TEST(HttpServer, AConnectionOpenPastItsLifetimeIsClosed) {
  HttpLimits limits;
  limits.connection_lifetime = 500ms;
  const std::string big(64 << 20, 'x');  // more than the sockets' buffers hold
  auto server = start(limits, {{"/big", [&big](const HttpRequest&) { return HttpResponse::text(200, big); }, false}});
  ASSERT_TRUE(server);
  const Fd reader = connect_to(server->port());
  send_all(reader, "GET /big HTTP/1.1\r\nHost: x\r\n\r\n");
  // Never read: the answer cannot be sent; past its lifetime the connection goes.
  for (int i = 0; i < 30 && server->stats().lifetime_exceeded == 0; ++i) std::this_thread::sleep_for(100ms);
  EXPECT_EQ(server->stats().lifetime_exceeded, 1U);
  const std::string got = read_until_closed(reader, 5s);
  EXPECT_LT(got.size(), big.size());
  EXPECT_THAT(got, Not(HasSubstr("(timeout)")));
}

// The measure: 500 idle or slow clients connected, /healthz and /readyz answer within a
// second and a scrape succeeds, with the agent's own routes.
TEST(HttpServer, FiveHundredSlowClientsDoNotBlindHealthOrScrapes) {
  Published published;
  published.set_readiness({true, {}});
  const MetricsExporter exporter(MetricsOptions{}, BuildInfo{"1.2.3", "abc", "6.1", "1.1"});
  HttpServerOptions o;
  o.host = "127.0.0.1";
  auto started = HttpServer::start(o, api_routes(exporter, published, nullptr));
  ASSERT_TRUE(started) << started.error().message();
  const auto& server = *started;
  std::vector<Fd> clients;
  for (int i = 0; i < 500; ++i) {
    clients.push_back(connect_to(server->port()));
    ASSERT_GE(clients.back().get(), 0) << "client " << i;
    if (i % 2 == 1) send_all(clients.back(), "GET /metrics HTTP/1.1\r\n");  // half slow, half idle
  }
  for (auto& c : clients) {
    if ((&c - clients.data()) % 2 == 1) send_all(c, "X-Slow: 1\r\n");
  }
  for (const char* path : {"/healthz", "/readyz"}) {
    const auto t0 = std::chrono::steady_clock::now();
    const std::string answer = get(server->port(), path);
    const auto took = std::chrono::steady_clock::now() - t0;
    EXPECT_THAT(answer, StartsWith("HTTP/1.1 200 ")) << path;
    EXPECT_LT(took, 1s) << path;
  }
  const std::string scrape = get(server->port(), "/metrics");
  EXPECT_THAT(scrape, StartsWith("HTTP/1.1 200 "));
  EXPECT_THAT(scrape,
              HasSubstr("ipctrace_build_info{commit=\"abc\",kernel=\"6.1\",libbpf=\"1.1\",version=\"1.2.3\"} 1"));
  EXPECT_EQ(server->stats().evicted, 0U);
  EXPECT_EQ(server->stats().connections, 503U);
}

}  // namespace
}  // namespace ipctrace
