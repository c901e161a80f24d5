// `top --remote`'s input: the flows document another agent (or whatever answers at its URL)
// sends. Any JSON is taken or refused; a taken one renders to lines without a raw control
// character and in valid UTF-8, at any width.
#include <chrono>
#include <nlohmann/json.hpp>

#include "base/text.h"
#include "exporters/top_view.h"
#include "fuzz_common.h"

namespace {

bool printable(const std::string& line) {
  if (!ipctrace::is_valid_utf8(line)) return false;
  for (const char ch : line) {
    const auto c = static_cast<unsigned char>(ch);
    if (c < 0x20 || c == 0x7f) return false;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace ipctrace;
  using namespace ipctrace::top;
  const nlohmann::json doc = nlohmann::json::parse(data, data + size, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return 0;
  const auto t0 = std::chrono::steady_clock::now();
  auto first = snapshot_from_json(doc, t0);
  if (!first) return 0;
  auto second = snapshot_from_json(doc, t0 + std::chrono::seconds(1));
  fuzz::require(second.ok(), "a document taken once is taken again");
  RateTracker rates;
  rates.apply(*first);
  rates.apply(*second);
  for (const View view : {View::Flows, View::Endpoints}) {
    FrameState state;
    state.view = view;
    state.source = "https://node-1:9477";
    for (const int width : {0, 20, 80, 200}) {
      for (const std::string& line : render_frame(*second, state, "12:00:00", width, 24)) {
        fuzz::require(printable(line), "a rendered line is valid UTF-8 without control characters");
        fuzz::require(width <= 0 || code_points(line) <= width, "a line fits the width");
      }
    }
  }
  return 0;
}
