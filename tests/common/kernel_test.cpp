#include "kernel_test.h"

#include <bpf/bpf.h>
#include <linux/bpf.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace ipctrace::test {

bool in_ci() {
  const char* ci = std::getenv("CI");
  return ci != nullptr && std::string(ci) == "true";
}

double time_scale() {
  const char* scale = std::getenv("IPCTRACE_TEST_TIME_SCALE");
  if (scale == nullptr) return 1.0;
  char* end = nullptr;
  const double v = std::strtod(scale, &end);
  return end != scale && v >= 1.0 ? v : 1.0;
}

std::string kernel_test_blocker() {
  if (geteuid() != 0) return "not running as root";
  if (access("/sys/kernel/btf/vmlinux", R_OK) != 0) return "no kernel BTF at /sys/kernel/btf/vmlinux";
  const int fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "ipct_test", 4, 4, 1, nullptr);
  if (fd < 0) return std::string("cannot create a BPF map: ") + std::strerror(errno);
  close(fd);
  return {};
}

}  // namespace ipctrace::test
