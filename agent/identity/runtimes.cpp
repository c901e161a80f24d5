#include "identity/runtimes.h"

#include <dirent.h>

#include <algorithm>
#include <array>
#include <memory>
#include <utility>
#include <vector>

#include "base/files.h"
#include "identity/boltdb.h"

namespace ipctrace {
namespace {

using Outcome = RuntimeLookup::Outcome;

RuntimeLookup failed(std::string error) {
  RuntimeLookup r;
  r.outcome = Outcome::Failed;
  r.error = std::move(error);
  return r;
}

RuntimeLookup found(std::string runtime, OciNames names) {
  RuntimeLookup r;
  r.outcome = Outcome::Found;
  r.runtime = std::move(runtime);
  r.names = std::move(names);
  return r;
}

std::string under(const StateRoot& root, std::string_view path) { return join_path(root.host_root, path); }

// An OCI config.json: its annotations and cgroupsPath.
RuntimeLookup from_config(const StateRoot& root, const std::string& file, std::string runtime) {
  auto text = read_file(file, root.max_file_bytes);
  if (!text) return is_missing(text.error()) ? RuntimeLookup{} : failed(text.error().message());
  auto config = parse_oci_config(*text);
  if (!config) return failed(file + ": " + config.error().message());
  RuntimeLookup r = found(std::move(runtime), std::move(config->names));
  r.cgroups = cgroup_paths_for(config->cgroups_path);
  return r;
}

// containers/storage (CRI-O, podman): the spec's annotations, and the name from containers.json
// when they have none.
RuntimeLookup from_storage(const StateRoot& root, std::string_view store, std::string_view id, std::string runtime) {
  const std::string config =
      under(root, std::string(store) + "/overlay-containers/" + std::string(id) + "/userdata/config.json");
  RuntimeLookup r = from_config(root, config, std::move(runtime));
  if (r.outcome != Outcome::Found) return r;
  if (r.names.manager == "libpod") r.runtime = "podman";
  if (!r.names.container.empty() || !r.names.name.empty()) return r;
  const std::string list = under(root, "/var/lib/containers/storage/overlay-containers/containers.json");
  auto text = read_file(list, root.max_file_bytes);
  if (!text) {
    if (!is_missing(text.error())) r.error = text.error().message();
    return r;
  }
  auto name = parse_storage_container_name(*text, id);
  if (!name) {
    r.error = list + ": " + name.error().message();
    return r;
  }
  r.names.name = *name;
  return r;
}

// runc and crun: their state names the bundle, whose config.json has the annotations; runc's state
// also carries them as labels, used when the bundle cannot be read.
RuntimeLookup from_state(const StateRoot& root, const std::string& file, std::string runtime) {
  auto text = read_file(file, root.max_file_bytes);
  if (!text) return is_missing(text.error()) ? RuntimeLookup{} : failed(text.error().message());
  auto state = parse_runtime_state(*text);
  if (!state) return failed(file + ": " + state.error().message());
  RuntimeLookup r = from_config(root, join_path(under(root, state->bundle), "config.json"), runtime);
  if (r.outcome != Outcome::Found && state->names.kubernetes()) r = found(std::move(runtime), state->names);
  if (r.outcome == Outcome::Missing)
    return failed("bundle " + state->bundle + " named by " + file + " has no config.json");
  if (r.outcome == Outcome::Found && !state->cgroup.empty()) {
    std::vector<std::string> own = cgroup_paths_for(state->cgroup);
    r.cgroups.insert(r.cgroups.end(), own.begin(), own.end());
  }
  return r;
}

// containerd's namespaces other than k8s.io (moby for docker, default for nerdctl and ctr), sorted.
std::vector<std::string> other_containerd_namespaces(const std::string& tasks) {
  std::vector<std::string> namespaces;
  const std::unique_ptr<DIR, int (*)(DIR*)> dir(opendir(tasks.c_str()), closedir);
  if (!dir) return namespaces;
  while (const dirent* ent = readdir(dir.get())) {
    const std::string_view ns = ent->d_name;
    if (ns != "." && ns != ".." && ns != "k8s.io") namespaces.emplace_back(ns);
  }
  std::sort(namespaces.begin(), namespaces.end());
  return namespaces;
}

struct Source {
  std::string_view path_runtime;  // what parse_cgroup_path says for containers of this source
  RuntimeLookup (*lookup)(const StateRoot&, std::string_view);
};

// The order sources are asked in when the cgroup path names none of them.
constexpr std::array<Source, 6> kSources{{{"containerd", lookup_containerd},
                                          {"cri-o", lookup_crio},
                                          {"podman", lookup_podman},
                                          {"docker", lookup_docker},
                                          {"runc", lookup_runc},
                                          {"runc", lookup_crun}}};

// The sources in the order they are asked: those of the runtime the cgroup path names first.
std::vector<const Source*> sources_for(std::string_view path_runtime) {
  std::vector<const Source*> order;
  for (const Source& s : kSources) {
    if (s.path_runtime == path_runtime) order.push_back(&s);
  }
  for (const Source& s : kSources) {
    if (std::find(order.begin(), order.end(), &s) == order.end()) order.push_back(&s);
  }
  return order;
}

}  // namespace

RuntimeLookup lookup_containerd(const StateRoot& root, std::string_view id) {
  std::vector<std::string> dirs = root.containerd_state;
  if (dirs.empty()) dirs.assign(kContainerdStateDirs.begin(), kContainerdStateDirs.end());
  std::string file = "/";
  file.append(id).append("/config.json");
  RuntimeLookup r;
  for (const std::string& state : dirs) {
    const std::string tasks = under(root, join_path(state, "io.containerd.runtime.v2.task"));
    std::string cri = tasks;
    cri.append("/k8s.io").append(file);
    r = from_config(root, cri, "containerd");
    if (r.outcome != Outcome::Missing) return r;
    for (const std::string& ns : other_containerd_namespaces(tasks)) {
      std::string path = tasks;
      path.append("/").append(ns).append(file);
      r = from_config(root, path, "containerd");
      if (r.outcome != Outcome::Missing) return r;
    }
  }
  return r;
}

RuntimeLookup lookup_crio(const StateRoot& root, std::string_view id) {
  return from_storage(root, "/run/containers/storage", id, "cri-o");
}

RuntimeLookup lookup_podman(const StateRoot& root, std::string_view id) {
  RuntimeLookup r = from_storage(root, "/var/lib/containers/storage", id, "podman");
  if (r.outcome != Outcome::Found || r.runtime != "podman" || !r.names.pod.empty()) return r;
  auto pod = read_podman_pod(root, id);
  if (!pod) {
    if (r.error.empty()) r.error = pod.error().message();
    return r;
  }
  r.names.pod = pod->name;
  r.names.pod_uid = pod->id;
  return r;
}

Result<PodmanPod> read_podman_pod(const StateRoot& root, std::string_view id) {
  const std::string db_path = under(root, kPodmanBoltState);
  PodmanPod pod;
  const Status read = with_bolt_file(db_path, kMaxPodmanStateBytes, [&](const BoltDb& db) -> Status {
    const std::array<std::string_view, 2> container{"ctr", id};
    auto pod_id = db.get(container, "pod-id");
    if (!pod_id) return pod_id.error();
    if (!*pod_id || (*pod_id)->empty()) return Ok{};  // not in a pod
    if (!usable_container_id(**pod_id) || (*pod_id)->size() != 64 ||
        (*pod_id)->find_first_not_of("0123456789abcdef") != std::string::npos) {
      return Error(EINVAL, "container " + std::string(id) + ": pod-id is not 64 hex digits");
    }
    pod.id = **pod_id;
    const std::array<std::string_view, 1> all_pods{"allPods"};
    auto name = db.get(all_pods, pod.id);
    if (!name) return name.error();
    pod.name = *name && !(*name)->empty() ? **name : short_container_id(pod.id);
    return Ok{};
  });
  if (!read) {
    if (is_missing(read.error())) return PodmanPod{};  // no pods here, or podman's SQLite state (podman 4.8+)
    return read.error();
  }
  return pod;
}

RuntimeLookup lookup_docker(const StateRoot& root, std::string_view id) {
  const std::string file = under(root, "/var/lib/docker/containers/" + std::string(id) + "/config.v2.json");
  auto text = read_file(file, root.max_file_bytes);
  if (!text) return is_missing(text.error()) ? RuntimeLookup{} : failed(text.error().message());
  auto docker = parse_docker_config(*text);
  if (!docker) return failed(file + ": " + docker.error().message());
  RuntimeLookup r = found("docker", docker->k8s);
  r.names.name = docker->name;
  return r;
}

RuntimeLookup lookup_runc(const StateRoot& root, std::string_view id) {
  return from_state(root, under(root, "/run/runc/" + std::string(id) + "/state.json"), "runc");
}

RuntimeLookup lookup_crun(const StateRoot& root, std::string_view id) {
  return from_state(root, under(root, "/run/crun/" + std::string(id) + "/status"), "crun");
}

RuntimeLookup lookup_container(const StateRoot& root, std::string_view path_runtime, std::string_view id) {
  if (!usable_container_id(id)) return {};  // never a path outside the runtimes' directories
  for (const Source* s : sources_for(path_runtime)) {
    RuntimeLookup r = s->lookup(root, id);
    if (r.outcome != Outcome::Missing) return r;
  }
  return {};
}

bool state_records_cgroup(const StateRoot& root, std::string_view path_runtime, std::string_view id,
                          std::string_view path) {
  if (!usable_container_id(id)) return false;
  for (const Source* s : sources_for(path_runtime)) {
    const RuntimeLookup r = s->lookup(root, id);
    if (r.outcome == Outcome::Found && std::find(r.cgroups.begin(), r.cgroups.end(), path) != r.cgroups.end()) {
      return true;
    }
  }
  return false;
}

CgroupIdentity owner_by_state(const StateRoot& root, const CgroupIdentity& cgroup) {
  for (size_t i = cgroup.nested.size(); i-- > 0;) {
    const NestedClaim& claim = cgroup.nested[i];
    if (state_records_cgroup(root, claim.runtime, claim.container_id, claim.path)) return owned_by_nested(cgroup, i);
  }
  return cgroup;
}

bool usable_container_id(std::string_view id) {
  return !id.empty() && id != "." && id != ".." && id.find('/') == std::string_view::npos &&
         id.find('\0') == std::string_view::npos;
}

}  // namespace ipctrace
