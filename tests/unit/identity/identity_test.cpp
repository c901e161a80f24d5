#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <ostream>
#include <sstream>
#include <string>
#include <vector>

#include "identity/resolver.h"
#include "identity/runtime_state.h"

namespace fs = std::filesystem;
using ipctrace::CgroupIdentity;
using ipctrace::CgroupPaths;
using ipctrace::DockerNames;
using ipctrace::Endpoint;
using ipctrace::IdentityResolver;
using ipctrace::NestedClaim;
using ipctrace::OciNames;
using ipctrace::parse_cgroup_path;
using ipctrace::RuntimeState;

namespace ipctrace {
// Readable failures for EXPECT_EQ.
void PrintTo(const CgroupIdentity& c, std::ostream* os) {
  *os << "{path=" << c.path << " runtime=" << c.runtime << " container_id=" << c.container_id
      << " pod_uid=" << c.pod_uid << " qos=" << c.qos << " unit=" << c.unit << " nested=[";
  for (const NestedClaim& n : c.nested) {
    *os << "{path=" << n.path << " runtime=" << n.runtime << " container_id=" << n.container_id
        << " pod_uid=" << n.pod_uid << " qos=" << n.qos << "}";
  }
  *os << "]}";
}
void PrintTo(const Endpoint& e, std::ostream* os) {
  *os << "{cgroup_id=" << e.cgroup_id << " cgroup=";
  PrintTo(e.cgroup, os);
  *os << " runtime=" << e.runtime << " ns=" << e.k8s_namespace << " pod=" << e.pod << " pod_uid=" << e.pod_uid
      << " container=" << e.container << " sandbox=" << e.sandbox << " partial=" << e.partial
      << " pending=" << e.pending << "}";
}
void PrintTo(const OciNames& n, std::ostream* os) {
  *os << "{ns=" << n.k8s_namespace << " pod=" << n.pod << " pod_uid=" << n.pod_uid << " container=" << n.container
      << " type=" << n.container_type << " sandbox_id=" << n.sandbox_id << " name=" << n.name
      << " manager=" << n.manager << "}";
}
void PrintTo(const RuntimeState& s, std::ostream* os) {
  *os << "{bundle=" << s.bundle << " names=";
  PrintTo(s.names, os);
  *os << " cgroup=" << s.cgroup << "}";
}
}  // namespace ipctrace

