// Text that a container or the kernel chose (process names, cgroup names, queue names, runtime
// annotations, a remote agent's document), made safe for where it is shown. Any bytes go in;
// what comes out is valid UTF-8, and distinct inputs give distinct outputs (the escaping is
// reversible: unescape() undoes it), so a hostile name can neither break a writer nor pass for
// another name.
//
// Escapes: a byte that is not part of valid UTF-8 (RFC 3629: no overlongs, no surrogates,
// nothing past U+10FFFF) is `\x{HH}`; a code point shown escaped is `\u{HHHH}`; a backslash is
// doubled where what follows it would otherwise read as an escape (another backslash, `x{`,
// `u{`), and kept as it is elsewhere, so `a\b` and systemd's `dev-disk-by\x2duuid` read as they
// are.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace ipctrace {

// Whether `s` is valid UTF-8 (RFC 3629).
bool is_valid_utf8(std::string_view s);

// For terminals, tables and logs: invalid bytes escaped, and the code points a terminal would act
// on rather than show: C0 controls (newline, tab and ESC included), DEL, C1 controls
// (U+0080-U+009F), the bidirectional formatting characters (U+061C, U+200E, U+200F,
// U+202A-U+202E, U+2066-U+2069) and the line and paragraph separators (U+2028, U+2029).
std::string visible(std::string_view s);

// For JSON and Prometheus label values, whose writers escape control characters themselves: only
// invalid bytes (and the backslashes before what would read as an escape) are escaped; valid
// UTF-8 comes out unchanged.
std::string valid_utf8(std::string_view s);

// The bytes visible() or valid_utf8() were given, from what they returned; nullopt for text
// neither can return.
std::optional<std::string> unescape(std::string_view s);

// At most `max_bytes` bytes (at least 32) of valid UTF-8 `s`, cut on a code point boundary: a
// longer string keeps its beginning and ends with "…#" and 16 hex digits of a hash of the whole,
// so two long names that share a beginning stay apart.
std::string bounded(std::string_view s, size_t max_bytes);

// Code points of a UTF-8 string (what a terminal shows as characters, one column each for the
// scripts ipctrace's tables assume), and its first and last `n` of them, cut on boundaries.
int code_points(std::string_view s);
std::string first_code_points(std::string_view s, int n);
std::string last_code_points(std::string_view s, int n);

}  // namespace ipctrace
