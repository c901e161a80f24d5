// The runtimes' state on disk, one function per source: where each runtime writes the state of a
// running container and what it says of it (Kubernetes namespace, pod and container names, or the
// runtime's own container name). All paths are under a host root (a DaemonSet sees the host's /run
// and /var/lib at /host). Every file is hostile input: bounded reads (base/files.h), strict parsers
// (identity/runtime_state.h).
//
// Each source, the file it reads under the host root, and who writes it:
//   containerd: /run/containerd/io.containerd.runtime.v2.task/<ns>/<id>/config.json, the runtime v2
//               shim's bundle; namespace k8s.io (the CRI plugin) first, then the others sorted
//   cri-o:      /run/containers/storage/overlay-containers/<id>/userdata/config.json (containers/storage)
//   podman:     /var/lib/containers/storage/overlay-containers/<id>/userdata/config.json, and
//               .../overlay-containers/containers.json for the name (libpod)
//   docker:     /var/lib/docker/containers/<id>/config.v2.json (dockerd)
//   runc:       /run/runc/<id>/state.json, then the bundle's config.json, else runc's labels
//   crun:       /run/crun/<id>/status, then the bundle's config.json
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "identity/runtime_state.h"

namespace ipctrace {

// What one source says of a container.
struct RuntimeLookup {
  enum class Outcome {
    Missing,  // this source has no state for the container
    Found,    // names found (maybe incomplete: `error` says what could not be read)
    Failed,   // the state exists and could not be read or parsed (`error`)
  };
  Outcome outcome = Outcome::Missing;
  std::string runtime;  // the runtime whose state named the container ("podman", "containerd"...)
  OciNames names;
  std::string error;
};

// Where to look and how much to read.
struct StateRoot {
  std::string host_root = "/";
  size_t max_file_bytes = size_t{8} << 20;  // a larger state file is a Failed lookup
};

RuntimeLookup lookup_containerd(const StateRoot& root, std::string_view id);
RuntimeLookup lookup_crio(const StateRoot& root, std::string_view id);
RuntimeLookup lookup_podman(const StateRoot& root, std::string_view id);
RuntimeLookup lookup_docker(const StateRoot& root, std::string_view id);
RuntimeLookup lookup_runc(const StateRoot& root, std::string_view id);
RuntimeLookup lookup_crun(const StateRoot& root, std::string_view id);

// Asks the sources in turn for container `id`, the one the cgroup path names (`path_runtime`,
// CgroupIdentity::runtime) first: the first that does not say Missing answers. Missing when none
// has state for it, and for an id that is not a file name component (usable_container_id): the
// lookup_* functions take only such ids.
RuntimeLookup lookup_container(const StateRoot& root, std::string_view path_runtime, std::string_view id);

// An id that is safe as a file name component.
bool usable_container_id(std::string_view id);

}  // namespace ipctrace
