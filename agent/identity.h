// Endpoint identity: the cgroup v2 id the BPF programs tag every operation with -> the cgroup's
// path -> the runtime and container it belongs to (by the runtimes' naming conventions) -> the
// names users know (Kubernetes namespace/pod/container, docker name, systemd unit), read from the
// runtimes' state on disk under a host root. Nothing here throws; failures leave partial names.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <list>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "error.h"

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

// A traced endpoint: a cgroup with the names users know it by.
struct Endpoint {
  uint64_t cgroup_id = 0;
  CgroupIdentity cgroup;  // empty (path "") when the cgroup could not be found
  // The runtime whose state named the container; it can differ from cgroup.runtime (a kubepods-style
  // path run by plain runc says "containerd" in the path and "runc" here). cgroup.runtime when no
  // state was found, "" when the cgroup was not found.
  std::string runtime;
  std::string k8s_namespace;  // Kubernetes namespace, "" if none
  std::string pod;            // pod name, "" if none
  std::string pod_uid;        // from the runtime's annotations, else from the path
  // Kubernetes container name ("POD" for a sandbox without one), else the runtime's container name
  // (docker or podman name), else the 12-character short id. For host cgroups: the systemd unit
  // (runtime "systemd") or the cgroup path ("host"); "cgroup#<id>" when the cgroup was not found.
  std::string container;
  bool sandbox = false;  // the pod's sandbox (pause) container
  bool partial = false;  // something could not be read or found: names are incomplete
  // Partial, and resolve() will try again: a cgroup made since the last walk of the tree, or a
  // container whose runtime state is not written yet. Counters wait for the final name rather than
  // filing a new container's first operations under "cgroup#<id>" for good.
  bool pending = false;

  // A one-line name for tables: "ns/pod/container" (Kubernetes), "<runtime>:<container>" (other
  // containers: "docker:web", "podman:db", "containerd:3f1c2a9b0d4e" when partial), "systemd:<unit>",
  // "host" (the root cgroup), "cgroup:<path>" (other host cgroups), "cgroup#<id>" (not found).
  [[nodiscard]] std::string display() const;
  bool operator==(const Endpoint&) const = default;
};

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

// An OCI runtime spec (config.json) -> its annotations' names. An error for malformed JSON or a
// document that is not an object; a missing or non-object "annotations" gives empty names.
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
// spec's annotations as "key=value") or crun's status (top-level "bundle"). An error for malformed
// JSON or when no bundle is named.
struct RuntimeState {
  std::string bundle;
  OciNames names;  // from runc's labels; empty for crun
  bool operator==(const RuntimeState&) const = default;
};
Result<RuntimeState> parse_runtime_state(std::string_view state_json);

// containers/storage's containers.json (podman, CRI-O) -> the first name of container `id`;
// "" when the id is not listed. An error for malformed JSON.
Result<std::string> parse_storage_container_name(std::string_view containers_json, std::string_view id);

// True if `dir` is on a cgroup2 file system (statfs f_type CGROUP2_SUPER_MAGIC).
bool is_cgroup2(const std::string& dir);
// `<host_root>/sys/fs/cgroup` if it is cgroup2, else `<host_root>/sys/fs/cgroup/unified` if that is.
std::optional<std::string> find_cgroup2_root(const std::string& host_root);
// `root` + `path` with exactly one "/" between them ("/" + "/run" -> "/run", "/host/" + "run" -> "/host/run").
std::string join_path(std::string_view root, std::string_view path);

// cgroup id -> path relative to a cgroup2 root. On a real cgroup2 mount it first asks the kernel:
// open_by_handle_at with a kernfs file handle (FILEID_KERNFS, the 8-byte id; needs
// CAP_DAC_READ_SEARCH), then readlink of /proc/self/fd/N minus the root's own path. ESTALE means
// the cgroup does not exist; a path outside the root falls back to the walk for that id; any other
// failure (EPERM, EOPNOTSUPP...) switches handles off for good. The fallback is an index of the
// tree by directory inode number, which is the cgroup id: walked when first needed and again (at
// most once per rewalk_interval) when an id is not in it; bounded in depth and entries. On any
// other directory (tests), only the walk is used. Not thread-safe (IdentityResolver locks).
class CgroupPaths {
 public:
  struct Options {
    std::string root;  // the cgroup2 mount (or any directory: the walk works on every file system)
    size_t max_depth = 32;
    size_t max_entries = 200000;
    std::chrono::milliseconds rewalk_interval{1000};
    bool use_handles = true;  // only matters on cgroup2
  };
  explicit CgroupPaths(Options options);
  ~CgroupPaths();
  CgroupPaths(const CgroupPaths&) = delete;
  CgroupPaths& operator=(const CgroupPaths&) = delete;
  CgroupPaths(CgroupPaths&&) = delete;
  CgroupPaths& operator=(CgroupPaths&&) = delete;

