#include "app/top/sources.h"

#include <curl/curl.h>
#include <fmt/format.h>

#include <algorithm>
#include <utility>

#include "app/http_query.h"
#include "base/text.h"
#include "exporters/flows_format.h"
#include "exporters/json_text.h"

namespace ipctrace {

using nlohmann::json;

namespace {

size_t append_body(char* data, size_t size, size_t count, void* user) {
  auto* body = static_cast<std::string*>(user);
  constexpr size_t kMaxBody = size_t{256} << 20;  // a flows document is far smaller; refuse a runaway
  if (body->size() + size * count > kMaxBody) return 0;
  body->append(data, size * count);
  return size * count;
}

std::string with_query(const std::string& url, const std::string& query) {
  return query.empty() ? url : url + "?" + query;
}

// The first line of an agent's error body (its reason), at most 200 bytes, printable ASCII only.
std::string first_line(const std::string& body) {
  std::string out;
  for (const char c : body.substr(0, std::min<size_t>(body.find('\n'), 200))) {
    out += c >= 0x20 && c < 0x7f ? c : '?';
  }
  return out;
}

std::string trim_slashes(std::string s) {
  while (!s.empty() && s.back() == '/') s.pop_back();
  return s;
}

}  // namespace

RemoteSource::RemoteSource(const std::string& base_url, const Filters& filters, long timeout_ms, std::string ca_file,
                           RemoteCredentials credentials)
    : timeout_ms_(timeout_ms), ca_file_(std::move(ca_file)), credentials_(std::move(credentials)) {
  UrlUserinfo split = split_userinfo(base_url);
  base_url_ = std::move(split.url);
  url_ = with_query(trim_slashes(base_url_) + "/api/v1/flows", flows_query(filters));
  if (credentials_.user.empty() && split.user) {
    credentials_.user = std::move(*split.user);
    credentials_.password = split.password.value_or("");
  }
}

Result<json> RemoteSource::fetch() {
  std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> curl(curl_easy_init(), &curl_easy_cleanup);
  if (!curl) return Error::msg("cannot start an HTTP client (curl_easy_init failed)");
  std::string body;
  char error[CURL_ERROR_SIZE] = {};
  curl_easy_setopt(curl.get(), CURLOPT_URL, url_.c_str());
  curl_easy_setopt(curl.get(), CURLOPT_WRITEFUNCTION, append_body);
  curl_easy_setopt(curl.get(), CURLOPT_WRITEDATA, &body);
  curl_easy_setopt(curl.get(), CURLOPT_ERRORBUFFER, error);
  curl_easy_setopt(curl.get(), CURLOPT_TIMEOUT_MS, timeout_ms_);
  curl_easy_setopt(curl.get(), CURLOPT_CONNECTTIMEOUT_MS, timeout_ms_);
  curl_easy_setopt(curl.get(), CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl.get(), CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(curl.get(), CURLOPT_MAXREDIRS, 3L);
  curl_easy_setopt(curl.get(), CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(curl.get(), CURLOPT_USERAGENT, "ipctrace-top");
  if (!ca_file_.empty()) curl_easy_setopt(curl.get(), CURLOPT_CAINFO, ca_file_.c_str());
  if (!credentials_.user.empty()) {
    // Basic only, and (curl's default) never to another host a redirect names.
    curl_easy_setopt(curl.get(), CURLOPT_HTTPAUTH, static_cast<long>(CURLAUTH_BASIC));
    curl_easy_setopt(curl.get(), CURLOPT_USERNAME, credentials_.user.c_str());
    curl_easy_setopt(curl.get(), CURLOPT_PASSWORD, credentials_.password.c_str());
  }
  const CURLcode rc = curl_easy_perform(curl.get());
  if (rc != CURLE_OK) {
    return Error::msg(
        fmt::format("cannot read the agent at {}: {}", url_, error[0] != 0 ? error : curl_easy_strerror(rc)));
  }
  long status = 0;
  curl_easy_getinfo(curl.get(), CURLINFO_RESPONSE_CODE, &status);
  if (status == 401) {
    return Error::msg(
        fmt::format("the agent at {} answered HTTP 401 ({}: give --remote-user with --remote-password-file FILE or "
                    "IPCTRACE_REMOTE_PASSWORD)",
                    url_, credentials_.user.empty() ? "credentials needed" : "wrong credentials"));
  }
  if (status >= 400 && status < 500 && !body.empty()) {
    return Error::msg(fmt::format("the agent at {} answered HTTP {}: {}", url_, status, visible(first_line(body))));
  }
  if (status != 200) return Error::msg(fmt::format("the agent at {} answered HTTP {}", url_, status));
  try {
    return json::parse(body);
  } catch (const json::exception& e) {
    return Error::msg(
        fmt::format("the agent at {} sent something that is not a flows document: {}", url_, visible(e.what())));
  }
}

Result<json> LocalSource::fetch() {
  if (Status st = session_->collect(); !st) return st.error();
  return with_valid_strings(flows_to_json(session_->report(filters_)));
}

}  // namespace ipctrace
