#include "app/http_query.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <limits>

#include "kernel/kinds.h"

namespace ipctrace {
namespace {

constexpr size_t kMaxQueryBytes = 8192;
constexpr size_t kMaxValues = 64;

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

Result<std::string> percent_decode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '+') {
      out += ' ';
    } else if (s[i] == '\0') {
      return Error::msg("a query value may not contain a NUL byte");
    } else if (s[i] != '%') {
      out += s[i];
    } else {
      if (i + 2 >= s.size() || hex_value(s[i + 1]) < 0 || hex_value(s[i + 2]) < 0) {
        return Error::msg(fmt::format("malformed percent-encoding in '{}'", s));
      }
      const auto c = static_cast<char>(hex_value(s[i + 1]) * 16 + hex_value(s[i + 2]));
      if (c == '\0') return Error::msg("a query value may not contain %00");
      out += c;
      i += 2;
    }
  }
  return out;
}

// Unreserved characters (RFC 3986 2.3) stay; everything else is %XX.
std::string percent_encode(std::string_view s) {
  std::string out;
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    const bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
                       c == '.' || c == '_' || c == '~';
    if (plain) {
      out += ch;
    } else {
      out += fmt::format("%{:02X}", c);
    }
  }
  return out;
}

Status add_value(Filters& f, std::string_view key, const std::string& value) {
  if (key == "kind") {
    if (!parse_kind(value)) return Error::msg(fmt::format("unknown kind '{}'", value));
    f.kinds.push_back(value);
  } else if (key == "namespace") {
    f.namespaces.push_back(value);
  } else if (key == "pod") {
    f.pods.push_back(value);
  } else if (key == "container") {
    f.containers.push_back(value);
  } else if (key == "pid") {
    int pid = 0;
    const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), pid);
    if (value.empty() || ec != std::errc() || end != value.data() + value.size() || pid <= 0) {
      return Error::msg(
          fmt::format("pid must be a number from 1 to {}, not '{}'", std::numeric_limits<int>::max(), value));
    }
    f.pids.push_back(pid);
  } else {
    return Error::msg(fmt::format("unknown query parameter '{}' (kind, namespace, pod, container, pid)", key));
  }
  return Ok{};
}

}  // namespace

Result<Filters> parse_flows_query(std::string_view query) {
  if (query.size() > kMaxQueryBytes) return Error::msg(fmt::format("query longer than {} bytes", kMaxQueryBytes));
  Filters f;
  size_t values = 0;
  size_t start = 0;
  while (start < query.size()) {
    size_t end = query.find('&', start);
    if (end == std::string_view::npos) end = query.size();
    const std::string_view pair = query.substr(start, end - start);
    start = end + 1;
    if (pair.empty()) continue;  // "a=1&&b=2", a trailing "&"
    const size_t eq = pair.find('=');
    if (eq == std::string_view::npos) return Error::msg(fmt::format("query parameter '{}' has no value", pair));
    auto key = percent_decode(pair.substr(0, eq));
    if (!key) return key.error();
    auto value = percent_decode(pair.substr(eq + 1));
    if (!value) return value.error();
    if (++values > kMaxValues) return Error::msg(fmt::format("more than {} query values", kMaxValues));
    if (Status st = add_value(f, *key, *value); !st) return st.error();
  }
  return f;
}

std::string flows_query(const Filters& f) {
  std::string out;
  auto add = [&out](std::string_view key, std::string_view value) {
    if (!out.empty()) out += '&';
    out += key;
    out += '=';
    out += percent_encode(value);
  };
  for (const auto& v : f.kinds) add("kind", v);
  for (const auto& v : f.namespaces) add("namespace", v);
  for (const auto& v : f.pods) add("pod", v);
  for (const auto& v : f.containers) add("container", v);
  for (int pid : f.pids) add("pid", std::to_string(pid));
  return out;
}

namespace {

// %XX decoded, everything else as it is ('+' too, unlike a query). A malformed escape stays as
// written, as curl leaves it; the text is never put in a message (it may be a password).
std::string decode_userinfo(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && hex_value(s[i + 1]) >= 0 && hex_value(s[i + 2]) >= 0) {
      out += static_cast<char>(hex_value(s[i + 1]) * 16 + hex_value(s[i + 2]));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

}  // namespace

UrlUserinfo split_userinfo(std::string_view url) {
  UrlUserinfo out{std::string(url), std::nullopt, std::nullopt};
  const size_t scheme = url.find("://");
  if (scheme == std::string_view::npos) return out;
  const size_t host = scheme + 3;
  const size_t end = std::min(url.find_first_of("/?#", host), url.size());
  const size_t at = url.substr(host, end - host).rfind('@');
  if (at == std::string_view::npos) return out;
  const std::string_view info = url.substr(host, at);
  out.url = std::string(url.substr(0, host)) + std::string(url.substr(host + at + 1));
  const size_t colon = info.find(':');
  out.user = decode_userinfo(info.substr(0, colon));
  if (colon != std::string_view::npos) out.password = decode_userinfo(info.substr(colon + 1));
  return out;
}

}  // namespace ipctrace
