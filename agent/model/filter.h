// Which flows and events to show: the one filter rule, used by `flows`, `trace`, `top` and the
// agent's /api/v1/flows (whose query parameters carry the same filters: app/http_query.h).
//
// A flow or an event has a kind and one or two ends; an end is an endpoint (its names) and a
// process. Each criterion given must hold for at least one end (two criteria may hold at
// different ends); criteria not given select everything:
//   kinds       the kind is one of them ("pipe", "unix_stream"...)
//   namespaces  an end's Kubernetes namespace is one of them
//   pods        an end's pod name is one of them
//   containers  an end's container name is one of them, or its container id starts with one
//               (an id prefix, as `docker ps` shows 12 characters); "" matches nothing
//   pids        an end's process id is one of them
// Names are compared byte for byte, as the runtimes wrote them.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

#include "identity/endpoint.h"
#include "model/report.h"

namespace ipctrace {

struct Filters {
  std::vector<std::string> kinds;
  std::vector<std::string> containers;
  std::vector<std::string> pods;
  std::vector<std::string> namespaces;
  std::vector<int> pids;

  // Some criterion needs an endpoint's names (namespace, pod or container).
  [[nodiscard]] bool by_name() const { return !namespaces.empty() || !pods.empty() || !containers.empty(); }
  [[nodiscard]] bool empty() const { return kinds.empty() && !by_name() && pids.empty(); }
  bool operator==(const Filters&) const = default;
};

// One end of what is filtered: its names (nullptr: an end with none, a remote or unknown peer) and
// its process (0: none known).
struct FilterEnd {
  const Endpoint* endpoint = nullptr;
  uint32_t pid = 0;
};

// The rule above, for a flow or an event of `kind` (enum ipct_kind) with these ends.
bool filter_matches(const Filters& filters, int kind, std::initializer_list<FilterEnd> ends);

// Whether an endpoint passes every name criterion on its own: if not, nothing it does alone (a
// `trace` event has one end) can ever be shown.
bool names_match(const Filters& filters, const Endpoint& endpoint);

// The views that pass the rule (ends: src and dst, with their names and processes).
std::vector<FlowView> filter_flows(const std::vector<FlowView>& views, const Filters& filters);

}  // namespace ipctrace
