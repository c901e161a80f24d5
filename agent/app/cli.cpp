#include "app/cli.h"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <netdb.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <memory>
#include <vector>

#include "app/http_query.h"
#include "base/files.h"
#include "base/text.h"
#include "kernel/hooks.h"
#include "kernel/kinds.h"

namespace ipctrace {

Result<ListenAddress> parse_listen(const std::string& text) {
  auto bad = [&](const char* why) { return Error::msg(fmt::format("invalid listen address '{}': {}", text, why)); };
  std::string host;
  std::string port;
  if (!text.empty() && text.front() == '[') {
    const auto close = text.find(']');
    if (close == std::string::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return bad("expected [IPV6]:PORT");
    }
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
  } else {
    const auto colon = text.rfind(':');
    if (colon == std::string::npos) return bad("expected HOST:PORT");
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
    if (host.find(':') != std::string::npos) return bad("IPv6 addresses go in brackets, e.g. [::1]:9477");
  }
  unsigned value = 0;
  auto [ptr, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (port.empty() || ec != std::errc() || ptr != port.data() + port.size() || value == 0 || value > 65535) {
    return bad("port must be 1-65535");
  }
  return ListenAddress{host, static_cast<uint16_t>(value)};
}

Result<ListenAddress> resolve_listen(const ListenAddress& a) {
  in6_addr scratch{};
  if (a.host.empty() || inet_pton(AF_INET, a.host.c_str(), &scratch) == 1 ||
      inet_pton(AF_INET6, a.host.c_str(), &scratch) == 1)
    return a;
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  const int rc = getaddrinfo(a.host.c_str(), nullptr, &hints, &found);
  if (rc != 0 || found == nullptr)
    return Error::msg(fmt::format("host name '{}' does not resolve: {}", visible(a.host), gai_strerror(rc)));
  std::unique_ptr<addrinfo, decltype(&freeaddrinfo)> owned(found, freeaddrinfo);
  char text[INET6_ADDRSTRLEN] = {};
  const void* addr = found->ai_family == AF_INET6
                         ? static_cast<const void*>(&reinterpret_cast<const sockaddr_in6*>(found->ai_addr)->sin6_addr)
                         : static_cast<const void*>(&reinterpret_cast<const sockaddr_in*>(found->ai_addr)->sin_addr);
  if (inet_ntop(found->ai_family, addr, text, sizeof(text)) == nullptr) return Error::from_errno("inet_ntop");
  return ListenAddress{text, a.port};
}

namespace {

const CLI::Validator kDurationCheck(
    [](const std::string& s) {
      auto d = parse_duration(s);
      return d ? std::string() : d.error().message();
    },
    "DURATION", "duration");

const CLI::Validator kPositiveDurationCheck(
    [](const std::string& s) {
      auto d = parse_duration(s);
      if (!d) return d.error().message();
      return d->count() > 0 ? std::string() : fmt::format("duration '{}' must be greater than zero", s);
    },
    "DURATION", "positive duration");

// A process id: 1 to PID_MAX_LIMIT (4194304, include/linux/threads.h), digits only.
const CLI::Validator kPidCheck(
    [](const std::string& s) {
      uint32_t value = 0;
      auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
      if (s.empty() || ec != std::errc() || ptr != s.data() + s.size() || value == 0 || value > 4194304U)
        return fmt::format("'{}' is not a process id (1 to 4194304)", visible(s));
      return std::string();
    },
    "PID", "process id");

const CLI::Validator kKindCheck(
    [](const std::string& s) {
      if (parse_kind(s)) return std::string();
      std::string names;
      for (const auto& k : all_kinds()) names += (names.empty() ? "" : ", ") + std::string(k.name);
      return fmt::format("unknown kind '{}' (one of: {})", s, names);
    },
    "KIND", "kind");

const CLI::Validator kHooksCheck(
    [](const std::string& s) {
      if (s == "auto" || parse_family(s)) return std::string();
      return fmt::format("unknown hook family '{}' (one of: auto, fentry, tp_btf, raw_tp, tracepoint)", s);
    },
    "HOOKS", "hook family");

const CLI::Validator kListenCheck(
    [](const std::string& s) {
      auto l = parse_listen(s);
      return l ? std::string() : l.error().message();
    },
    "HOST:PORT", "listen address");

const CLI::Validator kUrlCheck(
    [](const std::string& s) {
      if (s.starts_with("http://") || s.starts_with("https://")) return std::string();
      // Never the userinfo: it may hold a password.
      return fmt::format("'{}' is not an http:// or https:// URL", visible(split_userinfo(s).url));
    },
    "URL", "url");

void add_duration(CLI::App* app, const std::string& name, Duration& target, const std::string& help,
                  const CLI::Validator& check = kDurationCheck) {
  app->add_option_function<std::string>(
         name, [&target](const std::string& s) { target = *parse_duration(s); }, help)
      ->check(check)
      ->default_str(format_duration(target))
      ->type_name("DURATION");
}

void add_hooks(CLI::App* app, std::string& target) {
  app->add_option("--hooks", target,
                  "Hook family: auto (cheapest that works, per mechanism), or force one: fentry (function "
                  "hooks), tracepoint (any tracepoint hook, no function hooks), tp_btf or raw_tp")
      ->check(kHooksCheck)
      ->capture_default_str()
      ->envname("IPCTRACE_HOOKS");
}

void add_filters(CLI::App* app, Filters& f) {
  app->add_option("--kind", f.kinds, "Only these IPC kinds (repeat or comma-separate)")
      ->delimiter(',')
      ->check(kKindCheck);
  app->add_option("--container", f.containers, "Only flows with an endpoint in this container (name or id prefix)");
  app->add_option("--pod", f.pods, "Only flows with an endpoint in this pod");
  app->add_option("--namespace", f.namespaces, "Only flows with an endpoint in this Kubernetes namespace");
  app->add_option("--pid", f.pids, "Only operations by this process id")->check(kPidCheck);
}

void add_output(CLI::App* app, std::string& target, std::vector<std::string> choices) {
  app->add_option("-o,--output", target, "Output format")
      ->check(CLI::IsMember(std::move(choices)))
      ->capture_default_str();
}

void add_global(Cli& cli) {
  CLI::App& app = cli.app;
  auto& g = cli.global;
  app.add_flag("-v,--verbose", g.verbose, "More log output (-v debug, -vv trace)");
  app.add_option("--log-level", g.log_level, "Log level: trace, debug, info, warn, error, off (overrides -v)")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "critical", "off"}))
      ->envname("IPCTRACE_LOG_LEVEL");
  app.add_option("--host-root", g.host_root,
                 "Where the host's /proc, /run and /sys/fs/cgroup are visible (a DaemonSet mounts them elsewhere)")
      ->check(CLI::ExistingDirectory)
      ->capture_default_str()
      ->envname("IPCTRACE_HOST_ROOT");
  app.add_option("--containerd-state", g.containerd_state,
                 "containerd's state directory (its config's `state`), as the host sees it; repeat for several "
                 "(default: /run/containerd and /run/k3s/containerd)")
      ->check([](const std::string& dir) { return dir.starts_with("/") ? std::string() : "must be an absolute path"; })
      ->delimiter(',')
      ->envname("IPCTRACE_CONTAINERD_STATE");
}

