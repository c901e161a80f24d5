#include "app/agent/http_api.h"

#include <fmt/format.h>

#include <utility>

#include "app/http_query.h"
#include "exporters/flows_format.h"
#include "exporters/json_text.h"

namespace ipctrace {
namespace {

void reply(mg_connection* conn, int status, const char* type, const std::string& body) {
  const char* reason = status == 200   ? "OK"
                       : status == 400 ? "Bad Request"
                       : status == 503 ? "Service Unavailable"
                                       : "Error";
  mg_printf(conn,
            "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\nCache-Control: no-store\r\n"
            "Connection: close\r\n\r\n",
            status, reason, type, body.size());
  mg_write(conn, body.data(), body.size());
}

// With basic authentication on, whether the request carries a user's credentials; if not, it
// answers 401 with the challenge and the handler is done.
bool authorized(mg_connection* conn, const BasicAuth* auth) {
  if (auth == nullptr) return true;
  const char* header = mg_get_header(conn, "Authorization");
  if (header != nullptr && auth->check(header)) return true;
  const std::string body = "authentication required\n";
  mg_printf(conn,
            "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"ipctrace\", charset=\"UTF-8\"\r\n"
            "Content-Type: text/plain\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n",
            body.size());
  mg_write(conn, body.data(), body.size());
  return false;
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

bool MetricsHandler::handleGet(CivetServer* /*server*/, mg_connection* conn) {
  if (!authorized(conn, auth_)) return true;
  reply(conn, 200, "text/plain; version=0.0.4; charset=utf-8", exporter_.scrape());
  return true;
}

bool FlowsHandler::handleGet(CivetServer* /*server*/, mg_connection* conn) {
  if (!authorized(conn, auth_)) return true;
  const mg_request_info* info = mg_get_request_info(conn);
  const std::string_view query = info != nullptr && info->query_string != nullptr ? info->query_string : "";
  auto doc = published_.flows_document(query);
  if (!doc) {
    reply(conn, 400, "text/plain", doc.error().message() + "\n");
    return true;
  }
  reply(conn, 200, "application/json", *doc);
  return true;
}

bool HealthHandler::handleGet(CivetServer* /*server*/, mg_connection* conn) {
  reply(conn, 200, "text/plain", "ok\n");
  return true;
}

bool ReadyHandler::handleGet(CivetServer* /*server*/, mg_connection* conn) {
  const Readiness r = published_.readiness();
  if (r.ready) {
    reply(conn, 200, "text/plain", "ready\n");
  } else {
    reply(conn, 503, "text/plain", "not ready: " + r.reason + "\n");
  }
  return true;
}

}  // namespace ipctrace
