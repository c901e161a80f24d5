#include "identity/endpoint.h"

namespace ipctrace {

std::string Endpoint::display() const {
  if (!pod.empty() && k8s_namespace.empty() && runtime == "podman") return "podman:" + pod + "/" + container;
  if (!pod.empty()) return k8s_namespace + "/" + pod + "/" + container;
  if (!cgroup.container_id.empty()) {
    const std::string& rt = runtime.empty() ? cgroup.runtime : runtime;
    return rt + ":" + (container.empty() ? short_container_id(cgroup.container_id) : container);
  }
  if (cgroup.runtime == "systemd" && !cgroup.unit.empty()) return "systemd:" + cgroup.unit;
  if (cgroup.path == "/") return "host";
  if (!cgroup.path.empty()) return "cgroup:" + cgroup.path;
  return "cgroup#" + std::to_string(cgroup_id);
}

}  // namespace ipctrace
