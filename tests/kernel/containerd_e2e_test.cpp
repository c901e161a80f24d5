// `ipctrace flows` against containerd from Debian 12 (1.6, its CRI plugin) driven as the kubelet
// drives it: RunPodSandbox with a kubelet-style cgroup parent (cgroupfs driver:
// <test cgroup>/kubepods/besteffort/pod<uid>), CreateContainer and StartContainer in the sandbox,
// the containers sharing the sandbox's ipc and net namespaces. Two pods, alpha ("server" and
// "client") and beta ("peer"), a host directory mounted into each at /shared, and the static
// workload of the containers test (tests/e2e/workload_main.cpp) as each container's command.
//
// The containerd is the test's own: its root, state and sockets in a temporary directory, its
// CNI configuration there too. Nothing is pulled: one image, a busybox rootfs with the workload,
// is built here (tests/cri/cri.py image) and imported with `ctr images import`; it is the pods'
// sandbox ("pause") image as well, its command busybox's sleep. containerd 1.6 sets up a network
// for each sandbox: a macvlan interface (private mode) on one end of a veth pair the test makes
// and whose other end stays down, with addresses from host-local IPAM. No bridge, no firewall
// rule, no forwarding: a pod reaches nothing beyond its loopback. The CRI client is Python's gRPC
// (tests/cri/cri.py with the CRI API subset tests/cri/runtime_v1.proto).
//
// The JSON report must name both ends of each flow as the CRI plugin recorded them (its
// annotations in the bundle's config.json under the containerd's state directory, which the
// agent is told with --containerd-state): Kubernetes namespace, pod, pod uid, container, with the
// exact messages and bytes the workload moved.
//
// Everything is undone when the test ends, passed or failed: sandboxes stopped and removed,
// containerd and its shims stopped, the cgroups removed in every hierarchy, mounts left below the
// temporary directory detached, the veth pair and CNI's cached results deleted, the directory
// removed.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
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

constexpr const char* kPort = "7413";
constexpr const char* kWorkload = "/bin/ipctrace-test-workload";
constexpr const char* kNamespace = "ipct-cri";
constexpr const char* kPython = "/usr/bin/python3";  // Debian's, with python3-grpcio

std::string cri_script() { return std::string(IPCTRACE_SOURCE_DIR) + "/tests/cri/cri.py"; }

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

struct CriPod {
  std::string name;
  std::string uid;
  std::string id;             // the sandbox's id
  std::string cgroup_parent;  // <test cgroup>/kubepods/besteffort/pod<uid>
  std::string config;         // the PodSandboxConfig (JSON), passed again to CreateContainer
};

struct CriContainer {
  std::string name;
  const CriPod* pod = nullptr;
  std::string id;
  pid_t pid = 0;
  [[nodiscard]] std::string cgroup_path() const { return pod->cgroup_parent + "/" + id; }
};

// The test's own containerd, its CRI API and its cleanup.
class Containerd {
 public:
  // Empty when the test can run here; otherwise what is missing.
  static std::string blocker() {
    std::vector<std::string> missing;
    for (const char* p : {"containerd", "ctr", "runc", "ip", "tar"}) {
      if (find_program(p).empty()) missing.emplace_back(p);
    }
    for (const char* f : {"/bin/busybox", "/usr/lib/cni/macvlan", "/usr/lib/cni/host-local", "/usr/lib/cni/loopback"}) {
      if (access(f, X_OK) != 0) missing.emplace_back(f);
    }
    if (access(kPython, X_OK) != 0 ||
        run_process({kPython, "-c", "import grpc, grpc_tools.protoc, google.protobuf"}).exit_code != 0) {
      missing.emplace_back("python3-grpcio and python3-grpc-tools");
    }
    std::string out;
    for (const std::string& m : missing) out += (out.empty() ? "" : ", ") + m;
    return out;
  }

