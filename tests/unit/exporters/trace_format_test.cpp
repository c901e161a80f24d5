// `ipctrace trace` lines: text and JSON, from hand-made kernel records.
#include "exporters/trace_format.h"

#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstring>

using ::testing::HasSubstr;

namespace ipctrace {
namespace {

Endpoint pod_endpoint() {
  Endpoint e;
  e.cgroup_id = 4242;
  e.runtime = "containerd";
  e.k8s_namespace = "shop";
  e.pod = "cart";
  e.container = "sidecar";
  e.cgroup.container_id = "3f1c2a9b0d4e5f60";
  return e;
}

ipct_data_event pipe_send() {
  ipct_data_event e{};
  e.ts_ns = 5'000'000'123;
  e.cgroup_id = 4242;
  e.tgid = 77;
  e.tid = 78;
  e.ns.ipc = 4026531839;
  e.kind = IPCT_KIND_PIPE;
  e.dir = IPCT_DIR_SEND;
  e.msgs = 1;
  e.bytes = 1000;
  e.ch.obj.id = 12345;
  e.ch.obj.dev = (0U << 20U) | 13U;
  std::strcpy(e.comm, "writer");
  return e;
}

// Boot clock 5 s is 2026-11-23T10:00:05Z.
constexpr int64_t kOffset = 1795428000LL * 1000000000LL;

TEST(TraceFormat, DataOperationAsJson) {
  const TraceRecord r = trace_record(pipe_send());
  const nlohmann::json j = trace_json(r, pod_endpoint(), kOffset);
  EXPECT_EQ(j["time"], "2026-11-23T10:00:05.000000123Z");
  EXPECT_EQ(j["type"], "data");
  EXPECT_EQ(j["kind"], "pipe");
  EXPECT_EQ(j["op"], "send");
  EXPECT_EQ(j["pid"], 77);
  EXPECT_EQ(j["tid"], 78);
  EXPECT_EQ(j["comm"], "writer");
  EXPECT_EQ(j["bytes"], 1000);
  EXPECT_EQ(j["messages"], 1);
  EXPECT_EQ(j["channel"], (nlohmann::json{{"inode", 12345}, {"dev", "0:13"}}));
  EXPECT_EQ(j["endpoint"]["name"], "shop/cart/sidecar");
  EXPECT_EQ(j["endpoint"]["cgroup_id"], 4242);
  EXPECT_EQ(j["ns"]["ipc"], 4026531839U);
}

TEST(TraceFormat, TcpAndSignalChannels) {
  ipct_data_event e = pipe_send();
  e.kind = IPCT_KIND_TCP;
  e.dir = IPCT_DIR_RECV;
  std::memset(&e.ch, 0, sizeof(e.ch));
  e.ch.inet.family = AF_INET;
  e.ch.inet.lport = 8080;
  e.ch.inet.rport = 51000;
  const uint8_t local[4] = {10, 0, 0, 1};
  const uint8_t remote[4] = {10, 0, 0, 2};
  std::memcpy(e.ch.inet.laddr, local, 4);
  std::memcpy(e.ch.inet.raddr, remote, 4);
  const TraceRecord tcp = trace_record(e);
  EXPECT_EQ(trace_op_name(tcp), "receive");
  const std::string line = trace_text_line(tcp, pod_endpoint(), kOffset);
  EXPECT_THAT(line, HasSubstr("1000 B  10.0.0.1:8080 -> 10.0.0.2:51000\n")) << line;

  e = pipe_send();
  e.kind = IPCT_KIND_SIGNAL;
  e.bytes = 0;
  e.ch.obj.id = 999;
  e.ch.obj.peer = 1234;
  e.ch.obj.dev = 15;
  std::strcpy(e.ch.obj.comm, "nginx");
  const TraceRecord sig = trace_record(e);
  EXPECT_EQ(trace_op_name(sig), "signal");
  const std::string sline = trace_text_line(sig, pod_endpoint(), kOffset);
  EXPECT_THAT(sline, HasSubstr("signal 15 to pid 1234 nginx (cgroup 999)\n")) << sline;
  EXPECT_EQ(trace_json(sig, pod_endpoint(), kOffset)["channel"]["target_comm"], "nginx");
}

TEST(TraceFormat, LifecycleEvents) {
  ipct_event e{};
  e.ts_ns = 5'000'000'000;
  e.cgroup_id = 4242;
  e.tgid = 9;
  e.kind = IPCT_KIND_SYSV_SHM;
  e.op = IPCT_OP_CREATE;
  e.ret = 32768;
  e.id = 32768;
  e.aux = 0x1234;
  e.aux2 = 65536;
  e.dev = 4026531839;
  std::strcpy(e.comm, "server");
  const TraceRecord r = trace_record(e);
  EXPECT_EQ(trace_op_name(r), "create");
  const nlohmann::json j = trace_json(r, pod_endpoint(), kOffset);
  EXPECT_EQ(j["type"], "lifecycle");
  EXPECT_EQ(j["id"], 32768);
  EXPECT_EQ(j["key"], 0x1234);
  EXPECT_EQ(j["size"], 65536);
  const std::string line = trace_text_line(r, pod_endpoint(), kOffset);
  EXPECT_THAT(line, HasSubstr("sysv_shm      create  shmid 32768 key 0x1234 size 65536 ipcns 4026531839\n")) << line;
  TraceRecord lookup = r;  // shmget of the existing key
  lookup.lookup = true;
  EXPECT_EQ(trace_op_name(lookup), "lookup");
  EXPECT_EQ(trace_json(lookup, pod_endpoint(), kOffset)["op"], "lookup");

  ipct_event mq{};
  mq.kind = IPCT_KIND_POSIX_MQ;
  mq.op = IPCT_OP_OPEN;
  mq.ret = 3;
  mq.id = 555;
  std::strcpy(mq.name, "/orders");
  const std::string mline = trace_text_line(trace_record(mq), pod_endpoint(), kOffset);
  EXPECT_THAT(mline, HasSubstr("open    /orders inode 555 fd 3\n")) << mline;
}

}  // namespace
}  // namespace ipctrace
