// `ipctrace flows` against podman from Debian 12 (4.3): two podman pods made with `podman pod
// create` (alpha: "server" and "client", sharing the pod's ipc and net namespaces; beta: "peer"),
// a volume shared between them, and the static workload of the containers test
// (tests/e2e/workload_main.cpp) as each container's command. The image is imported locally from a
// busybox rootfs (nothing is pulled); each pod's infra container runs that image's sleep; the pods
// have no network but their loopback (--network none: no bridge, no firewall rules).
//
// The JSON report must name both ends of each flow as `podman ps -a --pod` names them: pod and
// container names, the pod's id, the container's id and cgroup, with the exact messages and bytes
// the workload moved. Where podman keeps the pod name (its BoltDB database) is in
// identity/runtimes.h.
//
// Everything is undone when the test ends, passed or failed: the pods and containers removed
// (podman pod rm -f), the image removed, the temporary directory (rootfs, volume, containers.conf)
// deleted.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "kernel_test.h"
#include "oci.h"
#include "subprocess.h"

using namespace ipctrace::test;
using namespace std::chrono_literals;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

constexpr const char* kPort = "7412";
constexpr const char* kWorkload = "/bin/ipctrace-test-workload";

// A podman container of the test, as podman reports it.
struct PodmanContainer {
  std::string name;
  std::string pod;     // the pod's name
  std::string pod_id;  // 64 hex
  std::string id;      // 64 hex
  std::string cgroup;  // from the cgroup2 root, as the container's process sees it (/proc/<pid>/cgroup)
};

// Runs podman with the test's containers.conf; every container, pod and the image it makes go
// when it is destroyed.
class Podman {
 public:
  static std::string blocker() {
    std::string missing;
    if (find_program("podman").empty()) missing = "podman is not installed";
    if (access("/bin/busybox", X_OK) != 0) missing += std::string(missing.empty() ? "" : "; ") + "no /bin/busybox";
    return missing;
  }

