// The command line, in process (parsing) and as the real binary (help, exit codes, messages).
#include "app/cli.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>

#include "subprocess.h"

using ::testing::HasSubstr;

using namespace ipctrace;
using namespace std::chrono_literals;
using ipctrace::test::count_lines;
using ipctrace::test::ipctrace_binary;
using ipctrace::test::run_process;

namespace {

struct Parsed {
  std::unique_ptr<Cli> cli;
  std::optional<int> exit;
};

Parsed parse(std::vector<const char*> args) {
  args.insert(args.begin(), "ipctrace");
  Parsed p{make_cli(), std::nullopt};
  testing::internal::CaptureStderr();
  testing::internal::CaptureStdout();
  p.exit = parse_cli(*p.cli, static_cast<int>(args.size()), args.data());
  testing::internal::GetCapturedStdout();
  testing::internal::GetCapturedStderr();
  return p;
}

}  // namespace

TEST(Cli, Defaults) {
  auto p = parse({"agent"});
  ASSERT_FALSE(p.exit);
  EXPECT_EQ(p.cli->command(), "agent");
  EXPECT_EQ(p.cli->agent.listen, kDefaultListen);
  EXPECT_EQ(p.cli->agent.interval, 1s);
  EXPECT_EQ(p.cli->agent.idle_timeout, 5min);
  EXPECT_EQ(p.cli->agent.max_series, 10000U);
  EXPECT_EQ(p.cli->agent.hooks, "auto");
  EXPECT_EQ(p.cli->global.host_root, "/");
}

TEST(Cli, AgentFlags) {
  auto p = parse({"-vv", "agent", "--listen", "127.0.0.1:9999", "--interval", "500ms", "--idle-timeout", "10m",
                  "--max-series", "250", "--hooks", "tracepoint", "--no-wait-time"});
  ASSERT_FALSE(p.exit);
  EXPECT_EQ(p.cli->global.verbose, 2);
  EXPECT_EQ(p.cli->agent.listen, "127.0.0.1:9999");
  EXPECT_EQ(p.cli->agent.interval, 500ms);
  EXPECT_EQ(p.cli->agent.idle_timeout, 10min);
  EXPECT_EQ(p.cli->agent.max_series, 250U);
  EXPECT_EQ(p.cli->agent.hooks, "tracepoint");
  EXPECT_TRUE(p.cli->agent.no_wait_time);
}

TEST(Cli, TopFlags) {
  auto p = parse({"top", "-b", "-n", "2", "-d", "0.5", "--kind", "pipe,fifo", "--kind", "tcp", "--pid", "42"});
  ASSERT_FALSE(p.exit);
  EXPECT_TRUE(p.cli->top.batch);
  EXPECT_EQ(p.cli->top.iterations, 2);
  EXPECT_EQ(p.cli->top.delay, 500ms);
  EXPECT_EQ(p.cli->top.filters.kinds, (std::vector<std::string>{"pipe", "fifo", "tcp"}));
  EXPECT_EQ(p.cli->top.filters.pids, (std::vector<int>{42}));
}

TEST(Cli, FlowsAndTraceAndProbe) {
  auto f = parse({"flows", "--duration", "3s", "-o", "json", "--namespace", "default", "--pod", "web-0"});
  ASSERT_FALSE(f.exit);
  EXPECT_EQ(f.cli->flows.duration, 3s);
  EXPECT_EQ(f.cli->flows.output, "json");
  EXPECT_EQ(f.cli->flows.filters.namespaces, (std::vector<std::string>{"default"}));

  auto t = parse({"trace", "--data", "--output", "json", "--container", "sidecar"});
  ASSERT_FALSE(t.exit);
  EXPECT_TRUE(t.cli->trace.data);
  EXPECT_EQ(t.cli->trace.filters.containers, (std::vector<std::string>{"sidecar"}));

  auto pr = parse({"probe", "--hooks", "raw_tp", "-o", "json"});
  ASSERT_FALSE(pr.exit);
  EXPECT_EQ(pr.cli->command(), "probe");
  EXPECT_EQ(pr.cli->probe.hooks, "raw_tp");
}

TEST(Cli, RejectsBadInput) {
  const std::vector<std::vector<const char*>> bad = {
      {},                                        // no subcommand
      {"frobnicate"},                            // unknown subcommand
      {"agent", "--no-such-flag"},               // unknown flag
      {"agent", "--listen", "nonsense"},         // no port
      {"agent", "--listen", "1.2.3.4:70000"},    // port out of range
      {"agent", "--interval", "5parsecs"},       // bad duration
      {"agent", "--interval", "0s"},             // zero interval
      {"agent", "--max-series", "0"},            // out of range
      {"agent", "--hooks", "kprobe"},            // unknown family
      {"top", "-n", "-1"},                       // negative count
      {"top", "--remote", "ftp://x"},            // not http
      {"flows", "--kind", "carrier-pigeon"},     // unknown kind
      {"flows", "--output", "xml"},              // unknown format
      {"trace", "--pid", "0"},                   // pid must be positive
      {"probe", "--output", "yaml"},             // unknown format
      {"--host-root", "/no/such/dir", "probe"},  // missing directory
      {"--log-level", "loud", "probe"},          // unknown level
  };
  for (const auto& args : bad) {
    auto p = parse(args);
    std::string joined;
    for (const char* a : args) joined += std::string(a) + " ";
    ASSERT_TRUE(p.exit) << joined;
    EXPECT_EQ(*p.exit, kExitUsage) << joined;
  }
}

