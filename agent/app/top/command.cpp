// `ipctrace top`: the live view of flows and containers, over this node traced here or a running
// agent (--remote), in a terminal or as plain-text frames (--batch).
#include <curl/curl.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <iostream>
#include <memory>
#include <string>

#include "app/commands.h"
#include "app/http_query.h"
#include "app/session.h"
#include "app/top/poller.h"
#include "app/top/sources.h"
#include "app/top/terminal.h"
#include "base/stop.h"
#include "exporters/top_view.h"

namespace ipctrace {

namespace {

// ---------------------------------------------------------------------------------------------
// Batch mode: plain frames on stdout, no terminal control codes.

int run_batch(Poller& poller, const TopOptions& o, const top::FrameState& state, bool wait_first,
              const StopSignal& stop) {
  for (int frame = 0; o.iterations == 0 || frame < o.iterations; ++frame) {
    if (frame > 0 || wait_first) {
      if (!stop.sleep_for(o.delay)) break;
      if (Status st = poller.poll_once(); !st) {
        spdlog::error("top: {}", st.error().message());
        return kExitFailure;
      }
    }
    uint64_t seen = 0;
    std::string error;
    const auto snap = poller.newer_than(seen, error);
    if (!snap) continue;
    if (frame > 0) std::cout << "\n";
    for (const auto& line : top::render_frame(*snap, state, clock_now(), 0, -1)) std::cout << line << "\n";
    std::cout.flush();
    if (stop.requested()) break;
  }
  return kExitOk;
}

Result<std::unique_ptr<FlowSource>> make_source(const Cli& cli) {
  const TopOptions& o = cli.top;
  if (!o.remote.empty()) {
    curl_global_init(CURL_GLOBAL_DEFAULT);
    if (split_userinfo(o.remote).password) {
      spdlog::warn(
          "top: the --remote URL carries a password, which every user of this node can read (ps, /proc/PID/cmdline); "
          "use --remote-user with --remote-password-file FILE or {} instead",
          kRemotePasswordEnv);
    }
    return std::unique_ptr<FlowSource>(std::make_unique<RemoteSource>(
        o.remote, o.filters, 5000, o.cacert, RemoteCredentials{o.remote_user, o.remote_password}));
  }
  SessionOptions so;
  so.hooks = o.hooks;
  so.host_root = cli.global.host_root;
  so.containerd_state = cli.global.containerd_state;
  so.idle_timeout = std::chrono::minutes(1);  // flows idle for a minute leave the view, and the kernel's map
  auto session = Session::start(so);
  if (!session) {
    return Error::msg(session.error().message() +
                      " (top traces this node itself and needs root; --remote URL reads a running agent)");
  }
  return std::unique_ptr<FlowSource>(std::make_unique<LocalSource>(std::move(session).value(), o.filters));
}

}  // namespace

int run_top_command(const Cli& cli) {
  const TopOptions& o = cli.top;
  if (!o.batch && (isatty(STDIN_FILENO) == 0 || isatty(STDOUT_FILENO) == 0)) {
    spdlog::error("top: needs a terminal; use --batch (-b) for plain-text frames");
    return kExitFailure;
  }
  const StopSignal stop;
  auto source = make_source(cli);
  if (!source) {
    spdlog::error("top: {}", source.error().message());
    return kExitFailure;
  }
  const bool local = o.remote.empty();
  Poller poller(**source, o.delay);
  // The first document: a standalone top starts counting now (its first frame comes one delay
  // later, with rates over that delay); a remote one shows the agent's figures at once.
  if (Status st = poller.poll_once(); !st) {
    spdlog::error("top: {}", st.error().message());
    return kExitFailure;
  }
  top::FrameState state;
  state.delay_seconds = std::chrono::duration<double>(o.delay).count();
  state.source = (*source)->describe();
  state.sort_column = top::default_sort_column(top::View::Flows);
  if (o.batch) {
    if (local) spdlog::info("top: tracing this node; the first frame comes in {}", format_duration(o.delay));
    return run_batch(poller, o, state, local, stop);
  }
  return run_terminal(poller, state, o.delay, o.iterations, stop);
}

}  // namespace ipctrace
