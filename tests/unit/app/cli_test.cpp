// The command line, in process (parsing) and as the real binary (help, exit codes, messages).
#include "app/cli.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <functional>
#include <optional>
#include <vector>

#include "subprocess.h"

using ::testing::HasSubstr;

using namespace ipctrace;
using namespace std::chrono_literals;
using ipctrace::test::count_lines;
using ipctrace::test::ipctrace_binary;
using ipctrace::test::run_process;

namespace {

// Sets an environment variable for a scope, whatever the test does in it.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const std::string& value) : name_(name) { setenv(name, value.c_str(), 1); }
  ~ScopedEnv() { unsetenv(name_); }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  const char* name_;
};

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

// A host name is resolved (localhost, from /etc/hosts); an address is taken as it is.
TEST(Cli, ListenHostNamesResolve) {
  auto local = resolve_listen({"localhost", 9477});
  ASSERT_TRUE(local.ok()) << local.error().message();
  EXPECT_TRUE(local->host == "127.0.0.1" || local->host == "::1") << local->host;
  EXPECT_EQ(local->port, 9477);
  EXPECT_EQ(resolve_listen({"10.1.2.3", 80})->host, "10.1.2.3");
  EXPECT_EQ(resolve_listen({"::1", 80})->host, "::1");
  EXPECT_EQ(resolve_listen({"", 80})->host, "");
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

// Every environment variable the README lists does what its option does.
TEST(Cli, EnvironmentVariables) {
  const std::string dir = testing::TempDir();
  const std::string file = dir + "ipctrace-cli-env-file";
  std::ofstream(file) << "x\n";
  struct Case {
    const char* name;
    std::string value;
    const char* command;
    std::function<std::string(const Cli&)> got;
  };
  const std::vector<Case> cases = {
      {"IPCTRACE_LISTEN", "127.0.0.1:9200", "agent", [](const Cli& c) { return c.agent.listen; }},
      {"IPCTRACE_HOOKS", "raw_tp", "agent", [](const Cli& c) { return c.agent.hooks; }},
      {"IPCTRACE_HOOKS", "tp_btf", "flows", [](const Cli& c) { return c.flows.hooks; }},
      {"IPCTRACE_HOST_ROOT", dir, "agent", [](const Cli& c) { return c.global.host_root; }},
      {"IPCTRACE_LOG_LEVEL", "warn", "agent", [](const Cli& c) { return c.global.log_level; }},
      {"IPCTRACE_MAX_SERIES", "77", "agent", [](const Cli& c) { return std::to_string(c.agent.max_series); }},
      {"IPCTRACE_REMOTE", "http://node-1:9477", "top", [](const Cli& c) { return c.top.remote; }},
      {"IPCTRACE_BASIC_AUTH_FILE", file, "agent", [](const Cli& c) { return c.agent.basic_auth_file; }},
  };
  for (const Case& c : cases) {
    const ScopedEnv env(c.name, c.value);
    auto p = parse({c.command});
    ASSERT_FALSE(p.exit) << c.name;
    EXPECT_EQ(c.got(*p.cli), c.value) << c.name;
  }
  {
    // --containerd-state: repeated or comma-separated, and from its variable; absolute paths only.
    const ScopedEnv state("IPCTRACE_CONTAINERD_STATE", "/run/a,/run/b");
    auto p = parse({"flows"});
    ASSERT_FALSE(p.exit);
    EXPECT_EQ(p.cli->global.containerd_state, (std::vector<std::string>{"/run/a", "/run/b"}));
    auto opt = parse({"--containerd-state", "/x", "--containerd-state=/y", "flows"});
    ASSERT_FALSE(opt.exit);
    EXPECT_EQ(opt.cli->global.containerd_state, (std::vector<std::string>{"/x", "/y"}));
    auto relative = parse({"--containerd-state", "run/x", "flows"});
    ASSERT_TRUE(relative.exit);
    EXPECT_EQ(*relative.exit, kExitUsage);
  }
  const ScopedEnv cert("IPCTRACE_TLS_CERT", file);
  const ScopedEnv key("IPCTRACE_TLS_KEY", file);
  auto tls = parse({"agent"});
  ASSERT_FALSE(tls.exit);
  EXPECT_EQ(tls.cli->agent.tls_cert, file);
  EXPECT_EQ(tls.cli->agent.tls_key, file);
  {
    // top --remote's user and password (the password only from the environment or a file: an
    // option's value shows in ps). Without a user, a password is a usage error.
    const ScopedEnv remote("IPCTRACE_REMOTE", "http://node-1:9477");
    const ScopedEnv password("IPCTRACE_REMOTE_PASSWORD", "s3cret");
    auto no_user = parse({"top"});
    ASSERT_TRUE(no_user.exit);
    EXPECT_EQ(*no_user.exit, kExitUsage);
    const ScopedEnv user("IPCTRACE_REMOTE_USER", "alice");
    auto p = parse({"top"});
    ASSERT_FALSE(p.exit);
    EXPECT_EQ(p.cli->top.remote_user, "alice");
    EXPECT_EQ(p.cli->top.remote_password, "s3cret");
    // A password file wins over the variable, as an option over its variable.
    const std::string password_file = dir + "ipctrace-cli-password";
    std::ofstream(password_file) << "from the file\n";
    auto both = parse({"top", "--remote-password-file", password_file.c_str()});
    ASSERT_FALSE(both.exit);
    EXPECT_EQ(both.cli->top.remote_password, "from the file");
    std::remove(password_file.c_str());
  }
  std::remove(file.c_str());
}

// IPCTRACE_CONFIG is --config, errors included: the settings of the file apply (a loopback
// listen address, TLS and basic auth: the agent must not fall back to plain HTTP on 0.0.0.0), a
// missing file or an unknown key is a usage error, and the command line's --config wins.
TEST(Cli, ConfigFromTheEnvironmentIsTheConfigOption) {
  const std::string dir = testing::TempDir();
  const std::string secure = dir + "ipctrace-secure.toml";
  const std::string pem = dir + "ipctrace-cli-pem";
  const std::string users = dir + "ipctrace-cli-users";
  std::ofstream(pem) << "x\n";
  std::ofstream(users) << "x\n";
  std::ofstream(secure) << "[agent]\nlisten = \"127.0.0.1:9477\"\ntls-cert = \"" << pem << "\"\ntls-key = \"" << pem
                        << "\"\nbasic-auth-file = \"" << users << "\"\n";
  std::optional<ScopedEnv> env(std::in_place, "IPCTRACE_CONFIG", secure);
  auto p = parse({"agent"});
  ASSERT_FALSE(p.exit);
  EXPECT_EQ(p.cli->agent.listen, "127.0.0.1:9477");
  EXPECT_EQ(p.cli->agent.tls_cert, pem);
  EXPECT_EQ(p.cli->agent.tls_key, pem);
  EXPECT_EQ(p.cli->agent.basic_auth_file, users);
  // the command line's own --config wins over the variable
  const std::string other = dir + "ipctrace-other.toml";
  std::ofstream(other) << "[agent]\nlisten = \"127.0.0.1:9300\"\n";
  auto both = parse({"--config", other.c_str(), "agent"});
  EXPECT_FALSE(both.exit);
  EXPECT_EQ(both.cli->agent.listen, "127.0.0.1:9300");
  env.emplace("IPCTRACE_CONFIG", dir + "no-such-file.toml");
  auto missing = parse({"agent"});
  ASSERT_TRUE(missing.exit);
  EXPECT_EQ(*missing.exit, kExitUsage);
  std::ofstream(other) << "[agent]\nlisen = \"typo\"\n";
  env.emplace("IPCTRACE_CONFIG", other);
  auto unknown = parse({"agent"});
  ASSERT_TRUE(unknown.exit);
  EXPECT_EQ(*unknown.exit, kExitUsage);
  for (const std::string& f : {secure, pem, users, other}) std::remove(f.c_str());
}

// The binary itself: what a user sees.
TEST(CliBinary, HelpForEverySubcommand) {
  const std::vector<std::pair<std::string, std::vector<std::string>>> expected = {
      {"", {"agent", "top", "flows", "trace", "probe", "version", "--verbose", "--host-root", "--config"}},
      {"agent",
       {"--listen", "--interval", "--idle-timeout", "--max-series", "--hooks", "--no-wait-time", "--basic-auth-file",
        "--tls-cert"}},
      {"top",
       {"--batch", "--iterations", "--delay", "--remote", "--remote-user", "--remote-password-file", "--kind",
        "--container", "--pod", "--namespace", "--pid"}},
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
      {"flows", "--pid", "0"},
      {"flows", "--pid", "1x"},
      {"agent", "--interval", "9223372036s"},
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
  r = run_process({ipctrace_binary(), "nosuchcommand"});
  EXPECT_EQ(r.err,
            "ipctrace: error: unknown command 'nosuchcommand' (one of: agent, top, flows, trace, probe, version) "
            "(see 'ipctrace --help')\n");
  r = run_process({ipctrace_binary(), "--log-level", "warn", "bogus\x1b[2J"});
  EXPECT_THAT(r.err, HasSubstr("unknown command 'bogus\\u{001B}[2J'")) << r.err;
  r = run_process({ipctrace_binary(), "flows", "--pid", "0"});
  EXPECT_THAT(r.err, HasSubstr("'0' is not a process id (1 to 4194304)")) << r.err;
  r = run_process({ipctrace_binary(), "flows", "--pid", "1x"});
  EXPECT_THAT(r.err, HasSubstr("'1x' is not a process id (1 to 4194304)")) << r.err;
  r = run_process({ipctrace_binary(), "agent", "--interval", "9223372036s"});
  EXPECT_THAT(r.err, HasSubstr("longer than 8760h (a year)")) << r.err;
  r = run_process({ipctrace_binary(), "flows", "--duration", "9223372036s"});
  EXPECT_THAT(r.err, HasSubstr("longer than 8760h (a year)")) << r.err;
  r = run_process({ipctrace_binary(), "agent", "--bogus"});
  EXPECT_THAT(r.err, HasSubstr("--bogus")) << r.err;
  EXPECT_THAT(r.err, HasSubstr("ipctrace agent --help")) << r.err;
}

// A config file that is no regular file (a FIFO would block the read, /dev/zero never end), one
// past 1 MiB, and a misspelt section: one line naming the problem, exit 2, at once.
TEST(CliBinary, AConfigFileIsARegularFileOfBoundedSizeWithKnownSections) {
  const std::string dir = testing::TempDir();
  const std::string fifo = dir + "ipctrace-cli-fifo";
  std::remove(fifo.c_str());
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  const std::string big = dir + "ipctrace-cli-big.toml";
  std::ofstream(big) << "# " << std::string(size_t{1} << 20U, 'x') << "\n";
  const std::string typo = dir + "ipctrace-cli-typo.toml";
  std::ofstream(typo) << "[agnet]\nlisten = \"127.0.0.1:9477\"\n";
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"--config", "/dev/zero", "version"}, "--config /dev/zero: not a regular file"},
      {{"--config", fifo, "version"}, "--config " + fifo + ": not a regular file"},
      {{"--config=" + dir, "version"}, "--config " + dir + ": not a regular file"},
      {{"--config", big, "version"}, "--config " + big + ": larger than 1048576 bytes"},
      {{"--config", typo, "version"},
       "--config " + typo + ": line 1: unknown section [agnet] (sections: agent, top, flows, trace, probe, version)"},
      {{"--config", dir + "absent.toml", "version"}, "--config " + dir + "absent.toml: No such file or directory"},
  };
  for (const auto& [args, message] : cases) {
    std::vector<std::string> argv{ipctrace_binary()};
    argv.insert(argv.end(), args.begin(), args.end());
    const auto started = std::chrono::steady_clock::now();
    auto r = run_process(argv);
    EXPECT_LT(std::chrono::steady_clock::now() - started, 5s) << message;
    EXPECT_EQ(r.exit_code, 2) << message;
    EXPECT_EQ(r.err, "ipctrace: error: " + message + " (see 'ipctrace --help')\n");
    EXPECT_TRUE(r.out.empty()) << message;
  }
  std::remove(fifo.c_str());
  std::remove(big.c_str());
  std::remove(typo.c_str());
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
