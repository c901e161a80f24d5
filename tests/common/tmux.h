// A real terminal for the tests of `ipctrace top`: a tmux server of the test's own (its own
// socket), one session named "top", keys sent in and the screen captured as text. The server is
// killed with everything in it when the object goes.
#pragma once

#include <unistd.h>

#include <chrono>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "subprocess.h"

namespace ipctrace::test {

class Tmux {
 public:
  Tmux() : socket_("ipctrace-test-" + std::to_string(getpid())) {}
  ~Tmux() { (void)run({"kill-server"}); }
  Tmux(const Tmux&) = delete;
  Tmux& operator=(const Tmux&) = delete;
  Tmux(Tmux&&) = delete;
  Tmux& operator=(Tmux&&) = delete;

  // Whether /usr/bin/tmux is there (tools/install-deps.sh's test set installs it).
  static bool installed() { return access("/usr/bin/tmux", X_OK) == 0; }

  [[nodiscard]] ProcessResult run(const std::vector<std::string>& args) const {
    std::vector<std::string> argv = {"/usr/bin/tmux", "-L", socket_};
    argv.insert(argv.end(), args.begin(), args.end());
    return run_process(argv, std::chrono::seconds(10));
  }
  // A detached session "top" of `width` x `height` running `command` (through the shell).
  [[nodiscard]] bool start(const std::string& command, int width, int height) const {
    return run({"new-session", "-d", "-s", "top", "-x", std::to_string(width), "-y", std::to_string(height), command})
               .exit_code == 0;
  }
  [[nodiscard]] std::string capture() const { return run({"capture-pane", "-p", "-t", "top"}).out; }
  void keys(const std::vector<std::string>& keys) const {
    std::vector<std::string> args = {"send-keys", "-t", "top"};
    args.insert(args.end(), keys.begin(), keys.end());
    (void)run(args);
  }
  void resize(int width, int height) const {
    (void)run({"resize-window", "-t", "top", "-x", std::to_string(width), "-y", std::to_string(height)});
  }
  // The first line of `file` once something wrote one (a session's "command; echo $? > FILE"),
  // or "" after `limit`.
  static std::string first_line_within(const std::string& file, std::chrono::milliseconds limit) {
    const auto until = std::chrono::steady_clock::now() + limit;
    std::string line;
    while (true) {
      std::ifstream in(file);
      std::getline(in, line);
      if (!line.empty() || std::chrono::steady_clock::now() >= until) return line;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
  // Captures until `pred` holds for the screen, or `limit` passes; the last screen.
  template <typename Pred>
  std::string wait_for(Pred pred, std::chrono::milliseconds limit) const {
    const auto until = std::chrono::steady_clock::now() + limit;
    std::string screen;
    do {
      screen = capture();
      if (pred(screen)) return screen;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    } while (std::chrono::steady_clock::now() < until);
    return screen;
  }

 private:
  std::string socket_;
};

}  // namespace ipctrace::test
