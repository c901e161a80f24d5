// The container image and the DaemonSet, run for real without a cluster: deploy/Dockerfile is
// built with podman (build-image.sh), its root filesystem runs `ipctrace agent` under runc with
// a config.json made from the rendered DaemonSet (oci-spec.mjs: host mounts, --host-root,
// hostPID, security context), two pods of busybox containers run beside it (tests/common/oci.h),
// and the agent's /metrics must show their FIFO flow with the pods' names and exact figures.
// The least-privilege overlay's capabilities alone must do the same; without either one the
// agent must exit naming it.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "http.h"
#include "kernel_test.h"
#include "oci.h"
#include "subprocess.h"

using ::testing::HasSubstr;
using ::testing::Not;

using namespace ipctrace::test;
using namespace std::chrono_literals;
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

const std::string kRepo = IPCTRACE_SOURCE_DIR;
const std::string kNpmDir = IPCTRACE_DEPLOY_NPM_DIR;

// Built once for the suite: the image's rootfs and config, the rendered manifests.
struct Image {
  std::string dir;  // removed at the end of the suite
  std::string error;
  std::string rootfs() const { return dir + "/image/rootfs"; }
  std::string config() const { return dir + "/image/image.json"; }
  std::string manifest(const std::string& variant) const { return dir + "/" + variant + ".yaml"; }
};
Image* g_image = nullptr;

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// The agent under runc; killed and deleted when destroyed, with the host directories that a
// kubelet's DirectoryOrCreate would have made (and nothing else) removed again.
class AgentContainer {
 public:
  AgentContainer(const std::string& variant, const std::string& drop_cap, int port) {
    id_ = "ipctrace-deploy-agent-" + random_hex(12);
    bundle_ = g_image->dir + "/" + id_;
    fs::create_directories(bundle_);
    std::vector<std::string> argv{find_program("node"),
                                  kNpmDir + "/oci-spec.mjs",
                                  g_image->manifest(variant),
                                  g_image->config(),
                                  g_image->rootfs(),
                                  "deploy-test-node",
                                  "127.0.0.1:" + std::to_string(port),
                                  "ipctrace-deploy-" + random_hex(8)};
    if (!drop_cap.empty()) {
      argv.emplace_back("--drop-cap");
      argv.push_back(drop_cap);
    }
    const ProcessResult spec = run_process(argv, 60s);
    if (spec.exit_code != 0) throw std::runtime_error("oci-spec.mjs: " + spec.err);
    std::ofstream(bundle_ + "/config.json") << spec.out;
    const json config = json::parse(spec.out);  // kept alive: the loop walks into it
    for (const auto& m : config["mounts"]) {
      if (m["type"] != "bind") continue;
      const std::string src = m["source"];
      std::vector<std::string> made;
      for (fs::path p = src; !fs::exists(p); p = p.parent_path()) made.push_back(p.string());
      fs::create_directories(src);
      created_.insert(created_.end(), made.begin(), made.end());  // deepest first
    }
    runc_ = std::make_unique<BackgroundProcess>(
        std::vector<std::string>{find_program("runc"), "run", "--bundle", bundle_, id_});
  }
  ~AgentContainer() {
    run_process({find_program("runc"), "kill", id_, "KILL"}, 30s);
    if (runc_) runc_->finish(15s);
    run_process({find_program("runc"), "delete", "-f", id_}, 30s);
    for (const auto& d : created_) rmdir(d.c_str());
    std::error_code ec;
    fs::remove_all(bundle_, ec);
  }
  AgentContainer(const AgentContainer&) = delete;
  AgentContainer& operator=(const AgentContainer&) = delete;
  AgentContainer(AgentContainer&&) = delete;
  AgentContainer& operator=(AgentContainer&&) = delete;

  BackgroundProcess& runc() { return *runc_; }

 private:
  std::string id_;
  std::string bundle_;
  std::vector<std::string> created_;
  std::unique_ptr<BackgroundProcess> runc_;
};

// The value of the one sample `name{labels}` in a Prometheus text page; -1 if absent.
double sample(const std::string& page, const std::string& name, const std::string& labels) {
  const std::string key = name + "{" + labels + "} ";
  const size_t at = page.find(key);
  if (at == std::string::npos || (at > 0 && page[at - 1] != '\n')) return -1;
  return std::stod(page.substr(at + key.size()));
}

std::string flow_labels(const std::string& kind) {
  return "dst_container=\"reader\",dst_namespace=\"shop\",dst_pod=\"consumer\",kind=\"" + kind +
         "\",side=\"send\",src_container=\"writer\",src_namespace=\"shop\",src_pod=\"producer\"";
}

