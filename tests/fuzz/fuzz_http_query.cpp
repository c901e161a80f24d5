// The agent's /api/v1/flows query string: any client's bytes. A query is accepted or refused with
// a message; an accepted one survives the round trip through flows_query() (what top --remote
// sends) unchanged.
#include "app/http_query.h"
#include "fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace ipctrace;
  auto filters = parse_flows_query(fuzz::as_text(data, size));
  if (!filters) {
    fuzz::require(!filters.error().message().empty(), "a refused query says why");
    return 0;
  }
  const std::string written = flows_query(*filters);
  auto again = parse_flows_query(written);
  // Raw bytes the agent takes as they are come back percent-encoded, three bytes for one: a query
  // written from such filters can pass the 8 KiB bound, and is then refused as too long, clearly.
  if (written.size() > 8192) {
    fuzz::require(!again.ok() && again.error().message() == "query longer than 8192 bytes",
                  "a query past the bound is refused as too long");
    return 0;
  }
  fuzz::require(again.ok(), "flows_query() writes a query parse_flows_query() accepts");
  fuzz::require(*again == *filters, "a query survives the round trip");
  return 0;
}
