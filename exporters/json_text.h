// JSON documents as text, whatever bytes their strings hold: every string and key made valid
// UTF-8 by valid_utf8() (base/text.h: invalid bytes escaped, distinct strings kept distinct) and
// every non-ASCII character written as a \u escape, so the text is valid JSON that is also safe
// on a terminal (no raw C1 control or bidirectional override reaches it; JSON escapes the C0
// controls itself). nlohmann's dump() throws on invalid UTF-8: never call it on a document
// holding names; call this.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace ipctrace {

// `indent` as nlohmann::json::dump(): -1 for one line.
std::string json_text(const nlohmann::json& doc, int indent = -1);

// `doc` with every string and key made valid UTF-8 as json_text() writes them: what a reader of
// that text gets, without the text (`top`'s local source hands its view this).
nlohmann::json with_valid_strings(const nlohmann::json& doc);

}  // namespace ipctrace
