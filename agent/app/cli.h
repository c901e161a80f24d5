// The `ipctrace` command line: one CLI11 app, subcommands, validated options.
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/duration.h"
#include "base/error.h"
#include "model/filter.h"

namespace ipctrace {

// Exit codes: 0 success, 1 the command failed at run time, 2 bad usage.
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;
inline constexpr int kExitUsage = 2;

inline constexpr const char* kDefaultListen = "0.0.0.0:9477";

struct GlobalOptions {
  int verbose = 0;
  std::string log_level;  // overrides -v when set
  std::string host_root = "/";
  std::vector<std::string> containerd_state{};  // --containerd-state: empty = the defaults (identity/runtimes.h)
};

struct AgentOptions {
  std::string listen = kDefaultListen;
  Duration interval = std::chrono::seconds(1);
  Duration idle_timeout = std::chrono::minutes(5);
  uint32_t max_series = 10000;
  uint32_t flow_map_entries = 65536;
  std::string hooks = "auto";
  bool no_wait_time = false;
  std::string basic_auth_file;
  std::string tls_cert;
  std::string tls_key;
};

struct TopOptions {
  bool batch = false;
  int iterations = 0;  // 0: until quit
  Duration delay = std::chrono::seconds(2);
  std::string remote;
  std::string cacert;  // --remote over HTTPS: the certificate bundle to trust
  // --remote's basic authentication. After parse_cli: the user (--remote-user, else the URL's),
  // and the password (the first line of --remote-password-file, else IPCTRACE_REMOTE_PASSWORD,
  // else the URL's), never shown.
  std::string remote_user;
  std::string remote_password_file;
  std::string remote_password;
  std::string hooks = "auto";
  Filters filters;
};

struct FlowsOptions {
  Duration duration = std::chrono::seconds(5);
  std::string output = "table";
  std::string hooks = "auto";
  Filters filters;
};

struct TraceOptions {
  std::string output = "text";
  bool data = false;
  Duration duration{0};  // 0: until interrupted
  std::string hooks = "auto";
  uint32_t buffer_size = 8U << 20;  // the data ring buffer: a power of two, at least a page
  Filters filters;
};

struct ProbeOptionsCli {
  std::string output = "text";
  std::string hooks = "auto";
  uint32_t possible_cpus = 0;  // plan the memory for a node with this many possible CPUs; 0: this one
};

struct VersionOptions {
  std::string output = "text";
};

struct ListenAddress {
  std::string host;  // "" or "0.0.0.0": all IPv4; "::": all IPv6
  uint16_t port = 0;
};
// "HOST:PORT", "[V6]:PORT" or ":PORT".
Result<ListenAddress> parse_listen(const std::string& text);
// `a` with a host name (localhost, the node's name) resolved to its first address
// (getaddrinfo(), system order, IPv4 or IPv6); an address or "" as it is. A name that does not
// resolve is an error naming it: a usage error, like a malformed address.
Result<ListenAddress> resolve_listen(const ListenAddress& a);

// The parsed command line. Build one with make_cli(), then parse.
struct Cli {
  CLI::App app{"ipctrace: eBPF tracing of inter-process communication, per container", "ipctrace"};
  GlobalOptions global;
  AgentOptions agent;
  TopOptions top;
  FlowsOptions flows;
  TraceOptions trace;
  ProbeOptionsCli probe;
  VersionOptions version;

  CLI::App* agent_cmd = nullptr;
  CLI::App* top_cmd = nullptr;
  CLI::App* flows_cmd = nullptr;
  CLI::App* trace_cmd = nullptr;
  CLI::App* probe_cmd = nullptr;
  CLI::App* version_cmd = nullptr;

  // The subcommand that was given ("agent", "probe", ...).
  [[nodiscard]] std::string command() const;
};

std::unique_ptr<Cli> make_cli();

// Where `top --remote` may find its password: IPCTRACE_REMOTE_PASSWORD, an environment variable
// only (an option's value is visible to every user of the node in `ps`).
inline constexpr const char* kRemotePasswordEnv = "IPCTRACE_REMOTE_PASSWORD";
// --remote-password-file: a regular file of at most this size; its first line is the password.
inline constexpr size_t kMaxPasswordFileBytes = 4096;

// Parses argv. On --help it prints help and returns kExitOk; on bad usage it prints one
// line to stderr and returns kExitUsage; nullopt means go on and run the command.
std::optional<int> parse_cli(Cli& cli, int argc, const char* const* argv);

}  // namespace ipctrace
