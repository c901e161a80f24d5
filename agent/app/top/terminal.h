// The terminal view of `ipctrace top` (ncurses): the frames exporters/top_view.h renders, drawn
// full-screen, with keys to sort, filter, pause and change the delay; log lines go to the status
// line while the screen is ours.
#pragma once

#include <string>

#include "app/top/poller.h"
#include "base/duration.h"
#include "base/stop.h"
#include "exporters/top_view.h"

namespace ipctrace {

// The wall-clock time of a frame's header ("14:03:27", local time).
std::string clock_now();

// Takes the terminal until `q`, a stop signal, or `frames` frames (> 0, like top -n); the poller
// runs meanwhile. Returns the exit status.
int run_terminal(Poller& poller, const top::FrameState& state, Duration delay, int frames, const StopSignal& stop);

}  // namespace ipctrace