// Two pods beside the agent: shop/producer's "writer" puts 10 x 1,000 bytes into a FIFO on a
// shared volume, shop/consumer's "reader" reads them. Each stays until released, so the agent
// can name it. Returns the /metrics page once the flow is there (or the last page).
std::string run_workload_and_scrape(int port) {
  OciRuntime oci({});
  const std::string shared = oci.make_dir("shared");
  EXPECT_EQ(mkfifo((shared + "/fifo").c_str(), 0666), 0);
  const std::vector<OciMount> volume{{shared, "/shared"}};
  const std::string linger =
      "; /bin/busybox touch /shared/$0.done; n=0; while [ ! -e /shared/release ] && "
      "[ $n -lt 600 ]; do sleep 0.1; n=$((n+1)); done";
  const OciPod& producer = oci.start_pod("shop", "producer");
  const OciPod& consumer = oci.start_pod("shop", "consumer");
  OciContainer& reader = oci.run(
      consumer, "reader", {"/bin/sh", "-c", "/bin/busybox cat /shared/fifo >/dev/null" + linger, "reader"}, volume);
  OciContainer& writer = oci.run(
      producer, "writer",
      {"/bin/sh", "-c", "/bin/busybox dd if=/dev/zero of=/shared/fifo bs=1000 count=10 2>/dev/null" + linger, "writer"},
      volume);
  const std::string bytes = flow_labels("fifo");
  std::string page;
  const auto deadline = std::chrono::steady_clock::now() + 40s;
  while (std::chrono::steady_clock::now() < deadline) {
    const bool done = fs::exists(shared + "/reader.done") && fs::exists(shared + "/writer.done");
    if (done) {
      page = http_get("http://127.0.0.1:" + std::to_string(port) + "/metrics").body;
      if (sample(page, "ipctrace_ipc_bytes_total", bytes) >= 10000) {
        std::this_thread::sleep_for(2500ms);  // two more collections: nothing else may arrive
        page = http_get("http://127.0.0.1:" + std::to_string(port) + "/metrics").body;
        break;
      }
    }
    std::this_thread::sleep_for(200ms);
  }
  std::ofstream(shared + "/release").put('\n');
  EXPECT_EQ(oci.wait(writer, 30s), 0) << OciRuntime::log_of(writer);
  EXPECT_EQ(oci.wait(reader, 30s), 0) << OciRuntime::log_of(reader);
  return page;
}

// Waits for /readyz to answer 200 while the agent runs; false (with its output) otherwise.
bool wait_ready(AgentContainer& agent, int port, std::string& why) {
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  while (std::chrono::steady_clock::now() < deadline) {
    if (http_get("http://127.0.0.1:" + std::to_string(port) + "/readyz").status == 200) return true;
    if (agent.runc().wait_for_stderr("\x01never\x01", 200ms)) break;
    if (kill(agent.runc().pid(), 0) != 0) break;
  }
  why = agent.runc().finish(5s).err;
  return false;
}

void expect_named_flow(AgentContainer& agent, int port) {
  std::string why;
  ASSERT_TRUE(wait_ready(agent, port, why)) << "the agent never became ready:\n" << why;
  EXPECT_EQ(http_get("http://127.0.0.1:" + std::to_string(port) + "/healthz").status, 200);
  const std::string page = run_workload_and_scrape(port);
  EXPECT_EQ(sample(page, "ipctrace_ipc_bytes_total", flow_labels("fifo")), 10000) << page;
  EXPECT_EQ(sample(page, "ipctrace_ipc_messages_total", flow_labels("fifo")), 10) << page;
  EXPECT_EQ(sample(page, "ipctrace_records_lost_total", "reason=\"fold_map_full\""), 0) << page;
  EXPECT_THAT(page, HasSubstr("ipctrace_hook_info{")) << page;
  if (::testing::Test::HasFailure()) {
    // What the agent joined, and what it said: the page alone does not tell why a flow is off.
    std::cerr << "the agent's flows:\n"
              << http_get("http://127.0.0.1:" + std::to_string(port) + "/api/v1/flows").body << "\n";
    agent.runc().signal(SIGTERM);
    std::cerr << "the agent's log:\n" << agent.runc().finish(10s).err << "\n";
  }
}

