// What every fuzz target shares: the input as a string view, and a check that stops the run
// (libFuzzer then keeps the input as a crash) when a property the code promises does not hold.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

namespace ipctrace::fuzz {

inline std::string_view as_text(const uint8_t* data, size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

// Like assert(), in every build type.
inline void require(bool ok, const char* what) {
  if (ok) return;
  std::fprintf(stderr, "fuzz: property does not hold: %s\n", what);
  std::abort();
}

}  // namespace ipctrace::fuzz
