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

#include <string>
#include <string_view>

namespace ipctrace {

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

  bool operator==(const CgroupIdentity&) const = default;
};

// Never fails: garbage yields a "host" identity with the normalised path. When containers nest
// (docker-in-docker, a kubelet in a container), the innermost one wins, with the pod directly
// around it. conmon's scope (libpod-conmon-<id>.scope, crio-conmon-<id>.scope) is a systemd unit,
// not the container.
CgroupIdentity parse_cgroup_path(std::string_view path);

// The first 12 characters of a container id (the short form docker prints).
std::string short_container_id(std::string_view id);

}  // namespace ipctrace