class DeployImage : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    g_image = new Image;
    if (!kernel_test_blocker().empty() || !OciRuntime::blocker().empty()) return;  // each test reports it
    std::string tmpl = (fs::temp_directory_path() / "ipctrace-deploy-XXXXXX").string();
    if (mkdtemp(tmpl.data()) == nullptr) {
      g_image->error = "mkdtemp failed";
      return;
    }
    g_image->dir = tmpl;
    const auto started = std::chrono::steady_clock::now();
    const ProcessResult built = run_process({kRepo + "/tests/deploy/build-image.sh", g_image->dir + "/image"}, 40min);
    if (built.exit_code != 0) {
      g_image->error = "build-image.sh failed" + std::string(built.timed_out ? " (timed out)" : "") + ":\n" + built.err;
      return;
    }
    std::fprintf(stderr, "deploy: image built and unpacked in %.0f s\n%s",
                 std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count(), built.err.c_str());
    const ProcessResult npm = run_process({kRepo + "/tests/deploy/npm-deps.sh", kNpmDir}, 10min);
    if (npm.exit_code != 0) {
      g_image->error = "npm-deps.sh failed:\n" + npm.err;
      return;
    }
    fs::copy_file(kRepo + "/tests/deploy/oci-spec.mjs", kNpmDir + "/oci-spec.mjs",
                  fs::copy_options::overwrite_existing);
    // The rendered manifests (deploy.manifests checks they are what the kustomizations render):
    // Debian 12's kubectl 1.20 cannot render deploy/kubernetes itself.
    for (const std::string variant : {"default", "least-privilege"}) {
      fs::copy_file(fs::path(kRepo) / "deploy/kubernetes/rendered" / (variant + ".yaml"), g_image->manifest(variant),
                    fs::copy_options::overwrite_existing);
    }
  }
  static void TearDownTestSuite() {
    if (!g_image->dir.empty()) {
      std::error_code ec;
      fs::remove_all(g_image->dir, ec);
    }
    delete g_image;
    g_image = nullptr;
  }
  void SetUp() override {
    IPCTRACE_REQUIRE_KERNEL();
    if (const std::string missing = OciRuntime::blocker(); !missing.empty()) {
      if (in_ci()) FAIL() << "deploy test cannot run under CI: " << missing;
      GTEST_SKIP() << "deploy test needs runc and busybox-static: " << missing;
    }
    ASSERT_TRUE(g_image->error.empty()) << g_image->error;
  }
};

TEST_F(DeployImage, HoldsTheAgentAndOnlyRuntimeLibraries) {
  const json config = json::parse(slurp(g_image->config()));
  EXPECT_EQ(config["Entrypoint"], json({"/usr/bin/ipctrace", "agent"}));
  EXPECT_EQ(config["Labels"]["org.opencontainers.image.title"], "ipctrace");
  EXPECT_EQ(config["Labels"]["org.opencontainers.image.version"], "0.1.0");
  EXPECT_TRUE(fs::exists(g_image->rootfs() + "/usr/bin/ipctrace"));
  const std::string packages = "\n" + slurp(g_image->dir + "/image/packages");
  for (const char* tool : {"gcc", "g++", "clang", "cmake", "make", "ninja-build", "bpftool", "libbpf-dev"}) {
    EXPECT_THAT(packages, Not(HasSubstr(std::string("\n") + tool + "\n"))) << tool << " in the final image";
  }
  for (const char* lib : {"libbpf1", "libelf1", "libspdlog1.10", "libmicrohttpd12", "libjemalloc2"}) {
    EXPECT_THAT(packages, HasSubstr(std::string("\n") + lib + "\n")) << lib << " missing";
  }
}

TEST_F(DeployImage, DaemonSetAgentNamesPodFlowsWithExactFigures) {
  const int port = free_loopback_port();
  AgentContainer agent("default", "", port);
  expect_named_flow(agent, port);
}

TEST_F(DeployImage, LeastPrivilegeCapabilitiesSuffice) {
  const int port = free_loopback_port();
  AgentContainer agent("least-privilege", "", port);
  expect_named_flow(agent, port);
}

TEST_F(DeployImage, WithoutAnyOneCapabilityTheAgentNamesIt) {
  for (const char* cap : {"CAP_BPF", "CAP_PERFMON"}) {
    SCOPED_TRACE(cap);
    const int port = free_loopback_port();
    AgentContainer agent("least-privilege", cap, port);
    const ProcessResult r = agent.runc().finish(60s);
    EXPECT_EQ(r.exit_code, 1) << r.err;
    EXPECT_THAT(r.err, HasSubstr(std::string("missing privileges: ") + cap + " ")) << r.err;
  }
}

}  // namespace
