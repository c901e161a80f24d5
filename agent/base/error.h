// Errors as values: an errno and the step that failed.
//
// The policy, for every layer:
//  - Return: a function that can fail on its input or on the system returns Result<T> or Status;
//    the Error names the step that failed ("open /proc/self/status") and carries its errno. The
//    caller decides what the failure means. Nothing below app/ exits the process or prints.
//  - Log and count: where a failure degrades the output but the work goes on (a map full, a
//    hook unavailable, a collection cycle that failed, a name that cannot be found), the code
//    that decides to go on logs a warning (rate-limited where it can repeat: RateLimitedLog)
//    and counts it in a metric, and a test covers it. A degradation that is only logged, or only
//    counted, is a bug.
//  - Die: only at start-up, in app/: bad configuration (exit 2), no privileges, no hook, a
//    port in use (exit 1), with one line that names the setting or the step. After start-up,
//    nothing a container controls (names, files, timing, traffic) may stop the process.
//  - Throw: never across a function of ours. Exceptions of libraries (nlohmann_json, CLI11, the
//    standard library) are caught where the library is called and become an Error.
#pragma once

#include <cerrno>
#include <cstring>
#include <string>
#include <utility>
#include <variant>

namespace ipctrace {

class Error {
 public:
  // `code` is a positive errno value (a negative one is folded); `context` names the step that
  // failed, e.g. "open /proc/self/status".
  Error(int code, std::string context) : code_(code < 0 ? -code : code), context_(std::move(context)) {}

  // An error that carries no errno, only a message.
  static Error msg(std::string context) { return Error(0, std::move(context)); }
  // An error from the current errno.
  static Error from_errno(std::string context) { return Error(errno, std::move(context)); }

  [[nodiscard]] int code() const { return code_; }
  [[nodiscard]] const std::string& context() const { return context_; }
  [[nodiscard]] std::string message() const {
    if (code_ == 0) return context_;
    return context_ + ": " + std::strerror(code_);
  }

 private:
  int code_;
  std::string context_;
};

// A value or the Error that prevented it.
template <typename T>
class Result {
 public:
  Result(T value) : v_(std::move(value)) {}      // NOLINT(google-explicit-constructor)
  Result(Error error) : v_(std::move(error)) {}  // NOLINT(google-explicit-constructor)

  [[nodiscard]] bool ok() const { return std::holds_alternative<T>(v_); }
  explicit operator bool() const { return ok(); }

  [[nodiscard]] T& value() & { return std::get<T>(v_); }
  [[nodiscard]] const T& value() const& { return std::get<T>(v_); }
  [[nodiscard]] T&& value() && { return std::get<T>(std::move(v_)); }
  [[nodiscard]] const Error& error() const { return std::get<Error>(v_); }

  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  std::variant<T, Error> v_;
};

// For operations that produce nothing but may fail.
struct Ok {};
using Status = Result<Ok>;

}  // namespace ipctrace
