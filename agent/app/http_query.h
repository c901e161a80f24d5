// The query string of the agent's /api/v1/flows: the command line's filters (model/filter.h), one
// value per key, a key repeated for several values: `?kind=pipe&kind=fifo&namespace=shop&pid=42`.
// `top --remote` sends its filters this way, and the agent applies them with the one filter rule.
// Pure functions: no HTTP library (tests/unit/app/http_query_test.cpp).
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "base/error.h"
#include "model/filter.h"

namespace ipctrace {

// Keys: kind, namespace, pod, container, pid. Values are percent-encoded (RFC 3986; "+" is a
// space, as HTML forms send it). Errors (the agent answers 400 with the message): an unknown key, a
// key without "=", a kind ipctrace does not report, a pid that is not a number from 1 to
// 2^31-1, a malformed or NUL escape or a raw NUL byte, more than 64 values, a query over 8 KiB. An empty query is no
// filter.
Result<Filters> parse_flows_query(std::string_view query);

// The query string for `filters` (without "?"), every value percent-encoded; "" when there is no
// filter. parse_flows_query(flows_query(f)) == f.
std::string flows_query(const Filters& filters);

// A URL's userinfo split off ("https://alice:s%40cret@node-1:9477/x" -> "https://node-1:9477/x",
// "alice", "s@cret"): the user and password percent-decoded as curl reads them, the URL without
// them safe to show. The authority ends at the first '/', '?' or '#' after "://" and the
// userinfo at its last '@' (RFC 3986 3.2). A URL without userinfo comes back as it is, with no
// user and no password.
struct UrlUserinfo {
  std::string url;
  std::optional<std::string> user;
  std::optional<std::string> password;  // never shown, never logged
};
UrlUserinfo split_userinfo(std::string_view url);

}  // namespace ipctrace