  explicit Containerd(const std::string& workload) {
    std::string tmpl = (fs::temp_directory_path() / "ipctrace-containerd-XXXXXX").string();
    if (mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    dir_ = tmpl;
    suffix_ = random_hex(6);
    image_ = "localhost/ipctrace-test-" + suffix_ + ":latest";
    cgroup_ = "/ipctrace-test-cri-" + suffix_;
    network_ = "ipctrace-" + suffix_;
    veth_ = "ipct" + suffix_;  // and its peer veth_ + "p": IFNAMSIZ allows 15 characters
    socket_ = dir_ + "/containerd.sock";

    // The image: busybox (sh, sleep) and the workload, "sleep" by default: the sandbox's command.
    const std::string rootfs = dir_ + "/rootfs";
    for (const char* d : {"bin", "dev", "etc", "proc", "sys", "tmp", "shared"})
      fs::create_directories(rootfs + "/" + d);
    fs::copy_file("/bin/busybox", rootfs + "/bin/busybox");
    for (const char* link : {"sh", "sleep"}) fs::create_symlink("busybox", rootfs + "/bin/" + link);
    fs::copy_file(workload, rootfs + kWorkload);
    fs::permissions(rootfs + kWorkload, fs::perms::owner_all | fs::perms::group_exec | fs::perms::others_exec |
                                            fs::perms::group_read | fs::perms::others_read);
    must({find_program("tar"), "-C", rootfs, "-cf", dir_ + "/layer.tar", "."});
    must(
        {kPython, cri_script(), "image", dir_ + "/layer.tar", dir_ + "/image.tar", image_, "/bin/sleep", "2147483647"});

    // The network: a veth pair whose first end is the macvlan parent; the other end stays down.
    must({find_program("ip"), "link", "add", veth_, "type", "veth", "peer", "name", veth_ + "p"});
    veth_made_ = true;
    must({find_program("ip"), "link", "set", veth_, "up"});
    fs::create_directories(dir_ + "/cni");
    const json cni = {
        {"cniVersion", "0.4.0"},
        {"name", network_},
        {"plugins", json::array({{{"type", "macvlan"},
                                  {"master", veth_},
                                  {"mode", "private"},
                                  {"ipam",
                                   {{"type", "host-local"},
                                    {"dataDir", dir_ + "/ipam"},
                                    {"ranges", json::array({json::array({{{"subnet", "10.254.254.0/24"}}})})}}}}})}};
    std::ofstream(dir_ + "/cni/10-ipctrace.conflist") << cni.dump(2) << "\n";

    // restrict_oom_score_adj: the CRI plugin gives sandboxes oom_score_adj -998, which needs
    // CAP_SYS_RESOURCE (this VM's root lacks it); restricted, it stays at containerd's own.
    std::ofstream conf(dir_ + "/config.toml");
    conf << "version = 2\n"
         << "root = \"" << dir_ << "/root\"\n"
         << "state = \"" << dir_ << "/state\"\n"
         << "disabled_plugins = [\"io.containerd.internal.v1.opt\", \"io.containerd.snapshotter.v1.btrfs\", "
            "\"io.containerd.snapshotter.v1.zfs\", \"io.containerd.snapshotter.v1.devmapper\", "
            "\"io.containerd.snapshotter.v1.aufs\"]\n"
         << "[grpc]\n  address = \"" << socket_ << "\"\n"
         << "[ttrpc]\n  address = \"" << socket_ << ".ttrpc\"\n"
         << "[plugins.\"io.containerd.grpc.v1.cri\"]\n"
         << "  sandbox_image = \"" << image_ << "\"\n"
         << "  stream_server_address = \"127.0.0.1\"\n  stream_server_port = \"0\"\n"
         << "  netns_mounts_under_state_dir = true\n"
         << "  restrict_oom_score_adj = true\n"
         << "  [plugins.\"io.containerd.grpc.v1.cri\".cni]\n"
         << "    bin_dir = \"/usr/lib/cni\"\n    conf_dir = \"" << dir_ << "/cni\"\n    max_conf_num = 1\n"
         << "  [plugins.\"io.containerd.grpc.v1.cri\".containerd]\n"
         << "    snapshotter = \"overlayfs\"\n    default_runtime_name = \"runc\"\n"
         << "    [plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.runc]\n"
         << "      runtime_type = \"io.containerd.runc.v2\"\n";
    conf.close();
    daemon_ = std::make_unique<BackgroundProcess>(std::vector<std::string>{
        "/bin/sh", "-c",
        "exec " + find_program("containerd") + " --config " + dir_ + "/config.toml >" + dir_ + "/containerd.log 2>&1"});
    const auto deadline = std::chrono::steady_clock::now() + 60s;
    std::string last;
    while (std::chrono::steady_clock::now() < deadline) {
      const ProcessResult v = cri_raw("RuntimeService/Version", {{"version", "v1"}});
      if (v.exit_code == 0) {
        version_ = json::parse(v.out);
        break;
      }
      last = v.err;
      std::this_thread::sleep_for(200ms);
    }
    if (version_.is_null()) throw std::runtime_error("containerd did not serve CRI: " + last + "\n" + log());
    must({find_program("ctr"), "--address", socket_, "--namespace", "k8s.io", "images", "import", dir_ + "/image.tar"},
         120s);
    // The CRI plugin learns of the image from containerd's events: wait until it knows it.
    for (int i = 0; i < 100; ++i) {
      if (cri("ImageService/ImageStatus", {{"image", {{"image", image_}}}}).contains("image")) return;
      std::this_thread::sleep_for(100ms);
    }
    throw std::runtime_error("the CRI plugin does not see the imported image " + image_);
  }

  ~Containerd() {
    for (size_t i = pods_.size(); i-- > 0;) {  // the last made first
      (void)cri_raw("RuntimeService/StopPodSandbox", {{"pod_sandbox_id", pods_[i]}});
      (void)cri_raw("RuntimeService/RemovePodSandbox", {{"pod_sandbox_id", pods_[i]}});
    }
    if (daemon_) {
      daemon_->signal(SIGTERM);
      (void)daemon_->finish(30s);
    }
    kill_shims();
    for (const std::string& d : remove_cgroup_everywhere(cgroup_))
      std::fprintf(stderr, "containerd test: cannot remove cgroup %s\n", d.c_str());
    detach_mounts();
    if (veth_made_) (void)run_process({find_program("ip"), "link", "del", veth_});
    std::error_code ec;
    for (const auto& e : fs::directory_iterator("/var/lib/cni/results", ec)) {
      // libcni's cache: <network>-<sandbox id>-<interface>, for this network and the loopback.
      const std::string name = e.path().filename().string();
      bool ours = name.starts_with(network_ + "-");
      for (const std::string& id : pods_) ours = ours || name.find(id) != std::string::npos;
      if (ours) fs::remove(e.path(), ec);
    }
    fs::remove_all(dir_, ec);
    if (ec) std::fprintf(stderr, "containerd test: cannot remove %s: %s\n", dir_.c_str(), ec.message().c_str());
  }
  Containerd(const Containerd&) = delete;
  Containerd& operator=(const Containerd&) = delete;
  Containerd(Containerd&&) = delete;
  Containerd& operator=(Containerd&&) = delete;

  [[nodiscard]] const std::string& dir() const { return dir_; }
  [[nodiscard]] std::string state_dir() const { return dir_ + "/state"; }
  [[nodiscard]] const json& version() const { return version_; }
  [[nodiscard]] std::string log() const { return slurp(dir_ + "/containerd.log"); }

  // A CRI call: the response, or an exception that says what the runtime answered.
  json cri(const std::string& method, const json& request) const {
    const ProcessResult r = cri_raw(method, request);
    if (r.exit_code != 0) throw std::runtime_error(method + " failed: " + r.err + r.out);
    return json::parse(r.out);
  }

  // RunPodSandbox as the kubelet asks for a pod: metadata, hostname, log directory, the
  // cgroupfs driver's cgroup parent, pod-wide network and ipc namespaces, pid per container.
  CriPod run_pod(const std::string& name) {
    CriPod p;
    p.name = name;
    p.uid = random_uuid();
    p.cgroup_parent = cgroup_ + "/kubepods/besteffort/pod" + p.uid;
    fs::create_directories(dir_ + "/logs/" + name);
    const json config = {
        {"metadata", {{"name", name}, {"uid", p.uid}, {"namespace", kNamespace}, {"attempt", 0}}},
        {"hostname", name},
        {"log_directory", dir_ + "/logs/" + name},
        {"labels", {{"io.kubernetes.pod.name", name}, {"io.kubernetes.pod.namespace", kNamespace}}},
        {"linux",
         {{"cgroup_parent", p.cgroup_parent},
          {"security_context", {{"namespace_options", {{"network", "POD"}, {"pid", "CONTAINER"}, {"ipc", "POD"}}}}}}}};
    p.config = config.dump();
    p.id = cri("RuntimeService/RunPodSandbox", {{"config", config}}).at("pod_sandbox_id").get<std::string>();
    pods_.push_back(p.id);
    return p;
  }

  // CreateContainer and StartContainer: `args` from the image, /shared mounted from `shared`.
  CriContainer start(const CriPod& pod, const std::string& name, const std::vector<std::string>& args,
                     const std::string& shared) {
    CriContainer c;
    c.name = name;
    c.pod = &pod;
    const json config = {
        {"metadata", {{"name", name}, {"attempt", 0}}},
        {"image", {{"image", image_}}},
        {"command", args},
        {"log_path", name + ".log"},
        {"mounts", json::array({{{"container_path", "/shared"}, {"host_path", shared}}})},
        {"labels", {{"io.kubernetes.container.name", name}}},
        {"linux",
         {{"security_context", {{"namespace_options", {{"network", "POD"}, {"pid", "CONTAINER"}, {"ipc", "POD"}}}}}}}};
    c.id = cri("RuntimeService/CreateContainer",
               {{"pod_sandbox_id", pod.id}, {"config", config}, {"sandbox_config", json::parse(pod.config)}})
               .at("container_id")
               .get<std::string>();
    (void)cri("RuntimeService/StartContainer", {{"container_id", c.id}});
    const json status = cri("RuntimeService/ContainerStatus", {{"container_id", c.id}, {"verbose", true}});
    c.pid = json::parse(status.at("info").at("info").get<std::string>()).at("pid").get<pid_t>();
    return c;
  }

  // The container's exit code once it has exited; -1 if it has not within `limit`.
  int wait(const CriContainer& c, std::chrono::milliseconds limit) const {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
      const json s = cri("RuntimeService/ContainerStatus", {{"container_id", c.id}}).at("status");
      if (s.value("state", "") == "CONTAINER_EXITED") return s.value("exit_code", 0);
      std::this_thread::sleep_for(100ms);
    }
    return -1;
  }
  [[nodiscard]] std::string log_of(const CriContainer& c) const {
    return slurp(dir_ + "/logs/" + c.pod->name + "/" + c.name + ".log");
  }

