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
  auto again = parse_flows_query(flows_query(*filters));
  fuzz::require(again.ok(), "flows_query() writes a query parse_flows_query() accepts");
  fuzz::require(*again == *filters, "a query survives the round trip");
  return 0;
}
