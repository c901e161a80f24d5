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

// Path of the ipctrace binary under test (set by CMake).
std::string ipctrace_binary();

// Number of lines in `text` (a trailing newline does not start a new line).
int count_lines(const std::string& text);

}  // namespace ipctrace::test
