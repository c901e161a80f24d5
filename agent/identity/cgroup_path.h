// cgroup paths and what they say by the runtimes' naming conventions: which runtime made the
// container, its id, the Kubernetes pod (uid and QoS class) around it, or the systemd unit of a
// host process. Pure: strings in, strings out (tests/unit/identity/cgroup_path_test.cpp).
//
// Conventions recognised (the runtime's code that makes them):
//   docker-<id>.scope (systemd driver), /docker/<id> (cgroupfs)       docker (systemd, cgroupfs driver)
//   cri-containerd-<id>.scope, /kubepods/.../pod<uid>/<id>           containerd CRI (cgroupfs: the id)
//   crio-<id>.scope, crio-conmon-<id>.scope (conmon, a unit)          CRI-O
//   libpod-<id>.scope, libpod-conmon-<id>.scope (conmon, a unit)      podman
//   kubepods[-<qos>]-pod<uid>.slice, /kubepods[/<qos>]/pod<uid>       the kubelet (systemd, cgroupfs)
//   runc-<id>.scope, crun-<id>.scope, <prefix>-<id>.scope             runc and crun with a systemd cgroupsPath
//   "slice:prefix:name" as one directory                              a systemd cgroupsPath under cgroupfs
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace ipctrace {

// A container-looking component below the container that owns a cgroup, and what it claims.
struct NestedClaim {
  std::string path;  // the cgroup path down to and including the component
  std::string runtime;
  std::string container_id;
  std::string pod_uid;  // the pod between it and the container around it, "" if none
  std::string qos;

  bool operator==(const NestedClaim&) const = default;
};

// What the cgroup path alone says.
struct CgroupIdentity {
  // Relative to the cgroup2 root, normalised: starts with "/", no empty components ("/" is the root).
  std::string path;
  // "containerd", "cri-o", "docker", "podman", "runc" (a container of an unknown or plain runtime),
  // "systemd" (a host unit), "host" (the root or any other host cgroup).
  std::string runtime;
  std::string container_id;  // full id as in the path, "" when no container
  std::string pod_uid;       // with dashes, "" if not a Kubernetes pod
  std::string qos;           // "guaranteed", "burstable", "besteffort", "" if not a pod
  std::string unit;          // innermost systemd unit for host cgroups ("nginx.service"), "" otherwise
  // Container-looking components inside that container, outermost first, at most kMaxNestedClaims:
  // a nested container (docker-in-docker, kind) or a forgery, which the path cannot tell apart.
  std::vector<NestedClaim> nested{};

  bool operator==(const CgroupIdentity&) const = default;
};

inline constexpr size_t kMaxNestedClaims = 8;

// Never fails: garbage yields a "host" identity with the normalised path. The outermost
// container-looking component names the container, with the pod directly around it: only the
// host's runtimes make cgroups outside every container, while a process in a container that may
// make child cgroups (cgroup namespaces with delegation, a privileged container) can name one
// cri-containerd-<another container's id>.scope, under a kubepods-...-pod<its pod>.slice too.
// Deeper container-looking components are only claims (`nested`); the runtimes' state decides
// (owner_by_state, identity/runtimes.h). conmon's scope (libpod-conmon-<id>.scope,
// crio-conmon-<id>.scope) is a systemd unit, not the container.
CgroupIdentity parse_cgroup_path(std::string_view path);

// `cgroup` as owned by its nested claim `i` (its runtime, id and pod; the claims below it remain).
CgroupIdentity owned_by_nested(const CgroupIdentity& cgroup, size_t i);

// The cgroup paths (normalised as parse_cgroup_path's) a runtime makes of an OCI spec's
// linux.cgroupsPath: "/a/b" as it is (cgroupfs); "slice:prefix:name" where systemd puts the unit
// (the slice expanded as runc and crun do, "kubepods-besteffort.slice" ->
// "/kubepods.slice/kubepods-besteffort.slice", then "<prefix>-<name>.scope") and where the cgroupfs
// driver puts it (one directory of that name). Empty for "" and for what no runtime makes.
std::vector<std::string> cgroup_paths_for(std::string_view cgroups_path);

// The first 12 characters of a container id (the short form docker prints).
std::string short_container_id(std::string_view id);

}  // namespace ipctrace