  explicit Podman(const std::string& workload) {
    podman_ = find_program("podman");
    std::string tmpl = (fs::temp_directory_path() / "ipctrace-podman-XXXXXX").string();
    if (mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    dir_ = tmpl;
    suffix_ = random_hex(6);
    image_ = "localhost/ipctrace-test-" + suffix_ + ":latest";
    // podman raises RLIMIT_NOFILE (1048576) and RLIMIT_NPROC (4194304) in containers by default,
    // which needs CAP_SYS_RESOURCE where the hard limits are lower (this VM's root lacks it), and
    // starts conmon, whose limits runc's init inherits, with lower ones than its own (nproc 32768
    // here). The workload needs few of either: at most 4096 of each, never above this process's.
    std::ofstream conf(dir_ + "/containers.conf");
    conf << "[containers]\ndefault_ulimits = [";
    const char* sep = "";
    for (const auto& [name, resource] : {std::pair{"nofile", RLIMIT_NOFILE}, std::pair{"nproc", RLIMIT_NPROC}}) {
      rlimit lim{};
      rlim_t value = 4096;
      if (getrlimit(resource, &lim) == 0 && lim.rlim_max != RLIM_INFINITY)
        value = std::min<rlim_t>(value, lim.rlim_max);
      conf << sep << '"' << name << '=' << value << ':' << value << '"';
      sep = ", ";
    }
    conf << "]\n";
    conf.close();
    // The image: busybox and the workload, "sleep 3600" by default (what the infra containers run).
    const std::string rootfs = dir_ + "/rootfs";
    for (const char* d : {"bin", "dev", "proc", "sys", "tmp", "shared"}) fs::create_directories(rootfs + "/" + d);
    fs::copy_file("/bin/busybox", rootfs + "/bin/busybox");
    for (const char* link : {"sh", "sleep"}) fs::create_symlink("busybox", rootfs + "/bin/" + link);
    fs::copy_file(workload, rootfs + kWorkload);
    fs::permissions(rootfs + kWorkload, fs::perms::owner_all | fs::perms::group_exec | fs::perms::others_exec |
                                            fs::perms::group_read | fs::perms::others_read);
    const ProcessResult tar = run_process({find_program("tar"), "-C", rootfs, "-cf", dir_ + "/rootfs.tar", "."});
    if (tar.exit_code != 0) throw std::runtime_error("tar: " + tar.err);
    must({"import", "--change", R"(CMD ["/bin/sleep", "3600"])", dir_ + "/rootfs.tar", image_}, 120s);
    imported_ = true;
  }

  ~Podman() {
    for (const std::string& pod : pods_) (void)podman({"pod", "rm", "--force", "--time", "0", pod}, 60s);
    if (imported_) (void)podman({"rmi", "--force", image_}, 60s);
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  Podman(const Podman&) = delete;
  Podman& operator=(const Podman&) = delete;
  Podman(Podman&&) = delete;
  Podman& operator=(Podman&&) = delete;

  [[nodiscard]] const std::string& dir() const { return dir_; }
  // A name unique to this run: `base` and the run's suffix.
  [[nodiscard]] std::string unique(const std::string& base) const { return "ipct-" + base + "-" + suffix_; }

  ProcessResult podman(std::vector<std::string> args, std::chrono::milliseconds limit = 60s) const {
    args.insert(args.begin(), podman_);
    return run_process(args, limit, {"CONTAINERS_CONF=" + dir_ + "/containers.conf"});
  }
  std::string must(const std::vector<std::string>& args, std::chrono::milliseconds limit = 60s) const {
    const ProcessResult r = podman(args, limit);
    if (r.exit_code != 0) {
      std::string line = "podman";
      for (const auto& a : args) line += " " + a;
      throw std::runtime_error(line + " failed (" + std::to_string(r.exit_code) + "): " + r.err);
    }
    std::string out = r.out;
    while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
    return out;
  }

  // `podman pod create`: the pod's id.
  std::string create_pod(const std::string& name) {
    pods_.push_back(name);
    return must({"pod", "create", "--name", name, "--network", "none", "--infra-image", image_});
  }
  // `podman run --detach` in `pod`, with the shared directory at /shared: the container's id.
  // `options` go before the image.
  std::string run(const std::string& pod, const std::string& name, const std::vector<std::string>& command,
                  const std::string& shared, const std::vector<std::string>& options = {}) {
    std::vector<std::string> args{"run", "--detach", "--pull", "never",    "--pod",
                                  pod,   "--name",   name,     "--volume", shared + ":/shared"};
    args.insert(args.end(), options.begin(), options.end());
    args.push_back(image_);
    args.insert(args.end(), command.begin(), command.end());
    return must(args);
  }
  // The exit code `podman wait` reports; -1 when it fails or times out.
  int wait(const std::string& name, std::chrono::milliseconds limit) const {
    const ProcessResult r = podman({"wait", name}, limit);
    if (r.exit_code != 0) return -1;
    try {
      return std::stoi(r.out);
    } catch (const std::exception&) {
      return -1;
    }
  }
  [[nodiscard]] std::string logs(const std::string& name) const {
    const ProcessResult r = podman({"logs", name});
    return r.out + r.err;
  }
  [[nodiscard]] pid_t pid_of(const std::string& container) const {
    return static_cast<pid_t>(std::stol(must({"inspect", "--format", "{{.State.Pid}}", container})));
  }

 private:
  std::string podman_;
  std::string dir_;
  std::string suffix_;
  std::string image_;
  bool imported_ = false;
  std::vector<std::string> pods_;
};

std::string describe(const PodmanContainer& c) { return "podman:" + c.pod + "/" + c.name; }

bool is_endpoint(const json& e, const PodmanContainer& c) {
  return e.value("pod", "") == c.pod && e.value("container", "") == c.name;
}

std::string summary(const json& report) {
  std::string out;
  for (const auto& f : report["flows"]) {
    out += f["kind"].get<std::string>() + " " + f["src"].value("name", "?") + "[" + f["src"].value("comm", "") +
           "] -> " + f["dst"].value("name", "?") + "[" + f["dst"].value("comm", "") +
           "] messages=" + f["messages"].dump() + " bytes=" + f["bytes"].dump() + "\n";
  }
  return out;
}

bool exists(const std::string& path) { return access(path.c_str(), F_OK) == 0; }

}  // namespace

TEST(PodmanContainers, PodFlowsAreNamedAsPodmanNamesThemWithExactFigures) {
  IPCTRACE_REQUIRE_KERNEL();
  if (const std::string missing = Podman::blocker(); !missing.empty()) {
    if (in_ci()) FAIL() << "podman test cannot run under CI: " << missing;
    GTEST_SKIP() << "podman test needs podman and busybox-static: " << missing;
  }
  Podman podman(IPCTRACE_TEST_WORKLOAD);
  const std::string shared = podman.dir() + "/shared";
  fs::create_directories(shared);
  fs::permissions(shared, fs::perms::all);
  ASSERT_EQ(mkfifo((shared + "/fifo").c_str(), 0666), 0);

  const std::string alpha = podman.unique("alpha");
  const std::string beta = podman.unique("beta");
  BackgroundProcess trace({ipctrace_binary(), "flows", "--duration", "3m", "--output", "json"});
  ASSERT_TRUE(trace.wait_for_stderr("flows: tracing for", 30s)) << trace.finish(0ms).err;
  // The same, for pod alpha only: `--pod` selects a podman pod by the name podman shows.
  BackgroundProcess alpha_only({ipctrace_binary(), "flows", "--duration", "3m", "--output", "json", "--pod", alpha});
  ASSERT_TRUE(alpha_only.wait_for_stderr("flows: tracing for", 30s)) << alpha_only.finish(0ms).err;

  const std::string alpha_id = podman.create_pod(alpha);
  const std::string beta_id = podman.create_pod(beta);
  PodmanContainer server{podman.unique("server"), alpha, alpha_id, "", ""};
  PodmanContainer client{podman.unique("client"), alpha, alpha_id, "", ""};
  PodmanContainer peer{podman.unique("peer"), beta, beta_id, "", ""};
  // runc installs podman's seccomp profile by exporting libseccomp's filter through a pipe of its
  // own (runc:[2:INIT], both ends in the container's cgroup, about 9 KB): real IPC, and the same
  // kind between the same ends as the server's pipe, so one flow. The server goes without the
  // profile, so that flow is the workload's alone; the others keep podman's default.
  server.id =
      podman.run(alpha, server.name, {kWorkload, "server", kPort}, shared, {"--security-opt", "seccomp=unconfined"});
  client.id = podman.run(alpha, client.name, {kWorkload, "client", kPort}, shared);
  peer.id = podman.run(beta, peer.name, {kWorkload, "peer"}, shared);
  std::vector<PodmanContainer*> workloads{&server, &client, &peer};

  // Each role creates /shared/<role>.done and stays until /shared/release: named while it runs.
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  bool all_done = false;
  while (!all_done && std::chrono::steady_clock::now() < deadline) {
    all_done = exists(shared + "/server.done") && exists(shared + "/client.done") && exists(shared + "/peer.done");
    std::this_thread::sleep_for(50ms);
  }
  for (PodmanContainer* c : workloads) {
    if (all_done) c->cgroup = cgroup2_path_of(podman.pid_of(c->name));
  }
  const uint64_t alpha_ipc = all_done ? ns_inode(podman.pid_of(server.name), "ipc") : 0;
  const uint64_t alpha_net = all_done ? ns_inode(podman.pid_of(server.name), "net") : 0;
  const uint64_t beta_ipc = all_done ? ns_inode(podman.pid_of(peer.name), "ipc") : 0;
  const uint64_t beta_net = all_done ? ns_inode(podman.pid_of(peer.name), "net") : 0;
  // What `podman ps -a --pod` shows: the names the report must carry.
  const std::string ps = podman.must({"ps", "--all", "--pod", "--format", "{{.Names}} {{.PodName}}"});
  if (all_done) std::this_thread::sleep_for(2500ms);  // two collections: every end named
  std::ofstream(shared + "/release").put('\n');
  bool workloads_ok = all_done;
  for (PodmanContainer* c : workloads) {
    const int code = podman.wait(c->name, 60s);
    EXPECT_EQ(code, 0) << describe(*c) << "; its log:\n" << podman.logs(c->name);
    workloads_ok = workloads_ok && code == 0;
  }
  trace.signal(SIGINT);
  alpha_only.signal(SIGINT);
  const ProcessResult r = trace.finish(30s);
  const ProcessResult r_alpha = alpha_only.finish(30s);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ASSERT_EQ(r_alpha.exit_code, 0) << r_alpha.err;
  ASSERT_TRUE(all_done) << "the workloads did not finish in time";
  ASSERT_TRUE(workloads_ok) << "a workload failed: its flows would not be exact";
  for (const PodmanContainer* c : workloads) {
    EXPECT_NE(ps.find(c->name + " " + c->pod), std::string::npos) << "podman ps --pod says:\n" << ps;
  }
  EXPECT_NE(alpha_ipc, beta_ipc);
  EXPECT_NE(alpha_net, beta_net);

  const json report = json::parse(r.out);
  for (const auto& [reason, n] : report["lost"].items()) EXPECT_EQ(n, 0) << "lost: " << reason;
  struct Expected {
    const char* kind;
    const PodmanContainer& src;
    const PodmanContainer& dst;
    uint64_t messages;
    uint64_t bytes;
  };
  const std::vector<Expected> expected{
      {"sysv_msg", client, server, 20, 2000}, {"posix_mq", client, server, 15, 960},
      {"tcp", client, server, 10, 10000},     {"pipe", server, server, 5, 5000},
      {"fifo", peer, client, 8, 8000},        {"unix_stream", peer, server, 6, 6000},
  };
  for (const Expected& e : expected) {
    SCOPED_TRACE(std::string(e.kind) + " " + describe(e.src) + " -> " + describe(e.dst));
    // Nothing of it stays with an unknown peer: data the peer sent before the server's accept(),
    // seen by a collection first, is handed over whole (tests/e2e/workload_main.cpp).
    for (const auto& f : report["flows"]) {
      const bool to_unknown = is_endpoint(f["src"], e.src) && f["dst"].value("type", "") == "unknown";
      const bool from_unknown = f["src"].value("type", "") == "unknown" && is_endpoint(f["dst"], e.dst);
      EXPECT_FALSE(f["kind"] == e.kind && (to_unknown || from_unknown)) << f.dump(2);
    }
    std::vector<const json*> found;
    for (const auto& f : report["flows"]) {
      if (f["kind"] == e.kind && is_endpoint(f["src"], e.src) && is_endpoint(f["dst"], e.dst)) found.push_back(&f);
    }
    ASSERT_EQ(found.size(), 1U) << summary(report) << "\nstderr:\n" << r.err;
    const json& f = *found[0];
    EXPECT_EQ(f["messages"], e.messages);
    EXPECT_EQ(f["bytes"], e.bytes);
    EXPECT_EQ(f["received_bytes"], e.bytes);
    for (const char* end : {"src", "dst"}) {
      const PodmanContainer& c = std::string(end) == "src" ? e.src : e.dst;
      const json& ep = f[end];
      SCOPED_TRACE(describe(c));
      EXPECT_EQ(ep["name"], describe(c));
      EXPECT_EQ(ep["runtime"], "podman");
      EXPECT_EQ(ep["namespace"], "");
      EXPECT_EQ(ep["pod"], c.pod);
      EXPECT_EQ(ep["pod_uid"], c.pod_id);
      EXPECT_EQ(ep["container"], c.name);
      EXPECT_EQ(ep["container_id"], c.id);
      EXPECT_EQ(ep["cgroup_path"], c.cgroup);
      EXPECT_EQ(ep["partial"], false);
      ASSERT_TRUE(ep.contains("namespaces")) << ep.dump(2);
      EXPECT_EQ(ep["namespaces"]["ipc"], c.pod == alpha ? alpha_ipc : beta_ipc);
      EXPECT_EQ(ep["namespaces"]["net"], c.pod == alpha ? alpha_net : beta_net);
    }
  }
  // --pod alpha: exactly the workload's flows with an end in alpha (the peer's fifo and unix
  // flows into alpha among them), none without.
  const json alpha_report = json::parse(r_alpha.out);
  size_t alpha_workload_flows = 0;
  for (const auto& f : alpha_report["flows"]) {
    EXPECT_TRUE(f["src"].value("pod", "") == alpha || f["dst"].value("pod", "") == alpha) << f.dump(2);
    bool expected_flow = false;
    for (const Expected& e : expected) {
      expected_flow = expected_flow || (f["kind"] == e.kind && is_endpoint(f["src"], e.src) &&
                                        is_endpoint(f["dst"], e.dst) && f["bytes"] == e.bytes);
    }
    alpha_workload_flows += expected_flow ? 1 : 0;
  }
  EXPECT_EQ(alpha_workload_flows, expected.size()) << summary(alpha_report);
}
