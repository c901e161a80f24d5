// Stopping on a signal: what every long-running command (agent, flows, top, trace) and the
// benchmark programs do with SIGINT and SIGTERM.
#pragma once

#include <csignal>
#include <initializer_list>
#include <vector>

#include "base/duration.h"

namespace ipctrace {

// While a StopSignal lives, the signals it was given (SIGINT and SIGTERM by default) only record
// that a stop was asked for: no SA_RESTART, so a blocking call they interrupt returns EINTR.
// Destroying it restores the dispositions it replaced. The record is process-wide (a signal
// handler can reach nothing else): one StopSignal at a time; a second is refused with an abort.
class StopSignal {
 public:
  explicit StopSignal(std::initializer_list<int> signals = {SIGINT, SIGTERM});
  ~StopSignal();
  StopSignal(const StopSignal&) = delete;
  StopSignal& operator=(const StopSignal&) = delete;
  StopSignal(StopSignal&&) = delete;
  StopSignal& operator=(StopSignal&&) = delete;

  // A stop was asked for (by a signal, or by request()).
  [[nodiscard]] bool requested() const;
  // The signal that asked first; 0 if none did (or request() did).
  [[nodiscard]] int signal() const;
  // Asks for a stop as a signal would (the owner's own reasons: a reader gone, an error).
  void request();
  // Sleeps `d` in steps of at most 50 ms; false as soon as a stop is asked for, true when the
  // whole time passed.
  [[nodiscard]] bool sleep_for(Duration d) const;

 private:
  std::vector<int> signals_;
  std::vector<struct sigaction> saved_;
};

}  // namespace ipctrace
