#include "base/text.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstdint>

namespace ipctrace {

namespace {

// The code point of the valid UTF-8 sequence at s[i] and its length, or length 0 if the bytes
// there are no valid sequence (RFC 3629, table 3-7 of the Unicode standard: no overlong forms,
// no surrogates, nothing past U+10FFFF).
struct Decoded {
  char32_t cp = 0;
  size_t len = 0;
};

Decoded decode(std::string_view s, size_t i) {
  const auto b = [&](size_t k) { return static_cast<unsigned char>(s[i + k]); };
  const size_t left = s.size() - i;
  const unsigned char c = b(0);
  if (c < 0x80) return {c, 1};
  const auto cont = [&](size_t k, unsigned char lo = 0x80, unsigned char hi = 0xBF) {
    return k < left && b(k) >= lo && b(k) <= hi;
  };
  if (c >= 0xC2 && c <= 0xDF && cont(1)) return {static_cast<char32_t>(((c & 0x1FU) << 6) | (b(1) & 0x3FU)), 2};
  if (c >= 0xE0 && c <= 0xEF) {
    const unsigned char lo = c == 0xE0 ? 0xA0 : 0x80;
    const unsigned char hi = c == 0xED ? 0x9F : 0xBF;
    if (cont(1, lo, hi) && cont(2))
      return {static_cast<char32_t>(((c & 0x0FU) << 12) | ((b(1) & 0x3FU) << 6) | (b(2) & 0x3FU)), 3};
  }
  if (c >= 0xF0 && c <= 0xF4) {
    const unsigned char lo = c == 0xF0 ? 0x90 : 0x80;
    const unsigned char hi = c == 0xF4 ? 0x8F : 0xBF;
    if (cont(1, lo, hi) && cont(2) && cont(3)) {
      return {
          static_cast<char32_t>(((c & 0x07U) << 18) | ((b(1) & 0x3FU) << 12) | ((b(2) & 0x3FU) << 6) | (b(3) & 0x3FU)),
          4};
    }
  }
  return {0, 0};
}

void append_utf8(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

// What a terminal acts on instead of showing (see visible()).
bool acted_on(char32_t cp) {
  return cp < 0x20 || (cp >= 0x7F && cp <= 0x9F) || cp == 0x061C || cp == 0x200E || cp == 0x200F ||
         (cp >= 0x2028 && cp <= 0x202E) || (cp >= 0x2066 && cp <= 0x2069);
}

// Whether the text at s[i] comes out beginning with a backslash, or with what a backslash before
// it would make an escape: then a backslash before it is doubled.
bool escape_follows(std::string_view s, size_t i, bool escape_controls) {
  if (i >= s.size()) return false;
  if (s[i] == '\\') return true;
  const Decoded d = decode(s, i);
  if (d.len == 0 || (escape_controls && acted_on(d.cp))) return true;
  const std::string_view rest = s.substr(i);
  return rest.starts_with("x{") || rest.starts_with("u{");
}

std::string escape(std::string_view s, bool escape_controls) {
  std::string out;
  out.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    if (s[i] == '\\') {
      out += escape_follows(s, i + 1, escape_controls) ? "\\\\" : "\\";
      ++i;
      continue;
    }
    const Decoded d = decode(s, i);
    if (d.len == 0) {
      out += fmt::format("\\x{{{:02X}}}", static_cast<unsigned char>(s[i]));
      ++i;
    } else if (escape_controls && acted_on(d.cp)) {
      out += fmt::format("\\u{{{:04X}}}", static_cast<uint32_t>(d.cp));
      i += d.len;
    } else {
      out.append(s.substr(i, d.len));
      i += d.len;
    }
  }
  return out;
}

// The hex number of `digits` digits (min..max) at s[i], closed by '}'; how many characters
// that took, or 0.
size_t hex_until_brace(std::string_view s, size_t i, size_t min_digits, size_t max_digits, uint32_t* value) {
  uint32_t v = 0;
  size_t k = 0;
  for (; i + k < s.size() && k <= max_digits; ++k) {
    const char c = s[i + k];
    if (c == '}') break;
    int d = -1;
    if (c >= '0' && c <= '9') d = c - '0';
    if (c >= 'A' && c <= 'F') d = c - 'A' + 10;
    if (c >= 'a' && c <= 'f') d = c - 'a' + 10;
    if (d < 0) return 0;
    v = v * 16 + static_cast<uint32_t>(d);
  }
  if (k < min_digits || k > max_digits || i + k >= s.size() || s[i + k] != '}') return 0;
  *value = v;
  return k + 1;
}

}  // namespace

bool is_valid_utf8(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    const size_t len = decode(s, i).len;
    if (len == 0) return false;
    i += len;
  }
  return true;
}

std::string visible(std::string_view s) { return escape(s, true); }

std::string valid_utf8(std::string_view s) { return escape(s, false); }

std::optional<std::string> unescape(std::string_view s) {
  std::string out;
  size_t i = 0;
  while (i < s.size()) {
    if (s[i] != '\\') {
      const Decoded d = decode(s, i);
      if (d.len == 0) return std::nullopt;
      out.append(s.substr(i, d.len));
      i += d.len;
      continue;
    }
    const std::string_view rest = s.substr(i + 1);
    uint32_t v = 0;
    if (rest.starts_with("\\")) {
      out += '\\';
      i += 2;
    } else if (rest.starts_with("x{")) {
      const size_t used = hex_until_brace(s, i + 3, 2, 2, &v);
      if (used == 0) return std::nullopt;
      out += static_cast<char>(v);
      i += 3 + used;
    } else if (rest.starts_with("u{")) {
      const size_t used = hex_until_brace(s, i + 3, 4, 6, &v);
      if (used == 0 || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) return std::nullopt;
      append_utf8(out, v);
      i += 3 + used;
    } else {
      out += '\\';
      ++i;
    }
  }
  return out;
}

namespace {

bool starts_code_point(char c) { return (static_cast<unsigned char>(c) & 0xC0U) != 0x80U; }

// The byte offset of code point `k` (s.size() past the last).
size_t offset_of(std::string_view s, int k) {
  int seen = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    if (starts_code_point(s[i]) && seen++ == k) return i;
  }
  return s.size();
}

}  // namespace

int code_points(std::string_view s) { return static_cast<int>(std::count_if(s.begin(), s.end(), starts_code_point)); }

std::string first_code_points(std::string_view s, int n) { return std::string(s.substr(0, offset_of(s, n))); }

std::string last_code_points(std::string_view s, int n) {
  const int total = code_points(s);
  return n >= total ? std::string(s) : std::string(s.substr(offset_of(s, total - n)));
}

std::string bounded(std::string_view s, size_t max_bytes) {
  max_bytes = std::max<size_t>(max_bytes, 32);
  if (s.size() <= max_bytes) return std::string(s);
  uint64_t h = 0xcbf29ce484222325ULL;  // FNV-1a
  for (const char c : s) h = (h ^ static_cast<unsigned char>(c)) * 0x100000001b3ULL;
  const std::string tail = fmt::format("…#{:016x}", h);
  size_t keep = max_bytes - tail.size();
  while (keep > 0 && (static_cast<unsigned char>(s[keep]) & 0xC0U) == 0x80U) --keep;
  return std::string(s.substr(0, keep)) + tail;
}

}  // namespace ipctrace