namespace {

// The ids in testdata/identity/ (generated once; see the files).
const std::string kPodUid = "5b1e8f3a-2c4d-4e6f-8a9b-0c1d2e3f4a5b";
const std::string kPodUidUnderscores = "5b1e8f3a_2c4d_4e6f_8a9b_0c1d2e3f4a5b";
const std::string kCrioPodUid = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d";
const std::string kDockershimPodUid = "6c7d8e9f-0a1b-4c2d-9e3f-4a5b6c7d8e9f";
const std::string kRuncPodUid = "9e8d7c6b-5a49-4382-b1a0-f9e8d7c6b5a4";
const std::string kCdSandbox = "3f1c2a9b0d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8";
const std::string kCdContainer = "9d8c7b6a5f4e3d2c1b0a99887766554433221100ffeeddccbbaa998877665544";
const std::string kCrioSandbox = "aa11bb22cc33dd44ee55ff6600778899aabbccddeeff00112233445566778899";
const std::string kCrioContainer = "c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00";
const std::string kDockerPlain = "4e2b8d1f6a3c9e5b7d0f2a4c6e8b1d3f5a7c9e0b2d4f6a8c1e3b5d7f9a0c2e4b";
const std::string kDsSandbox = "1111111111111111111111111111111111111111111111111111111111111111";
const std::string kDsContainer = "2222222222222222222222222222222222222222222222222222222222222222";
const std::string kPodman = "b7e3d1c9a5f2e8d4c0b6a2f8e4d0c6b2a8f4e0d6c2b8a4f0e6d2c8b4a0f6e2d8";
// Ids that only appear in the cgroup corpus.
const std::string kOuter = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
const std::string kInner = "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210";
// Ids of containers nested in another (tests write their state).
const std::string kNestedCd = "7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b";
const std::string kNestedDocker = "5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e";
const std::string kNestedRunc = "6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f";
const std::string kRuncPodUidUnderscores = "9e8d7c6b_5a49_4382_b1a0_f9e8d7c6b5a4";

fs::path testdata() { return fs::path(__FILE__).parent_path().parent_path() / "testdata" / "identity"; }

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string data(const std::string& name) {
  std::string text = slurp(testdata() / name);
  EXPECT_FALSE(text.empty()) << "missing test data " << name;
  return text;
}

void write(const fs::path& p, const std::string& text) {
  fs::create_directories(p.parent_path());
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << text;
  ASSERT_TRUE(out.good()) << p;
}

uint64_t inode(const fs::path& p) {
  struct stat st {};
  EXPECT_EQ(stat(p.c_str(), &st), 0) << p;
  return st.st_ino;
}

CgroupIdentity cg(std::string path, std::string runtime, std::string container_id = "", std::string pod_uid = "",
                  std::string qos = "", std::string unit = "") {
  return CgroupIdentity{std::move(path),    std::move(runtime), std::move(container_id),
                        std::move(pod_uid), std::move(qos),     std::move(unit)};
}

// `c` with container-looking components below its container.
CgroupIdentity with_nested(CgroupIdentity c, std::vector<NestedClaim> nested) {
  c.nested = std::move(nested);
  return c;
}

NestedClaim claim(std::string path, std::string runtime, std::string container_id, std::string pod_uid = "",
                  std::string qos = "") {
  return NestedClaim{std::move(path), std::move(runtime), std::move(container_id), std::move(pod_uid), std::move(qos)};
}

// A temporary directory, removed with everything in it.
class TempDir {
 public:
  TempDir() {
    const char* tmp = std::getenv("TMPDIR");
    std::string tmpl = std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") + "/ipctrace-identity-XXXXXX";
    if (mkdtemp(tmpl.data()) != nullptr) path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    if (!path_.empty()) fs::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  TempDir(TempDir&&) = delete;
  TempDir& operator=(TempDir&&) = delete;
  [[nodiscard]] const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

// ------------------------------------------------------------------------------------------------
// cgroup paths

struct PathCase {
  std::string input;
  CgroupIdentity want;
};

std::vector<PathCase> corpus() {
  const std::string u = kPodUid;
  const std::string u_ = kPodUidUnderscores;
  const std::string crio_u_ = "0a1b2c3d_4e5f_4a6b_8c7d_9e0f1a2b3c4d";
  const std::string id = kCdContainer;
  const std::string static_uid = "d41d8cd98f00b204e9800998ecf8427e";
  const std::string besteffort = "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" + u_ + ".slice";
  const std::string burstable = "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + u_ + ".slice";
  const std::string crio_pod = "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + crio_u_ + ".slice";
  const std::string mount = "/system.slice/run-containerd-io.containerd.runtime.v2.task-k8s.io-" + id + "-rootfs.mount";
  const std::string kind = "/system.slice/docker-" + kOuter +
                           ".scope/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-besteffort.slice/"
                           "kubelet-kubepods-besteffort-pod" +
                           u_ + ".slice/cri-containerd-" + id + ".scope";
  return {
      // docker: cgroupfs and systemd drivers
      {"/docker/" + kDockerPlain, cg("/docker/" + kDockerPlain, "docker", kDockerPlain)},
      {"/system.slice/docker-" + kDockerPlain + ".scope",
       cg("/system.slice/docker-" + kDockerPlain + ".scope", "docker", kDockerPlain)},
      // containerd (CRI), cgroupfs: guaranteed, burstable, besteffort
      {"/kubepods/pod" + u + "/" + id, cg("/kubepods/pod" + u + "/" + id, "containerd", id, u, "guaranteed")},
      {"/kubepods/burstable/pod" + u + "/" + id,
       cg("/kubepods/burstable/pod" + u + "/" + id, "containerd", id, u, "burstable")},
      {"/kubepods/besteffort/pod" + u + "/" + id,
       cg("/kubepods/besteffort/pod" + u + "/" + id, "containerd", id, u, "besteffort")},
      // a static pod's uid is a 32-digit hash
      {"/kubepods/burstable/pod" + static_uid + "/" + id,
       cg("/kubepods/burstable/pod" + static_uid + "/" + id, "containerd", id, static_uid, "burstable")},
      // containerd, systemd: guaranteed, burstable, besteffort
      {"/kubepods.slice/kubepods-pod" + u_ + ".slice/cri-containerd-" + id + ".scope",
       cg("/kubepods.slice/kubepods-pod" + u_ + ".slice/cri-containerd-" + id + ".scope", "containerd", id, u,
          "guaranteed")},
      {burstable + "/cri-containerd-" + id + ".scope",
       cg(burstable + "/cri-containerd-" + id + ".scope", "containerd", id, u, "burstable")},
      {besteffort + "/cri-containerd-" + id + ".scope",
       cg(besteffort + "/cri-containerd-" + id + ".scope", "containerd", id, u, "besteffort")},
      // the pod's own cgroup (no container): what is recognisable
      {burstable, cg(burstable, "systemd", "", u, "burstable", "kubepods-burstable-pod" + u_ + ".slice")},
      {"/kubepods/besteffort/pod" + u, cg("/kubepods/besteffort/pod" + u, "host", "", u, "besteffort")},
      // CRI-O: systemd, cgroupfs, conmon in the pod's slice
      {crio_pod + "/crio-" + kCrioContainer + ".scope",
       cg(crio_pod + "/crio-" + kCrioContainer + ".scope", "cri-o", kCrioContainer, kCrioPodUid, "burstable")},
      {"/kubepods.slice/kubepods-pod" + u_ + ".slice/crio-" + kCrioContainer + ".scope",
       cg("/kubepods.slice/kubepods-pod" + u_ + ".slice/crio-" + kCrioContainer + ".scope", "cri-o", kCrioContainer, u,
          "guaranteed")},
      {"/kubepods/burstable/pod" + kCrioPodUid + "/crio-" + kCrioContainer,
       cg("/kubepods/burstable/pod" + kCrioPodUid + "/crio-" + kCrioContainer, "cri-o", kCrioContainer, kCrioPodUid,
          "burstable")},
      {crio_pod + "/crio-conmon-" + kCrioContainer + ".scope",
       cg(crio_pod + "/crio-conmon-" + kCrioContainer + ".scope", "systemd", "", kCrioPodUid, "burstable",
          "crio-conmon-" + kCrioContainer + ".scope")},
      // dockershim with the systemd driver
      {burstable + "/docker-" + kDsContainer + ".scope",
       cg(burstable + "/docker-" + kDsContainer + ".scope", "docker", kDsContainer, u, "burstable")},
      // podman: rootful, its "container" subgroup, conmon, rootless, in a podman pod, cgroupfs
      {"/machine.slice/libpod-" + kPodman + ".scope",
       cg("/machine.slice/libpod-" + kPodman + ".scope", "podman", kPodman)},
      {"/machine.slice/libpod-" + kPodman + ".scope/container",
       cg("/machine.slice/libpod-" + kPodman + ".scope/container", "podman", kPodman)},
      {"/machine.slice/libpod-conmon-" + kPodman + ".scope",
       cg("/machine.slice/libpod-conmon-" + kPodman + ".scope", "systemd", "", "", "",
          "libpod-conmon-" + kPodman + ".scope")},
      {"/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-" + kPodman + ".scope",
       cg("/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-" + kPodman + ".scope", "podman", kPodman)},
      {"/machine.slice/machine-libpod_pod_" + kOuter + ".slice/libpod-" + kPodman + ".scope",
       cg("/machine.slice/machine-libpod_pod_" + kOuter + ".slice/libpod-" + kPodman + ".scope", "podman", kPodman)},
      {"/libpod_parent/libpod-" + kPodman, cg("/libpod_parent/libpod-" + kPodman, "podman", kPodman)},
      // plain runc/crun: custom cgroupsPath, systemd default, cgroupfs default, kubepods-style
      {"/mycontainers/" + kInner, cg("/mycontainers/" + kInner, "runc", kInner)},
      {"/mycontainers/web-1", cg("/mycontainers/web-1", "host")},
      {"/" + kInner, cg("/" + kInner, "runc", kInner)},
      {"/system.slice/runc-" + kInner + ".scope", cg("/system.slice/runc-" + kInner + ".scope", "runc", kInner)},
      {"/system.slice/runc-e2e-web.scope", cg("/system.slice/runc-e2e-web.scope", "runc", "e2e-web")},
      {"/kubepods/besteffort/pod" + kRuncPodUid + "/e2e-client",
       cg("/kubepods/besteffort/pod" + kRuncPodUid + "/e2e-client", "containerd", "e2e-client", kRuncPodUid,
          "besteffort")},
      {besteffort + "/ipctest-e2e-client.scope",
       cg(besteffort + "/ipctest-e2e-client.scope", "runc", "e2e-client", u, "besteffort")},
      {"/process_api/603b5596db4f8624484728645c12ae6f",
       cg("/process_api/603b5596db4f8624484728645c12ae6f", "runc", "603b5596db4f8624484728645c12ae6f")},
      // a systemd-style cgroupsPath given to the cgroupfs driver: one literal directory
      {"/kubepods-besteffort-pod" + u_ + ".slice:cri-containerd:" + id,
       cg("/kubepods-besteffort-pod" + u_ + ".slice:cri-containerd:" + id, "containerd", id, u, "besteffort")},
      // systemd units on the host
      {"/system.slice/nginx.service", cg("/system.slice/nginx.service", "systemd", "", "", "", "nginx.service")},
      {"/system.slice/nginx.service/", cg("/system.slice/nginx.service", "systemd", "", "", "", "nginx.service")},
      {"/user.slice/user-1000.slice/session-3.scope",
       cg("/user.slice/user-1000.slice/session-3.scope", "systemd", "", "", "", "session-3.scope")},
      {"/user.slice/user-1000.slice/user@1000.service/app.slice/app-org.gnome.Terminal.slice/vte-spawn-1f2e.scope",
       cg("/user.slice/user-1000.slice/user@1000.service/app.slice/app-org.gnome.Terminal.slice/vte-spawn-1f2e.scope",
          "systemd", "", "", "", "vte-spawn-1f2e.scope")},
      {"/init.scope", cg("/init.scope", "systemd", "", "", "", "init.scope")},
      {"/system.slice/boot-efi.mount", cg("/system.slice/boot-efi.mount", "systemd", "", "", "", "boot-efi.mount")},
      {mount, cg(mount, "systemd", "", "", "", mount.substr(std::string("/system.slice/").size()))},
      {"/user.slice/user-1000.slice", cg("/user.slice/user-1000.slice", "systemd", "", "", "", "user-1000.slice")},
      // the root
      {"/", cg("/", "host")},
      // nesting (docker-in-docker, kind): the outermost container, the inner ones only claims, each
      // with the pod directly around it (the resolver takes one its runtime's state confirms)
      {"/docker/" + kOuter + "/docker/" + kInner,
       with_nested(cg("/docker/" + kOuter + "/docker/" + kInner, "docker", kOuter),
                   {claim("/docker/" + kOuter + "/docker/" + kInner, "docker", kInner)})},
      {"/docker/" + kOuter + "/kubepods/burstable/pod" + u + "/" + id,
       with_nested(
           cg("/docker/" + kOuter + "/kubepods/burstable/pod" + u + "/" + id, "docker", kOuter),
           {claim("/docker/" + kOuter + "/kubepods/burstable/pod" + u + "/" + id, "containerd", id, u, "burstable")})},
      {kind, with_nested(cg(kind, "docker", kOuter), {claim(kind, "containerd", id, u, "besteffort")})},
      {"/kubepods/burstable/pod" + u + "/" + id + "/docker/" + kInner,
       with_nested(cg("/kubepods/burstable/pod" + u + "/" + id + "/docker/" + kInner, "containerd", id, u, "burstable"),
                   {claim("/kubepods/burstable/pod" + u + "/" + id + "/docker/" + kInner, "docker", kInner)})},
      {"/system.slice/docker-" + kOuter + ".scope/system.slice/nginx.service",
       cg("/system.slice/docker-" + kOuter + ".scope/system.slice/nginx.service", "docker", kOuter)},
      // garbage
      {"", cg("/", "host")},
      {"//", cg("/", "host")},
      {"docker/" + kOuter, cg("/docker/" + kOuter, "docker", kOuter)},
      {"/kubepods.slice/kubepods-pod.slice",
       cg("/kubepods.slice/kubepods-pod.slice", "systemd", "", "", "", "kubepods-pod.slice")},
      {"/kubepods/burstable/pod/" + id, cg("/kubepods/burstable/pod/" + id, "runc", id)},
      {"/docker/not-an-id", cg("/docker/not-an-id", "host")},
      {"/system.slice/docker-.scope", cg("/system.slice/docker-.scope", "systemd", "", "", "", "docker-.scope")},
      {"/../.././docker/..", cg("/../.././docker/..", "host")},
      {"/.scope", cg("/.scope", "host")},
      {"/a:b:c", cg("/a:b:c", "host")},
  };
}

TEST(CgroupPathParse, RealWorldCorpus) {
  const auto cases = corpus();
  EXPECT_GE(cases.size(), 25U);
  for (const auto& c : cases) EXPECT_EQ(parse_cgroup_path(c.input), c.want) << "input: " << c.input;
}

TEST(CgroupPathParse, VeryLongPaths) {
  std::string deep;
  for (int i = 0; i < 5000; ++i) deep += "/level" + std::to_string(i % 10);
  EXPECT_EQ(parse_cgroup_path(deep), cg(deep, "host"));

  const std::string with_container = deep + "/docker-" + kOuter + ".scope" + deep;
  EXPECT_EQ(parse_cgroup_path(with_container), cg(with_container, "docker", kOuter));

  const std::string huge_component(100000, 'a');
  EXPECT_EQ(parse_cgroup_path("/" + huge_component + ".service"),
            cg("/" + huge_component + ".service", "systemd", "", "", "", huge_component + ".service"));
  const std::string slashes(10000, '/');
  EXPECT_EQ(parse_cgroup_path(slashes), cg("/", "host"));
}

TEST(CgroupPathParse, ShortIds) {
  EXPECT_EQ(ipctrace::short_container_id(kCdContainer), "9d8c7b6a5f4e");
  EXPECT_EQ(ipctrace::short_container_id("e2e-client"), "e2e-client");
  EXPECT_EQ(ipctrace::short_container_id(""), "");
}

// A container that may make child cgroups can name them like any runtime's container, with a pod
// around: the path still names that container, the rest are claims.
TEST(CgroupPathParse, ContainerLookingCgroupsInsideAContainerAreClaims) {
  const std::string u_ = kPodUidUnderscores;
  const std::string a = "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" + u_ +
                        ".slice/cri-containerd-" + kCdContainer + ".scope";
  const CgroupIdentity owner = cg(a, "containerd", kCdContainer, kPodUid, "besteffort");
  const std::string crio_u_ = "0a1b2c3d_4e5f_4a6b_8c7d_9e0f1a2b3c4d";
  const std::string forged_pod =
      a + "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + crio_u_ + ".slice";
  const std::vector<PathCase> cases = {
      {a, owner},
      {a + "/cri-containerd-" + kCrioContainer + ".scope",
       with_nested(
           cg(a + "/cri-containerd-" + kCrioContainer + ".scope", "containerd", kCdContainer, kPodUid, "besteffort"),
           {claim(a + "/cri-containerd-" + kCrioContainer + ".scope", "containerd", kCrioContainer)})},
      {a + "/docker/" + kDockerPlain + "/init.scope",
       with_nested(cg(a + "/docker/" + kDockerPlain + "/init.scope", "containerd", kCdContainer, kPodUid, "besteffort"),
                   {claim(a + "/docker/" + kDockerPlain, "docker", kDockerPlain)})},
      {a + "/libpod-" + kPodman,
       with_nested(cg(a + "/libpod-" + kPodman, "containerd", kCdContainer, kPodUid, "besteffort"),
                   {claim(a + "/libpod-" + kPodman, "podman", kPodman)})},
      // a forged pod slice around a forged container: the pod is the claim's, not the endpoint's
      {forged_pod + "/crio-" + kCrioContainer + ".scope",
       with_nested(
           cg(forged_pod + "/crio-" + kCrioContainer + ".scope", "containerd", kCdContainer, kPodUid, "besteffort"),
           {claim(forged_pod + "/crio-" + kCrioContainer + ".scope", "cri-o", kCrioContainer, kCrioPodUid,
                  "burstable")})},
      {forged_pod, with_nested(cg(forged_pod, "containerd", kCdContainer, kPodUid, "besteffort"), {})},
      {a + "/kubepods/pod" + kCrioPodUid + "/x",
       with_nested(cg(a + "/kubepods/pod" + kCrioPodUid + "/x", "containerd", kCdContainer, kPodUid, "besteffort"),
                   {claim(a + "/kubepods/pod" + kCrioPodUid + "/x", "containerd", "x", kCrioPodUid, "guaranteed")})},
      // a systemd cgroupsPath as one directory: the claim is that directory
      {a + "/kubepods-pod" + crio_u_ + ".slice:crio:" + kCrioContainer + "/sub",
       with_nested(cg(a + "/kubepods-pod" + crio_u_ + ".slice:crio:" + kCrioContainer + "/sub", "containerd",
                      kCdContainer, kPodUid, "besteffort"),
                   {claim(a + "/kubepods-pod" + crio_u_ + ".slice:crio:" + kCrioContainer, "cri-o", kCrioContainer,
                          kCrioPodUid, "guaranteed")})},
      // names the kernel never reports are text like any other
      {a + "/../docker-" + kDockerPlain + ".scope",
       with_nested(cg(a + "/../docker-" + kDockerPlain + ".scope", "containerd", kCdContainer, kPodUid, "besteffort"),
                   {claim(a + "/../docker-" + kDockerPlain + ".scope", "docker", kDockerPlain)})},
      {a + "/..", cg(a + "/..", "containerd", kCdContainer, kPodUid, "besteffort")},
  };
  for (const auto& c : cases) EXPECT_EQ(parse_cgroup_path(c.input), c.want) << "input: " << c.input;

  // At most kMaxNestedClaims claims, the outermost ones.
  std::string deep = a;
  std::vector<NestedClaim> claims;
  for (size_t i = 0; i < 20; ++i) {
    const std::string id = std::string(62, 'a') + (i < 10 ? "0" : "1") + std::to_string(i % 10);
    deep += "/docker-" + id + ".scope";
    if (claims.size() < ipctrace::kMaxNestedClaims) claims.push_back(claim(deep, "docker", id));
  }
  EXPECT_EQ(parse_cgroup_path(deep), with_nested(cg(deep, "containerd", kCdContainer, kPodUid, "besteffort"), claims));
}

TEST(CgroupPathParse, OwnedByNested) {
  const std::string outer = "/docker/" + kOuter;
  const std::string pod = outer + "/kubepods/burstable/pod" + kPodUid;
  const std::string path = pod + "/" + kCdContainer + "/docker/" + kInner;
  const CgroupIdentity all = parse_cgroup_path(path);
  ASSERT_EQ(all.nested.size(), 2U);
  EXPECT_EQ(ipctrace::owned_by_nested(all, 0),
            with_nested(cg(path, "containerd", kCdContainer, kPodUid, "burstable"),
                        {claim(pod + "/" + kCdContainer + "/docker/" + kInner, "docker", kInner)}));
  EXPECT_EQ(ipctrace::owned_by_nested(all, 1), cg(path, "docker", kInner));
  EXPECT_EQ(ipctrace::owned_by_nested(all, 2), all);
}

// Where runtimes put a container for a spec's cgroupsPath: what confirms a nested claim.
TEST(CgroupPathParse, CgroupPathsForACgroupsPath) {
  using V = std::vector<std::string>;
  const std::string u_ = kPodUidUnderscores;
  EXPECT_EQ(ipctrace::cgroup_paths_for("kubepods-besteffort-pod" + u_ + ".slice:cri-containerd:" + kCdContainer),
            (V{"/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" + u_ + ".slice/cri-containerd-" +
                   kCdContainer + ".scope",
               "/kubepods-besteffort-pod" + u_ + ".slice:cri-containerd:" + kCdContainer}));
  EXPECT_EQ(ipctrace::cgroup_paths_for("machine.slice:libpod:" + kPodman),
            (V{"/machine.slice/libpod-" + kPodman + ".scope", "/machine.slice:libpod:" + kPodman}));
  EXPECT_EQ(ipctrace::cgroup_paths_for("system.slice:docker:" + kDockerPlain),
            (V{"/system.slice/docker-" + kDockerPlain + ".scope", "/system.slice:docker:" + kDockerPlain}));
  EXPECT_EQ(ipctrace::cgroup_paths_for(":runc:web"), (V{"/system.slice/runc-web.scope", "/:runc:web"}));
  EXPECT_EQ(ipctrace::cgroup_paths_for("-.slice:p:n"), (V{"/p-n.scope", "/-.slice:p:n"}));
  EXPECT_EQ(ipctrace::cgroup_paths_for("a-b.slice:p:c.slice"),
            (V{"/a.slice/a-b.slice/c.slice", "/a-b.slice:p:c.slice"}));
  EXPECT_EQ(ipctrace::cgroup_paths_for("/docker/" + kDockerPlain), (V{"/docker/" + kDockerPlain}));
  EXPECT_EQ(ipctrace::cgroup_paths_for("//kubepods//besteffort/x/"), (V{"/kubepods/besteffort/x"}));
  EXPECT_EQ(ipctrace::cgroup_paths_for("mycontainers/x"), (V{"/mycontainers/x"}));
  // What systemd would refuse is only the literal directory.
  EXPECT_EQ(ipctrace::cgroup_paths_for("a--b.slice:p:n"), (V{"/a--b.slice:p:n"}));
  EXPECT_EQ(ipctrace::cgroup_paths_for("a.slice:p:x/y"), (V{"/a.slice:p:x/y"}));
  EXPECT_EQ(ipctrace::cgroup_paths_for("a.slice:p/q:x"), (V{"/a.slice:p/q:x"}));
  EXPECT_EQ(ipctrace::cgroup_paths_for("a.scope:p:n"), (V{"/a.scope:p:n"}));
  EXPECT_EQ(ipctrace::cgroup_paths_for("a.slice:p:"), (V{"/a.slice:p:"}));
  EXPECT_EQ(ipctrace::cgroup_paths_for(""), V{});
  EXPECT_EQ(ipctrace::cgroup_paths_for("///"), V{});
}

TEST(IdentityDisplay, Formats) {
  Endpoint k8s;
  k8s.cgroup =
      cg("/kubepods/besteffort/pod" + kPodUid + "/" + kCdContainer, "containerd", kCdContainer, kPodUid, "besteffort");
  k8s.runtime = "containerd";
  k8s.k8s_namespace = "shop";
  k8s.pod = "frontend-7c5ddbdf54-x2x9k";
  k8s.container = "nginx";
  EXPECT_EQ(k8s.display(), "shop/frontend-7c5ddbdf54-x2x9k/nginx");

  Endpoint docker;
  docker.cgroup = cg("/docker/" + kDockerPlain, "docker", kDockerPlain);
  docker.runtime = "docker";
  docker.container = "web";
  EXPECT_EQ(docker.display(), "docker:web");
  docker.container.clear();
  EXPECT_EQ(docker.display(), "docker:4e2b8d1f6a3c");

  Endpoint runc = k8s;  // a kubepods-style path run by plain runc, no names
  runc.runtime = "runc";
  runc.k8s_namespace.clear();
  runc.pod.clear();
  runc.container = "9d8c7b6a5f4e";
  EXPECT_EQ(runc.display(), "runc:9d8c7b6a5f4e");

  Endpoint unit;
  unit.cgroup = cg("/system.slice/nginx.service", "systemd", "", "", "", "nginx.service");
  EXPECT_EQ(unit.display(), "systemd:nginx.service");

  Endpoint root;
  root.cgroup = cg("/", "host");
  EXPECT_EQ(root.display(), "host");

  Endpoint other;
  other.cgroup = cg("/mycontainers/web-1", "host");
  EXPECT_EQ(other.display(), "cgroup:/mycontainers/web-1");

  Endpoint unknown;
  unknown.cgroup_id = 4242;
  EXPECT_EQ(unknown.display(), "cgroup#4242");
}

// ------------------------------------------------------------------------------------------------
// Runtime state documents

TEST(IdentityNames, ContainerdSandboxAndContainer) {
  auto sandbox = ipctrace::parse_oci_annotations(data("containerd_sandbox.config.json"));
  ASSERT_TRUE(sandbox.ok()) << sandbox.error().message();
  EXPECT_EQ(*sandbox, (OciNames{"shop", "frontend-7c5ddbdf54-x2x9k", kPodUid, "", "sandbox", kCdSandbox, "", ""}));
  EXPECT_TRUE(sandbox->kubernetes());

  auto container = ipctrace::parse_oci_annotations(data("containerd_container.config.json"));
  ASSERT_TRUE(container.ok()) << container.error().message();
  EXPECT_EQ(*container,
            (OciNames{"shop", "frontend-7c5ddbdf54-x2x9k", kPodUid, "nginx", "container", kCdSandbox, "", ""}));

  // The cgroup containerd asked for, as written (systemd driver).
  auto config = ipctrace::parse_oci_config(data("containerd_container.config.json"));
  ASSERT_TRUE(config.ok()) << config.error().message();
  EXPECT_EQ(config->names, *container);
  EXPECT_EQ(config->cgroups_path,
            "kubepods-besteffort-pod" + kPodUidUnderscores + ".slice:cri-containerd:" + kCdContainer);
  EXPECT_EQ(ipctrace::parse_oci_config(R"({"linux": {"cgroupsPath": 7}})")->cgroups_path, "");
  EXPECT_EQ(ipctrace::parse_oci_config(R"({"linux": "x"})")->cgroups_path, "");
  EXPECT_EQ(ipctrace::parse_oci_config(R"({"linux": {"cgroupsPath": "/docker/x"}})")->cgroups_path, "/docker/x");
  EXPECT_FALSE(ipctrace::parse_oci_config(R"({"linux": {"cgroupsPath": "/docker/x"})").ok());
}

TEST(IdentityNames, CrioAndPodman) {
  auto crio = ipctrace::parse_oci_annotations(data("crio_container.config.json"));
  ASSERT_TRUE(crio.ok()) << crio.error().message();
  EXPECT_EQ(*crio, (OciNames{"kube-system", "coredns-5d78c9869d-4kq7p", kCrioPodUid, "coredns", "container",
                             kCrioSandbox, "", "cri-o"}));

  auto podman = ipctrace::parse_oci_annotations(data("podman.config.json"));
  ASSERT_TRUE(podman.ok()) << podman.error().message();
  EXPECT_EQ(*podman, (OciNames{"", "", "", "", "", "", "", "libpod"}));
  EXPECT_FALSE(podman->kubernetes());

  auto name = ipctrace::parse_storage_container_name(data("podman_containers.json"), kPodman);
  ASSERT_TRUE(name.ok());
  EXPECT_EQ(*name, "cache-redis");
  name = ipctrace::parse_storage_container_name(data("podman_containers.json"), kOuter);
  ASSERT_TRUE(name.ok());
  EXPECT_EQ(*name, "");
  name = ipctrace::parse_storage_container_name(R"([{"id": "x", "names": []}, {"id": "y"}, 7])", "x");
  ASSERT_TRUE(name.ok());
  EXPECT_EQ(*name, "");
  auto object = ipctrace::parse_storage_container_name(R"({"id": "x"})", "x");
  ASSERT_FALSE(object.ok());
  EXPECT_EQ(object.error().message(), "containers.json is not a JSON array");
  EXPECT_FALSE(ipctrace::parse_storage_container_name(R"([{"id": "x", "names": ["a")", "x").ok());
}

TEST(IdentityNames, OciConfigEdgeCases) {
  // Names are absent: fine, empty.
  auto empty = ipctrace::parse_oci_annotations(R"({"ociVersion": "1.1.0"})");
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(*empty, OciNames{});
  auto not_object = ipctrace::parse_oci_annotations(R"({"annotations": ["io.kubernetes.pod.name"]})");
  ASSERT_TRUE(not_object.ok());
  EXPECT_EQ(*not_object, OciNames{});
  // Values that are not strings are ignored; containerd's name wins over CRI-O's.
  auto mixed = ipctrace::parse_oci_annotations(
      R"({"annotations": {"io.kubernetes.pod.name": 7, "io.kubernetes.pod.namespace": "ns",
          "io.kubernetes.cri.container-name": "a", "io.kubernetes.container.name": "b", "nerdctl/name": "n"}})");
  ASSERT_TRUE(mixed.ok());
  EXPECT_EQ(*mixed, (OciNames{"ns", "", "", "a", "", "", "n", ""}));

