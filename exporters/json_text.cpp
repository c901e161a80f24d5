#include "exporters/json_text.h"

#include "base/text.h"

namespace ipctrace {

namespace {

// Whether any string or key in `j` is not valid UTF-8 (the common case: none, and no copy).
bool needs_fixing(const nlohmann::json& j) {
  if (j.is_string()) return !is_valid_utf8(j.get_ref<const std::string&>());
  if (j.is_object()) {
    for (const auto& [k, v] : j.items()) {
      if (!is_valid_utf8(k) || needs_fixing(v)) return true;
    }
  } else if (j.is_array()) {
    for (const auto& v : j) {
      if (needs_fixing(v)) return true;
    }
  }
  return false;
}

nlohmann::json fixed(const nlohmann::json& j) {
  if (j.is_string()) return valid_utf8(j.get_ref<const std::string&>());
  if (j.is_object()) {
    nlohmann::json out = nlohmann::json::object();
    for (const auto& [k, v] : j.items()) out[valid_utf8(k)] = fixed(v);
    return out;
  }
  if (j.is_array()) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& v : j) out.push_back(fixed(v));
    return out;
  }
  return j;
}

}  // namespace

nlohmann::json with_valid_strings(const nlohmann::json& doc) { return needs_fixing(doc) ? fixed(doc) : doc; }

std::string json_text(const nlohmann::json& doc, int indent) {
  if (needs_fixing(doc)) return fixed(doc).dump(indent, ' ', true);
  return doc.dump(indent, ' ', true);
}

}  // namespace ipctrace
