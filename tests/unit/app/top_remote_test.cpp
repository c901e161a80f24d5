// `ipctrace top --remote`: the HTTP client against a small in-process server that plays the
// agent (/api/v1/flows), and the binary's messages when the agent cannot be read.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "app/agent/http_server.h"
#include "app/top/sources.h"
#include "subprocess.h"

using ::testing::HasSubstr;
using ::testing::Not;

using namespace ipctrace;
using namespace ipctrace::test;
using nlohmann::json;
using namespace std::chrono_literals;

namespace {

json sample_document();

HttpResponse fixed(int status, std::string body) {
  HttpResponse r;
  r.status = status;
  r.content_type = "application/json";
  r.body = std::move(body);
  return r;
}

// One HTTP server (the agent's own, app/agent/http_server.h) on a free loopback port for the
// whole suite: <url>/ok serves the sample document at /api/v1/flows, <url>/missing answers 404
// there, <url>/garbage serves HTML, <url>/recording answers with no flows and keeps the query
// string it was asked with.
class FakeAgent {
 public:
  FakeAgent() {
    std::vector<HttpRoute> routes;
    const auto serve = [&routes](const std::string& path, int status, const std::string& body) {
      routes.push_back({path, [status, body](const HttpRequest& /*req*/) { return fixed(status, body); }, false});
    };
    serve("/ok/api/v1/flows", 200, sample_document().dump());
    serve("/missing/api/v1/flows", 404, "not here");
    serve("/garbage/api/v1/flows", 200, "<html>hello</html>");
    serve("/refused/api/v1/flows", 400, "unknown kind 'x'\x1b[31m\nsecond line");
    routes.push_back({"/recording/api/v1/flows",
                      [this](const HttpRequest& req) {
                        {
                          const std::lock_guard<std::mutex> lock(mu_);
                          query_ = req.query.empty() ? "(none)" : req.query;
                        }
                        json doc = sample_document();
                        doc["flows"] = json::array();
                        return fixed(200, doc.dump());
                      },
                      false});
    HttpServerOptions options;
    options.host = "127.0.0.1";
    auto server = HttpServer::start(options, std::move(routes));
    if (!server) throw std::runtime_error(server.error().message());
    server_ = std::move(server).value();
  }
  [[nodiscard]] std::string last_query() const {
    const std::lock_guard<std::mutex> lock(mu_);
    return query_;
  }
  [[nodiscard]] std::string url(const std::string& what) const {
    return "http://127.0.0.1:" + std::to_string(server_->port()) + "/" + what;
  }

 private:
  mutable std::mutex mu_;
  std::string query_;
  std::unique_ptr<HttpServer> server_;
};

const FakeAgent& agent() {
  static const FakeAgent instance;
  return instance;
}

json sample_document() {
  json src = {{"type", "cgroup"},
              {"name", "shop/cart-5d9f/redis"},
              {"namespace", "shop"},
              {"pod", "cart-5d9f"},
              {"container", "redis"}};
  json dst = {{"type", "cgroup"},
              {"name", "shop/cart-5d9f/app"},
              {"namespace", "shop"},
              {"pod", "cart-5d9f"},
              {"container", "app"}};
  json f = {{"kind", "unix_stream"},
            {"src", src},
            {"dst", dst},
            {"messages", 1200},
            {"bytes", 3145728},
            {"received_messages", 1200},
            {"received_bytes", 3145728},
            {"messages_per_second", 40.0},
            {"bytes_per_second", 104857.6},
            {"receiver_wait", nullptr},
            {"shm", nullptr}};
  return {{"node", "worker-7"},        {"kernel", "6.1.0-18-amd64"},     {"duration_seconds", 30.0},
          {"flows", json::array({f})}, {"lost", {{"flow_map_full", 0}}}, {"hooks", {{"unix", "tp_btf"}}}};
}

}  // namespace

TEST(TopRemote, ReadsTheAgentsFlows) {
  RemoteSource source(agent().url("ok") + "/");  // a trailing slash is fine
  EXPECT_EQ(source.url(), agent().url("ok") + "/api/v1/flows");
  auto doc = source.fetch();
  ASSERT_TRUE(doc.ok()) << doc.error().message();
  EXPECT_EQ(*doc, sample_document());
}