  // Broken documents are errors, never exceptions.
  // (The parser's own wording after the position is nlohmann_json's.)
  auto truncated = ipctrace::parse_oci_annotations(data("truncated.config.json"));
  ASSERT_FALSE(truncated.ok());
  EXPECT_TRUE(truncated.error().message().starts_with("malformed OCI config: parse error at line 89, column 26: "))
      << truncated.error().message();
  auto malformed = ipctrace::parse_oci_annotations(data("malformed.config.json"));
  ASSERT_FALSE(malformed.ok());
  EXPECT_TRUE(malformed.error().message().starts_with("malformed OCI config: parse error at line 5, column 3: "))
      << malformed.error().message();
  auto array = ipctrace::parse_oci_annotations(data("not_an_object.config.json"));
  ASSERT_FALSE(array.ok());
  EXPECT_EQ(array.error().message(), "OCI config is not a JSON object");
  EXPECT_FALSE(ipctrace::parse_oci_annotations("").ok());
  EXPECT_FALSE(ipctrace::parse_oci_annotations(std::string("{\"a\":\0}", 7)).ok());
  EXPECT_FALSE(ipctrace::parse_oci_annotations(std::string(100000, '[')).ok());
}

TEST(IdentityNames, DockerConfig) {
  auto plain = ipctrace::parse_docker_config(data("docker_plain.config.v2.json"));
  ASSERT_TRUE(plain.ok()) << plain.error().message();
  EXPECT_EQ(*plain, (DockerNames{"web", OciNames{}}));

  auto shim = ipctrace::parse_docker_config(data("dockershim_container.config.v2.json"));
  ASSERT_TRUE(shim.ok()) << shim.error().message();
  EXPECT_EQ(shim->name, "k8s_api_api-6b9f8c7d5-q2w3e_payments_" + kDockershimPodUid + "_3");
  EXPECT_EQ(shim->k8s,
            (OciNames{"payments", "api-6b9f8c7d5-q2w3e", kDockershimPodUid, "api", "container", kDsSandbox, "", ""}));

  auto pause = ipctrace::parse_docker_config(data("dockershim_sandbox.config.v2.json"));
  ASSERT_TRUE(pause.ok()) << pause.error().message();
  EXPECT_EQ(pause->name, "k8s_POD_api-6b9f8c7d5-q2w3e_payments_" + kDockershimPodUid + "_0");
  EXPECT_EQ(pause->k8s, (OciNames{"payments", "api-6b9f8c7d5-q2w3e", kDockershimPodUid, "POD", "sandbox", "", "", ""}));

  auto nameless = ipctrace::parse_docker_config(R"({"ID": "x", "Config": {"Labels": null}})");
  ASSERT_TRUE(nameless.ok());
  EXPECT_EQ(*nameless, DockerNames{});
  EXPECT_FALSE(ipctrace::parse_docker_config(R"({"Name": "/web")").ok());
  EXPECT_FALSE(ipctrace::parse_docker_config("null").ok());
}

TEST(IdentityNames, RuntimeState) {
  auto runc = ipctrace::parse_runtime_state(data("runc_state.json"));
  ASSERT_TRUE(runc.ok()) << runc.error().message();
  EXPECT_EQ(*runc, (RuntimeState{"/var/lib/ipctrace-e2e/bundles/client",
                                 OciNames{"ipctrace-test", "ipc-e2e", kRuncPodUid, "client", "container", "", "", ""},
                                 "/kubepods/besteffort/pod" + kRuncPodUid + "/e2e-client"}));

  auto crun = ipctrace::parse_runtime_state(data("crun_status.json"));
  ASSERT_TRUE(crun.ok()) << crun.error().message();
  EXPECT_EQ(*crun, (RuntimeState{"/var/lib/ipctrace-e2e/bundles/server", OciNames{},
                                 "/kubepods/besteffort/pod" + kRuncPodUid + "/e2e-server"}));
  // crun records the cgroup from the cgroup2 root; runc (hybrid mode) under the unified mount.
  auto from_root = ipctrace::parse_runtime_state(R"({"bundle": "/b", "cgroup-path": "/busybox1"})");
  ASSERT_TRUE(from_root.ok());
  EXPECT_EQ(from_root->cgroup, "/busybox1");
  auto hybrid = ipctrace::parse_runtime_state(
      R"({"config": {"labels": ["bundle=/b"]}, "cgroup_paths": {"": "/sys/fs/cgroup/unified/a/b", "memory": "/m"}})");
  ASSERT_TRUE(hybrid.ok());
  EXPECT_EQ(hybrid->cgroup, "/a/b");
  auto odd = ipctrace::parse_runtime_state(R"({"bundle": "/b", "cgroup_paths": {"": 7}, "cgroup-path": "/x"})");
  ASSERT_TRUE(odd.ok());
  EXPECT_EQ(odd->cgroup, "");  // runc's record, not a string: none (crun's key is not runc's)
  auto sysfs = ipctrace::parse_runtime_state(R"({"bundle": "/b", "cgroup-path": "/sys/fs/cgroupx/y"})");
  ASSERT_TRUE(sysfs.ok());
  EXPECT_EQ(sysfs->cgroup, "/sys/fs/cgroupx/y");

  auto bare = ipctrace::parse_runtime_state(R"({"id": "x", "bundle": "/b", "config": {"labels": ["bundle=/c", 5]}})");
  ASSERT_TRUE(bare.ok());
  EXPECT_EQ(*bare, (RuntimeState{"/b", OciNames{}}));

  auto none = ipctrace::parse_runtime_state(R"({"id": "x", "config": {"labels": ["a=b"]}})");
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.error().message(), "runtime state names no bundle");
  EXPECT_FALSE(ipctrace::parse_runtime_state(R"({"id": "x", "bundle": )").ok());
}

