#include "base/files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>

#include "base/fd.h"

namespace ipctrace {

Result<std::string> read_file(const std::string& path, size_t max_bytes) {
  const size_t max = std::min(max_bytes, size_t{1} << 40);
  const Fd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK));
  if (fd.get() < 0) return Error::from_errno("open " + path);
  struct stat st {};
  if (fstat(fd.get(), &st) != 0) return Error::from_errno("stat " + path);
  if (!S_ISREG(st.st_mode)) return Error::msg(path + " is not a regular file");
  if (static_cast<uint64_t>(st.st_size) > max) {
    return Error::msg(path + " is larger than " + std::to_string(max) + " bytes");
  }
  // Sized by the file (which may still grow, and /proc files say 0), up to one byte past the
  // limit to notice it.
  std::string out;
  out.resize(std::min(std::max(static_cast<size_t>(st.st_size), size_t{4095}), max) + 1);
  size_t got = 0;
  while (true) {
    if (got == out.size()) {
      if (out.size() > max) break;
      out.resize(std::min(out.size() * 2, max + 1));
    }
    const ssize_t n = read(fd.get(), out.data() + got, out.size() - got);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Error::from_errno("read " + path);
    }
    if (n == 0) break;
    got += static_cast<size_t>(n);
  }
  if (got > max) return Error::msg(path + " is larger than " + std::to_string(max) + " bytes");
  out.resize(got);
  return out;
}

bool is_missing(const Error& e) { return e.code() == ENOENT || e.code() == ENOTDIR; }

Result<std::string> fd_path(int fd) {
  const std::string link = "/proc/self/fd/" + std::to_string(fd);
  std::string buf(4096, '\0');
  const ssize_t n = readlink(link.c_str(), buf.data(), buf.size());
  if (n < 0) return Error::from_errno("readlink " + link);
  if (static_cast<size_t>(n) >= buf.size()) return Error(ENAMETOOLONG, "readlink " + link);
  buf.resize(static_cast<size_t>(n));
  return buf;
}

std::string join_path(std::string_view root, std::string_view path) {
  while (!root.empty() && root.back() == '/') root.remove_suffix(1);
  while (!path.empty() && path.front() == '/') path.remove_prefix(1);
  std::string out(root);
  if (path.empty()) return out.empty() ? "/" : out;
  out += '/';
  out += path;
  return out;
}

}  // namespace ipctrace
