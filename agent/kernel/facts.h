// Facts about the running kernel and this process that decide what ipctrace can do: the kernel
// version, the capabilities held, the kernel's BTF (which functions and tracepoints exist), tracefs.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"

struct btf;

namespace ipctrace {

struct KernelVersion {
  int major = 0;
  int minor = 0;
  int patch = 0;
  std::string release;  // uname -r, verbatim

  // Parses "6.18.44-fc-v669", "6.1.0-28-cloud-amd64", "5.15.0". nullopt if it is not X.Y[.Z]...
  static std::optional<KernelVersion> parse(std::string_view release);
  static Result<KernelVersion> running();

  [[nodiscard]] bool at_least(int maj, int min) const { return major > maj || (major == maj && minor >= min); }
};

// Capabilities that matter to ipctrace, with their numbers from <linux/capability.h>.
enum class Cap : int {
  DacReadSearch = 2,
  Kill = 5,
  SysPtrace = 19,
  SysAdmin = 21,
  SysResource = 24,
  Perfmon = 38,
  Bpf = 39,
};
std::string_view cap_name(Cap cap);

class Capabilities {
 public:
  Capabilities() = default;
  explicit Capabilities(uint64_t effective) : eff_(effective) {}

  // Parses the CapEff line of /proc/PID/status.
  static Result<Capabilities> parse_status(std::string_view status_text);
  static Result<Capabilities> current();

  [[nodiscard]] bool has(Cap cap) const { return (eff_ >> static_cast<int>(cap)) & 1U; }
  [[nodiscard]] uint64_t effective() const { return eff_; }

  // What loading and attaching tracing programs needs: CAP_BPF and CAP_PERFMON
  // (Linux 5.8+), or CAP_SYS_ADMIN, which implies both.
  [[nodiscard]] bool can_trace() const { return has(Cap::SysAdmin) || (has(Cap::Bpf) && has(Cap::Perfmon)); }
  // The capabilities tracing lacks, by name; empty when can_trace().
  [[nodiscard]] std::vector<std::string> missing_for_tracing() const;

 private:
  uint64_t eff_ = 0;
};

// The kernel's BTF (/sys/kernel/btf/vmlinux), parsed once.
class KernelBtf {
 public:
  static Result<std::shared_ptr<KernelBtf>> load();
  ~KernelBtf();
  KernelBtf(const KernelBtf&) = delete;
  KernelBtf& operator=(const KernelBtf&) = delete;
  KernelBtf(KernelBtf&&) = delete;
  KernelBtf& operator=(KernelBtf&&) = delete;

  // A kernel function with BTF (so fentry/fexit can target it).
  [[nodiscard]] bool has_function(const std::string& name) const;
  // A tracepoint that tp_btf can attach to (BTF typedef btf_trace_<name>).
  [[nodiscard]] bool has_btf_tracepoint(const std::string& name) const;
  // A struct by name.
  [[nodiscard]] bool has_struct(const std::string& name) const;
  // Whether argument `index` (from 0, after the tracepoint's own data pointer) of a tp_btf
  // tracepoint is a pointer: the typedef btf_trace_<name> is a pointer to a function whose first
  // parameter is that data pointer. False when there is no such tracepoint or argument.
  [[nodiscard]] bool tracepoint_arg_is_pointer(const std::string& name, unsigned index) const;
  // io_uring:io_uring_complete passes the request, a struct io_kiocb with its command area
  // (io_kiocb.cmd, struct io_cmd_data: Linux 6.0, "io_uring: add io_cmd_data"), as its second
  // argument: 6.1 and 6.18 do; 5.10 passes no request, and 5.18/5.19 a request without `cmd`.
  [[nodiscard]] bool io_uring_complete_has_request() const;

 private:
  explicit KernelBtf(struct btf* btf) : btf_(btf) {}
  struct btf* btf_;
};

inline constexpr const char* kVmlinuxBtfPath = "/sys/kernel/btf/vmlinux";

// The libbpf this binary runs with, "major.minor" (libbpf_major_version()).
std::string libbpf_version();

// Where tracefs is mounted, from /proc/self/mounts (nullopt if nowhere).
std::optional<std::string> find_tracefs();
// Parses mounts text for the first tracefs mount point.
std::optional<std::string> find_tracefs_in(std::string_view mounts_text);
// Mounts tracefs on /sys/kernel/tracing if it is mounted nowhere: per-syscall
// tracepoints need its event ids. Returns the mount point.
Result<std::string> ensure_tracefs();
// True if tracefs has the event CATEGORY/NAME (e.g. "syscalls", "sys_exit_write").
bool tracefs_has_event(const std::string& tracefs, const std::string& category, const std::string& name);

}  // namespace ipctrace