// ------------------------------------------------------------------------------------------------
// cgroup id -> path

class CgroupPathsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(tmp_.path().empty());
    root_ = tmp_.path() / "cgroup";
    for (const char* d : {"system.slice/nginx.service", "kubepods/burstable/podabc12345/c1", "user.slice"}) {
      fs::create_directories(root_ / d);
    }
    write(root_ / "cgroup.procs", "1\n");
    write(root_ / "system.slice/nginx.service/cgroup.procs", "42\n");
  }

  CgroupPaths::Options options() const {
    CgroupPaths::Options o;
    o.root = root_.string();
    o.rewalk_interval = std::chrono::milliseconds(0);
    return o;
  }

  TempDir tmp_;
  fs::path root_;
};

TEST_F(CgroupPathsTest, WalksTheTreeByInode) {
  CgroupPaths paths(options());
  EXPECT_FALSE(paths.using_handles());
  EXPECT_EQ(paths.lookup(inode(root_)).value(), "/");
  EXPECT_EQ(paths.lookup(inode(root_ / "system.slice/nginx.service")).value(), "/system.slice/nginx.service");
  EXPECT_EQ(paths.lookup(inode(root_ / "kubepods/burstable/podabc12345/c1")).value(),
            "/kubepods/burstable/podabc12345/c1");
  EXPECT_EQ(paths.lookup(inode(root_ / "user.slice")).value(), "/user.slice");
  EXPECT_EQ(paths.walks(), 1U);
  EXPECT_EQ(paths.indexed(), 8U);  // the root and 7 directories; files are not cgroups
  auto file = paths.lookup(inode(root_ / "cgroup.procs"));
  ASSERT_FALSE(file.ok());
  EXPECT_EQ(file.error().code(), ENOENT);
  EXPECT_EQ(paths.walks(), 2U);
}

TEST_F(CgroupPathsTest, RewalksAtMostOncePerInterval) {
  auto o = options();
  o.rewalk_interval = std::chrono::hours(1);
  CgroupPaths paths(o);
  EXPECT_EQ(paths.lookup(inode(root_ / "user.slice")).value(), "/user.slice");
  fs::create_directories(root_ / "system.slice/late.service");
  auto late = paths.lookup(inode(root_ / "system.slice/late.service"));
  ASSERT_FALSE(late.ok());
  EXPECT_EQ(late.error().code(), EAGAIN);
  EXPECT_EQ(paths.walks(), 1U);

  CgroupPaths eager(options());
  EXPECT_EQ(eager.lookup(inode(root_ / "user.slice")).value(), "/user.slice");
  fs::create_directories(root_ / "system.slice/later.service");
  EXPECT_EQ(eager.lookup(inode(root_ / "system.slice/later.service")).value(), "/system.slice/later.service");
  EXPECT_EQ(eager.walks(), 2U);
}

TEST_F(CgroupPathsTest, RemovedCgroupsLeaveTheIndexOnTheNextWalk) {
  CgroupPaths paths(options());
  const uint64_t gone = inode(root_ / "user.slice");
  EXPECT_EQ(paths.lookup(gone).value(), "/user.slice");
  fs::create_directories(root_ / "trigger");  // before the removal: its inode cannot be the freed one
  fs::remove(root_ / "user.slice");
  // Indexed ids keep their path until a walk (cgroup ids are never reused).
  EXPECT_EQ(paths.lookup(gone).value(), "/user.slice");
  EXPECT_EQ(paths.lookup(inode(root_ / "trigger")).value(), "/trigger");
  auto after = paths.lookup(gone);
  ASSERT_FALSE(after.ok());
  EXPECT_EQ(after.error().code(), ENOENT);
}

TEST_F(CgroupPathsTest, BoundsDepthAndEntries) {
  fs::create_directories(root_ / "a/b/c/d/e");
  auto o = options();
  o.max_depth = 3;
  CgroupPaths shallow(o);
  EXPECT_EQ(shallow.lookup(inode(root_ / "a/b/c")).value(), "/a/b/c");
  auto deep = shallow.lookup(inode(root_ / "a/b/c/d"));
  ASSERT_FALSE(deep.ok());
  EXPECT_EQ(deep.error().code(), ENOENT);

  for (int i = 0; i < 20; ++i) fs::create_directories(root_ / "many" / std::to_string(i));
  o = options();
  o.max_entries = 5;
  CgroupPaths bounded(o);
  EXPECT_EQ(bounded.lookup(inode(root_)).value(), "/");
  EXPECT_EQ(bounded.indexed(), 5U);
  EXPECT_TRUE(bounded.truncated());
}

TEST_F(CgroupPathsTest, DoesNotFollowSymlinks) {
  fs::create_directory_symlink(root_ / "system.slice", root_ / "link");
  fs::create_directories(root_ / "system.slice/only-here.service");
  CgroupPaths paths(options());
  EXPECT_EQ(paths.lookup(inode(root_ / "system.slice/only-here.service")).value(), "/system.slice/only-here.service");
  EXPECT_EQ(paths.indexed(), 9U);
}

TEST_F(CgroupPathsTest, MissingRootIsAnError) {
  auto o = options();
  o.root = (tmp_.path() / "nowhere").string();
  CgroupPaths paths(o);
  auto r = paths.lookup(1);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ENOENT);
}

// The real cgroup2 mount, when there is one: its root is "/", by file handle (with privileges)
// or by walking, and both ways agree on a child.
TEST(CgroupPathsReal, FindsTheRootOfTheMachinesCgroup2) {
  auto root = ipctrace::find_cgroup2_root("/");
  if (!root) GTEST_SKIP() << "no cgroup2 file system at /sys/fs/cgroup or /sys/fs/cgroup/unified";
  EXPECT_TRUE(ipctrace::is_cgroup2(*root));
  CgroupPaths::Options o;
  o.root = *root;
  CgroupPaths by_handle(o);
  o.use_handles = false;
  CgroupPaths by_walk(o);
  EXPECT_EQ(by_handle.lookup(inode(*root)).value(), "/");
  EXPECT_EQ(by_walk.lookup(inode(*root)).value(), "/");
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(*root, ec)) {
    if (!entry.is_directory() || entry.is_symlink()) continue;
    const std::string want = "/" + entry.path().filename().string();
    EXPECT_EQ(by_handle.lookup(inode(entry.path())).value(), want);
    EXPECT_EQ(by_walk.lookup(inode(entry.path())).value(), want);
    break;
  }
  EXPECT_FALSE(ipctrace::is_cgroup2("/"));
}

// ------------------------------------------------------------------------------------------------
// IdentityResolver on a fake host

class IdentityResolverTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(tmp_.path().empty());
    host_ = tmp_.path();
    const std::string besteffort =
        "kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" + kPodUidUnderscores + ".slice";
    const std::string crio_pod =
        "kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod0a1b2c3d_4e5f_4a6b_8c7d_9e0f1a2b3c4d.slice";
    sandbox_path_ = "/" + besteffort + "/cri-containerd-" + kCdSandbox + ".scope";
    container_path_ = "/" + besteffort + "/cri-containerd-" + kCdContainer + ".scope";
    crio_path_ = "/" + crio_pod + "/crio-" + kCrioContainer + ".scope";
    runc_path_ = "/kubepods/besteffort/pod" + kRuncPodUid + "/e2e-client";
    crun_path_ = "/kubepods/besteffort/pod" + kRuncPodUid + "/e2e-server";
    const std::vector<std::string> dirs = {sandbox_path_,
                                           container_path_,
                                           crio_path_,
                                           runc_path_,
                                           crun_path_,
                                           "/system.slice/docker-" + kDockerPlain + ".scope",
                                           "/system.slice/nginx.service",
                                           "/user.slice/user-1000.slice/session-3.scope",
                                           "/kubepods/burstable/pod" + kDockershimPodUid + "/" + kDsSandbox,
                                           "/kubepods/burstable/pod" + kDockershimPodUid + "/" + kDsContainer,
                                           "/machine.slice/libpod-" + kPodman + ".scope",
                                           "/machine.slice/libpod-conmon-" + kPodman + ".scope",
                                           "/system.slice/docker-" + kOuter + ".scope",
                                           "/system.slice/docker-" + kInner + ".scope"};
    for (const std::string& p : dirs) fs::create_directories(cgroup_dir(p));

    const fs::path tasks = host_ / "run/containerd/io.containerd.runtime.v2.task/k8s.io";
    write(tasks / kCdSandbox / "config.json", data("containerd_sandbox.config.json"));
    write(tasks / kCdContainer / "config.json", data("containerd_container.config.json"));
    write(host_ / "run/containers/storage/overlay-containers" / kCrioContainer / "userdata/config.json",
          data("crio_container.config.json"));
    const fs::path docker = host_ / "var/lib/docker/containers";
    write(docker / kDockerPlain / "config.v2.json", data("docker_plain.config.v2.json"));
    write(docker / kDsSandbox / "config.v2.json", data("dockershim_sandbox.config.v2.json"));
    write(docker / kDsContainer / "config.v2.json", data("dockershim_container.config.v2.json"));
    write(docker / kOuter / "config.v2.json", data("malformed.config.json"));  // kInner has no state at all
    write(host_ / "run/runc/e2e-client/state.json", data("runc_state.json"));
    write(host_ / "var/lib/ipctrace-e2e/bundles/client/config.json", data("runc_bundle.config.json"));
    write(host_ / "run/crun/e2e-server/status", data("crun_status.json"));
    write(host_ / "var/lib/ipctrace-e2e/bundles/server/config.json", data("crun_bundle.config.json"));
    const fs::path storage = host_ / "var/lib/containers/storage/overlay-containers";
    write(storage / kPodman / "userdata/config.json", data("podman.config.json"));
    write(storage / "containers.json", data("podman_containers.json"));
  }

  fs::path cgroup_dir(const std::string& path) const { return host_ / "sys/fs/cgroup" / path.substr(1); }
  uint64_t id_of(const std::string& path) const {
    return inode(path == "/" ? host_ / "sys/fs/cgroup" : cgroup_dir(path));
  }

  IdentityResolver::Options options() const {
    IdentityResolver::Options o;
    o.host_root = host_.string();
    o.cgroup_root = (host_ / "sys/fs/cgroup").string();
    o.rewalk_interval = std::chrono::milliseconds(0);
    return o;
  }

  TempDir tmp_;
  fs::path host_;
  std::ostringstream log_;
  std::string sandbox_path_, container_path_, crio_path_, runc_path_, crun_path_;
};

Endpoint endpoint(uint64_t id, CgroupIdentity cgroup, std::string runtime, std::string ns, std::string pod,
                  std::string pod_uid, std::string container, bool sandbox = false, bool partial = false,
                  bool pending = false) {
  Endpoint e;
  e.cgroup_id = id;
  e.cgroup = std::move(cgroup);
  e.runtime = std::move(runtime);
  e.k8s_namespace = std::move(ns);
  e.pod = std::move(pod);
  e.pod_uid = std::move(pod_uid);
  e.container = std::move(container);
  e.sandbox = sandbox;
  e.partial = partial;
  e.pending = pending;
  return e;
}

TEST_F(IdentityResolverTest, ContainerdPodContainerAndSandbox) {
  IdentityResolver r(options());
  EXPECT_EQ(r.cgroup_root(), (host_ / "sys/fs/cgroup").string());
  const uint64_t c = id_of(container_path_);
  const Endpoint got = r.resolve(c);
  EXPECT_EQ(got, endpoint(c, cg(container_path_, "containerd", kCdContainer, kPodUid, "besteffort"), "containerd",
                          "shop", "frontend-7c5ddbdf54-x2x9k", kPodUid, "nginx"));
  EXPECT_EQ(got.display(), "shop/frontend-7c5ddbdf54-x2x9k/nginx");

  const uint64_t s = id_of(sandbox_path_);
  const Endpoint pause = r.resolve(s);
  EXPECT_EQ(pause, endpoint(s, cg(sandbox_path_, "containerd", kCdSandbox, kPodUid, "besteffort"), "containerd", "shop",
                            "frontend-7c5ddbdf54-x2x9k", kPodUid, "POD", /*sandbox=*/true));
  EXPECT_EQ(pause.display(), "shop/frontend-7c5ddbdf54-x2x9k/POD");
  EXPECT_EQ(r.resolve_errors(), 0U);
  EXPECT_EQ(r.cached(), 2U);
}

// containerd's state where k3s and RKE2 keep it (/run/k3s/containerd, a default), and in a
// directory of the operator's (--containerd-state), which then replaces the defaults.
TEST_F(IdentityResolverTest, ContainerdStateInOtherDirectories) {
  const fs::path tasks = host_ / "run/containerd/io.containerd.runtime.v2.task/k8s.io";
  const fs::path k3s = host_ / "run/k3s/containerd/io.containerd.runtime.v2.task/k8s.io";
  fs::create_directories(k3s);
  fs::rename(tasks / kCdContainer, k3s / kCdContainer);
  const uint64_t c = id_of(container_path_);
  {
    IdentityResolver r(options());
    const Endpoint got = r.resolve(c);
    EXPECT_EQ(got.display(), "shop/frontend-7c5ddbdf54-x2x9k/nginx");
    EXPECT_EQ(got.runtime, "containerd");
    EXPECT_FALSE(got.partial);
  }
  const fs::path own = host_ / "srv/containerd-state/io.containerd.runtime.v2.task/k8s.io";
  fs::create_directories(own);
  fs::rename(k3s / kCdContainer, own / kCdContainer);
  {
    IdentityResolver::Options o = options();
    o.containerd_state = {"/srv/containerd-state"};
    IdentityResolver r(o);
    EXPECT_EQ(r.resolve(c).display(), "shop/frontend-7c5ddbdf54-x2x9k/nginx");
    // The sandbox's state is still under /run/containerd, which the option replaced.
    const Endpoint pause = r.resolve(id_of(sandbox_path_));
    EXPECT_TRUE(pause.partial);
    EXPECT_EQ(pause.pod, "");
  }
  {
    IdentityResolver r(options());  // the defaults do not look there
    EXPECT_TRUE(r.resolve(c).partial);
  }
}

// A cgroup learned of when it was made (CgroupWatch): named from the path the kernel gave, even
// once the cgroup is gone; refresh() tries a pending one again at once without using up its retries.
TEST_F(IdentityResolverTest, ACgroupLearnedOfWhenMadeIsNamedAfterItIsGone) {
  IdentityResolver::Options o = options();
  o.retry_interval = std::chrono::hours(1);  // only refresh() can try again within the test
  IdentityResolver r(o);
  // No directory for it: the cgroup came and went before any lookup.
  const uint64_t gone = 987654321;
  const Endpoint named = r.learn(gone, container_path_);
  EXPECT_EQ(named, endpoint(gone, cg(container_path_, "containerd", kCdContainer, kPodUid, "besteffort"), "containerd",
                            "shop", "frontend-7c5ddbdf54-x2x9k", kPodUid, "nginx"));
  EXPECT_EQ(r.resolve(gone), named);                   // cached, complete
  EXPECT_EQ(r.learn(gone, "/somewhere/else"), named);  // a complete entry is kept as it is

  // A container whose runtime state is written after its cgroup: pending, then named by refresh().
  const std::string later = "6a6a6a6a6a6a6a6a6a6a6a6a6a6a6a6a6a6a6a6a6a6a6a6a6a6a6a6a6a6a6a6a";
  const std::string path = "/kubepods/besteffort/pod" + kPodUid + "/" + later;
  const uint64_t id = 987654322;
  const Endpoint first = r.learn(id, path);
  EXPECT_TRUE(first.partial);
  EXPECT_TRUE(first.pending);
  EXPECT_EQ(first.display(), "containerd:6a6a6a6a6a6a");
  for (int i = 0; i < 10; ++i) EXPECT_TRUE(r.refresh(id).pending) << i;  // not the resolver's retries
  write(host_ / "run/containerd/io.containerd.runtime.v2.task/k8s.io" / later / "config.json",
        data("containerd_container.config.json"));
  const Endpoint got = r.refresh(id);
  EXPECT_FALSE(got.partial);
  EXPECT_EQ(got.display(), "shop/frontend-7c5ddbdf54-x2x9k/nginx");
  EXPECT_EQ(r.resolve_errors(), 0U);
  // A cgroup never learned of and never found stays as it was: cgroup#id, counted once.
  EXPECT_EQ(r.refresh(987654323).display(), "cgroup#987654323");
}

// The agent's cgroup2 mount can sit below the hierarchy's root (a node that is itself a
// container); the kernel's paths are from the root. The first cgroup found both ways tells how deep.
TEST_F(IdentityResolverTest, KernelPathsAreTakenFromWhereTheMountSits) {
  IdentityResolver r(options());
  const std::string node = "/system.slice/docker-node.scope";
  EXPECT_EQ(r.learn(id_of(container_path_), node + container_path_).display(), "shop/frontend-7c5ddbdf54-x2x9k/nginx");
  // A cgroup gone before it was looked up: its path is taken from the mount's place.
  const uint64_t gone = 555000111;
  const Endpoint named = r.learn(gone, node + container_path_);
  EXPECT_EQ(named.display(), "shop/frontend-7c5ddbdf54-x2x9k/nginx");
  EXPECT_EQ(named.cgroup.path, container_path_);
  // One outside the mount (or merely sharing its first letters) is not used: looked up instead.
  EXPECT_EQ(r.learn(555000112, "/other" + container_path_).display(), "cgroup#555000112");
  EXPECT_EQ(r.learn(555000113, node + "x" + container_path_).display(), "cgroup#555000113");
}

