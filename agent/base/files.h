// Files the agent reads: /proc and /sys entries, runtimes' state documents (which a container can
// make as large as it likes), descriptor paths. Every read is bounded.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "base/error.h"

namespace ipctrace {

// Larger than any /proc, /sys or runtime state file ipctrace reads; a file past it is an error.
inline constexpr size_t kDefaultMaxFileBytes = size_t{8} << 20;

// The whole of a regular file of at most `max_bytes` (a file that grows past it while being read
// is an error too). Errors: the errno of open or read ("open /x: No such file or directory"), or
// a message for a file that is not regular or is too large. Never blocks on a FIFO.
Result<std::string> read_file(const std::string& path, size_t max_bytes = kDefaultMaxFileBytes);

// The error says the file (or a directory on its path) does not exist: ENOENT or ENOTDIR.
bool is_missing(const Error& e);

// The path an open descriptor refers to (readlink of /proc/self/fd/N); " (deleted)" as the kernel
// appends it. ENAMETOOLONG past 4,095 bytes.
Result<std::string> fd_path(int fd);

// `root` + `path` with exactly one "/" between them ("/" + "/run" -> "/run", "/host/" + "run" ->
// "/host/run", "" + "x" -> "/x").
std::string join_path(std::string_view root, std::string_view path);

}  // namespace ipctrace