void add_agent(Cli& cli) {
  CLI::App& app = cli.app;
  auto& a = cli.agent;
  CLI::App* agent = app.add_subcommand("agent", "Run the node agent: serve /metrics, /api/v1/flows, /healthz, /readyz");
  cli.agent_cmd = agent;
  agent->add_option("--listen", a.listen, "HTTP listen address")
      ->check(kListenCheck)
      ->capture_default_str()
      ->envname("IPCTRACE_LISTEN");
  add_duration(agent, "--interval", a.interval, "Collection interval", kPositiveDurationCheck);
  add_duration(agent, "--idle-timeout", a.idle_timeout, "Forget flows and endpoints idle this long",
               kPositiveDurationCheck);
  agent->add_option("--max-series", a.max_series, "Cardinality cap on flow series; smaller flows fold into overflow")
      ->check(CLI::Range(1U, 10000000U))
      ->capture_default_str()
      ->envname("IPCTRACE_MAX_SERIES");
  agent
      ->add_option("--flow-map-entries", a.flow_map_entries,
                   "Flows kept (one cgroup fills at most 3/4 of them); each CPU's in-kernel tables hold "
                   "min(this, 16384, what 64 MiB of kernel maps leave per possible CPU) between two collections, "
                   "3/4 for one cgroup")
      ->check(CLI::Range(64U, 16777216U))
      ->capture_default_str();
  add_hooks(agent, a.hooks);
  agent->add_flag("--no-wait-time", a.no_wait_time,
                  "Do not measure time blocked in receiving calls (saves an entry hook)");
  agent
      ->add_option("--basic-auth-file", a.basic_auth_file,
                   "Users file (user:hash lines, htpasswd -B style); basic auth on /metrics and /api/v1/flows")
      ->check(CLI::ExistingFile)
      ->envname("IPCTRACE_BASIC_AUTH_FILE");
  CLI::Option* tls_cert =
      agent->add_option("--tls-cert", a.tls_cert, "TLS certificate chain (PEM); serves HTTPS (needs --tls-key)")
          ->check(CLI::ExistingFile)
          ->envname("IPCTRACE_TLS_CERT");
  CLI::Option* tls_key = agent->add_option("--tls-key", a.tls_key, "TLS private key (PEM) of --tls-cert")
                             ->check(CLI::ExistingFile)
                             ->envname("IPCTRACE_TLS_KEY");
  tls_cert->needs(tls_key);
  tls_key->needs(tls_cert);
}