// A container chooses its pod and container names: a megabyte-long one comes out at most
// kMaxNameBytes long, its beginning kept and a hash of the whole after "…#", so two long names
// with one beginning stay apart.
TEST_F(IdentityResolverTest, NamesOfAnyLengthAreBounded) {
  const std::string huge(1'000'000, 'p');
  const std::string huge2 = std::string(999'999, 'p') + "q";
  const fs::path tasks = host_ / "run/containerd/io.containerd.runtime.v2.task/k8s.io";
  write(tasks / kCdContainer / "config.json",
        R"({"annotations": {"io.kubernetes.cri.container-type": "container", "io.kubernetes.cri.container-name": ")" +
            huge + R"(", "io.kubernetes.cri.sandbox-name": ")" + huge +
            R"(", "io.kubernetes.cri.sandbox-namespace": ")" + huge2 + R"(", "io.kubernetes.cri.sandbox-uid": "u"}})");
  IdentityResolver r(options());
  const Endpoint got = r.resolve(id_of(container_path_));
  ASSERT_FALSE(got.partial);
  for (const std::string* name : {&got.pod, &got.container, &got.k8s_namespace}) {
    EXPECT_LE(name->size(), Endpoint::kMaxNameBytes);
    EXPECT_EQ(name->substr(0, 200), std::string(200, 'p'));
    EXPECT_NE(name->find("…#"), std::string::npos) << *name;
  }
  EXPECT_EQ(got.pod, got.container);      // the same name, cut the same way
  EXPECT_NE(got.pod, got.k8s_namespace);  // names that differ only past the cut stay apart
  EXPECT_EQ(got.display().size(), got.k8s_namespace.size() + 1 + got.pod.size() + 1 + got.container.size());
  EXPECT_EQ(r.identify(id_of(container_path_), got.cgroup).pod, got.pod);
}

TEST_F(IdentityResolverTest, CrioContainer) {
  IdentityResolver r(options());
  const uint64_t id = id_of(crio_path_);
  const Endpoint got = r.resolve(id);
  EXPECT_EQ(got, endpoint(id, cg(crio_path_, "cri-o", kCrioContainer, kCrioPodUid, "burstable"), "cri-o", "kube-system",
                          "coredns-5d78c9869d-4kq7p", kCrioPodUid, "coredns"));
  EXPECT_EQ(got.display(), "kube-system/coredns-5d78c9869d-4kq7p/coredns");
  EXPECT_EQ(r.resolve_errors(), 0U);
}

TEST_F(IdentityResolverTest, DockerPlainAndDockershim) {
  IdentityResolver r(options());
  const std::string plain_path = "/system.slice/docker-" + kDockerPlain + ".scope";
  const uint64_t plain = id_of(plain_path);
  const Endpoint web = r.resolve(plain);
  EXPECT_EQ(web, endpoint(plain, cg(plain_path, "docker", kDockerPlain), "docker", "", "", "", "web"));
  EXPECT_EQ(web.display(), "docker:web");

  // Kubernetes with dockershim and the cgroupfs driver: the path says a CRI container, docker's state names it.
  const std::string api_path = "/kubepods/burstable/pod" + kDockershimPodUid + "/" + kDsContainer;
  const uint64_t api = id_of(api_path);
  const Endpoint got = r.resolve(api);
  EXPECT_EQ(got, endpoint(api, cg(api_path, "containerd", kDsContainer, kDockershimPodUid, "burstable"), "docker",
                          "payments", "api-6b9f8c7d5-q2w3e", kDockershimPodUid, "api"));
  EXPECT_EQ(got.display(), "payments/api-6b9f8c7d5-q2w3e/api");

  const std::string pause_path = "/kubepods/burstable/pod" + kDockershimPodUid + "/" + kDsSandbox;
  const uint64_t pause = id_of(pause_path);
  EXPECT_EQ(r.resolve(pause), endpoint(pause, cg(pause_path, "containerd", kDsSandbox, kDockershimPodUid, "burstable"),
                                       "docker", "payments", "api-6b9f8c7d5-q2w3e", kDockershimPodUid, "POD", true));
  EXPECT_EQ(r.resolve_errors(), 0U);
}

TEST_F(IdentityResolverTest, HostServicesAndTheRoot) {
  IdentityResolver r(options());
  const uint64_t nginx = id_of("/system.slice/nginx.service");
  const Endpoint svc = r.resolve(nginx);
  EXPECT_EQ(svc, endpoint(nginx, cg("/system.slice/nginx.service", "systemd", "", "", "", "nginx.service"), "systemd",
                          "", "", "", "nginx.service"));
  EXPECT_EQ(svc.display(), "systemd:nginx.service");

  const uint64_t session = id_of("/user.slice/user-1000.slice/session-3.scope");
  EXPECT_EQ(r.resolve(session).display(), "systemd:session-3.scope");

  const uint64_t root = id_of("/");
  const Endpoint host = r.resolve(root);
  EXPECT_EQ(host, endpoint(root, cg("/", "host"), "host", "", "", "", "/"));
  EXPECT_EQ(host.display(), "host");

  const uint64_t conmon = id_of("/machine.slice/libpod-conmon-" + kPodman + ".scope");
  EXPECT_EQ(r.resolve(conmon).display(), "systemd:libpod-conmon-" + kPodman + ".scope");
  const uint64_t other = id_of("/kubepods");
  EXPECT_EQ(r.resolve(other).display(), "cgroup:/kubepods");
  EXPECT_EQ(r.resolve_errors(), 0U);
}

TEST_F(IdentityResolverTest, PlainRuncAndCrunWithKubernetesAnnotations) {
  IdentityResolver r(options());
  const uint64_t client = id_of(runc_path_);
  const Endpoint got = r.resolve(client);
  EXPECT_EQ(got, endpoint(client, cg(runc_path_, "containerd", "e2e-client", kRuncPodUid, "besteffort"), "runc",
                          "ipctrace-test", "ipc-e2e", kRuncPodUid, "client"));
  EXPECT_EQ(got.display(), "ipctrace-test/ipc-e2e/client");

  const uint64_t server = id_of(crun_path_);
  EXPECT_EQ(r.resolve(server), endpoint(server, cg(crun_path_, "containerd", "e2e-server", kRuncPodUid, "besteffort"),
                                        "crun", "ipctrace-test", "ipc-e2e", kRuncPodUid, "server"));
  EXPECT_EQ(r.resolve_errors(), 0U);
}

TEST_F(IdentityResolverTest, RuncStateLabelsStandInForAMissingBundle) {
  std::string state = data("runc_state.json");
  for (size_t at = state.find("bundles/client"); at != std::string::npos; at = state.find("bundles/client", at)) {
    state.replace(at, 14, "bundles/gone");
  }
  write(host_ / "run/runc/e2e-labels/state.json", state);
  const std::string path = "/kubepods/besteffort/pod" + kRuncPodUid + "/e2e-labels";
  fs::create_directories(cgroup_dir(path));
  // crun keeps no labels: a missing bundle leaves it partial.
  write(host_ / "run/crun/e2e-nobundle/status", R"({"pid": 7, "bundle": "/var/lib/ipctrace-e2e/bundles/none"})");
  const std::string nobundle = "/kubepods/besteffort/pod" + kRuncPodUid + "/e2e-nobundle";
  fs::create_directories(cgroup_dir(nobundle));

  IdentityResolver r(options());
  EXPECT_EQ(r.resolve(id_of(path)),
            endpoint(id_of(path), cg(path, "containerd", "e2e-labels", kRuncPodUid, "besteffort"), "runc",
                     "ipctrace-test", "ipc-e2e", kRuncPodUid, "client"));
  EXPECT_EQ(r.resolve_errors(), 0U);
  const Endpoint partial = r.resolve(id_of(nobundle));
  EXPECT_EQ(partial, endpoint(id_of(nobundle), cg(nobundle, "containerd", "e2e-nobundle", kRuncPodUid, "besteffort"),
                              "containerd", "", "", kRuncPodUid, "e2e-nobundle", false, /*partial=*/true));
  EXPECT_EQ(partial.display(), "containerd:e2e-nobundle");
  EXPECT_EQ(r.resolve_errors(), 1U);
}

TEST_F(IdentityResolverTest, PodmanNameFromStorage) {
  IdentityResolver r(options());
  const std::string path = "/machine.slice/libpod-" + kPodman + ".scope";
  const Endpoint got = r.resolve(id_of(path));
  EXPECT_EQ(got, endpoint(id_of(path), cg(path, "podman", kPodman), "podman", "", "", "", "cache-redis"));
  EXPECT_EQ(got.display(), "podman:cache-redis");

  // Without containers.json: the short id, and nothing is wrong.
  fs::remove(host_ / "var/lib/containers/storage/overlay-containers/containers.json");
  r.forget(id_of(path));
  EXPECT_EQ(r.resolve(id_of(path)).display(), "podman:b7e3d1c9a5f2");
  // A malformed one: partial and counted.
  write(host_ / "var/lib/containers/storage/overlay-containers/containers.json", "[{\"id\": ");
  r.forget(id_of(path));
  const Endpoint broken = r.resolve(id_of(path));
  EXPECT_TRUE(broken.partial);
  EXPECT_EQ(broken.display(), "podman:b7e3d1c9a5f2");
  EXPECT_EQ(r.resolve_errors(), 1U);
}

// A podman pod, named from podman 4.3's own state (testdata/identity/podman-4.3, recorded from a
// real podman: its BoltDB database and containers.json): the pod from the database, the
// container's name from containers.json, as `podman ps -a --pod` shows them.
TEST_F(IdentityResolverTest, PodmanPodFromPodmansDatabase) {
  const std::string pod = "cf62b38ca698b223aefc965eac025852f1bd37ad5a400e6917b694ec3c972562";
  const std::string client = "60ba76cf1fcbb47e657c466d54b0ea24d1e9102797a2b05e6dba721e19f54307";
  const std::string infra = "80c59418334687f24f9bd2cee3ba0fb1e6f8799bb34cd18f0b2e9cb3107d05b9";
  const std::string solo = "24f5d060cf84e5096daf86041faf792cf643e0a05da15099a3727bead34271c5";
  const fs::path storage = host_ / "var/lib/containers/storage";
  const fs::path recorded = testdata() / "podman-4.3";
  write(storage / "overlay-containers/containers.json", slurp(recorded / "containers.json"));
  write(storage / "libpod/bolt_state.db", slurp(recorded / "bolt_state.db"));
  std::vector<std::string> paths;
  for (const std::string& id : {client, infra, solo}) {
    write(storage / "overlay-containers" / id / "userdata/config.json", data("podman.config.json"));
    // podman's cgroupfs layout: a pod's containers under libpod_parent/<pod id>.
    std::string path = "/libpod_parent/";
    if (id != solo) path.append(pod).append("/");
    paths.push_back(path.append("libpod-").append(id));
    fs::create_directories(cgroup_dir(paths.back()));
  }
  IdentityResolver r(options());
  const Endpoint got = r.resolve(id_of(paths[0]));
  EXPECT_EQ(got, endpoint(id_of(paths[0]), cg(paths[0], "podman", client), "podman", "", "webpod", pod, "web-client"));
  EXPECT_EQ(got.display(), "podman:webpod/web-client");
  EXPECT_EQ(r.resolve(id_of(paths[1])).display(), "podman:webpod/cf62b38ca698-infra");
  EXPECT_EQ(r.resolve(id_of(paths[2])).display(), "podman:solo");
  EXPECT_EQ(r.resolve_errors(), 0U);

  // A damaged database: the container keeps its name, the pod is unknown, and it is counted.
  std::string db = slurp(recorded / "bolt_state.db");
  std::fill(db.begin(), db.begin() + 8192, '\0');  // both meta pages
  write(storage / "libpod/bolt_state.db", db);
  r.forget(id_of(paths[0]));
  const Endpoint broken = r.resolve(id_of(paths[0]));
  EXPECT_TRUE(broken.partial);
  EXPECT_EQ(broken.display(), "podman:web-client");
  EXPECT_EQ(r.resolve_errors(), 1U);
  // No database at all (a host with no pods, or podman's SQLite state): no pod, nothing wrong.
  fs::remove(storage / "libpod/bolt_state.db");
  r.forget(id_of(paths[0]));
  const Endpoint no_db = r.resolve(id_of(paths[0]));
  EXPECT_FALSE(no_db.partial);
  EXPECT_EQ(no_db.display(), "podman:web-client");
}

