// Durations on the command line and in config files: "500ms", "5s", "1.5m", "2h"; a bare number is seconds.
#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "base/error.h"

namespace ipctrace {

using Duration = std::chrono::nanoseconds;

// Every duration ipctrace takes is at most this (a year): past it, adding one to a clock overflows
// soon enough (9223372036s ended a trace at once, and an interval that long collected without
// pause), and no use needs more.
inline constexpr Duration kMaxDuration = std::chrono::hours(8760);

// A duration of at most kMaxDuration, or an error naming the text and what is wrong.
Result<Duration> parse_duration(std::string_view text);
// The shortest exact spelling: 1500ms -> "1.5s", 120s -> "2m".
std::string format_duration(Duration d);

}  // namespace ipctrace
