// The agent's HTTP endpoints, served by app/agent/http_server.h: /metrics (Prometheus text), /api/v1/flows (the
// flows document, filtered by its query: app/http_query.h), /healthz and /readyz. The collection
// thread publishes each cycle's results into Published; the server's threads only read them.
#pragma once

#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include "app/agent/http_security.h"
#include "app/agent/http_server.h"
#include "base/error.h"
#include "exporters/metrics.h"
#include "model/report.h"

namespace ipctrace {

// What /readyz says.
struct Readiness {
  bool ready = false;
  std::string reason;  // why not: "the first collection has not run yet", "3 collections failed in a row: ..."
};

// Ready once a collection succeeded; not ready while the last kCollectionFailuresUnready or more
// collections failed in a row (a kernel map that cannot be read), until one succeeds again.
inline constexpr uint64_t kCollectionFailuresUnready = 3;
Readiness readiness(uint64_t cycles_ok, uint64_t failed_in_a_row, const std::string& last_error);

// The latest cycle's results, shared between the collection thread and the server's threads.
class Published {
 public:
  // A successful cycle: the report (unfiltered) and its JSON.
  void publish(FlowsReport report, std::string json);
  void set_readiness(Readiness r);
  [[nodiscard]] Readiness readiness() const;
  // The flows document for a query: the cached document when it has no filter.
  [[nodiscard]] Result<std::string> flows_document(std::string_view query) const;

 private:
  mutable std::mutex mu_;
  FlowsReport report_;
  std::string json_ = R"({"flows": []})";  // before the first collection: no flows
  bool published_ = false;
  Readiness readiness_{false, "the first collection has not run yet"};
};

// The agent's routes for HttpServer: /metrics and /api/v1/flows (basic authentication when `auth`
// is set; run on the server's workers: a password check may take a bcrypt's time), /healthz and
// /readyz (never authenticated: the kubelet probes them; answered on the server's loop at once).
// /api/v1/flows[?kind=..&namespace=..&pod=..&container=..&pid=..] is the same document as
// `ipctrace flows --output json`, filtered like the command line; a bad query is 400.
std::vector<HttpRoute> api_routes(const MetricsExporter& exporter, const Published& published, const BasicAuth* auth);

}  // namespace ipctrace