void add_top(Cli& cli) {
  CLI::App& app = cli.app;
  auto& t = cli.top;
  CLI::App* top = app.add_subcommand("top", "Live terminal view of flows and containers, sorted by rate");
  cli.top_cmd = top;
  top->add_flag("-b,--batch", t.batch, "Print plain-text frames to stdout (no terminal control codes)");
  top->add_option("-n,--iterations", t.iterations, "Number of frames, then exit (0: until quit)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  add_duration(top, "-d,--delay", t.delay, "Delay between frames", kPositiveDurationCheck);
  CLI::Option* remote =
      top->add_option("--remote", t.remote, "Read a running agent (its base URL) instead of loading programs")
          ->check(kUrlCheck)
          ->envname("IPCTRACE_REMOTE");
  top->add_option("--cacert", t.cacert,
                  "With an https --remote: trust this CA certificate (PEM) instead of the system's")
      ->check(CLI::ExistingFile)
      ->needs(remote)
      ->envname("IPCTRACE_CACERT");
  top->add_option("--remote-user", t.remote_user,
                  "With --remote: the user for basic authentication (the password from --remote-password-file or "
                  "the environment variable IPCTRACE_REMOTE_PASSWORD)")
      ->needs(remote)
      ->envname("IPCTRACE_REMOTE_USER");
  top->add_option("--remote-password-file", t.remote_password_file,
                  "With --remote: a file whose first line is the password (not a URL's user:password@, which ps shows)")
      ->needs(remote);
  add_hooks(top, t.hooks);
  add_filters(top, t.filters);
}

void add_flows_and_trace(Cli& cli) {
  CLI::App& app = cli.app;
  auto& f = cli.flows;
  CLI::App* flows = app.add_subcommand("flows", "Trace for a while, then print the flows");
  cli.flows_cmd = flows;
  add_duration(flows, "--duration", f.duration, "How long to trace", kPositiveDurationCheck);
  add_output(flows, f.output, {"table", "wide", "json"});
  add_hooks(flows, f.hooks);
  add_filters(flows, f.filters);

  auto& tr = cli.trace;
  CLI::App* trace = app.add_subcommand("trace", "Stream individual IPC events as they happen");
  cli.trace_cmd = trace;
  add_output(trace, tr.output, {"text", "json"});
  trace->add_flag("--data", tr.data, "Include data operations (sends, receives), not only lifecycle events");
  add_duration(trace, "--duration", tr.duration, "Stop after this long (0: until interrupted)");
  trace
      ->add_option("--buffer-size", tr.buffer_size,
                   "Ring buffer for --data (bytes, K/M suffixes; a power of two); a full buffer drops and says so")
      ->transform(CLI::AsSizeValue(false))
      ->check(CLI::Validator(
          [](std::string& s) -> std::string {
            const unsigned long long n = std::stoull(s);
            if (n < 4096 || n > (1ULL << 30) || (n & (n - 1)) != 0) {
              return "must be a power of two from 4KiB to 1GiB";
            }
            return {};
          },
          "POW2", "power of two"))
      ->capture_default_str();
  add_hooks(trace, tr.hooks);
  add_filters(trace, tr.filters);
}

void add_probe_and_version(Cli& cli) {
  CLI::App& app = cli.app;
  auto& p = cli.probe;
  CLI::App* probe = app.add_subcommand(
      "probe", "Report what this kernel supports and which hook each IPC mechanism would use (needs root)");
  cli.probe_cmd = probe;
  add_output(probe, p.output, {"text", "json"});
  add_hooks(probe, p.hooks);
  probe
      ->add_option("--possible-cpus", p.possible_cpus,
                   "Plan the agent's kernel memory for a node with N possible CPUs instead of this one (to size a "
                   "DaemonSet's memory limit for larger nodes)")
      ->check(CLI::Range(1, 8192))
      ->type_name("N");

  // version
  CLI::App* version = app.add_subcommand("version", "Print version and build information");
  cli.version_cmd = version;
  add_output(version, cli.version.output, {"text", "json"});
}

}  // namespace

