// `ipctrace trace` against real workloads: the exact events of a pipe between two test cgroups,
// filtered by container in the kernel and in userspace; a buffer too small, which drops and says
// how many.
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "kernel_test.h"
#include "subprocess.h"
#include "workload.h"

using ::testing::HasSubstr;

using namespace ipctrace::test;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

std::vector<json> json_lines(const std::string& out) {
  std::vector<json> lines;
  std::istringstream in(out);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) lines.push_back(json::parse(line));
  }
  return lines;
}

}  // namespace

TEST(TraceCommand, StreamsTheExactDataOperationsOfOneContainer) {
  IPCTRACE_REQUIRE_KERNEL();
  TestCgroup writer_cg("trace-w");
  TestCgroup reader_cg("trace-r");
  BackgroundProcess trace(
      {ipctrace_binary(), "trace", "--data", "-o", "json", "--kind", "pipe", "--container", writer_cg.label()});
  ASSERT_TRUE(trace.wait_for_stderr("trace: streaming", 30s)) << trace.finish(0ms).err;
  ASSERT_TRUE(pipe_between(writer_cg, reader_cg, 10, 1000));
  std::this_thread::sleep_for(500ms);  // drained every 50 ms
  trace.signal(SIGINT);
  const ProcessResult r = trace.finish(10s);
  ASSERT_EQ(r.exit_code, 0) << r.err;

  int sends = 0;
  for (const json& e : json_lines(r.out)) {
    // Only the writer's container passes the filter, and only pipes.
    EXPECT_EQ(e["endpoint"]["container"], writer_cg.label()) << e.dump();
    EXPECT_EQ(e["kind"], "pipe") << e.dump();
    if (e["type"] == "data") {
      EXPECT_EQ(e["op"], "send");
      EXPECT_EQ(e["bytes"], 1000);
      EXPECT_EQ(e["messages"], 1);
      EXPECT_EQ(e["endpoint"]["cgroup_id"], writer_cg.id());
      EXPECT_TRUE(e["time"].get<std::string>().ends_with("Z"));
      ++sends;
    }
  }
  EXPECT_EQ(sends, 10) << r.out;
  EXPECT_THAT(r.err, HasSubstr("0 data operations and 0 lifecycle events dropped")) << r.err;
}

// A FIFO's data operations carry its path, found through the process of each record (which
// stays until the stream has been drained).
TEST(TraceCommand, DataOperationsOnAFifoShowItsPath) {
  IPCTRACE_REQUIRE_KERNEL();
  TestCgroup cg("trace-fifo");
  const TempDir tmp("/var/tmp");  // a disk's device number (not tmpfs's)
  const std::string fifo = tmp.path() + "/jobs.fifo";
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  int release[2];
  ASSERT_EQ(pipe2(release, O_CLOEXEC), 0);
  BackgroundProcess trace(
      {ipctrace_binary(), "trace", "--data", "-o", "json", "--kind", "fifo", "--container", cg.label()});
  ASSERT_TRUE(trace.wait_for_stderr("trace: streaming", 30s)) << trace.finish(0ms).err;
  const pid_t worker = spawn(&cg, [&] {
    const int fd = open(fifo.c_str(), O_RDWR | O_CLOEXEC);  // both ends, no peer needed
    char buf[100] = {};
    for (int i = 0; i < 3; ++i) {
      if (write(fd, buf, sizeof(buf)) != 100 || read(fd, buf, sizeof(buf)) != 100) return 1;
    }
    close(release[1]);  // the test's copy closed is the release
    char c;
    return read(release[0], &c, 1) >= 0 ? 0 : 2;
  });
  std::this_thread::sleep_for(500ms);  // drained every 50 ms
  trace.signal(SIGINT);
  const ProcessResult r = trace.finish(10s);
  close(release[1]);
  EXPECT_EQ(wait_exit(worker), 0);
  close(release[0]);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  int sends = 0;
  int receives = 0;
  for (const json& e : json_lines(r.out)) {
    if (e["type"] != "data") continue;
    EXPECT_EQ(e["kind"], "fifo") << e.dump();
    EXPECT_EQ(e["bytes"], 100) << e.dump();
    EXPECT_EQ(e["channel"]["path"], fifo) << e.dump();
    (e["op"] == "send" ? sends : receives) += 1;
  }
  EXPECT_EQ(sends, 3) << r.out;
  EXPECT_EQ(receives, 3) << r.out;
}