  // The path ("/" for the root, "/a/b" below it). Errors: ENOENT when the cgroup does not exist
  // (not in a fresh walk, or a stale handle); EAGAIN when it is not indexed and a re-walk is not
  // allowed yet; others when the root cannot be read.
  Result<std::string> lookup(uint64_t id);

  [[nodiscard]] size_t walks() const { return walks_; }
  [[nodiscard]] size_t indexed() const { return index_.size(); }
  [[nodiscard]] bool truncated() const { return truncated_; }
  [[nodiscard]] bool using_handles() const { return handles_; }

 private:
  Result<std::string> lookup_by_handle(uint64_t id);
  Status walk();

  Options opt_;
  int root_fd_ = -1;
  int root_errno_ = 0;
  std::string root_link_;  // readlink of the root's fd, to strip from handle paths
  bool handles_ = false;
  std::unordered_map<uint64_t, std::string> index_;
  std::optional<std::chrono::steady_clock::time_point> last_walk_;
  size_t walks_ = 0;
  bool truncated_ = false;
};

// cgroup id -> Endpoint, cached. Thread-safe; never throws.
class IdentityResolver {
 public:
  struct Options {
    std::string host_root = "/";                      // where the host's / is (e.g. "/host" in a DaemonSet)
    std::string cgroup_root;                          // "" = auto: find_cgroup2_root(host_root)
    size_t max_entries = 65536;                       // cache bound; the least recently resolved id is evicted first
    size_t max_file_bytes = size_t{8} << 20;          // larger state files are a resolve error
    std::chrono::milliseconds rewalk_interval{1000};  // see CgroupPaths
    // A partial endpoint is resolved again on a later resolve() at most max_retries times, each at
    // least retry_interval after the last attempt (a container's state can appear after its cgroup).
    std::chrono::milliseconds retry_interval{2000};
    int max_retries = 3;
  };
  explicit IdentityResolver(Options options);
  ~IdentityResolver();
  IdentityResolver(const IdentityResolver&) = delete;
  IdentityResolver& operator=(const IdentityResolver&) = delete;
  IdentityResolver(IdentityResolver&&) = delete;
  IdentityResolver& operator=(IdentityResolver&&) = delete;

  // Cached. Unreadable or malformed state and vanished cgroups are logged (warn, at most ten lines
  // a minute, then a count) and counted once per id; a container whose state is nowhere to be found only once its
  // retries are used up.
  Endpoint resolve(uint64_t cgroup_id);
  void forget(uint64_t cgroup_id);
  [[nodiscard]] uint64_t resolve_errors() const { return errors_.load(std::memory_order_relaxed); }
  [[nodiscard]] size_t cached() const;
  // The cgroup2 root in use, "" if none was found.
  [[nodiscard]] const std::string& cgroup_root() const { return cgroup_root_; }

  // Names for a container id from the runtimes' state (no cgroup lookup, no cache): what resolve()
  // does once it has the path.
  Endpoint identify(uint64_t cgroup_id, const CgroupIdentity& cgroup);

 private:
  struct Attempt;
  struct Entry {
    Endpoint endpoint;
    int attempts = 0;
    bool reported = false;
    std::chrono::steady_clock::time_point last_attempt;
    std::list<uint64_t>::iterator lru;
  };

  Attempt attempt(uint64_t cgroup_id);
  Attempt identify_container(uint64_t cgroup_id, const CgroupIdentity& cgroup);
  Result<std::string> read_state_file(const std::string& path) const;

  Options opt_;
  std::string cgroup_root_;
  std::optional<CgroupPaths> paths_;
  mutable std::mutex mu_;
  std::unordered_map<uint64_t, Entry> cache_;
  std::list<uint64_t> lru_;  // most recently resolved first
  std::atomic<uint64_t> errors_{0};
  // Warnings are rate limited: kWarnBurst per minute, then one line saying how many more.
  static constexpr int kWarnBurst = 10;
  std::chrono::steady_clock::time_point warn_window_;
  int warned_in_window_ = 0;
  uint64_t suppressed_ = 0;
};

}  // namespace ipctrace
