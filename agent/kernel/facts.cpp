#include "kernel/facts.h"

#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <spdlog/spdlog.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/utsname.h>

#include <charconv>
#include <sstream>

#include "base/files.h"
#include "kernel/libbpf_log.h"

namespace ipctrace {

std::optional<KernelVersion> KernelVersion::parse(std::string_view release) {
  KernelVersion v;
  v.release = std::string(release);
  int* parts[] = {&v.major, &v.minor, &v.patch};
  const char* p = release.data();
  const char* end = release.data() + release.size();
  for (int i = 0; i < 3; ++i) {
    auto [next, ec] = std::from_chars(p, end, *parts[i]);
    if (ec != std::errc()) {
      if (i < 2) return std::nullopt;  // need at least X.Y
      break;
    }
    p = next;
    if (i < 2) {
      if (p == end || *p != '.') {
        if (i == 0) return std::nullopt;
        break;
      }
      ++p;
    }
  }
  return v;
}

Result<KernelVersion> KernelVersion::running() {
  struct utsname u {};
  if (uname(&u) != 0) return Error::from_errno("uname");
  auto v = parse(u.release);
  if (!v) return Error::msg(std::string("cannot parse kernel release '") + u.release + "'");
  return *v;
}

std::string_view cap_name(Cap cap) {
  switch (cap) {
    case Cap::DacReadSearch:
      return "CAP_DAC_READ_SEARCH";
    case Cap::Kill:
      return "CAP_KILL";
    case Cap::SysPtrace:
      return "CAP_SYS_PTRACE";
    case Cap::SysAdmin:
      return "CAP_SYS_ADMIN";
    case Cap::SysResource:
      return "CAP_SYS_RESOURCE";
    case Cap::Perfmon:
      return "CAP_PERFMON";
    case Cap::Bpf:
      return "CAP_BPF";
  }
  return "CAP_?";
}

Result<Capabilities> Capabilities::parse_status(std::string_view status_text) {
  constexpr std::string_view key = "CapEff:";
  size_t pos = 0;
  while (pos < status_text.size()) {
    size_t eol = status_text.find('\n', pos);
    if (eol == std::string_view::npos) eol = status_text.size();
    std::string_view line = status_text.substr(pos, eol - pos);
    if (line.starts_with(key)) {
      line.remove_prefix(key.size());
      while (!line.empty() && (line.front() == ' ' || line.front() == '\t')) line.remove_prefix(1);
      uint64_t mask = 0;
      auto [ptr, ec] = std::from_chars(line.data(), line.data() + line.size(), mask, 16);
      if (ec != std::errc() || ptr == line.data()) return Error::msg("malformed CapEff line in status");
      return Capabilities(mask);
    }
    pos = eol + 1;
  }
  return Error::msg("no CapEff line in status");
}

Result<Capabilities> Capabilities::current() {
  auto text = read_file("/proc/self/status");
  if (!text) return text.error();
  return parse_status(*text);
}

std::vector<std::string> Capabilities::missing_for_tracing() const {
  std::vector<std::string> missing;
  if (can_trace()) return missing;
  if (!has(Cap::Bpf)) missing.emplace_back(cap_name(Cap::Bpf));
  if (!has(Cap::Perfmon)) missing.emplace_back(cap_name(Cap::Perfmon));
  return missing;
}

Result<std::shared_ptr<KernelBtf>> KernelBtf::load() {
  struct stat st {};
  if (stat(kVmlinuxBtfPath, &st) != 0) return Error::from_errno(std::string("stat ") + kVmlinuxBtfPath);
  LibbpfQuiet quiet;
  struct btf* btf = btf__load_vmlinux_btf();
  if (btf == nullptr) return Error(errno, "load kernel BTF");
  return std::shared_ptr<KernelBtf>(new KernelBtf(btf));
}

KernelBtf::~KernelBtf() { btf__free(btf_); }

bool KernelBtf::has_function(const std::string& name) const {
  return btf__find_by_name_kind(btf_, name.c_str(), BTF_KIND_FUNC) > 0;
}

bool KernelBtf::has_btf_tracepoint(const std::string& name) const {
  const std::string type = "btf_trace_" + name;
  return btf__find_by_name_kind(btf_, type.c_str(), BTF_KIND_TYPEDEF) > 0;
}

bool KernelBtf::tracepoint_arg_is_pointer(const std::string& name, unsigned index) const {
  const std::string type = "btf_trace_" + name;
  const int id = btf__find_by_name_kind(btf_, type.c_str(), BTF_KIND_TYPEDEF);
  if (id <= 0) return false;
  const struct btf_type* t = btf__type_by_id(btf_, btf__resolve_type(btf_, id));
  if (t == nullptr || !btf_is_ptr(t)) return false;
  t = btf__type_by_id(btf_, t->type);
  if (t == nullptr || !btf_is_func_proto(t) || index + 1 >= btf_vlen(t)) return false;
  const struct btf_param* param = btf_params(t) + index + 1;
  const struct btf_type* arg = btf__type_by_id(btf_, btf__resolve_type(btf_, param->type));
  return arg != nullptr && btf_is_ptr(arg);
}

bool KernelBtf::io_uring_complete_has_request() const {
  return tracepoint_arg_is_pointer("io_uring_complete", 1) && has_struct("io_kiocb") && has_struct("io_cmd_data");
}

bool KernelBtf::has_struct(const std::string& name) const {
  return btf__find_by_name_kind(btf_, name.c_str(), BTF_KIND_STRUCT) > 0;
}

std::optional<std::string> find_tracefs_in(std::string_view mounts_text) {
  std::istringstream in{std::string(mounts_text)};
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string source;
    std::string target;
    std::string type;
    if (fields >> source >> target >> type && type == "tracefs") return target;
  }
  return std::nullopt;
}

std::optional<std::string> find_tracefs() {
  auto text = read_file("/proc/self/mounts");
  if (!text) return std::nullopt;
  return find_tracefs_in(*text);
}

Result<std::string> ensure_tracefs() {
  if (auto where = find_tracefs()) return *where;
  constexpr const char* target = "/sys/kernel/tracing";
  if (mount("tracefs", target, "tracefs", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr) != 0) {
    return Error::from_errno(std::string("mount tracefs on ") + target);
  }
  spdlog::info("mounted tracefs on {} (per-syscall tracepoints need it)", target);
  return std::string(target);
}

std::string libbpf_version() {
  return std::to_string(libbpf_major_version()) + "." + std::to_string(libbpf_minor_version());
}

bool tracefs_has_event(const std::string& tracefs, const std::string& category, const std::string& name) {
  struct stat st {};
  const std::string path = tracefs + "/events/" + category + "/" + name + "/id";
  return stat(path.c_str(), &st) == 0;
}

}  // namespace ipctrace
