// Durations on the command line and in config files: "500ms", "5s", "1.5m", "2h"; a bare number is seconds.
#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "base/error.h"

namespace ipctrace {

using Duration = std::chrono::nanoseconds;

Result<Duration> parse_duration(std::string_view text);
// The shortest exact spelling: 1500ms -> "1.5s", 120s -> "2m".
std::string format_duration(Duration d);

}  // namespace ipctrace
