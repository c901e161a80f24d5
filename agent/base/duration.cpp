#include "base/duration.h"

#include <fmt/format.h>

#include <array>
#include <cctype>
#include <charconv>
#include <cmath>
#include <limits>
#include <utility>

namespace ipctrace {
namespace {

constexpr std::array<std::pair<std::string_view, double>, 6> kUnits{{
    {"ns", 1.0},
    {"us", 1e3},
    {"ms", 1e6},
    {"s", 1e9},
    {"m", 60e9},
    {"h", 3600e9},
}};

}  // namespace

Result<Duration> parse_duration(std::string_view text) {
  const std::string original(text);
  auto bad = [&](const char* why) {
    return Error::msg(fmt::format("invalid duration '{}': {} (use e.g. 500ms, 5s, 2m)", original, why));
  };
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front()))) text.remove_prefix(1);
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) text.remove_suffix(1);
  if (text.empty()) return bad("empty");

  size_t num_end = 0;
  while (num_end < text.size() && (std::isdigit(static_cast<unsigned char>(text[num_end])) || text[num_end] == '.')) {
    ++num_end;
  }
  if (num_end == 0) return bad(text.front() == '-' ? "negative" : "no number");
  double value = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + num_end, value);
  if (ec != std::errc() || ptr != text.data() + num_end) return bad("malformed number");

  const std::string_view unit = text.substr(num_end);
  double scale = 0;
  if (unit.empty()) {
    scale = 1e9;
  } else {
    for (const auto& [name, s] : kUnits) {
      if (unit == name) scale = s;
    }
    if (scale == 0) return bad("unknown unit");
  }
  const double ns = value * scale;
  if (!std::isfinite(ns) || ns > static_cast<double>(kMaxDuration.count())) return bad("longer than 8760h (a year)");
  return Duration(static_cast<int64_t>(std::llround(ns)));
}

std::string format_duration(Duration d) {
  const int64_t ns = d.count();
  if (ns == 0) return "0s";
  // Largest unit first. (No std::ranges here: clang-tidy 14 cannot parse libstdc++ 12's.)
  for (size_t i = kUnits.size(); i-- > 0;) {
    const auto& [name, scale] = kUnits[i];
    const auto unit = static_cast<int64_t>(scale);
    if (ns % unit == 0) return fmt::format("{}{}", ns / unit, name);
    if (name != "ns" && ns >= unit && ns < std::numeric_limits<int64_t>::max() / 10 && (ns * 10) % unit == 0) {
      return fmt::format("{}.{}{}", ns / unit, (ns % unit) * 10 / unit, name);
    }
  }
  return fmt::format("{}ns", ns);
}

}  // namespace ipctrace