 private:
  ProcessResult cri_raw(const std::string& method, const json& request) const {
    return run_process({kPython, cri_script(), "call", socket_, method, request.dump()}, 150s);
  }
  static void must(const std::vector<std::string>& args, std::chrono::milliseconds limit = 60s) {
    const ProcessResult r = run_process(args, limit);
    if (r.exit_code != 0) {
      std::string line;
      for (const auto& a : args) line += (line.empty() ? "" : " ") + a;
      throw std::runtime_error(line + " failed (" + std::to_string(r.exit_code) + "): " + r.err + r.out);
    }
  }
  // Shims this containerd started and that outlived it (a failed test): their command line
  // names its socket.
  void kill_shims() const {
    std::error_code ec;
    for (const auto& e : fs::directory_iterator("/proc", ec)) {
      const std::string pid = e.path().filename().string();
      if (pid.find_first_not_of("0123456789") != std::string::npos) continue;
      std::string cmdline = slurp(e.path().string() + "/cmdline");
      std::replace(cmdline.begin(), cmdline.end(), '\0', ' ');
      if (cmdline.find("containerd-shim") != std::string::npos && cmdline.find(socket_ + " ") != std::string::npos)
        ::kill(std::stoi(pid), SIGKILL);
    }
  }
  // Mounts containerd left below the directory (rootfs, network namespaces, shm): deepest first.
  void detach_mounts() const {
    std::vector<std::string> mounts;
    std::istringstream lines(slurp("/proc/self/mounts"));
    std::string line;
    while (std::getline(lines, line)) {
      std::istringstream f(line);
      std::string src;
      std::string dst;
      if (f >> src >> dst && dst.starts_with(dir_ + "/")) mounts.push_back(dst);
    }
    std::sort(mounts.begin(), mounts.end(), [](const std::string& a, const std::string& b) { return a > b; });
    for (const std::string& m : mounts) (void)umount2(m.c_str(), MNT_DETACH);
  }

