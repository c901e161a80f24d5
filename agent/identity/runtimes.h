// The runtimes' state on disk, one function per source: where each runtime writes the state of a
// running container and what it says of it (Kubernetes namespace, pod and container names, or the
// runtime's own container name). All paths are under a host root (a DaemonSet sees the host's /run
// and /var/lib at /host). Every file is hostile input: bounded reads (base/files.h), strict parsers
// (identity/runtime_state.h).
//
// Each source, the file it reads under the host root, and who writes it:
//   containerd: <state>/io.containerd.runtime.v2.task/<ns>/<id>/config.json, the runtime v2 shim's
//               bundle, in each of containerd's state directories (its config's `state`:
//               /run/containerd by default, /run/k3s/containerd under k3s and RKE2, more with
//               --containerd-state); namespace k8s.io (the CRI plugin) first, then the others sorted
//   cri-o:      /run/containers/storage/overlay-containers/<id>/userdata/config.json (containers/storage)
//   podman:     /var/lib/containers/storage/overlay-containers/<id>/userdata/config.json,
//               .../overlay-containers/containers.json for the name (libpod), and libpod's
//               BoltDB state (/var/lib/containers/storage/libpod/bolt_state.db) for the pod
//   docker:     /var/lib/docker/containers/<id>/config.v2.json (dockerd)
//   runc:       /run/runc/<id>/state.json, then the bundle's config.json, else runc's labels
//   crun:       /run/crun/<id>/status, then the bundle's config.json
// The same files say where the runtime put the container's cgroup (the spec's linux.cgroupsPath,
// runc's cgroup_paths, crun's cgroup-path): what confirms a container nested inside another.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "identity/cgroup_path.h"
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
  // The cgroup paths (from the cgroup2 root) the state records for the container: every path its
  // spec's cgroupsPath can be (cgroup_paths_for), runc's and crun's own record. None from docker's
  // config.v2.json (its containerd bundle, namespace moby, has them).
  std::vector<std::string> cgroups;
  std::string error;
};

// containerd's state directories looked in when none are given (StateRoot::containerd_state):
// containerd's default `state` (/run/containerd) and the one k3s and RKE2 run containerd with.
inline constexpr std::array<std::string_view, 2> kContainerdStateDirs = {"/run/containerd", "/run/k3s/containerd"};

// Where to look and how much to read.
struct StateRoot {
  std::string host_root = "/";
  size_t max_file_bytes = size_t{8} << 20;  // a larger state file is a Failed lookup
  // containerd's state directories (absolute, as the host sees them: under host_root), in the
  // order they are searched; empty = kContainerdStateDirs.
  std::vector<std::string> containerd_state{};
};

RuntimeLookup lookup_containerd(const StateRoot& root, std::string_view id);
RuntimeLookup lookup_crio(const StateRoot& root, std::string_view id);
RuntimeLookup lookup_podman(const StateRoot& root, std::string_view id);
RuntimeLookup lookup_docker(const StateRoot& root, std::string_view id);
RuntimeLookup lookup_runc(const StateRoot& root, std::string_view id);
RuntimeLookup lookup_crun(const StateRoot& root, std::string_view id);

// A podman pod, from podman's own database (libpod's BoltDB state, identity/boltdb.h): its bucket
// "ctr"/<container id> holds "pod-id", its bucket "allPods" maps pod ids to pod names. Podman 4.3
// (Debian 12) writes the pod nowhere else a reader can find it: the container's config.json has no
// pod annotation, containers.json no pod field. Podman 4.8 and later can keep the same state in
// SQLite (db.sql, database_backend "sqlite"), which is not read: its containers show no pod.
inline constexpr std::string_view kPodmanBoltState = "/var/lib/containers/storage/libpod/bolt_state.db";
inline constexpr uint64_t kMaxPodmanStateBytes = uint64_t{1} << 30;  // only the pages a lookup needs are read
struct PodmanPod {
  std::string id;    // 64 hex; "" when the container is in no pod (or there is no database)
  std::string name;  // the pod's name, or the 12-character short id when the name is not recorded
};
Result<PodmanPod> read_podman_pod(const StateRoot& root, std::string_view container_id);

// Asks the sources in turn for container `id`, the one the cgroup path names (`path_runtime`,
// CgroupIdentity::runtime) first: the first that does not say Missing answers. Missing when none
// has state for it, and for an id that is not a file name component (usable_container_id): the
// lookup_* functions take only such ids.
RuntimeLookup lookup_container(const StateRoot& root, std::string_view path_runtime, std::string_view id);

// An id that is safe as a file name component.
bool usable_container_id(std::string_view id);

// Whether some source's state for container `id` records `path` (normalised, from the cgroup2
// root) as its cgroup: every source is asked, the one the cgroup path names (`path_runtime`) first.
bool state_records_cgroup(const StateRoot& root, std::string_view path_runtime, std::string_view id,
                          std::string_view path);

// The container that owns a cgroup: the innermost of its nested claims whose runtime state records
// exactly the claim's path as the container's cgroup (a nested container the host's runtime made),
// else the outermost container, as parse_cgroup_path names it. A record must match from the
// cgroup2 root: the host's runtimes run in its cgroup namespace, and a match anywhere deeper would
// accept a copy of a container's real path made inside another container. Only nested claims are
// looked up (at most kMaxNestedClaims), and a claim that cannot be read is not confirmed.
CgroupIdentity owner_by_state(const StateRoot& root, const CgroupIdentity& cgroup);

}  // namespace ipctrace
