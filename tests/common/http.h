// Small HTTP helpers for end-to-end tests: GET a URL, find a free loopback port.
#pragma once

#include <chrono>
#include <string>

namespace ipctrace::test {

struct HttpResponse {
  long status = 0;  // 0: no response (connection refused, timeout)
  std::string body;
  std::string headers;  // the response's header lines, as received
  std::string error;
};

struct HttpOptions {
  std::chrono::milliseconds limit = std::chrono::seconds(5);
  std::string ca_file;  // HTTPS: trust this certificate (PEM) only
  std::string user;     // basic authentication, when not empty
  std::string password;
};

HttpResponse http_get(const std::string& url, const HttpOptions& options);
inline HttpResponse http_get(const std::string& url, std::chrono::milliseconds limit = std::chrono::seconds(5)) {
  HttpOptions o;
  o.limit = limit;
  return http_get(url, o);
}

// `text` percent-encoded for a query string.
std::string url_encode(const std::string& text);

// A TCP port on 127.0.0.1 that nothing listens on right now.
int free_loopback_port();

}  // namespace ipctrace::test
