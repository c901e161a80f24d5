// A traced endpoint: a cgroup, with the names users know it by. What identity/ produces and every
// output prints.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>

#include "identity/cgroup_path.h"

namespace ipctrace {

// A traced endpoint: a cgroup with the names users know it by.
struct Endpoint {
  uint64_t cgroup_id = 0;
  // What the cgroup path says, with the container the runtimes' state confirmed as the owner
  // (identity/runtimes.h owner_by_state); empty (path "") when the cgroup could not be found.
  CgroupIdentity cgroup;
  // The runtime whose state named the container; it can differ from cgroup.runtime (a kubepods-style
  // path run by plain runc says "containerd" in the path and "runc" here). cgroup.runtime when no
  // state was found, "" when the cgroup was not found.
  std::string runtime;
  std::string k8s_namespace;  // Kubernetes namespace, "" if none
  std::string pod;            // pod name (Kubernetes, or a podman pod's), "" if none
  std::string pod_uid;        // from the runtime's annotations (a podman pod's 64-hex id), else from the path
  // Kubernetes container name ("POD" for a sandbox without one), else the runtime's container name
  // (docker or podman name), else the 12-character short id. For host cgroups: the systemd unit
  // (runtime "systemd") or the cgroup path ("host"); "cgroup#<id>" when the cgroup was not found.
  std::string container;
  // The host's root cgroup holds every host process not in a unit of its own (all of them on a
  // host whose init is not systemd: dockerd, containerd, a node-local agent): its ends are told
  // apart by the process that first used the channel, by its executable's file name (TaskHint::exe:
  // mm->exe_file, set by execve; unlike comm, no prctl(PR_SET_NAME) changes it). "" for other
  // endpoints and when none was recorded. Set by name_host_process(), never by the resolver.
  std::string host_process;
  bool sandbox = false;  // the pod's sandbox (pause) container
  bool partial = false;  // something could not be read or found: names are incomplete
  // Partial, and resolve() will try again: a cgroup made since the last walk of the tree, or a
  // container whose runtime state is not written yet. Counters wait for the final name rather than
  // filing a new container's first operations under "cgroup#<id>" for good.
  bool pending = false;

  // At most kMaxNameBytes bytes each: runtime, k8s_namespace, pod, pod_uid, container
  // (IdentityResolver cuts longer ones with base/text.h's bounded(): the beginning, "…#" and a
  // hash of the whole, so two long names stay apart). A container chooses its names; a
  // megabyte-long pod name must not make every output that shows it a megabyte.
  static constexpr size_t kMaxNameBytes = 256;

  // A one-line name for tables: "ns/pod/container" (Kubernetes), "podman:<pod>/<container>" (a
  // podman pod: "podman:webpod/web-client"), "<runtime>:<container>" (other
  // containers: "docker:web", "podman:db", "containerd:3f1c2a9b0d4e" when partial), "systemd:<unit>",
  // "host:<executable>" (a process of the root cgroup: "host:dockerd"), "host" (the root cgroup's
  // process unknown), "cgroup:<path>" (other host cgroups), "cgroup#<id>" (not found).
  [[nodiscard]] std::string display() const;

  // The host's root cgroup (not a container's, not a systemd unit's).
  [[nodiscard]] bool is_host_root() const;
  // Names the root cgroup's end after the executable of the process that used the channel
  // (host_process = exe, at most kMaxNameBytes bytes; container = "host:<exe>", the name
  // `--container` matches and metrics label). A no-op for other endpoints or an empty exe.
  void name_host_process(const std::string& exe);
  bool operator==(const Endpoint&) const = default;
};

// Names an endpoint by its cgroup id (normally IdentityResolver::resolve).
using Namer = std::function<Endpoint(uint64_t cgroup_id)>;

}  // namespace ipctrace