  std::string dir_;
  std::string suffix_;
  std::string image_;
  std::string cgroup_;
  std::string network_;
  std::string veth_;
  std::string socket_;
  bool veth_made_ = false;
  json version_;
  std::unique_ptr<BackgroundProcess> daemon_;
  std::vector<std::string> pods_;  // sandbox ids
};

std::string describe(const CriContainer& c) { return std::string(kNamespace) + "/" + c.pod->name + "/" + c.name; }

bool is_endpoint(const json& e, const CriContainer& c) {
  return e.value("namespace", "") == kNamespace && e.value("pod", "") == c.pod->name &&
         e.value("container", "") == c.name;
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

TEST(ContainerdCri, PodFlowsAreNamedAsTheCriPluginRecordsThemWithExactFigures) {
  IPCTRACE_REQUIRE_KERNEL();
  if (const std::string missing = Containerd::blocker(); !missing.empty()) {
    if (in_ci()) FAIL() << "containerd test cannot run under CI: missing " << missing;
    GTEST_SKIP() << "containerd test needs containerd, containernetworking-plugins, python3-grpcio, "
                    "python3-grpc-tools and busybox-static: missing "
                 << missing;
  }
  Containerd containerd(IPCTRACE_TEST_WORKLOAD);
  EXPECT_EQ(containerd.version().value("runtime_name", ""), "containerd");
  EXPECT_EQ(containerd.version().value("runtime_api_version", ""), "v1");
  const std::string shared = containerd.dir() + "/shared";
  fs::create_directories(shared);
  fs::permissions(shared, fs::perms::all);
  ASSERT_EQ(mkfifo((shared + "/fifo").c_str(), 0666), 0);

  BackgroundProcess trace({ipctrace_binary(), "--containerd-state", containerd.state_dir(), "flows", "--duration", "3m",
                           "--output", "json"});
  ASSERT_TRUE(trace.wait_for_stderr("flows: tracing for", 30s)) << trace.finish(0ms).err;

  const CriPod alpha = containerd.run_pod("alpha");
  const CriPod beta = containerd.run_pod("beta");
  CriContainer server = containerd.start(alpha, "server", {kWorkload, "server", kPort}, shared);
  CriContainer client = containerd.start(alpha, "client", {kWorkload, "client", kPort}, shared);
  CriContainer peer = containerd.start(beta, "peer", {kWorkload, "peer"}, shared);
  const std::vector<const CriContainer*> workloads{&server, &client, &peer};

  // Each role creates /shared/<role>.done and stays until /shared/release: named while it runs.
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  bool all_done = false;
  while (!all_done && std::chrono::steady_clock::now() < deadline) {
    all_done = exists(shared + "/server.done") && exists(shared + "/client.done") && exists(shared + "/peer.done");
    std::this_thread::sleep_for(50ms);
  }
  const uint64_t alpha_ipc = ns_inode(server.pid, "ipc");
  const uint64_t alpha_net = ns_inode(server.pid, "net");
  const uint64_t beta_ipc = ns_inode(peer.pid, "ipc");
  const uint64_t beta_net = ns_inode(peer.pid, "net");
  std::vector<std::string> cgroups;
  cgroups.reserve(workloads.size());
  for (const CriContainer* c : workloads) cgroups.push_back(cgroup2_path_of(c->pid));
  if (all_done) std::this_thread::sleep_for(2500ms);  // two collections: every end named
  std::ofstream(shared + "/release").put('\n');
  bool workloads_ok = all_done;
  for (const CriContainer* c : workloads) {
    const int code = containerd.wait(*c, 60s);
    EXPECT_EQ(code, 0) << describe(*c) << "; its log:\n" << containerd.log_of(*c);
    workloads_ok = workloads_ok && code == 0;
  }
  trace.signal(SIGINT);
  const ProcessResult r = trace.finish(30s);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ASSERT_TRUE(all_done) << "the workloads did not finish in time";
  ASSERT_TRUE(workloads_ok) << "a workload failed: its flows would not be exact";
  // The containers joined their sandbox's namespaces, and the pods' differ.
  ASSERT_NE(alpha_ipc, 0U);
  ASSERT_NE(beta_ipc, 0U);
  EXPECT_NE(alpha_ipc, beta_ipc);
  EXPECT_NE(alpha_net, beta_net);
  for (size_t i = 0; i < workloads.size(); ++i) EXPECT_EQ(cgroups[i], workloads[i]->cgroup_path());

  const json report = json::parse(r.out);
  for (const auto& [reason, n] : report["lost"].items()) EXPECT_EQ(n, 0) << "lost: " << reason;
  struct Expected {
    const char* kind;
    const CriContainer& src;
    const CriContainer& dst;
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
      const CriContainer& c = std::string(end) == "src" ? e.src : e.dst;
      const json& ep = f[end];
      SCOPED_TRACE(describe(c));
      EXPECT_EQ(ep["name"], describe(c));
      EXPECT_EQ(ep["runtime"], "containerd");
      EXPECT_EQ(ep["namespace"], kNamespace);
      EXPECT_EQ(ep["pod"], c.pod->name);
      EXPECT_EQ(ep["pod_uid"], c.pod->uid);
      EXPECT_EQ(ep["container"], c.name);
      EXPECT_EQ(ep["container_id"], c.id);
      EXPECT_EQ(ep["cgroup_path"], c.cgroup_path());
      EXPECT_EQ(ep["sandbox"], false);
      EXPECT_EQ(ep["partial"], false);
      ASSERT_TRUE(ep.contains("namespaces")) << ep.dump(2);
      EXPECT_EQ(ep["namespaces"]["ipc"], c.pod == &alpha ? alpha_ipc : beta_ipc);
      EXPECT_EQ(ep["namespaces"]["net"], c.pod == &alpha ? alpha_net : beta_net);
    }
  }
}
