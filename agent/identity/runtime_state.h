// The runtimes' state documents, parsed: OCI runtime specs (config.json) with the annotations CRI
// runtimes write, docker's config.v2.json, runc's state.json and crun's status, and
// containers/storage's containers.json (podman, CRI-O). Pure: text in, names out; every document is
// hostile input (a container can write its own annotations), so malformed ones are errors, never
// exceptions (tests/unit/identity/runtime_state_test.cpp).
#pragma once

#include <string>
#include <string_view>

#include "base/error.h"

namespace ipctrace {

// Names from a container's OCI annotations (containerd CRI and CRI-O names are both accepted) or,
// for docker, its labels. Empty fields when absent.
struct OciNames {
  std::string k8s_namespace, pod, pod_uid, container, container_type;  // container_type: "sandbox", "container"
  std::string sandbox_id;  // io.kubernetes.cri.sandbox-id / io.kubernetes.cri-o.SandboxID
  std::string name;        // a non-Kubernetes container name (nerdctl/name), "" if none
  std::string manager;     // io.container.manager ("libpod" for podman)

  [[nodiscard]] bool kubernetes() const { return !pod.empty() || !container.empty() || !container_type.empty(); }
  bool operator==(const OciNames&) const = default;
};

// An OCI runtime spec (config.json): the names from its annotations, and the cgroup its runtime
// was asked for (linux.cgroupsPath as written: "/a/b" or systemd's "slice:prefix:name"; "" if none).
struct OciConfig {
  OciNames names;
  std::string cgroups_path;
  bool operator==(const OciConfig&) const = default;
};
// An error for malformed JSON or a document that is not an object; a missing or non-object
// "annotations" gives empty names, a missing or non-string cgroupsPath "".
Result<OciConfig> parse_oci_config(std::string_view config_json);
// The names alone.
Result<OciNames> parse_oci_annotations(std::string_view config_json);

// A docker config.v2.json -> the container's name (leading "/" stripped) and, for a Kubernetes
// dockershim container, the names from its labels (io.kubernetes.docker.type "podsandbox" becomes
// container_type "sandbox").
struct DockerNames {
  std::string name;
  OciNames k8s;
  bool operator==(const DockerNames&) const = default;
};
Result<DockerNames> parse_docker_config(std::string_view config_v2_json);

// A low-level runtime's state: runc's state.json ("config.labels" holds "bundle=<dir>" and the
// spec's annotations as "key=value"; "cgroup_paths" the cgroup's directory, "" the cgroup v2 one)
// or crun's status (top-level "bundle" and "cgroup-path"). An error for malformed JSON or when no
// bundle is named.
struct RuntimeState {
  std::string bundle;
  OciNames names;  // from runc's labels; empty for crun
  // The cgroup the runtime put the container in, from the cgroup2 root ("/a/b": a leading
  // /sys/fs/cgroup, the mount as the runtime saw it, is cut off); "" if not recorded.
  std::string cgroup{};
  bool operator==(const RuntimeState&) const = default;
};
Result<RuntimeState> parse_runtime_state(std::string_view state_json);

// containers/storage's containers.json (podman, CRI-O) -> the first name of container `id`;
// "" when the id is not listed. An error for malformed JSON.
Result<std::string> parse_storage_container_name(std::string_view containers_json, std::string_view id);

}  // namespace ipctrace