TEST(Cli, ListenAddresses) {
  EXPECT_EQ(parse_listen("0.0.0.0:9477")->port, 9477);
  EXPECT_EQ(parse_listen(":80")->host, "");
  EXPECT_EQ(parse_listen("[::1]:9000")->host, "::1");
  EXPECT_EQ(parse_listen("localhost:1")->host, "localhost");
  EXPECT_FALSE(parse_listen("::1:9000").ok());
  EXPECT_FALSE(parse_listen("[::1]9000").ok());
  EXPECT_FALSE(parse_listen("host:").ok());
  EXPECT_FALSE(parse_listen("host:0").ok());
  EXPECT_FALSE(parse_listen("host:12ab").ok());
}

TEST(Cli, ConfigFile) {
  const std::string path = testing::TempDir() + "ipctrace-cli-test.toml";
  {
    std::ofstream out(path);
    out << "[agent]\nlisten = \"127.0.0.1:9100\"\ninterval = \"2s\"\nmax-series = 77\n";
  }
  auto p = parse({"--config", path.c_str(), "agent"});
  ASSERT_FALSE(p.exit);
  EXPECT_EQ(p.cli->agent.listen, "127.0.0.1:9100");
  EXPECT_EQ(p.cli->agent.interval, 2s);
  EXPECT_EQ(p.cli->agent.max_series, 77U);

  {
    std::ofstream out(path);
    out << "[agent]\nlisten = \"127.0.0.1:9100\"\nlisen = \"typo\"\n";
  }
  auto bad = parse({"--config", path.c_str(), "agent"});
  ASSERT_TRUE(bad.exit);
  EXPECT_EQ(*bad.exit, kExitUsage);
  std::remove(path.c_str());
}

TEST(Cli, EnvironmentVariables) {
  setenv("IPCTRACE_LISTEN", "127.0.0.1:9200", 1);
  auto p = parse({"agent"});
  unsetenv("IPCTRACE_LISTEN");
  ASSERT_FALSE(p.exit);
  EXPECT_EQ(p.cli->agent.listen, "127.0.0.1:9200");
}

// The binary itself: what a user sees.
TEST(CliBinary, HelpForEverySubcommand) {
  const std::vector<std::pair<std::string, std::vector<std::string>>> expected = {
      {"", {"agent", "top", "flows", "trace", "probe", "version", "--verbose", "--host-root", "--config"}},
      {"agent",
       {"--listen", "--interval", "--idle-timeout", "--max-series", "--hooks", "--no-wait-time", "--basic-auth-file",
        "--tls-cert"}},
      {"top",
       {"--batch", "--iterations", "--delay", "--remote", "--kind", "--container", "--pod", "--namespace", "--pid"}},
      {"flows", {"--duration", "--output", "--kind", "--namespace"}},
      {"trace", {"--output", "--data", "--duration", "--pid"}},
      {"probe", {"--output", "--hooks"}},
      {"version", {"--output"}},
  };
  for (const auto& [sub, flags] : expected) {
    std::vector<std::string> argv{ipctrace_binary()};
    if (!sub.empty()) argv.push_back(sub);
    argv.emplace_back("--help");
    auto r = run_process(argv);
    EXPECT_EQ(r.exit_code, 0) << sub << ": " << r.err;
    EXPECT_TRUE(r.err.empty()) << sub << ": " << r.err;
    for (const auto& flag : flags) EXPECT_THAT(r.out, HasSubstr(flag)) << sub << " --help lacks " << flag;
  }
}

TEST(CliBinary, WrongFlagExitsTwoWithOneLine) {
  const std::vector<std::vector<std::string>> cases = {
      {"--bogus"},
      {"agent", "--bogus"},
      {"top", "--bogus"},
      {"flows", "--bogus"},
      {"trace", "--bogus"},
      {"probe", "--bogus"},
      {"version", "--bogus"},
      {"agent", "--listen", "nope"},
      {"flows", "--kind", "carrier-pigeon"},
      {"nosuchcommand"},
      {},
  };
  for (const auto& args : cases) {
    std::vector<std::string> argv{ipctrace_binary()};
    argv.insert(argv.end(), args.begin(), args.end());
    auto r = run_process(argv);
    std::string joined;
    for (const auto& a : args) joined += a + " ";
    EXPECT_EQ(r.exit_code, 2) << joined;
    EXPECT_EQ(count_lines(r.err), 1) << joined << ": " << r.err;
    EXPECT_TRUE(r.err.starts_with("ipctrace: error: ")) << joined << ": " << r.err;
    EXPECT_TRUE(r.out.empty()) << joined;
  }
  auto r = run_process({ipctrace_binary(), "flows", "--kind", "carrier-pigeon"});
  EXPECT_THAT(r.err, HasSubstr("unknown kind 'carrier-pigeon'")) << r.err;
  r = run_process({ipctrace_binary(), "agent", "--bogus"});
  EXPECT_THAT(r.err, HasSubstr("--bogus")) << r.err;
  EXPECT_THAT(r.err, HasSubstr("ipctrace agent --help")) << r.err;
}

TEST(CliBinary, Version) {
  auto r = run_process({ipctrace_binary(), "version"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_TRUE(r.out.starts_with("ipctrace 0.1.0 (commit ")) << r.out;
  r = run_process({ipctrace_binary(), "version", "-o", "json"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_THAT(r.out, HasSubstr("\"version\": \"0.1.0\"")) << r.out;
  EXPECT_THAT(r.out, HasSubstr("\"libbpf\": \"1.")) << r.out;
}

TEST(CliBinary, TraceRefusesABadBufferSize) {
  for (const char* size : {"1000", "3K", "2G", "lots"}) {
    auto r = run_process({ipctrace_binary(), "trace", "--data", "--buffer-size", size});
    EXPECT_EQ(r.exit_code, 2) << size;
    EXPECT_THAT(r.err, HasSubstr("--buffer-size")) << r.err;
    EXPECT_EQ(count_lines(r.err), 1U) << r.err;
  }
}
