// `ipctrace flows` against real OCI containers run by runc as a Kubernetes node runs them: two
// pods (a sandbox each; alpha's "server" and "client" join its ipc and net namespaces, beta has
// a "peer"), a shared volume between them, and a static workload doing exact IPC of every kind
// (tests/e2e/workload_main.cpp). The JSON report must name both ends of each flow by namespace,
// pod and container, with the exact messages and bytes the workload moved.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "kernel_test.h"
#include "oci.h"
#include "subprocess.h"

using namespace ipctrace::test;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

constexpr const char* kNamespace = "ipct-e2e";
constexpr const char* kPort = "7411";
constexpr const char* kWorkload = "/bin/ipctrace-test-workload";

std::string workload_binary() { return IPCTRACE_TEST_WORKLOAD; }

bool is_endpoint(const json& e, const OciContainer& c) {
  return e.value("namespace", "") == c.pod->k8s_namespace && e.value("pod", "") == c.pod->name &&
         e.value("container", "") == c.name;
}

std::string describe(const OciContainer& c) { return c.pod->k8s_namespace + "/" + c.pod->name + "/" + c.name; }

// One line per flow, for failure messages: kind, both ends (with the process), figures, channels.
std::string summary(const json& report) {
  std::string out;
  const auto end = [](const json& e) {
    return e.value("name", "?") +
           (e.contains("comm") ? std::string("[").append(e["comm"].get<std::string>()).append("]") : "");
  };
  for (const auto& f : report["flows"]) {
    out += f["kind"].get<std::string>() + " " + end(f["src"]) + " -> " + end(f["dst"]) +
           " messages=" + f["messages"].dump() + " bytes=" + f["bytes"].dump() +
           " received_messages=" + f["received_messages"].dump() + " received_bytes=" + f["received_bytes"].dump() +
           " channels=" + f["channels"].dump() + "\n";
  }
  return out;
}

// The one flow of `kind` from `src` to `dst`; nullptr (and a failure) if there is none or several.
const json* find_flow(const json& report, const char* kind, const OciContainer& src, const OciContainer& dst) {
  const json* found = nullptr;
  int n = 0;
  for (const auto& f : report["flows"]) {
    if (f["kind"] == kind && is_endpoint(f["src"], src) && is_endpoint(f["dst"], dst)) {
      found = &f;
      ++n;
    }
  }
  EXPECT_EQ(n, 1) << kind << " flows " << describe(src) << " -> " << describe(dst) << " among\n" << summary(report);
  return n == 1 ? found : nullptr;
}

// Everything the report says about a container endpoint, and the task's namespaces: the pod's.
void expect_endpoint(const json& e, const OciContainer& c, uint64_t ipc_ns, uint64_t net_ns) {
  SCOPED_TRACE(describe(c));
  EXPECT_EQ(e["type"], "cgroup");
  EXPECT_EQ(e["name"], describe(c));
  EXPECT_EQ(e["runtime"], "runc");
  EXPECT_EQ(e["container_id"], c.id);
  EXPECT_EQ(e["cgroup_path"], c.cgroup_path());
  EXPECT_EQ(e["pod_uid"], c.pod->uid);
  EXPECT_EQ(e["sandbox"], false);
  EXPECT_EQ(e["partial"], false);
  ASSERT_TRUE(e.contains("namespaces")) << e.dump(2);
  EXPECT_EQ(e["namespaces"]["ipc"], ipc_ns);
  EXPECT_EQ(e["namespaces"]["net"], net_ns);
}

bool exists(const std::string& path) { return access(path.c_str(), F_OK) == 0; }

}  // namespace

