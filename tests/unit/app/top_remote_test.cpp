// `ipctrace top --remote`: the HTTP client against a small in-process server that plays the
// agent (/api/v1/flows), and the binary's messages when the agent cannot be read.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "app/agent/http_server.h"
#include "app/top/sources.h"
#include "kernel_test.h"
#include "subprocess.h"
#include "tmux.h"

using ::testing::HasSubstr;
using ::testing::Not;

using namespace ipctrace;
using namespace ipctrace::test;
using nlohmann::json;
using namespace std::chrono_literals;

namespace {

json sample_document();
json cluster_document();

HttpResponse fixed(int status, std::string body) {
  HttpResponse r;
  r.status = status;
  r.content_type = "application/json";
  r.body = std::move(body);
  return r;
}

// The user and password the agent at <url>/auth wants; in a URL, the password is percent-encoded.
constexpr const char* kUser = "alice";
constexpr const char* kPassword = "s3cret p@ss:w%rd";
constexpr const char* kUrlUserinfo = "alice:s3cret%20p%40ss%3Aw%25rd@";

// "Basic base64(user:password)".
std::string basic(const std::string& user_password) {
  std::string out(4 * ((user_password.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(user_password.data()),
                                static_cast<int>(user_password.size()));
  out.resize(static_cast<size_t>(n));
  return "Basic " + out;
}

// One HTTP server (the agent's own, app/agent/http_server.h) on a free loopback port for the
// whole suite: <url>/ok serves the sample document at /api/v1/flows, <url>/missing answers 404
// there, <url>/garbage serves HTML, <url>/recording answers with no flows and keeps the query
// string it was asked with, <url>/auth answers like an agent with basic authentication (the
// sample document to kUser with kPassword, 401 to anyone else) and keeps the last Authorization
// header it was sent ("(none)" for none).
class FakeAgent {
 public:
  FakeAgent() {
    std::vector<HttpRoute> routes;
    const auto serve = [&routes](const std::string& path, int status, const std::string& body) {
      routes.push_back({path, [status, body](const HttpRequest& /*req*/) { return fixed(status, body); }, false});
    };
    serve("/ok/api/v1/flows", 200, sample_document().dump());
    serve("/cluster/api/v1/flows", 200, cluster_document().dump());
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
    routes.push_back({"/auth/api/v1/flows",
                      [this](const HttpRequest& req) {
                        const std::string got = req.authorization.empty() ? "(none)" : req.authorization;
                        {
                          const std::lock_guard<std::mutex> lock(mu_);
                          authorization_ = got;
                        }
                        if (got != basic(std::string(kUser) + ":" + kPassword)) {
                          HttpResponse r = fixed(401, "authentication required\n");
                          r.headers.emplace_back("WWW-Authenticate", R"(Basic realm="ipctrace")");
                          return r;
                        }
                        return fixed(200, sample_document().dump());
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
  // The Authorization header of the last request to <url>/auth, then forgets it.
  [[nodiscard]] std::string take_authorization() const {
    const std::lock_guard<std::mutex> lock(mu_);
    return std::exchange(authorization_, "(no request)");
  }
  [[nodiscard]] std::string url(const std::string& what) const {
    return "http://127.0.0.1:" + std::to_string(server_->port()) + "/" + what;
  }

 private:
  mutable std::mutex mu_;
  std::string query_;
  mutable std::string authorization_ = "(no request)";
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
          {"flows", json::array({f})}, {"lost", {{"fold_map_full", 0}}}, {"hooks", {{"unix", "tp_btf"}}}};
}

// The flows of a busy node whose names a plain cut in the middle would merge at 80 columns: the
// client and server containers of one deployment in many pods (the pod hash is what differs) and
// namespaces, and same-named pods in two namespaces. Each flow moves a different number of bytes
// per second, so the rows have one order.
json cluster_document() {
  json flows = json::array();
  int i = 0;
  for (const std::string ns : {"default", "payments-staging"}) {
    for (const std::string hash : {"5d9f7c-x2k4q", "5d9f7c-x2k4r", "77b6f-pq8zz", "5d9f7c-zzzzz", "6c4d8-ab12c"}) {
      for (const std::string pair : {"ipc", "web"}) {
        const std::string pod = pair + std::string("-client-").append(hash);
        auto end = [&](const std::string& container) {
          return json{{"type", "cgroup"},
                      {"name", std::string(ns).append("/").append(pod).append("/").append(container)},
                      {"namespace", ns},
                      {"pod", pod},
                      {"container", container}};
        };
        ++i;
        flows.push_back({{"kind", "unix_stream"},
                         {"src", end(pair + "-client")},
                         {"dst", end(pair + "-server")},
                         {"messages", 100 * i},
                         {"bytes", 1000 * i},
                         {"received_messages", 100 * i},
                         {"received_bytes", 1000 * i},
                         {"messages_per_second", 1.0 * i},
                         {"bytes_per_second", 1000.0 * i},
                         {"receiver_wait", nullptr},
                         {"shm", nullptr}});
      }
    }
  }
  return {{"node", "worker-7"}, {"kernel", "6.1.0-18-amd64"}, {"duration_seconds", 30.0},
          {"flows", flows},     {"lost", json::object()},     {"hooks", {{"unix", "tp_btf"}}}};
}

std::vector<std::string> screen_lines(const std::string& screen) {
  std::vector<std::string> lines;
  std::istringstream in(screen);
  for (std::string l; std::getline(in, l);) lines.push_back(l);
  return lines;
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

// The credentials reach the agent from each source: RemoteSource's own, the URL's (percent-
// decoded, taken off the URL that is shown), and top's options and environment variable.
TEST(TopRemote, CredentialsFromEachSourceReachTheAgent) {
  const std::string wanted = basic(std::string(kUser) + ":" + kPassword);
  const std::string url = agent().url("auth");
  const std::string with_userinfo = "http://" + std::string(kUrlUserinfo) + url.substr(std::strlen("http://"));

  auto none = RemoteSource(url).fetch();
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.error().message(), "the agent at " + url +
                                        "/api/v1/flows answered HTTP 401 (credentials needed: give --remote-user with "
                                        "--remote-password-file FILE or IPCTRACE_REMOTE_PASSWORD)");
  EXPECT_EQ(agent().take_authorization(), "(none)");

  auto given = RemoteSource(url, {}, 5000, {}, RemoteCredentials{kUser, kPassword}).fetch();
  ASSERT_TRUE(given.ok()) << given.error().message();
  EXPECT_EQ(agent().take_authorization(), wanted);

  RemoteSource from_url(with_userinfo);
  EXPECT_EQ(from_url.describe(), url);
  EXPECT_EQ(from_url.url(), url + "/api/v1/flows");
  auto read = from_url.fetch();
  ASSERT_TRUE(read.ok()) << read.error().message();
  EXPECT_EQ(agent().take_authorization(), wanted);

  // The command: a password file (its first line), the environment variable, the URL.
  const std::string file = testing::TempDir() + "ipctrace-remote-password";
  std::ofstream(file) << kPassword << "\r\nnot the password\n";
  const ProcessResult by_file = run_process({ipctrace_binary(), "top", "--remote", url, "--remote-user", kUser,
                                             "--remote-password-file", file, "-b", "-n", "1"},
                                            30s);
  EXPECT_EQ(by_file.exit_code, 0) << by_file.err;
  EXPECT_EQ(by_file.err, "");
  EXPECT_EQ(agent().take_authorization(), wanted);

  const ProcessResult by_env =
      run_process({ipctrace_binary(), "top", "--remote", url, "--remote-user", kUser, "-b", "-n", "1"}, 30s,
                  {std::string("IPCTRACE_REMOTE_PASSWORD=") + kPassword});
  EXPECT_EQ(by_env.exit_code, 0) << by_env.err;
  EXPECT_EQ(by_env.err, "");
  EXPECT_EQ(agent().take_authorization(), wanted);

  const ProcessResult by_user_env = run_process({ipctrace_binary(), "top", "-b", "-n", "1"}, 30s,
                                                {"IPCTRACE_REMOTE=" + url, std::string("IPCTRACE_REMOTE_USER=") + kUser,
                                                 std::string("IPCTRACE_REMOTE_PASSWORD=") + kPassword});
  EXPECT_EQ(by_user_env.exit_code, 0) << by_user_env.err;
  EXPECT_EQ(agent().take_authorization(), wanted);

  // In the URL it works, with one warning line, and the password is shown nowhere.
  const ProcessResult by_url = run_process({ipctrace_binary(), "top", "--remote", with_userinfo, "-b", "-n", "1"}, 30s);
  EXPECT_EQ(by_url.exit_code, 0) << by_url.err;
  EXPECT_EQ(agent().take_authorization(), wanted);
  EXPECT_THAT(by_url.err, HasSubstr(" top: the --remote URL carries a password, which every user of this node can read "
                                    "(ps, /proc/PID/cmdline); use --remote-user with --remote-password-file FILE or "
                                    "IPCTRACE_REMOTE_PASSWORD instead\n"));
  EXPECT_EQ(count_lines(by_url.err), 1) << by_url.err;
  EXPECT_THAT(by_url.out, HasSubstr("- remote " + url + "\n")) << by_url.out;
  for (const ProcessResult* r : {&by_file, &by_env, &by_user_env, &by_url}) {
    EXPECT_THAT(r->out + r->err, Not(HasSubstr("s3cret")));
  }
  std::remove(file.c_str());
}

// A wrong password, an agent that cannot be reached, a bad URL: the messages say so and never
// show the password, wherever it came from.
TEST(TopRemote, ThePasswordIsNeverShown) {
  const std::string url = agent().url("auth");
  const std::string file = testing::TempDir() + "ipctrace-remote-wrong";
  std::ofstream(file) << "s3cret but wrong\n";
  const ProcessResult wrong = run_process({ipctrace_binary(), "top", "--remote", url, "--remote-user", kUser,
                                           "--remote-password-file", file, "-b", "-n", "1"},
                                          30s);
  EXPECT_EQ(wrong.exit_code, 1);
  EXPECT_THAT(wrong.err, HasSubstr("top: the agent at " + url +
                                   "/api/v1/flows answered HTTP 401 (wrong credentials: give --remote-user with "
                                   "--remote-password-file FILE or IPCTRACE_REMOTE_PASSWORD)\n"));
  EXPECT_EQ(count_lines(wrong.err), 1) << wrong.err;
  EXPECT_EQ(agent().take_authorization(), basic(std::string(kUser) + ":s3cret but wrong"));

  const ProcessResult unreachable = run_process(
      {ipctrace_binary(), "top", "--remote", "http://" + std::string(kUrlUserinfo) + "127.0.0.1:1/x", "-b", "-n", "1"},
      30s);
  EXPECT_EQ(unreachable.exit_code, 1);
  EXPECT_THAT(unreachable.err, HasSubstr("top: cannot read the agent at http://127.0.0.1:1/x/api/v1/flows: "));
  EXPECT_EQ(count_lines(unreachable.err), 2) << unreachable.err;  // the warning, the error

  const ProcessResult not_http =
      run_process({ipctrace_binary(), "top", "--remote", "ftp://" + std::string(kUrlUserinfo) + "host/", "-b"}, 30s);
  EXPECT_EQ(not_http.exit_code, 2);
  EXPECT_THAT(not_http.err, HasSubstr("'ftp://host/' is not an http:// or https:// URL"));

  for (const ProcessResult* r : {&wrong, &unreachable, &not_http}) {
    EXPECT_THAT(r->out + r->err, Not(HasSubstr("s3cret"))) << r->err;
  }
  std::remove(file.c_str());
}

// Credentials that cannot be used are usage errors (exit 2, one line), found before any request:
// a password file that is no regular file, too large or empty; a password without a user, a
// user without a password.
TEST(TopRemote, UnusableCredentialsAreUsageErrors) {
  const std::string dir = testing::TempDir();
  const std::string fifo = dir + "ipctrace-remote-fifo";
  std::remove(fifo.c_str());
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  const std::string big = dir + "ipctrace-remote-big";
  std::ofstream(big) << "s3cret\n";
  ASSERT_EQ(truncate(big.c_str(), 4097), 0);
  const std::string empty = dir + "ipctrace-remote-empty";
  std::ofstream(empty) << "\ns3cret\n";
  const std::string good = dir + "ipctrace-remote-good";
  std::ofstream(good) << "s3cret\n";
  const std::string url = agent().url("auth");
  struct Case {
    std::vector<std::string> args;
    std::vector<std::string> env;
    std::string message;
  };
  const std::vector<Case> cases = {
      {{"--remote-user", kUser, "--remote-password-file", fifo},
       {},
       "--remote-password-file " + fifo + ": not a regular file"},
      {{"--remote-user", kUser, "--remote-password-file", "/dev/zero"},
       {},
       "--remote-password-file /dev/zero: not a regular file"},
      {{"--remote-user", kUser, "--remote-password-file", big},
       {},
       "--remote-password-file " + big + ": larger than 4096 bytes"},
      {{"--remote-user", kUser, "--remote-password-file", empty},
       {},
       "--remote-password-file " + empty + ": the first line is empty"},
      {{"--remote-user", kUser, "--remote-password-file", dir + "nonexistent"},
       {},
       "--remote-password-file " + dir + "nonexistent: No such file or directory"},
      {{"--remote-password-file", good},
       {},
       "a --remote password (--remote-password-file or IPCTRACE_REMOTE_PASSWORD) needs --remote-user"},
      {{},
       {"IPCTRACE_REMOTE_PASSWORD=s3cret"},
       "a --remote password (--remote-password-file or IPCTRACE_REMOTE_PASSWORD) needs --remote-user"},
      {{"--remote-user", kUser},
       {},
       "--remote-user alice needs a password: --remote-password-file FILE or IPCTRACE_REMOTE_PASSWORD"},
  };
  for (const Case& c : cases) {
    std::vector<std::string> argv = {ipctrace_binary(), "top", "--remote", url, "-b", "-n", "1"};
    argv.insert(argv.end(), c.args.begin(), c.args.end());
    const ProcessResult r = run_process(argv, 30s, c.env);
    EXPECT_FALSE(r.timed_out) << c.message;
    EXPECT_EQ(r.exit_code, 2) << c.message << ": " << r.err;
    EXPECT_EQ(r.err, "ipctrace: error: " + c.message + " (see 'ipctrace top --help')\n");
    EXPECT_EQ(r.out, "");
    EXPECT_THAT(r.err, Not(HasSubstr("s3cret")));
  }
  EXPECT_EQ(agent().take_authorization(), "(no request)");  // none of them asked
  // The options need --remote.
  const ProcessResult alone = run_process({ipctrace_binary(), "top", "--remote-user", kUser, "-b"}, 30s);
  EXPECT_EQ(alone.exit_code, 2);
  EXPECT_THAT(alone.err, HasSubstr("--remote-user requires --remote"));
  for (const std::string& f : {fifo, big, empty, good}) std::remove(f.c_str());
}

// A real terminal (tmux) at 80x24 and 120x40: every row's two names are shown, no two different
// names look alike, and at 120 columns each keeps its container whole; below 68x12 the screen says it is too small; q
// quits with 0.
TEST(TopRemote, NamesStayDistinguishableInARealTerminal) {
  if (!Tmux::installed()) {
    if (in_ci()) FAIL() << "tmux is missing (tools/install-deps.sh installs it)";
    GTEST_SKIP() << "tmux is missing";
  }
  const std::string rc_file = testing::TempDir() + "ipctrace-top-rc-" + std::to_string(getpid());
  unlink(rc_file.c_str());
  Tmux tmux;
  ASSERT_TRUE(tmux.start(ipctrace_binary() + " top --remote " + agent().url("cluster") + " -d 1s; echo $? > " + rc_file,
                         80, 24));
  for (const auto& size : std::vector<std::pair<int, int>>{{80, 24}, {120, 40}}) {
    const int width = size.first;
    const int height = size.second;
    tmux.resize(width, height);
    // The header, the titles, the prompt's line; the document has 20 flows.
    const size_t rows = std::min<size_t>(20, static_cast<size_t>(height - 8));
    const auto table = [&](const std::string& screen) {
      std::vector<std::string> out;
      bool in_table = false;
      for (const auto& l : screen_lines(screen)) {
        if (in_table && !l.empty()) out.push_back(l);
        in_table = in_table || l.rfind("SRC", 0) == 0;
      }
      return out;
    };
    const std::string screen = tmux.wait_for(
        [&](const std::string& s) {
          const auto lines = screen_lines(s);
          return table(s).size() == rows && !lines.empty() && lines[0].size() <= static_cast<size_t>(width) &&
                 s.find(" - every 1s") != std::string::npos;
        },
        10s);
    const auto lines = table(screen);
    ASSERT_EQ(lines.size(), rows) << width << "x" << height << ":\n" << screen;
    std::set<std::string> src;
    std::set<std::string> dst;
    for (const auto& l : lines) {
      EXPECT_LE(l.size(), static_cast<size_t>(width)) << l;
      std::istringstream cells(l);
      std::string a;
      std::string b;
      cells >> a >> b;
      EXPECT_TRUE(src.insert(a).second) << width << "x" << height << ": two sources shown as " << a << "\n" << screen;
      EXPECT_TRUE(dst.insert(b).second) << width << "x" << height << ": two destinations shown as " << b << "\n"
                                        << screen;
      // With room for it, each shows its container whole. At 80 columns these names (two
      // namespaces, five pods of one deployment each, the same containers) need more than
      // 16 characters each to show both what differs and the container: some show only where
      // they differ.
      if (width >= 120) {
        EXPECT_TRUE(a.ends_with("-client")) << a;
        EXPECT_TRUE(b.ends_with("-server")) << b;
      }
    }
  }
  tmux.resize(40, 10);
  const std::string small =
      tmux.wait_for([](const std::string& s) { return s.find("terminal too small") != std::string::npos; }, 10s);
  EXPECT_EQ(screen_lines(small).at(0), "terminal too small (40x10): needs 68x12") << small;
  tmux.keys({"q"});
  const std::string rc = Tmux::first_line_within(rc_file, 10s);
  unlink(rc_file.c_str());
  EXPECT_EQ(rc, "0");
}
