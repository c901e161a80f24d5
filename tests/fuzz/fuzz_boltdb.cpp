// bbolt files (identity/boltdb.h): podman's database on the host. The reader must answer every
// lookup with a value, nothing, or an error, reading only inside the file. The seed is a small
// podman-like database with 512-byte pages (pods, a container's pod id, a two-level tree).
#include <array>
#include <string>
#include <string_view>

#include "fuzz_common.h"
#include "identity/boltdb.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace ipctrace;
  auto db = BoltDb::from_bytes(std::string(fuzz::as_text(data, size)));
  if (!db) return 0;
  const std::string_view pod = "cf62b38ca698b223aefc965eac025852f1bd37ad5a400e6917b694ec3c972562";
  const std::array<std::string_view, 2> ctr{"ctr", "60ba76cf1fcbb47e657c466d54b0ea24d1e9102797a2b05e6dba721e19f54307"};
  const std::array<std::string_view, 1> all_pods{"allPods"};
  const std::array<std::string_view, 1> tree{"tree"};
  (void)db->get(ctr, "pod-id");
  (void)db->get(all_pods, pod);
  (void)db->get(tree, "m");
  auto all = db->entries(tree);
  fuzz::require(!all || all->size() <= BoltDb::kMaxEntries, "entries() keeps to its bound");
  (void)db->entries(all_pods);
  return 0;
}
