// Where `ipctrace top` gets its flows documents (the `ipctrace flows --output json` schema):
// this node, traced here (LocalSource), or a running agent's /api/v1/flows (RemoteSource), with
// the command line's filters applied by the one filter rule (model/filter.h): locally, or by the
// agent, to which they are sent as query parameters (app/http_query.h).
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "app/session.h"
#include "base/error.h"
#include "model/filter.h"

namespace ipctrace {

class FlowSource {
 public:
  virtual ~FlowSource() = default;
  FlowSource() = default;
  FlowSource(const FlowSource&) = delete;
  FlowSource& operator=(const FlowSource&) = delete;
  FlowSource(FlowSource&&) = delete;
  FlowSource& operator=(FlowSource&&) = delete;

  virtual Result<nlohmann::json> fetch() = 0;
  [[nodiscard]] virtual std::string describe() const = 0;  // "local" or the URL
};

// Basic-authentication credentials for a remote agent. The password is never shown.
struct RemoteCredentials {
  std::string user;  // "": none (the URL's own, if it has any)
  std::string password;
};

// GET <base_url>/api/v1/flows?<filters> with a time limit. Errors say which URL could not be read
// and why (connection refused, timeout, an HTTP status other than 200, a body that is not JSON).
// Userinfo in `base_url` ("https://user:password@host") is taken off: the URL shown in errors and
// in describe() never carries it, and the user and password go to curl as options (the
// `credentials`, when given, instead of the URL's).
class RemoteSource : public FlowSource {
 public:
  // `ca_file`: trust this certificate bundle (PEM) for HTTPS instead of the system's.
  explicit RemoteSource(const std::string& base_url, const Filters& filters = {}, long timeout_ms = 5000,
                        std::string ca_file = {}, RemoteCredentials credentials = {});
  Result<nlohmann::json> fetch() override;
  [[nodiscard]] std::string describe() const override { return base_url_; }
  [[nodiscard]] const std::string& url() const { return url_; }

 private:
  std::string base_url_;  // without userinfo
  std::string url_;
  long timeout_ms_;
  std::string ca_file_;
  RemoteCredentials credentials_;
};

// Traces this node itself: a session's collection and report, filtered.
class LocalSource : public FlowSource {
 public:
  LocalSource(std::unique_ptr<Session> session, Filters filters)
      : session_(std::move(session)), filters_(std::move(filters)) {}
  Result<nlohmann::json> fetch() override;
  [[nodiscard]] std::string describe() const override { return "local"; }

 private:
  std::unique_ptr<Session> session_;
  Filters filters_;
};

}  // namespace ipctrace