TEST(TopRemote, SaysWhyTheAgentCouldNotBeRead) {
  auto r404 = RemoteSource(agent().url("missing")).fetch();
  ASSERT_FALSE(r404.ok());
  EXPECT_EQ(r404.error().message(),
            "the agent at " + agent().url("missing") + "/api/v1/flows answered HTTP 404: not here");
  // The agent's reason for a 4xx, its first line, printable characters only.
  auto r400 = RemoteSource(agent().url("refused")).fetch();
  ASSERT_FALSE(r400.ok());
  EXPECT_EQ(r400.error().message(),
            "the agent at " + agent().url("refused") + "/api/v1/flows answered HTTP 400: unknown kind 'x'?[31m");

  auto rbad = RemoteSource(agent().url("garbage")).fetch();
  ASSERT_FALSE(rbad.ok());
  EXPECT_EQ(rbad.error().message().rfind("the agent at " + agent().url("garbage") +
                                             "/api/v1/flows sent something that is not a "
                                             "flows document",
                                         0),
            0U)
      << rbad.error().message();

  auto refused = RemoteSource("http://127.0.0.1:1").fetch();
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().message().rfind("cannot read the agent at http://127.0.0.1:1/api/v1/flows: ", 0), 0U)
      << refused.error().message();
}

TEST(TopRemote, BatchFramesFromARemoteAgent) {
  const ProcessResult r =
      run_process({ipctrace_binary(), "top", "--remote", agent().url("ok"), "--batch", "-n", "2", "-d", "200ms"}, 30s);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err, "");
  // Two frames, each: five header lines, a blank, the column titles, one row; a blank between.
  ASSERT_EQ(count_lines(r.out), 17) << r.out;
  EXPECT_THAT(r.out, HasSubstr("node worker-7 - Linux 6.1.0-18-amd64 - every 200ms - remote " + agent().url("ok")))
      << r.out;
  EXPECT_THAT(r.out, HasSubstr("hooks: tp_btf(unix)"));
  // The first frame has the agent's rates; the second, top's own over 200 ms: nothing moved.
  EXPECT_THAT(r.out,
              HasSubstr("shop/cart-5d9f/redis shop/cart-5d9f/app unix_stream    40 102 KiB/s 1.20k 3.00 MiB    -"))
      << r.out;
  EXPECT_THAT(r.out, HasSubstr("shop/cart-5d9f/redis shop/cart-5d9f/app unix_stream     0   0 B/s 1.20k 3.00 MiB    -"))
      << r.out;
  EXPECT_THAT(r.out, Not(HasSubstr("\x1b")));  // no terminal control codes
}

TEST(TopRemote, FiltersGoToTheAgentAsQueryParameters) {
  EXPECT_EQ(RemoteSource(agent().url("recording")).url(), agent().url("recording") + "/api/v1/flows");
  const ProcessResult r = run_process({ipctrace_binary(), "top", "--remote", agent().url("recording"), "-b", "-n", "1",
                                       "--kind", "tcp,pipe", "--pod", "web app", "--container", "3f1c", "--pid", "42"},
                                      30s);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(agent().last_query(), "kind=tcp&kind=pipe&pod=web%20app&container=3f1c&pid=42");
  EXPECT_THAT(r.out, HasSubstr("(no flows yet)")) << r.out;
  // Without filters, no query string at all.
  const ProcessResult plain =
      run_process({ipctrace_binary(), "top", "--remote", agent().url("recording"), "-b", "-n", "1"}, 30s);
  ASSERT_EQ(plain.exit_code, 0) << plain.err;
  EXPECT_EQ(agent().last_query(), "(none)");
}

TEST(TopRemote, AnUnreachableAgentIsAClearErrorAndExit1) {
  const ProcessResult r =
      run_process({ipctrace_binary(), "top", "--remote", "http://127.0.0.1:1", "-b", "-n", "1"}, 30s);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.out, "");
  EXPECT_THAT(r.err, HasSubstr("top: cannot read the agent at http://127.0.0.1:1/api/v1/flows: ")) << r.err;
  EXPECT_EQ(count_lines(r.err), 1) << r.err;
}

TEST(TopRemote, WithoutATerminalAndWithoutBatchItSaysSo) {
  const ProcessResult r = run_process({ipctrace_binary(), "top", "--remote", "http://127.0.0.1:1"}, 30s);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("top: needs a terminal; use --batch (-b) for plain-text frames")) << r.err;
}
