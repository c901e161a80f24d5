// The runtimes' state documents on the host (OCI config.json annotations, docker's
// config.v2.json, runc/crun state.json, containers/storage's containers.json): a container
// writes some of them, and their size is its choice. Every parser returns a value or an error.
#include <string>

#include "fuzz_common.h"
#include "identity/runtime_state.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace ipctrace;
  const std::string_view doc = fuzz::as_text(data, size);
  (void)parse_oci_annotations(doc);
  (void)parse_docker_config(doc);
  (void)parse_runtime_state(doc);
  // An id taken from the input's first line, as the resolver looks one up.
  const std::string_view id = doc.substr(0, std::min(doc.find('\n'), doc.size()));
  (void)parse_storage_container_name(doc, id.substr(0, 64));
  return 0;
}
