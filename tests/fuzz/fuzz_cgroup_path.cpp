// cgroup paths, as the kernel reports them and as a container names its own cgroups: any bytes.
// parse_cgroup_path never fails; its result is a pure function of the path.
#include "fuzz_common.h"
#include "identity/cgroup_path.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace ipctrace;
  const std::string_view path = fuzz::as_text(data, size);
  const CgroupIdentity id = parse_cgroup_path(path);
  fuzz::require(parse_cgroup_path(path) == id, "parse_cgroup_path is deterministic");
  fuzz::require(short_container_id(id.container_id).size() <= 12, "a short id has at most 12 characters");
  fuzz::require(id.container_id.empty() || !id.runtime.empty(), "a container id comes with its runtime");
  return 0;
}
