#include "identity/endpoint.h"

#include "base/text.h"

namespace ipctrace {

std::string Endpoint::display() const {
  if (!pod.empty() && k8s_namespace.empty() && runtime == "podman") return "podman:" + pod + "/" + container;
  if (!pod.empty()) return k8s_namespace + "/" + pod + "/" + container;
  if (!cgroup.container_id.empty()) {
    const std::string& rt = runtime.empty() ? cgroup.runtime : runtime;
    return rt + ":" + (container.empty() ? short_container_id(cgroup.container_id) : container);
  }
  if (cgroup.runtime == "systemd" && !cgroup.unit.empty()) return "systemd:" + cgroup.unit;
  if (cgroup.path == "/") return host_process.empty() ? "host" : "host:" + host_process;
  if (!cgroup.path.empty()) return "cgroup:" + cgroup.path;
  return "cgroup#" + std::to_string(cgroup_id);
}

bool Endpoint::is_host_root() const {
  return cgroup.path == "/" && cgroup.container_id.empty() && cgroup.runtime != "systemd";
}

void Endpoint::name_host_process(const std::string& exe) {
  if (exe.empty() || !is_host_root()) return;
  host_process = bounded(exe, kMaxNameBytes);
  container = "host:" + host_process;
}

}  // namespace ipctrace
