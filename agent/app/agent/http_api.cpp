#include "app/agent/http_api.h"

#include <fmt/format.h>

#include <optional>
#include <utility>

#include "app/http_query.h"
#include "exporters/flows_format.h"
#include "exporters/json_text.h"

namespace ipctrace {
namespace {

// With basic authentication on: nothing when the request carries a user's credentials, else the
// 401 with its challenge, or 503 when every verification slot is taken (BasicAuth::verify).
std::optional<HttpResponse> refuse(const HttpRequest& req, const BasicAuth* auth) {
  if (auth == nullptr) return std::nullopt;
  switch (auth->verify(req.authorization)) {
    case AuthVerdict::allowed:
      return std::nullopt;
    case AuthVerdict::busy: {
      HttpResponse r = HttpResponse::text(503, "busy verifying passwords, try again\n");
      r.headers.emplace_back("Retry-After", "1");
      return r;
    }
    case AuthVerdict::denied:
      break;
  }
  HttpResponse r = HttpResponse::text(401, "authentication required\n");
  r.headers.emplace_back("WWW-Authenticate", R"(Basic realm="ipctrace", charset="UTF-8")");
  return r;
}

}  // namespace

Readiness readiness(uint64_t cycles_ok, uint64_t failed_in_a_row, const std::string& last_error) {
  if (failed_in_a_row >= kCollectionFailuresUnready) {
    return {false, fmt::format("{} collections failed in a row, the last: {}", failed_in_a_row, last_error)};
  }
  if (cycles_ok == 0) return {false, "the first collection has not run yet"};
  return {true, {}};
}

void Published::publish(FlowsReport report, std::string json) {
  const std::lock_guard<std::mutex> lock(mu_);
  report_ = std::move(report);
  json_ = std::move(json);
  published_ = true;
}

void Published::set_readiness(Readiness r) {
  const std::lock_guard<std::mutex> lock(mu_);
  readiness_ = std::move(r);
}

Readiness Published::readiness() const {
  const std::lock_guard<std::mutex> lock(mu_);
  return readiness_;
}

Result<std::string> Published::flows_document(std::string_view query) const {
  auto filters = parse_flows_query(query);
  if (!filters) return filters.error();
  const std::lock_guard<std::mutex> lock(mu_);
  if (filters->empty() || !published_) return json_;
  FlowsReport filtered = report_;
  filtered.flows = filter_flows(report_.flows, *filters);
  return json_text(flows_to_json(filtered));
}

std::vector<HttpRoute> api_routes(const MetricsExporter& exporter, const Published& published, const BasicAuth* auth) {
  std::vector<HttpRoute> routes;
  routes.push_back({"/metrics",
                    [&exporter, auth](const HttpRequest& req) {
                      if (auto no = refuse(req, auth)) return *no;
                      HttpResponse r = HttpResponse::text(200, exporter.scrape());
                      r.content_type = "text/plain; version=0.0.4; charset=utf-8";
                      return r;
                    },
                    true});
  routes.push_back({"/api/v1/flows",
                    [&published, auth](const HttpRequest& req) {
                      if (auto no = refuse(req, auth)) return *no;
                      auto doc = published.flows_document(req.query);
                      if (!doc) return HttpResponse::text(400, doc.error().message() + "\n");
                      HttpResponse r = HttpResponse::text(200, std::move(doc).value());
                      r.content_type = "application/json";
                      return r;
                    },
                    true});
  routes.push_back({"/healthz", [](const HttpRequest& /*req*/) { return HttpResponse::text(200, "ok\n"); }, false});
  routes.push_back({"/readyz",
                    [&published](const HttpRequest& /*req*/) {
                      const Readiness r = published.readiness();
                      return r.ready ? HttpResponse::text(200, "ready\n")
                                     : HttpResponse::text(503, "not ready: " + r.reason + "\n");
                    },
                    false});
  return routes;
}

}  // namespace ipctrace