// shmget and msgget of a key that exists (made before the trace started, or during it) are
// "lookup", not "create"; msgget(IPC_PRIVATE) and a new segment are "create".
TEST(TraceCommand, AGetOfAnExistingKeyIsALookup) {
  IPCTRACE_REQUIRE_KERNEL();
  TestCgroup cg("trace-get");
  const key_t qkey = static_cast<key_t>(0x1e000000 | ((getpid() & 0xfffff) << 4));
  const key_t skey = qkey | 1;
  struct Objects {
    int queue = -1, made = -1, seg = -1;
    Objects() = default;
    Objects(const Objects&) = delete;
    Objects& operator=(const Objects&) = delete;
    ~Objects() {
      for (int q : {queue, made}) {
        if (q >= 0) msgctl(q, IPC_RMID, nullptr);
      }
      if (seg >= 0) shmctl(seg, IPC_RMID, nullptr);
    }
  } objects;
  objects.queue = msgget(qkey, IPC_CREAT | IPC_EXCL | 0600);
  ASSERT_GE(objects.queue, 0);
  BackgroundProcess trace({ipctrace_binary(), "trace", "-o", "json", "--container", cg.label()});
  ASSERT_TRUE(trace.wait_for_stderr("trace: streaming", 30s)) << trace.finish(0ms).err;
  Shared<int> made;
  Shared<int> seg;
  ASSERT_EQ(run_in(&cg,
                   [&] {
                     if (msgget(qkey, 0) < 0) return 1;                       // lookup: made before
                     *made = msgget(IPC_PRIVATE, IPC_CREAT | 0600);           // create
                     *seg = shmget(skey, 4096, IPC_CREAT | IPC_EXCL | 0600);  // create
                     if (*made < 0 || *seg < 0) return 2;
                     return shmget(skey, 0, 0) == *seg ? 0 : 3;  // lookup: made just now
                   }),
            0);
  objects.made = *made;
  objects.seg = *seg;
  std::this_thread::sleep_for(500ms);  // drained every 50 ms
  trace.signal(SIGINT);
  const ProcessResult r = trace.finish(10s);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::vector<std::string> ops;
  for (const json& e : json_lines(r.out)) {
    if (e["type"] == "lifecycle") ops.push_back(e["kind"].get<std::string>() + " " + e["op"].get<std::string>());
  }
  EXPECT_EQ(ops, (std::vector<std::string>{"sysv_msg lookup", "sysv_msg create", "sysv_shm create", "sysv_shm lookup"}))
      << r.out;
}

TEST(TraceCommand, TextLinesNameTheEndpointAndTheChannel) {
  IPCTRACE_REQUIRE_KERNEL();
  TestCgroup writer_cg("trace-tw");
  TestCgroup reader_cg("trace-tr");
  BackgroundProcess trace({ipctrace_binary(), "trace", "--data", "--kind", "pipe", "--container", reader_cg.label()});
  ASSERT_TRUE(trace.wait_for_stderr("trace: streaming", 30s)) << trace.finish(0ms).err;
  ASSERT_TRUE(pipe_between(writer_cg, reader_cg, 3, 700));
  std::this_thread::sleep_for(500ms);
  trace.signal(SIGTERM);
  const ProcessResult r = trace.finish(10s);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::istringstream in(r.out);
  std::string header;
  std::getline(in, header);
  EXPECT_TRUE(header.starts_with("TIME")) << header;
  uint64_t bytes = 0;
  for (std::string line; std::getline(in, line);) {
    std::istringstream words(line);
    std::vector<std::string> w;
    for (std::string x; words >> x;) w.push_back(x);
    ASSERT_GE(w.size(), 8U) << line;
    EXPECT_EQ(w[3], "cgroup:" + reader_cg.label()) << line;
    EXPECT_EQ(w[4], "pipe") << line;
    EXPECT_EQ(w[5], "receive") << line;
    EXPECT_EQ(w[7], "B") << line;
    EXPECT_THAT(line, HasSubstr(" inode ")) << line;
    bytes += std::stoull(w[6]);
  }
  EXPECT_EQ(bytes, 2100U) << r.out;
}

TEST(TraceCommand, AFullBufferDropsAndSaysHowMany) {
  IPCTRACE_REQUIRE_KERNEL();
  TestCgroup writer_cg("trace-dw");
  TestCgroup reader_cg("trace-dr");
  // One page holds about 25 records; 20,000 writes arrive far faster than a 50 ms drain.
  BackgroundProcess trace({ipctrace_binary(), "trace", "--data", "-o", "json", "--kind", "pipe", "--buffer-size", "4K",
                           "--container", writer_cg.label()});
  ASSERT_TRUE(trace.wait_for_stderr("trace: streaming", 30s)) << trace.finish(0ms).err;
  ASSERT_TRUE(pipe_between(writer_cg, reader_cg, 20000, 1));
  std::this_thread::sleep_for(500ms);
  trace.signal(SIGINT);
  const ProcessResult r = trace.finish(10s);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  uint64_t shown = 0;
  uint64_t dropped = 0;
  for (const json& e : json_lines(r.out)) {
    if (e["type"] == "dropped") {
      EXPECT_EQ(e["reason"], "trace_buffer_full");
      dropped += e["count"].get<uint64_t>();
    } else if (e["type"] == "data" && e["op"] == "send") {
      ++shown;
    }
  }
  EXPECT_GT(dropped, 0U);
  EXPECT_LT(shown, 20000U);
  // The kernel drops before the container filter, so the reader's receives can be among the
  // dropped; every one of the writer's sends is either shown or counted.
  EXPECT_GE(shown + dropped, 20000U) << shown << " shown, " << dropped << " dropped";
  EXPECT_THAT(r.err, HasSubstr(std::to_string(dropped) + " data operations")) << r.err;
}

TEST(TraceCommand, WithoutPrivilegesItSaysWhatIsMissing) {
  IPCTRACE_REQUIRE_KERNEL();
  const ProcessResult r =
      run_process({"/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all",
                   "--bounding-set=-all", ipctrace_binary(), "trace", "--duration", "1s"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("trace: cannot trace here: missing privileges: CAP_BPF, CAP_PERFMON")) << r.err;
}