TEST_F(IdentityResolverTest, UnknownIdIsPartialAndCountedOnce) {
  IdentityResolver r(options());
  const uint64_t unknown = (uint64_t{1} << 60) + 999;
  const Endpoint got = r.resolve(unknown);
  EXPECT_EQ(got, endpoint(unknown, CgroupIdentity{}, "", "", "", "", "cgroup#1152921504606847975", false, true));
  EXPECT_EQ(got.display(), "cgroup#1152921504606847975");
  EXPECT_EQ(r.resolve_errors(), 1U);
  EXPECT_EQ(r.resolve(unknown), got);
  EXPECT_EQ(r.resolve_errors(), 1U);
  EXPECT_EQ(r.cached(), 1U);
}

TEST_F(IdentityResolverTest, WarningsAreRateLimitedButEveryErrorIsCounted) {
  auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(log_);
  auto previous = spdlog::default_logger();
  spdlog::set_default_logger(std::make_shared<spdlog::logger>("test", sink));
  {
    IdentityResolver r(options());
    for (uint64_t i = 0; i < 25; ++i) r.resolve((uint64_t{1} << 60) + i);
    EXPECT_EQ(r.resolve_errors(), 25U);
  }
  spdlog::set_default_logger(previous);
  const std::string text = log_.str();
  size_t lines = 0;
  for (size_t at = text.find("identity: cgroup "); at != std::string::npos;
       at = text.find("identity: cgroup ", at + 1)) {
    ++lines;
  }
  EXPECT_EQ(lines, 10U) << text;  // the burst; the other 15 are summarised a minute later
}

TEST_F(IdentityResolverTest, MalformedStateIsPartialAndCountedOnce) {
  const std::string path = "/system.slice/docker-" + kOuter + ".scope";
  const Endpoint want = endpoint(id_of(path), cg(path, "docker", kOuter), "docker", "", "", "", "0123456789ab", false,
                                 /*partial=*/true);
  IdentityResolver r(options());
  EXPECT_EQ(r.resolve(id_of(path)), want);
  EXPECT_EQ(r.resolve(id_of(path)), want);
  EXPECT_EQ(r.resolve(id_of(path)).display(), "docker:0123456789ab");
  EXPECT_EQ(r.resolve_errors(), 1U);

  // Retried (it stays malformed): still counted once.
  auto o = options();
  o.retry_interval = std::chrono::milliseconds(0);
  IdentityResolver eager(o);
  for (int i = 0; i < 6; ++i) EXPECT_EQ(eager.resolve(id_of(path)), want);
  EXPECT_EQ(eager.resolve_errors(), 1U);

  // Truncated and huge state files.
  write(host_ / "var/lib/docker/containers" / kOuter / "config.v2.json", data("truncated.config.json"));
  IdentityResolver truncated(options());
  EXPECT_EQ(truncated.resolve(id_of(path)), want);
  EXPECT_EQ(truncated.resolve_errors(), 1U);
}

TEST_F(IdentityResolverTest, HugeConfig) {
  // A 5 MB config.json (a huge environment): read and named; with a 1 MiB limit, refused and counted.
  std::string config = data("containerd_container.config.json");
  std::string env = "\"env\": [";
  for (int i = 0; env.size() < (size_t{5} << 20); ++i) {
    env += "\"VAR_" + std::to_string(i) + "=" + std::string(200, 'x') + "\", ";
  }
  env += "\"LAST=1\"], \"ignored\": ";
  config.replace(config.find("\"env\":"), 6, env);
  write(host_ / "run/containerd/io.containerd.runtime.v2.task/k8s.io" / kCdContainer / "config.json", config);
  ASSERT_GT(fs::file_size(host_ / "run/containerd/io.containerd.runtime.v2.task/k8s.io" / kCdContainer / "config.json"),
            size_t{5} << 20);

  const uint64_t id = id_of(container_path_);
  IdentityResolver r(options());
  EXPECT_EQ(r.resolve(id).display(), "shop/frontend-7c5ddbdf54-x2x9k/nginx");
  EXPECT_FALSE(r.resolve(id).partial);
  EXPECT_EQ(r.resolve_errors(), 0U);

  auto o = options();
  o.max_file_bytes = size_t{1} << 20;
  IdentityResolver limited(o);
  EXPECT_EQ(limited.resolve(id), endpoint(id, cg(container_path_, "containerd", kCdContainer, kPodUid, "besteffort"),
                                          "containerd", "", "", kPodUid, "9d8c7b6a5f4e", false, true));
  EXPECT_EQ(limited.resolve(id).display(), "containerd:9d8c7b6a5f4e");
  EXPECT_EQ(limited.resolve_errors(), 1U);
}

TEST_F(IdentityResolverTest, MissingStateIsRetriedThenCounted) {
  const std::string path = "/system.slice/docker-" + kInner + ".scope";
  const uint64_t id = id_of(path);
  const Endpoint partial = endpoint(id, cg(path, "docker", kInner), "docker", "", "", "", "fedcba987654", false, true);
  // Partial with retries left: pending, so counters wait for the name.
  const Endpoint pending =
      endpoint(id, cg(path, "docker", kInner), "docker", "", "", "", "fedcba987654", false, true, true);

  // Defaults: not counted at first sight (state may still be on its way); no retry before 2 s.
  IdentityResolver r(options());
  EXPECT_EQ(r.resolve(id), pending);
  EXPECT_EQ(r.resolve(id), pending);
  EXPECT_EQ(r.resolve_errors(), 0U);

  // No retries: counted at once, and final.
  auto o = options();
  o.max_retries = 0;
  IdentityResolver impatient(o);
  EXPECT_EQ(impatient.resolve(id), partial);
  EXPECT_EQ(impatient.resolve_errors(), 1U);

  // Two retries: counted on the third attempt, once; final from then on.
  o = options();
  o.retry_interval = std::chrono::milliseconds(0);
  o.max_retries = 2;
  IdentityResolver eager(o);
  EXPECT_EQ(eager.resolve(id), pending);
  EXPECT_EQ(eager.resolve_errors(), 0U);
  EXPECT_EQ(eager.resolve(id), pending);
  EXPECT_EQ(eager.resolve_errors(), 0U);
  EXPECT_EQ(eager.resolve(id), partial);
  EXPECT_EQ(eager.resolve_errors(), 1U);
  EXPECT_EQ(eager.resolve(id), partial);
  EXPECT_EQ(eager.resolve_errors(), 1U);

  // State that appears before the retries run out completes the endpoint.
  IdentityResolver patient(o);
  EXPECT_EQ(patient.resolve(id), pending);
  write(host_ / "var/lib/docker/containers" / kInner / "config.v2.json", R"({"ID": "x", "Name": "/late"})");
  EXPECT_EQ(patient.resolve(id), endpoint(id, cg(path, "docker", kInner), "docker", "", "", "", "late"));
  EXPECT_EQ(patient.resolve_errors(), 0U);
}

TEST_F(IdentityResolverTest, CgroupsNotYetIndexedAreRetried) {
  auto o = options();
  o.rewalk_interval = std::chrono::hours(1);
  o.retry_interval = std::chrono::milliseconds(0);
  o.max_retries = 1;
  IdentityResolver r(o);
  EXPECT_EQ(r.resolve(id_of("/system.slice/nginx.service")).display(), "systemd:nginx.service");
  fs::create_directories(cgroup_dir("/system.slice/late.service"));
  const uint64_t late = id_of("/system.slice/late.service");
  const Endpoint unnamed =
      endpoint(late, CgroupIdentity{}, "", "", "", "", "cgroup#" + std::to_string(late), false, true);
  Endpoint pending = unnamed;
  pending.pending = true;
  EXPECT_EQ(r.resolve(late), pending);
  EXPECT_EQ(r.resolve_errors(), 0U);
  EXPECT_EQ(r.resolve(late), unnamed);  // the retries are used up: final, and counted
  EXPECT_EQ(r.resolve_errors(), 1U);

  // A cgroup that vanished is final at once: nothing will name it later.
  IdentityResolver v(o);
  const Endpoint gone = v.resolve(uint64_t{1} << 60);
  EXPECT_TRUE(gone.partial);
  EXPECT_FALSE(gone.pending);
}

TEST_F(IdentityResolverTest, CacheIsBoundedLeastRecentlyResolvedFirst) {
  auto o = options();
  o.max_entries = 3;
  IdentityResolver r(o);
  // Unknown ids are re-resolved (and counted) only when they were not cached.
  constexpr uint64_t kBase = uint64_t{1} << 60;
  r.resolve(kBase + 1);
  r.resolve(kBase + 2);
  r.resolve(kBase + 3);
  EXPECT_EQ(r.cached(), 3U);
  EXPECT_EQ(r.resolve_errors(), 3U);
  r.resolve(kBase + 4);  // evicts kBase + 1
  EXPECT_EQ(r.cached(), 3U);
  EXPECT_EQ(r.resolve_errors(), 4U);
  r.resolve(kBase + 2);  // cached; now the most recent
  EXPECT_EQ(r.resolve_errors(), 4U);
  r.resolve(kBase + 1);  // resolved again; evicts kBase + 3
  EXPECT_EQ(r.resolve_errors(), 5U);
  r.resolve(kBase + 2);
  r.resolve(kBase + 4);
  EXPECT_EQ(r.resolve_errors(), 5U);
  r.resolve(kBase + 3);
  EXPECT_EQ(r.resolve_errors(), 6U);
  EXPECT_EQ(r.cached(), 3U);

  // A good entry survives its neighbours' churn while it is used.
  const uint64_t nginx = id_of("/system.slice/nginx.service");
  EXPECT_EQ(r.resolve(nginx).display(), "systemd:nginx.service");
  EXPECT_EQ(r.cached(), 3U);
}

TEST_F(IdentityResolverTest, Forget) {
  IdentityResolver r(options());
  constexpr uint64_t kGone = (uint64_t{1} << 60) + 777;
  r.resolve(kGone);
  EXPECT_EQ(r.cached(), 1U);
  EXPECT_EQ(r.resolve_errors(), 1U);
  r.forget(kGone);
  r.forget(kGone + 1);  // never seen: nothing happens
  EXPECT_EQ(r.cached(), 0U);
  r.resolve(kGone);
  EXPECT_EQ(r.resolve_errors(), 2U);
  EXPECT_EQ(r.cached(), 1U);

  const uint64_t c = id_of(container_path_);
  EXPECT_EQ(r.resolve(c).container, "nginx");
  EXPECT_EQ(r.cached(), 2U);
  r.forget(c);
  EXPECT_EQ(r.cached(), 1U);
}

TEST_F(IdentityResolverTest, NoCgroup2UnderTheHostRoot) {
  IdentityResolver::Options o;
  o.host_root = host_.string();  // sys/fs/cgroup here is a plain directory
  IdentityResolver r(o);
  EXPECT_EQ(r.cgroup_root(), "");
  const uint64_t c = id_of(container_path_);
  EXPECT_EQ(r.resolve(c), endpoint(c, CgroupIdentity{}, "", "", "", "", "cgroup#" + std::to_string(c), false, true));
  EXPECT_EQ(r.resolve_errors(), 1U);
}

