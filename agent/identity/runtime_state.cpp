#include "identity/runtime_state.h"

#include <functional>
#include <initializer_list>
#include <map>
#include <nlohmann/json.hpp>
#include <utility>

namespace ipctrace {
namespace {

using nlohmann::json;
using Annotations = std::map<std::string, std::string, std::less<>>;

// The one way a state document is read: `text` parsed as the document `what`, which must be a JSON
// `shape` (object or array), handed to `read`. A parse error ("malformed <what>: ..."), another
// shape ("<what> is not a JSON object") and any exception `read` lets out ("<what>: ...") are
// errors naming the document, never exceptions.
template <typename T>
Result<T> read_document(std::string_view text, std::string_view what, json::value_t shape,
                        const std::function<Result<T>(const json&)>& read) {
  const std::string name(what);
  try {
    json j;
    try {
      j = json::parse(text.begin(), text.end());
    } catch (const json::exception& e) {
      std::string_view detail = e.what();
      if (detail.starts_with("[json.exception.")) detail.remove_prefix(detail.find("] ") + 2);
      return Error::msg("malformed " + name + ": " + std::string(detail));
    }
    if (j.type() != shape) {
      return Error::msg(name + " is not a JSON " + (shape == json::value_t::array ? "array" : "object"));
    }
    return read(j);
  } catch (const std::exception& e) {
    return Error::msg(name + ": " + e.what());
  }
}

std::string string_at(const json& object, const char* key) {
  if (!object.is_object()) return {};
  auto it = object.find(key);
  if (it == object.end() || !it->is_string()) return {};
  return it->get<std::string>();
}

Annotations string_members(const json& object) {
  Annotations out;
  if (!object.is_object()) return out;
  for (const auto& [key, value] : object.items()) {
    if (value.is_string()) out.emplace(key, value.get<std::string>());
  }
  return out;
}

std::string first_of(const Annotations& a, std::initializer_list<std::string_view> keys) {
  for (std::string_view key : keys) {
    auto it = a.find(key);
    if (it != a.end() && !it->second.empty()) return it->second;
  }
  return {};
}

// The names CRI runtimes write as annotations (containerd's io.kubernetes.cri.*, CRI-O's
// io.kubernetes.* and io.kubernetes.cri-o.*), nerdctl's name, podman's manager.
OciNames names_from(const Annotations& a) {
  OciNames n;
  n.k8s_namespace = first_of(a, {"io.kubernetes.cri.sandbox-namespace", "io.kubernetes.pod.namespace"});
  n.pod = first_of(a, {"io.kubernetes.cri.sandbox-name", "io.kubernetes.pod.name"});
  n.pod_uid = first_of(a, {"io.kubernetes.cri.sandbox-uid", "io.kubernetes.pod.uid"});
  n.container = first_of(a, {"io.kubernetes.cri.container-name", "io.kubernetes.container.name"});
  n.container_type = first_of(a, {"io.kubernetes.cri.container-type", "io.kubernetes.cri-o.ContainerType"});
  n.sandbox_id = first_of(a, {"io.kubernetes.cri.sandbox-id", "io.kubernetes.cri-o.SandboxID"});
  n.name = first_of(a, {"nerdctl/name"});
  n.manager = first_of(a, {"io.container.manager"});
  return n;
}

// runc's state.json carries the spec's annotations as "key=value" labels, and the bundle as one.
void read_runc_labels(const json& labels, RuntimeState& out) {
  Annotations annotations;
  for (const auto& label : labels) {
    if (!label.is_string()) continue;
    const auto& text = label.get_ref<const std::string&>();
    const size_t eq = text.find('=');
    if (eq == std::string::npos) continue;
    std::string key = text.substr(0, eq);
    std::string value = text.substr(eq + 1);
    if (key == "bundle") {
      if (out.bundle.empty()) out.bundle = std::move(value);
    } else {
      annotations.emplace(std::move(key), std::move(value));
    }
  }
  out.names = names_from(annotations);
}

// A cgroup directory as a runtime records it (runc's cgroup_paths, crun's cgroup-path) -> the
// path from the cgroup2 root: the runtime's mount of it (/sys/fs/cgroup, or /sys/fs/cgroup/unified
// in hybrid mode) cut off; crun records it from the root already.
std::string from_cgroup_root(std::string path) {
  for (std::string_view mount : {std::string_view("/sys/fs/cgroup/unified"), std::string_view("/sys/fs/cgroup")}) {
    if (path == mount) return "/";
    if (path.starts_with(mount) && path[mount.size()] == '/') return path.substr(mount.size());
  }
  return path;
}

}  // namespace

Result<OciConfig> parse_oci_config(std::string_view config_json) {
  return read_document<OciConfig>(config_json, "OCI config", json::value_t::object,
                                  [](const json& j) -> Result<OciConfig> {
                                    OciConfig out;
                                    auto it = j.find("annotations");
                                    if (it != j.end()) out.names = names_from(string_members(*it));
                                    auto section = j.find("linux");
                                    if (section != j.end()) out.cgroups_path = string_at(*section, "cgroupsPath");
                                    return out;
                                  });
}

Result<OciNames> parse_oci_annotations(std::string_view config_json) {
  auto config = parse_oci_config(config_json);
  if (!config) return config.error();
  return std::move(config->names);
}

Result<DockerNames> parse_docker_config(std::string_view config_v2_json) {
  return read_document<DockerNames>(config_v2_json, "docker config.v2.json", json::value_t::object,
                                    [](const json& j) -> Result<DockerNames> {
                                      DockerNames out;
                                      out.name = string_at(j, "Name");
                                      if (out.name.starts_with('/')) out.name.erase(0, 1);
                                      auto config = j.find("Config");
                                      if (config == j.end() || !config->is_object()) return out;
                                      auto labels_it = config->find("Labels");
                                      if (labels_it == config->end()) return out;
                                      const Annotations labels = string_members(*labels_it);
                                      out.k8s = names_from(labels);
                                      const std::string type = first_of(labels, {"io.kubernetes.docker.type"});
                                      if (type == "podsandbox") {
                                        out.k8s.container_type = "sandbox";
                                      } else if (!type.empty()) {
                                        out.k8s.container_type = type;
                                      }
                                      if (out.k8s.sandbox_id.empty())
                                        out.k8s.sandbox_id = first_of(labels, {"io.kubernetes.sandbox.id"});
                                      return out;
                                    });
}

Result<RuntimeState> parse_runtime_state(std::string_view state_json) {
  return read_document<RuntimeState>(state_json, "runtime state", json::value_t::object,
                                     [](const json& j) -> Result<RuntimeState> {
                                       RuntimeState out;
                                       out.bundle = string_at(j, "bundle");
                                       auto config = j.find("config");
                                       if (config != j.end() && config->is_object()) {
                                         auto labels = config->find("labels");
                                         if (labels != config->end() && labels->is_array()) {
                                           read_runc_labels(*labels, out);
                                         }
                                       }
                                       auto paths = j.find("cgroup_paths");
                                       std::string cgroup = string_at(j, "cgroup-path");
                                       if (paths != j.end()) cgroup = string_at(*paths, "");
                                       if (!cgroup.empty()) out.cgroup = from_cgroup_root(std::move(cgroup));
                                       if (out.bundle.empty()) return Error::msg("runtime state names no bundle");
                                       return out;
                                     });
}

Result<std::string> parse_storage_container_name(std::string_view containers_json, std::string_view id) {
  return read_document<std::string>(containers_json, "containers.json", json::value_t::array,
                                    [id](const json& j) -> Result<std::string> {
                                      for (const auto& c : j) {
                                        if (string_at(c, "id") != id) continue;
                                        auto names = c.find("names");
                                        if (names == c.end() || !names->is_array()) return std::string();
                                        for (const auto& n : *names) {
                                          if (n.is_string() && !n.get_ref<const std::string&>().empty()) {
                                            return n.get<std::string>();
                                          }
                                        }
                                        return std::string();
                                      }
                                      return std::string();
                                    });
}

}  // namespace ipctrace