std::string Cli::command() const {
  for (const CLI::App* sub : {agent_cmd, top_cmd, flows_cmd, trace_cmd, probe_cmd, version_cmd}) {
    if (sub != nullptr && sub->parsed()) return sub->get_name();
  }
  return {};
}

std::unique_ptr<Cli> make_cli() {
  auto cli = std::make_unique<Cli>();
  CLI::App& app = cli->app;
  app.require_subcommand(1);
  app.fallthrough();
  app.set_help_all_flag("--help-all", "Show help for every subcommand");
  app.set_config("--config", "", "Read options from an INI or TOML file (sections per subcommand, e.g. [agent])")
      ->envname("IPCTRACE_CONFIG");
  app.allow_config_extras(CLI::config_extras_mode::error);
  app.footer(
      "Exit status: 0 success, 1 failure at run time, 2 bad usage.\n"
      "Options can also come from environment variables (shown as ENV) and from --config.");

  add_global(*cli);
  add_agent(*cli);
  add_top(*cli);
  add_flows_and_trace(*cli);
  add_probe_and_version(*cli);
  return cli;
}

namespace {

constexpr uintmax_t kMaxConfigBytes = 1U << 20U;  // README: "Security"

// The config file the command line names (--config FILE, --config=FILE), else IPCTRACE_CONFIG; nullopt
// for neither. CLI11 reads an option's environment variable only after the config file (its
// _process_config_file() runs before _process_env()), so IPCTRACE_CONFIG is handed to it as
// --config here: the variable then behaves exactly like the option, errors included.
std::optional<std::string> config_named(std::vector<std::string>& args) {
  for (size_t i = 1; i < args.size(); ++i) {
    if (args[i] == "--") break;
    if (args[i] == "--config") return i + 1 < args.size() ? std::optional(args[i + 1]) : std::nullopt;
    if (args[i].starts_with("--config=")) return args[i].substr(std::strlen("--config="));
  }
  const char* env = std::getenv("IPCTRACE_CONFIG");
  if (env == nullptr) return std::nullopt;
  args.insert(args.begin() + 1, {"--config", env});
  return std::string(env);
}

// What is wrong with config file `path` before CLI11 reads it, or "": only a regular file of at
// most kMaxConfigBytes (a FIFO would block the read, /dev/zero never end), and only sections
// that are subcommands (CLI11 says "INI was not able to parse agnet.++" of a misspelt one).
std::string config_problem(const std::string& path, const CLI::App& app) {
  if (path.empty()) return {};
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) return fmt::format("--config {}: {}", path, std::strerror(errno));
  if (!S_ISREG(st.st_mode)) return fmt::format("--config {}: not a regular file", path);
  if (static_cast<uintmax_t>(st.st_size) > kMaxConfigBytes)
    return fmt::format("--config {}: larger than {} bytes", path, kMaxConfigBytes);
  std::ifstream in(path);
  if (!in) return fmt::format("--config {}: cannot be read", path);
  const std::vector<const CLI::App*> subs = app.get_subcommands({});
  std::string line;
  for (int n = 1; std::getline(in, line); ++n) {
    const size_t open = line.find_first_not_of(" \t");
    if (open == std::string::npos || line[open] != '[') continue;
    const size_t close = line.find(']', open);
    if (close == std::string::npos) continue;  // CLI11 names it
    std::string section = line.substr(open + 1, close - open - 1);
    if (section.starts_with('[')) continue;  // a TOML array of tables: CLI11 names it
    const bool known = section == "default" || std::any_of(subs.begin(), subs.end(), [&](const CLI::App* sub) {
                         return sub->get_name() == section;
                       });
    if (!known) {
      std::vector<std::string> names;
      names.reserve(subs.size());
      for (const CLI::App* sub : subs) names.push_back(sub->get_name());
      return fmt::format("--config {}: line {}: unknown section [{}] (sections: {})", path, n, visible(section),
                         fmt::join(names, ", "));
    }
  }
  return {};
}