TEST(Containers, PodFlowsAreNamedWithExactFigures) {
  IPCTRACE_REQUIRE_KERNEL();
  if (const std::string missing = OciRuntime::blocker(); !missing.empty()) {
    if (in_ci()) FAIL() << "containers test cannot run under CI: " << missing;
    GTEST_SKIP() << "containers test needs runc and busybox-static: " << missing;
  }
  OciRuntime oci({workload_binary()});
  // The volume both pods mount at /shared. The FIFO is made here, before either side starts:
  // no race over who creates it.
  const std::string shared = oci.make_dir("shared");
  ASSERT_EQ(mkfifo((shared + "/fifo").c_str(), 0666), 0);
  const std::vector<OciMount> volume{{shared, "/shared"}};

  BackgroundProcess trace({ipctrace_binary(), "flows", "--duration", "2m", "--output", "json"});
  ASSERT_TRUE(trace.wait_for_stderr("flows: tracing for", 30s)) << trace.finish(0ms).err;

  const OciPod& alpha = oci.start_pod(kNamespace, "alpha");
  const OciPod& beta = oci.start_pod(kNamespace, "beta");
  OciContainer& server = oci.run(alpha, "server", {kWorkload, "server", kPort}, volume);
  OciContainer& client = oci.run(alpha, "client", {kWorkload, "client", kPort}, volume);
  OciContainer& peer = oci.run(beta, "peer", {kWorkload, "peer"}, volume);
  std::vector<OciContainer*> workloads{&server, &client, &peer};

  // Each role announces it is done and stays until released: ipctrace names endpoints while
  // they exist, once a second. Two collections after the last role is done, all are named.
  const auto deadline = std::chrono::steady_clock::now() + 40s;
  bool all_done = false;
  bool one_ended = false;
  while (!all_done && !one_ended && std::chrono::steady_clock::now() < deadline) {
    all_done = true;
    for (OciContainer* c : workloads) {
      all_done = all_done && exists(shared + "/" + c->name + ".done");
      one_ended = one_ended || !oci.running(*c);
    }
    std::this_thread::sleep_for(20ms);
  }
  if (all_done) std::this_thread::sleep_for(2500ms);
  std::ofstream(shared + "/release").put('\n');
  bool workloads_ok = true;
  for (OciContainer* c : workloads) {
    EXPECT_EQ(oci.wait(*c, 30s), 0) << describe(*c) << (c->timed_out ? " timed out" : "") << "; its log:\n"
                                    << OciRuntime::log_of(*c);
    workloads_ok = workloads_ok && c->exit_code == 0;
  }
  const uint64_t alpha_ipc = ns_inode(alpha.sandbox_pid, "ipc");
  const uint64_t alpha_net = ns_inode(alpha.sandbox_pid, "net");
  const uint64_t beta_ipc = ns_inode(beta.sandbox_pid, "ipc");
  const uint64_t beta_net = ns_inode(beta.sandbox_pid, "net");
  ASSERT_NE(alpha_ipc, 0U);
  ASSERT_NE(beta_ipc, 0U);
  EXPECT_NE(alpha_ipc, beta_ipc);
  EXPECT_NE(alpha_net, beta_net);

  trace.signal(SIGINT);
  const ProcessResult r = trace.finish(30s);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ASSERT_TRUE(workloads_ok) << "a workload failed: its flows would not be exact";
  const json report = json::parse(r.out);
  for (const auto& [reason, n] : report["lost"].items()) EXPECT_EQ(n, 0) << "lost: " << reason;

  struct Expected {
    const char* kind;
    const OciContainer& src;
    const OciContainer& dst;
    uint64_t messages;
    uint64_t bytes;
  };
  // Received messages are exact where every read takes one message; a stream reader's reads
  // (tcp, unix, pipe, fifo) depend on timing, their bytes do not.
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
    const json* f = find_flow(report, e.kind, e.src, e.dst);
    if (f == nullptr) continue;
    EXPECT_EQ((*f)["messages"], e.messages);
    EXPECT_EQ((*f)["bytes"], e.bytes);
    EXPECT_EQ((*f)["received_bytes"], e.bytes);
    const std::string kind = e.kind;
    if (kind == "sysv_msg" || kind == "posix_mq") {
      EXPECT_EQ((*f)["received_messages"], e.messages);
    }
    EXPECT_TRUE((*f)["shm"].is_null());
    for (const char* end : {"src", "dst"}) {
      const OciContainer& c = std::string(end) == "src" ? e.src : e.dst;
      const bool in_alpha = c.pod == &alpha;
      expect_endpoint((*f)[end], c, in_alpha ? alpha_ipc : beta_ipc, in_alpha ? alpha_net : beta_net);
    }
  }

  // Shared memory has no data flow: the segment's creator is joined to each process that
  // attached it, messages = attach calls, with the segment's size; detached by the end.
  const json* shm = find_flow(report, "sysv_shm", server, client);
  if (shm != nullptr) {
    EXPECT_EQ((*shm)["messages"], 1);
    EXPECT_EQ((*shm)["received_messages"], 1);
    EXPECT_EQ((*shm)["bytes"], 0);
    ASSERT_FALSE((*shm)["shm"].is_null()) << shm->dump(2);
    EXPECT_EQ((*shm)["shm"]["size_bytes"], 65536);
    EXPECT_EQ((*shm)["shm"]["attached"], 0);
    expect_endpoint((*shm)["src"], server, alpha_ipc, alpha_net);
    expect_endpoint((*shm)["dst"], client, alpha_ipc, alpha_net);
  }
  // Between the workloads there is nothing else: no other kind, no other direction. runc's own
  // setup is not the workload's: before it executes the workload, runc init's stages talk over
  // socketpairs inside the container's cgroup ("runc:[0:PARENT]" -> "runc:[1:CHILD]").
  const auto which = [&](const json& e) -> const OciContainer* {
    for (const OciContainer* c : workloads) {
      if (is_endpoint(e, *c)) return c;
    }
    return nullptr;
  };
  for (const auto& f : report["flows"]) {
    const OciContainer* src = which(f["src"]);
    const OciContainer* dst = which(f["dst"]);
    if (src == nullptr || dst == nullptr) continue;
    if (f["src"].value("comm", "").starts_with("runc:") || f["dst"].value("comm", "").starts_with("runc:")) continue;
    bool known = f["kind"] == "sysv_shm" && src == &server && dst == &client;
    for (const Expected& e : expected) known = known || (f["kind"] == e.kind && src == &e.src && dst == &e.dst);
    EXPECT_TRUE(known) << "unexpected flow between the workloads:\n" << f.dump(2);
  }
}