TEST_F(IdentityResolverTest, IdentifyWithoutACgroupLookup) {
  IdentityResolver r(options());
  // A container whose id cannot be a file name is never looked up.
  const Endpoint dots = r.identify(5, cg("/x/..", "runc", ".."));
  EXPECT_EQ(dots, endpoint(5, cg("/x/..", "runc", ".."), "runc", "", "", "", "..", false, true));
  const Endpoint named = r.identify(6, parse_cgroup_path(container_path_));
  EXPECT_EQ(named.display(), "shop/frontend-7c5ddbdf54-x2x9k/nginx");
  EXPECT_EQ(r.cached(), 0U);
  EXPECT_EQ(r.resolve_errors(), 0U);
}

// ------------------------------------------------------------------------------------------------
// Spoofing: a container that may make child cgroups (cgroup namespaces with delegation, a
// privileged container) can name one after another container. The path alone cannot tell that from
// a nested container, so only the runtimes' state on the host can.

// A: the containerd pod container shop/frontend-7c5ddbdf54-x2x9k/nginx (container_path_), as the
// endpoint at `path` inside it; the path's claims are kept, not taken.
Endpoint as_a(uint64_t id, const std::string& path) {
  return endpoint(
      id, with_nested(cg(path, "containerd", kCdContainer, kPodUid, "besteffort"), parse_cgroup_path(path).nested),
      "containerd", "shop", "frontend-7c5ddbdf54-x2x9k", kPodUid, "nginx");
}

TEST_F(IdentityResolverTest, ContainerLookingCgroupsInsideAContainerAreThatContainer) {
  // Below A, cgroups named after containers whose state is on this host (CRI-O's coredns, docker's
  // web, podman's cache-redis, runc's e2e-client), by every runtime's convention, with and without
  // a forged pod around; before the fix each was named as that container.
  const std::string crio_pod_slice = "kubepods-burstable-pod0a1b2c3d_4e5f_4a6b_8c7d_9e0f1a2b3c4d.slice";
  const std::vector<std::string> forged = {
      "/cri-containerd-" + kCrioContainer + ".scope",
      "/crio-" + kCrioContainer + ".scope",
      "/crio-" + kCrioContainer,
      "/docker-" + kDockerPlain + ".scope",
      "/docker/" + kDockerPlain,
      "/libpod-" + kPodman + ".scope",
      "/libpod-" + kPodman,
      "/runc-" + kDockerPlain + ".scope",
      "/crun-" + kDockerPlain + ".scope",
      "/x-" + kDockerPlain + ".scope",
      // a forged pod around the forged container: the victim's whole path, and its cgroupfs forms
      crio_path_,
      "/" + crio_pod_slice + "/crio-" + kCrioContainer + ".scope",
      "/kubepods/burstable/pod" + kCrioPodUid + "/" + kCrioContainer,
      "/kubepods/besteffort/pod" + kRuncPodUid + "/e2e-client",
      "/" + crio_pod_slice + ":crio:" + kCrioContainer,
      // deeper: two forged levels, a unit in a forged container, a forged pod with no container
      "/docker-" + kDockerPlain + ".scope/crio-" + kCrioContainer + ".scope",
      "/system.slice/docker-" + kDockerPlain + ".scope/init.scope",
      "/" + crio_pod_slice,
  };
  for (const std::string& suffix : forged) {
    const std::string path = container_path_ + suffix;
    fs::create_directories(cgroup_dir(path));
    IdentityResolver r(options());
    const Endpoint got = r.resolve(id_of(path));
    EXPECT_EQ(got, as_a(id_of(path), path)) << path;
    EXPECT_EQ(got.display(), "shop/frontend-7c5ddbdf54-x2x9k/nginx") << path;
    EXPECT_EQ(r.resolve_errors(), 0U) << path;
  }
  // The claims are what the path says (CgroupPathParse has them exactly); two here.
  EXPECT_EQ(parse_cgroup_path(container_path_ + forged[15]).nested.size(), 2U);
}

TEST_F(IdentityResolverTest, HostileNamesInsideAContainerAreThatContainer) {
  // Names the kernel never reports ("..", "."), and bytes it does (newlines, invalid UTF-8): no
  // crash, and still A.
  IdentityResolver r(options());
  for (const std::string& suffix : {"/../docker-" + kDockerPlain + ".scope", "/./crio-" + kCrioContainer + ".scope",
                                    "/docker-" + kDockerPlain + ".scope/..", "/\n/docker/" + kDockerPlain,
                                    "/\xff\xfe/libpod-" + kPodman + ".scope", "/docker-" + kDockerPlain + ".scope\n"}) {
    const std::string path = container_path_ + suffix;
    EXPECT_EQ(r.identify(7, parse_cgroup_path(path)), as_a(7, path)) << suffix;
  }
  EXPECT_EQ(r.resolve_errors(), 0U);
}

TEST_F(IdentityResolverTest, NestedContainersConfirmedByTheirStateAreTheInnerOne) {
  // The outer container: docker's web (its state records no cgroup: a top-level container needs none).
  const std::string outer = "/system.slice/docker-" + kDockerPlain + ".scope";
  // kind: a node container holding a kubelet's pods; the inner runtime's state records the path.
  const std::string kind_pod = outer +
                               "/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-besteffort.slice/"
                               "kubelet-kubepods-besteffort-pod" +
                               kRuncPodUidUnderscores + ".slice";
  const std::string kind_path = kind_pod + "/cri-containerd-" + kNestedCd + ".scope";
  write(host_ / "run/containerd/io.containerd.runtime.v2.task/k8s.io" / kNestedCd / "config.json",
        R"({"annotations": {"io.kubernetes.cri.sandbox-namespace": "kind-ns", "io.kubernetes.cri.sandbox-name":
            "inner-pod", "io.kubernetes.cri.sandbox-uid": ")" +
            kRuncPodUid + R"(", "io.kubernetes.cri.container-name": "inner", "io.kubernetes.cri.container-type":
            "container"}, "linux": {"cgroupsPath": ")" +
            kind_path + R"("}})");
  // docker-in-docker: docker's state has no cgroup, its containerd bundle (namespace moby) has.
  const std::string dind_path = outer + "/docker/" + kNestedDocker;
  write(host_ / "var/lib/docker/containers" / kNestedDocker / "config.v2.json", R"({"Name": "/inner-web"})");
  write(host_ / "run/containerd/io.containerd.runtime.v2.task/moby" / kNestedDocker / "config.json",
        R"({"linux": {"cgroupsPath": ")" + dind_path + R"("}})");
  // runc started by hand in the outer container's cgroup: its state.json's cgroup_paths.
  const std::string runc_path = outer + "/runc-" + kNestedRunc + ".scope";
  write(host_ / "run/runc" / kNestedRunc / "state.json",
        R"({"id": "x", "config": {"labels": ["bundle=/var/lib/ipctrace-e2e/bundles/nested"]},
            "cgroup_paths": {"": "/sys/fs/cgroup)" +
            runc_path + R"("}})");
  write(host_ / "var/lib/ipctrace-e2e/bundles/nested/config.json", R"({"annotations": {"nerdctl/name": "by-hand"}})");
  for (const std::string& p : {kind_path, dind_path, runc_path}) fs::create_directories(cgroup_dir(p));

  IdentityResolver r(options());
  EXPECT_EQ(r.resolve(id_of(kind_path)),
            endpoint(id_of(kind_path), cg(kind_path, "containerd", kNestedCd, kRuncPodUid, "besteffort"), "containerd",
                     "kind-ns", "inner-pod", kRuncPodUid, "inner"));
  EXPECT_EQ(r.resolve(id_of(dind_path)),
            endpoint(id_of(dind_path), cg(dind_path, "docker", kNestedDocker), "docker", "", "", "", "inner-web"));
  EXPECT_EQ(r.resolve(id_of(runc_path)),
            endpoint(id_of(runc_path), cg(runc_path, "runc", kNestedRunc), "runc", "", "", "", "by-hand"));
  // The innermost confirmed one: a forged cgroup inside the inner docker container is that container.
  const std::string forged = dind_path + "/crio-" + kCrioContainer + ".scope";
  fs::create_directories(cgroup_dir(forged));
  EXPECT_EQ(r.resolve(id_of(forged)),
            endpoint(id_of(forged),
                     with_nested(cg(forged, "docker", kNestedDocker), {claim(forged, "cri-o", kCrioContainer)}),
                     "docker", "", "", "", "inner-web"));
  // The same ids in A's cgroup: their state records another path, so A it is. So is a claim whose
  // state cannot be read (kOuter's is malformed): refused, not counted.
  for (const std::string& elsewhere :
       {container_path_ + "/docker/" + kNestedDocker, container_path_ + "/cri-containerd-" + kNestedCd + ".scope",
        container_path_ + "/runc-" + kNestedRunc + ".scope", container_path_ + kind_path, container_path_ + dind_path,
        container_path_ + "/docker-" + kOuter + ".scope"}) {
    fs::create_directories(cgroup_dir(elsewhere));
    EXPECT_EQ(r.resolve(id_of(elsewhere)), as_a(id_of(elsewhere), elsewhere)) << elsewhere;
  }
  EXPECT_EQ(r.resolve_errors(), 0U);
}

TEST_F(IdentityResolverTest, TopLevelContainersNeedNoConfirmation) {
  // Top-level containers are named by their state whether or not it records their cgroup (docker's
  // does not; podman's records the scope, not the "container" subgroup crun may move it to).
  IdentityResolver r(options());
  const std::string podman_sub = "/machine.slice/libpod-" + kPodman + ".scope/container";
  fs::create_directories(cgroup_dir(podman_sub));
  EXPECT_EQ(r.resolve(id_of(podman_sub)),
            endpoint(id_of(podman_sub), cg(podman_sub, "podman", kPodman), "podman", "", "", "", "cache-redis"));
  const std::string web = "/system.slice/docker-" + kDockerPlain + ".scope";
  EXPECT_EQ(r.resolve(id_of(web)), endpoint(id_of(web), cg(web, "docker", kDockerPlain), "docker", "", "", "", "web"));
  EXPECT_EQ(r.resolve(id_of(container_path_)), as_a(id_of(container_path_), container_path_));
  EXPECT_EQ(r.resolve(id_of(crio_path_)),
            endpoint(id_of(crio_path_), cg(crio_path_, "cri-o", kCrioContainer, kCrioPodUid, "burstable"), "cri-o",
                     "kube-system", "coredns-5d78c9869d-4kq7p", kCrioPodUid, "coredns"));
  EXPECT_EQ(r.resolve_errors(), 0U);
}

TEST(IdentityResolverReal, NamesThisMachinesRootCgroup) {
  IdentityResolver r(IdentityResolver::Options{});
  if (r.cgroup_root().empty()) GTEST_SKIP() << "no cgroup2 file system here";
  const uint64_t root = inode(r.cgroup_root());
  const Endpoint got = r.resolve(root);
  EXPECT_EQ(got, endpoint(root, cg("/", "host"), "host", "", "", "", "/"));
  EXPECT_EQ(got.display(), "host");
  EXPECT_EQ(r.resolve_errors(), 0U);
}

}  // namespace