// Resolves top --remote's credentials in `t` (TopOptions::remote_user, remote_password); what is
// wrong with them, or "". The password file and the variable are read only with --remote.
std::string remote_credentials_problem(TopOptions& t) {
  if (t.remote.empty()) return {};
  const UrlUserinfo url = split_userinfo(t.remote);
  std::optional<std::string> password;
  if (!t.remote_password_file.empty()) {
    auto text = read_file(t.remote_password_file, kMaxPasswordFileBytes);
    if (!text) {
      const Error& e = text.error();
      std::string why = e.code() != 0 ? std::strerror(e.code()) : e.context();
      if (why.starts_with(t.remote_password_file + " is ")) why.erase(0, t.remote_password_file.size() + 4);
      return fmt::format("--remote-password-file {}: {}", t.remote_password_file, why);
    }
    std::string line = text->substr(0, text->find('\n'));
    if (line.ends_with('\r')) line.pop_back();
    if (line.empty()) return fmt::format("--remote-password-file {}: the first line is empty", t.remote_password_file);
    password = std::move(line);
  } else if (const char* env = std::getenv(kRemotePasswordEnv); env != nullptr && *env != '\0') {
    password = env;
  } else if (url.password) {
    password = url.password;
  }
  if (t.remote_user.empty() && url.user) t.remote_user = *url.user;
  if (password && t.remote_user.empty()) {
    return fmt::format("a --remote password (--remote-password-file or {}) needs --remote-user", kRemotePasswordEnv);
  }
  if (!password && !t.remote_user.empty()) {
    return fmt::format("--remote-user {} needs a password: --remote-password-file FILE or {}", visible(t.remote_user),
                       kRemotePasswordEnv);
  }
  t.remote_password = password.value_or("");
  return {};
}

// The first word of `args` that is no option nor an option's value, if it is no command: CLI11
// says "A subcommand is required" of `ipctrace bogus`.
std::optional<std::string> unknown_command(const std::vector<std::string>& args, const CLI::App& app) {
  for (size_t i = 1; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--") return std::nullopt;
    if (a.starts_with("-")) {
      const bool takes_value = a == "--config" || a == "--log-level" || a == "--host-root" || a == "--containerd-state";
      if (takes_value) ++i;
      continue;
    }
    for (const CLI::App* sub : app.get_subcommands({})) {
      if (sub->get_name() == a) return std::nullopt;
    }
    return a;
  }
  return std::nullopt;
}

}  // namespace

std::optional<int> parse_cli(Cli& cli, int argc, const char* const* argv) {
  std::vector<std::string> args(argv, argv + argc);
  if (const std::optional<std::string> bogus = unknown_command(args, cli.app); bogus) {
    std::vector<std::string> names;
    for (const CLI::App* sub : cli.app.get_subcommands({})) names.push_back(sub->get_name());
    std::cerr << fmt::format("ipctrace: error: unknown command '{}' (one of: {}) (see 'ipctrace --help')\n",
                             visible(*bogus), fmt::join(names, ", "));
    return kExitUsage;
  }
  if (const std::optional<std::string> config = config_named(args); config) {
    if (const std::string problem = config_problem(*config, cli.app); !problem.empty()) {
      std::cerr << "ipctrace: error: " << problem << " (see 'ipctrace --help')\n";
      return kExitUsage;
    }
  }
  std::vector<const char*> args_c;
  args_c.reserve(args.size());
  for (const std::string& a : args) args_c.push_back(a.c_str());
  try {
    cli.app.parse(static_cast<int>(args_c.size()), args_c.data());
  } catch (const CLI::CallForHelp&) {
    std::cout << cli.app.help();
    return kExitOk;
  } catch (const CLI::CallForAllHelp&) {
    std::cout << cli.app.help("", CLI::AppFormatMode::All);
    return kExitOk;
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) {
      // --help on a subcommand: CLI11 raises CallForHelp from it.
      std::cout << (cli.app.get_subcommands().empty() ? cli.app.help() : cli.app.get_subcommands().front()->help());
      return kExitOk;
    }
    std::string what = e.what();
    for (char& c : what) {
      if (c == '\n') c = ' ';
    }
    const std::string cmd = cli.command();
    std::cerr << "ipctrace: error: " << what << " (see 'ipctrace" << (cmd.empty() ? "" : " " + cmd) << " --help')\n";
    return kExitUsage;
  }
  if (cli.top_cmd->parsed()) {
    if (const std::string problem = remote_credentials_problem(cli.top); !problem.empty()) {
      std::cerr << "ipctrace: error: " << problem << " (see 'ipctrace top --help')\n";
      return kExitUsage;
    }
  }
  return std::nullopt;
}

}  // namespace ipctrace