// A container that lives 300 ms, shorter than a collection: its cgroup and runc's state are gone
// (runc run deletes both when the container exits) before the next collection names the flows.
// ipctrace learns of the cgroup when it is made (cgroup:cgroup_mkdir) and names it then: the
// report names it as every other container, with the exact figures.
TEST(Containers, AContainerThatLives300msIsNamed) {
  IPCTRACE_REQUIRE_KERNEL();
  if (const std::string missing = OciRuntime::blocker(); !missing.empty()) {
    if (in_ci()) FAIL() << "containers test cannot run under CI: " << missing;
    GTEST_SKIP() << "containers test needs runc and busybox-static: " << missing;
  }
  OciRuntime oci({workload_binary()});
  const std::string shared = oci.make_dir("shared");
  const std::string fifo = shared + "/fifo";
  ASSERT_EQ(mkfifo(fifo.c_str(), 0666), 0);
  const std::vector<OciMount> volume{{shared, "/shared"}};

  BackgroundProcess trace({ipctrace_binary(), "flows", "--duration", "2m", "--output", "json"});
  ASSERT_TRUE(trace.wait_for_stderr("flows: tracing for", 30s)) << trace.finish(0ms).err;
  const OciPod& pod = oci.start_pod(kNamespace, "brief");
  // The reader is a container of the pod too: runc's own one-byte write into its exec FIFO goes
  // from the container's cgroup to runc's (this process's), and must not join the flow.
  OciContainer& reader = oci.run(
      pod, "reader",
      {"/bin/busybox", "sh", "-c", "/bin/busybox cat /shared/fifo > /shared/got && /bin/busybox sleep 0.3"}, volume);
  OciContainer& brief = oci.run(pod, "brief", {kWorkload, "brief", "300"}, volume);
  EXPECT_EQ(oci.wait(brief, 30s), 0) << OciRuntime::log_of(brief);
  EXPECT_EQ(oci.wait(reader, 30s), 0) << OciRuntime::log_of(reader);
  struct stat got {};
  ASSERT_EQ(stat((shared + "/got").c_str(), &got), 0);
  EXPECT_EQ(got.st_size, 10000);
  std::this_thread::sleep_for(2500ms);  // two collections after the container went
  trace.signal(SIGINT);
  const ProcessResult r = trace.finish(30s);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const json report = json::parse(r.out);
  std::vector<const json*> flows;
  for (const auto& f : report["flows"]) {
    if (f["kind"] == "fifo" && f["src"].value("container_id", "") == brief.id &&
        f["dst"].value("container_id", "") == reader.id) {
      flows.push_back(&f);
    }
  }
  ASSERT_EQ(flows.size(), 1U) << summary(report);
  const json& f = *flows[0];
  EXPECT_EQ(f["messages"], 10);
  EXPECT_EQ(f["bytes"], 10000);
  EXPECT_EQ(f["src"]["name"], describe(brief));
  EXPECT_EQ(f["src"]["namespace"], kNamespace);
  EXPECT_EQ(f["src"]["pod"], "brief");
  EXPECT_EQ(f["src"]["container"], "brief");
  EXPECT_EQ(f["src"]["pod_uid"], pod.uid);
  EXPECT_EQ(f["src"]["cgroup_path"], brief.cgroup_path());
  EXPECT_EQ(f["src"]["partial"], false);
  EXPECT_EQ(f["dst"]["name"], describe(reader));
  // Named at once: no warning about it on stderr.
  EXPECT_EQ(r.err.find(brief.id.substr(0, 12)), std::string::npos) << r.err;
}
