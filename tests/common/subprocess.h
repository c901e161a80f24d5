// Runs a program and captures its exit status and output, with a time limit.
#pragma once

#include <chrono>
#include <string>
#include <vector>

namespace ipctrace::test {

struct ProcessResult {
  int exit_code = -1;  // -1 if killed by a signal or timed out
  int signal = 0;
  bool timed_out = false;
  std::string out;
  std::string err;
};

// Runs argv[0] (a path) with argv, optional extra environment "K=V" entries, and kills it after `limit`.
ProcessResult run_process(const std::vector<std::string>& argv,
                          std::chrono::milliseconds limit = std::chrono::seconds(30),
                          const std::vector<std::string>& extra_env = {});

// A program running in the background while the test works; killed if still running when
// destroyed, so a failing test leaves nothing behind.
class BackgroundProcess {
 public:
  explicit BackgroundProcess(const std::vector<std::string>& argv);
  ~BackgroundProcess();
  BackgroundProcess(const BackgroundProcess&) = delete;
  BackgroundProcess& operator=(const BackgroundProcess&) = delete;
  BackgroundProcess(BackgroundProcess&&) = delete;
  BackgroundProcess& operator=(BackgroundProcess&&) = delete;

  // Reads stderr until it contains `text` (true) or `limit` passes or the process ends (false).
  bool wait_for_stderr(const std::string& text, std::chrono::milliseconds limit);
  // Sends `sig` (if still running).
  void signal(int sig) const;
  // Waits for the exit (killing it after `limit`) and returns everything it printed.
  ProcessResult finish(std::chrono::milliseconds limit);
  [[nodiscard]] int pid() const { return pid_; }

 private:
  void pump(int timeout_ms);
  int pid_ = -1;
  int out_ = -1;
  int err_ = -1;
  bool done_ = false;
  ProcessResult result_;
};

// Path of the ipctrace binary under test (set by CMake).
std::string ipctrace_binary();

// Number of lines in `text` (a trailing newline does not start a new line).
int count_lines(const std::string& text);

}  // namespace ipctrace::test
