// `ipctrace top`: the live terminal view (ncurses) and its batch mode, over flows traced here
// (standalone) or read from a running agent's /api/v1/flows (--remote).
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "cli.h"
#include "error.h"

namespace ipctrace {

int run_top_command(const Cli& cli);

// Where top gets its flows documents (the `ipctrace flows --output json` schema).
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

// GET <base_url>/api/v1/flows with a time limit. Errors say which URL could not be read and why
// (connection refused, timeout, an HTTP status other than 200, a body that is not JSON).
class RemoteSource : public FlowSource {
 public:
  // `ca_file`: trust this certificate bundle (PEM) for HTTPS instead of the system's.
  explicit RemoteSource(std::string base_url, long timeout_ms = 5000, std::string ca_file = {});
  Result<nlohmann::json> fetch() override;
  [[nodiscard]] std::string describe() const override { return base_url_; }
  [[nodiscard]] const std::string& url() const { return url_; }

 private:
  std::string base_url_;
  std::string url_;
  long timeout_ms_;
  std::string ca_file_;
};

// Keeps the flows of a document that match the command-line filters (kind, Kubernetes namespace,
// pod, container name or id prefix, pid at either end): what a local source filters before the
// document is made, a remote one after it arrives.
void filter_document(nlohmann::json& doc, const Filters& filters);

}  // namespace ipctrace
