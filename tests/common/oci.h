// Real OCI containers for end-to-end tests, run by runc the way a Kubernetes node runs them:
// a pod is a sandbox container (busybox sleep, detached) that owns the pod's ipc, net and uts
// namespaces, and the pod's containers join those by path, each with its own pid and mount
// namespaces. Containers carry containerd CRI's annotations and live in cgroupfs-driver
// cgroups (<test cgroup>/kubepods/besteffort/pod<uid>/<64-hex id>), with runc's state in its
// default root (/run/runc), where ipctrace's identity resolution looks.
//
// Everything is undone when the OciRuntime is destroyed, also when a test fails: every
// container is killed and deleted, the test cgroup tree is removed in every hierarchy, the
// temporary directory (rootfs, bundles, logs, shared volumes) goes.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <list>
#include <string>
#include <vector>

namespace ipctrace::test {

// `digits` random lowercase hex digits.
std::string random_hex(size_t digits);
// A random UUID (8-4-4-4-12 lowercase hex), as Kubernetes pod uids are.
std::string random_uuid();
// The first executable `name` in PATH (then /usr/sbin, /sbin), "" if none.
std::string find_program(const std::string& name);
// The cgroup2 path of a process ("0::<path>" in /proc/<pid>/cgroup), "" if none.
std::string cgroup2_path_of(pid_t pid);
// The inode of namespace `name` ("ipc", "net"...) of a process, 0 if it cannot be read.
uint64_t ns_inode(pid_t pid, const char* name);
// Removes cgroup `path` (from each hierarchy's root: "/x/y") and everything below it in every
// cgroup hierarchy mounted here (cgroup2 and each v1 controller), killing what still runs in it
// first (cgroup.kill, Linux 5.14). Returns the directories it could not remove.
std::vector<std::string> remove_cgroup_everywhere(const std::string& path);

// A host directory bind-mounted read-write into a container.
struct OciMount {
  std::string host;
  std::string container;
};

struct OciPod {
  std::string k8s_namespace;
  std::string name;
  std::string uid;
  std::string sandbox_id;  // the sandbox container's id (64 hex)
  pid_t sandbox_pid = 0;   // its init process, on the host
  std::string cgroup_dir;  // the pod's cgroup, relative to the cgroup2 root: "/.../kubepods/besteffort/pod<uid>"
};

struct OciContainer {
  std::string id;  // 64 hex
  std::string name;
  const OciPod* pod = nullptr;
  std::string log;      // runc's (and so the container's) stdout and stderr
  pid_t runc_pid = -1;  // the foreground `runc run`
  bool exited = false;  // the runc process has been reaped
  int exit_code = -1;   // the container's exit status (128 + signal if killed), -1 unknown
  bool timed_out = false;

  // The container's cgroup, relative to the cgroup2 root, as ipctrace reports it.
  [[nodiscard]] std::string cgroup_path() const { return pod->cgroup_dir + "/" + id; }
};

class OciRuntime {
 public:
  // Empty when containers can run here; otherwise what is missing (runc, /bin/busybox).
  static std::string blocker();

  // A rootfs with /bin/busybox (sh and sleep link to it) and `binaries`, each copied to /bin
  // under its own file name. The rootfs is shared by every container, read-only.
  explicit OciRuntime(const std::vector<std::string>& binaries);
  ~OciRuntime();
  OciRuntime(const OciRuntime&) = delete;
  OciRuntime& operator=(const OciRuntime&) = delete;
  OciRuntime(OciRuntime&&) = delete;
  OciRuntime& operator=(OciRuntime&&) = delete;

  // A fresh, empty host directory under the runtime's temporary directory (for volumes).
  std::string make_dir(const std::string& name);

  // Starts a pod's sandbox (detached) and returns once it runs. `mounts` are the sandbox's.
  const OciPod& start_pod(const std::string& k8s_namespace, const std::string& name,
                          const std::vector<OciMount>& mounts = {});

  // Starts `args` as container `name` of `pod` with `runc run` in the foreground; returns at
  // once (the container may not have started yet). The runc process is a child of this one.
  OciContainer& run(const OciPod& pod, const std::string& name, const std::vector<std::string>& args,
                    const std::vector<OciMount>& mounts = {});

  // True while the container's runc runs; reaps it (and records its status) once it ended.
  bool running(OciContainer& c);
  // Waits for the container to exit; after `limit` it is killed (timed_out). Returns exit_code.
  int wait(OciContainer& c, std::chrono::milliseconds limit);
  // The container's log so far.
  [[nodiscard]] static std::string log_of(const OciContainer& c);

  [[nodiscard]] const std::string& dir() const { return dir_; }
  [[nodiscard]] const std::string& cgroup_name() const { return cgroup_name_; }

 private:
  std::string bundle(const std::string& id, const std::string& config_json);
  // runc with `args`; its output in `log` (appended). Returns the pid.
  pid_t spawn_runc(const std::vector<std::string>& args, const std::string& log) const;
  void runc_quiet(const std::vector<std::string>& args) const;
  void remove_cgroups() const;

  std::string runc_;
  std::string dir_;
  std::string rootfs_;
  std::string cgroup_name_;  // the test cgroup, a direct child of this process's cgroups
  std::list<OciPod> pods_;
  std::list<OciContainer> containers_;
  std::vector<std::string> ids_;  // every container runc was asked to create, in order
};

}  // namespace ipctrace::test
