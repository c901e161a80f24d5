// SysV objects reconciled against the kernel (model/sysv.h, model/shm.h, model/msgq.h), on every
// hook setup: the events a real tracer records, the inventory the real /proc gives (setns reader,
// maps of real processes), exact figures. Every IPC object, process and cgroup is cleaned up, on
// failure too (guards below; the cgroups' destructors run after the processes are reaped).
#include <gtest/gtest.h>
#include <sched.h>
#include <signal.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/shm.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "kernel/kinds.h"
#include "model/msgq.h"
#include "model/shm.h"
#include "model/sysv.h"
#include "tracer_fixture.h"
#include "workload.h"

using namespace ipctrace;
using namespace ipctrace::test;

namespace {

// Children killed and reaped whatever happens (declared after the cgroups they are in).
struct Children {
  std::vector<pid_t> pids;
  ~Children() {
    for (pid_t p : pids) kill(p, SIGKILL);
    for (pid_t p : pids) waitpid(p, nullptr, 0);
  }
  Children() = default;
  Children(const Children&) = delete;
  Children& operator=(const Children&) = delete;
};

// Processes that are not our children (a child's child): killed, and waited for by polling.
struct Strangers {
  std::vector<pid_t> pids;
  ~Strangers() {
    for (pid_t p : pids) {
      if (p <= 0) continue;
      kill(p, SIGKILL);
      for (int i = 0; i < 2000 && kill(p, 0) == 0; ++i) usleep(1000);
    }
  }
  Strangers() = default;
  Strangers(const Strangers&) = delete;
  Strangers& operator=(const Strangers&) = delete;
};

struct IpcGuard {
  int shmid = -1;
  int msqid = -1;
  ~IpcGuard() {
    if (shmid >= 0) shmctl(shmid, IPC_RMID, nullptr);
    if (msqid >= 0) msgctl(msqid, IPC_RMID, nullptr);
  }
  IpcGuard() = default;
  IpcGuard(const IpcGuard&) = delete;
  IpcGuard& operator=(const IpcGuard&) = delete;
};

bool wait_for(const std::function<bool()>& cond, std::chrono::milliseconds limit = std::chrono::seconds(20)) {
  const auto end = std::chrono::steady_clock::now() + limit;
  while (!cond()) {
    if (std::chrono::steady_clock::now() > end) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

void wait_step(Shared<std::atomic<int>>& step, int at_least) {
  while (step->load() < at_least) usleep(1000);
}

uint64_t nattch(int shmid) {
  shmid_ds ds{};
  return shmctl(shmid, IPC_STAT, &ds) == 0 ? ds.shm_nattch : ~uint64_t{0};
}

// A key of this test run's own: no other object has it.
key_t unique_key(int salt) { return static_cast<key_t>(0x1c000000 | ((getpid() & 0xfffff) << 4) | salt); }

class Agent {
 public:
  Agent() {
    SysvReader::Options o;
    auto dev = learn_shm_dev();
    EXPECT_TRUE(dev.ok()) << dev.error().message();
    if (dev) o.shm_dev = *dev;
    reader_ = std::make_unique<SysvReader>(o);
  }
  // One reconciliation, as the collector does it (maps walked).
  SysvSnapshot reconcile() {
    SysvSnapshot snap = reader_->read();
    reader_->walk_maps(snap);
    EXPECT_TRUE(snap.maps_walked);
    EXPECT_EQ(snap.bad_lines, 0U);
    shm.reconcile(snap);
    msgq.reconcile(snap);
    return snap;
  }
  ShmTracker shm;
  MsgQueueTracker msgq;

 private:
  std::unique_ptr<SysvReader> reader_;
};

std::vector<ChannelFlow> flows_of(const ShmTracker& shm, int shmid) {
  std::vector<ChannelFlow> out;
  const std::string prefix =
      "sysv_shm:shmid=" + std::to_string(shmid) + ",ipcns=" + std::to_string(self_ns("ipc")) + ",";
  for (ChannelFlow& f : shm.flows()) {
    if (f.channel.rfind(prefix, 0) == 0) out.push_back(std::move(f));
  }
  return out;
}

}  // namespace

// A segment of 65536 bytes created by a process of cgroup A before the agent starts, looked up by
// its key and attached by a process of cgroup B: owner A, attacher B, size 65536, one attachment;
// B's shmget is a lookup.
TEST_P(TracerTest, ASharedMemorySegmentMadeBeforeTheAgentIsOwnedByItsCreator) {
  TestCgroup a("shmpre-a");
  TestCgroup b("shmpre-b");
  IpcGuard ipc;
  Children kids;
  Shared<std::atomic<int>> step;
  Shared<int> shmid;
  const key_t key = unique_key(1);
  kids.pids.push_back(spawn(&a, [&] {
    *shmid = shmget(key, 65536, IPC_CREAT | IPC_EXCL | 0600);
    if (*shmid < 0) return 1;
    step->store(1);
    wait_step(step, 3);
    return 0;
  }));
  ASSERT_TRUE(wait_for([&] { return step->load() >= 1; }));
  ipc.shmid = *shmid;
  // The agent starts now: what the tracer recorded before is not its to know.
  ASSERT_TRUE(tracer_->drain_events([](const ipct_event&) {}).ok());
  Agent agent;
  agent.reconcile();

  kids.pids.push_back(spawn(&b, [&] {
    const int id = shmget(key, 0, 0);
    if (id != *shmid) return 1;
    if (shmat(id, nullptr, 0) == reinterpret_cast<void*>(-1)) return 2;  // NOLINT(performance-no-int-to-ptr)
    step->store(2);
    wait_step(step, 3);
    return 0;
  }));
  ASSERT_TRUE(wait_for([&] { return step->load() >= 2; }));
  int lookups = 0;
  int creates = 0;
  ASSERT_TRUE(tracer_
                  ->drain_events([&](const ipct_event& e) {
                    const ShmTracker::Seen s = agent.shm.on_event(e);
                    if (e.cgroup_id != b.id()) return;
                    lookups += s == ShmTracker::Seen::LookedUp ? 1 : 0;
                    creates += s == ShmTracker::Seen::Created ? 1 : 0;
                  })
                  .ok());
  agent.reconcile();
  EXPECT_EQ(lookups, 1);
  EXPECT_EQ(creates, 0);
  EXPECT_EQ(nattch(*shmid), 1U);
  const auto flows = flows_of(agent.shm, *shmid);
  ASSERT_EQ(flows.size(), 1U);
  EXPECT_EQ(flows[0].src, EndpointRef::cgroup(a.id()));
  EXPECT_EQ(flows[0].dst, EndpointRef::cgroup(b.id()));
  EXPECT_EQ(flows[0].shm_size, 65536U);
  EXPECT_EQ(flows[0].shm_attached, 1U);
  EXPECT_EQ(flows[0].msgs, 1U);  // one shmat
  EXPECT_EQ(flows[0].src_task.tgid, static_cast<uint32_t>(kids.pids[0]));
  EXPECT_FALSE(flows[0].src_task.exited);

  step->store(3);
  for (pid_t p : kids.pids) EXPECT_EQ(wait_exit(p), 0);
  kids.pids.clear();
  // The attacher exited (the kernel detached it): nothing attached, the owner still A.
  agent.shm.detach_gone([](uint32_t tgid) { return kill(static_cast<pid_t>(tgid), 0) == 0; });
  agent.reconcile();
  const auto after = flows_of(agent.shm, *shmid);
  ASSERT_EQ(after.size(), 1U);
  EXPECT_EQ(after[0].shm_attached, 0U);
  EXPECT_TRUE(after[0].src_task.exited);
  EXPECT_EQ(after[0].src, EndpointRef::cgroup(a.id()));  // its cgroup, still known
}

// shmat once, then fork: the kernel counts 2 attachments, and so does the agent (no event says
// so: the maps do). The child execs: 1; the parent execs: 0.
TEST_P(TracerTest, ShmatThenForkIsTwoAttachmentsAndExecDropsThem) {
  TestCgroup b("shmfork");
  IpcGuard ipc;
  Children kids;
  Strangers grandchildren;
  Shared<std::atomic<int>> step;
  Shared<int> shmid;
  Shared<pid_t> child;
  ASSERT_TRUE(tracer_->drain_events([](const ipct_event&) {}).ok());
  Agent agent;
  agent.reconcile();
  kids.pids.push_back(spawn(&b, [&] {
    *shmid = shmget(IPC_PRIVATE, 65536, IPC_CREAT | 0600);
    if (*shmid < 0) return 1;
    if (shmat(*shmid, nullptr, 0) == reinterpret_cast<void*>(-1)) return 2;  // NOLINT(performance-no-int-to-ptr)
    const pid_t c = fork();
    if (c < 0) return 3;
    if (c == 0) {
      wait_step(step, 2);
      execl("/bin/sleep", "sleep", "60", nullptr);
      _exit(127);
    }
    *child = c;
    step->store(1);
    wait_step(step, 3);
    execl("/bin/sleep", "sleep", "60", nullptr);
    return 127;
  }));
  ASSERT_TRUE(wait_for([&] { return step->load() >= 1; }));
  ipc.shmid = *shmid;
  grandchildren.pids.push_back(*child);
  ASSERT_TRUE(tracer_->drain_events([&](const ipct_event& e) { agent.shm.on_event(e); }).ok());
  EXPECT_EQ(nattch(*shmid), 2U);
  SysvSnapshot snap = agent.reconcile();
  auto flows = flows_of(agent.shm, *shmid);
  ASSERT_EQ(flows.size(), 1U);
  EXPECT_EQ(flows[0].src, EndpointRef::cgroup(b.id()));
  EXPECT_EQ(flows[0].dst, EndpointRef::cgroup(b.id()));
  EXPECT_EQ(flows[0].shm_size, 65536U);
  EXPECT_EQ(flows[0].msgs, 1U);  // one shmat call
  EXPECT_EQ(flows[0].shm_attached, 2U);

  step->store(2);  // the child execs
  ASSERT_TRUE(wait_for([&] { return nattch(*shmid) == 1; }));
  agent.reconcile();
  flows = flows_of(agent.shm, *shmid);
  ASSERT_EQ(flows.size(), 1U);
  EXPECT_EQ(flows[0].shm_attached, 1U);

  step->store(3);  // the parent execs
  ASSERT_TRUE(wait_for([&] { return nattch(*shmid) == 0; }));
  ASSERT_TRUE(tracer_->drain_events([&](const ipct_event& e) { agent.shm.on_event(e); }).ok());
  agent.reconcile();
  flows = flows_of(agent.shm, *shmid);
  ASSERT_EQ(flows.size(), 1U);
  EXPECT_EQ(flows[0].shm_attached, 0U);
  EXPECT_EQ(kill(kids.pids[0], 0), 0);  // alive, exec'd: the kernel detached it, not an exit

  // Removed with no event seen (the records lost): the kernel no longer lists it, it is forgotten.
  ASSERT_EQ(shmctl(*shmid, IPC_RMID, nullptr), 0);
  ipc.shmid = -1;
  ASSERT_TRUE(tracer_->drain_events([](const ipct_event&) {}).ok());
  agent.reconcile();
  agent.shm.forget_removed();
  EXPECT_TRUE(flows_of(agent.shm, *shmid).empty());
}

// msgget of an existing key is a lookup, whether the queue was made before the agent or after;
// msgget(IPC_PRIVATE) makes one.
TEST_P(TracerTest, AMsggetOfAnExistingKeyIsALookup) {
  TestCgroup a("msgget");
  IpcGuard before;
  IpcGuard after;
  const key_t key = unique_key(2);
  before.msqid = msgget(key, IPC_CREAT | IPC_EXCL | 0600);
  ASSERT_GE(before.msqid, 0);
  ASSERT_TRUE(tracer_->drain_events([](const ipct_event&) {}).ok());
  Agent agent;
  agent.reconcile();
  const uint64_t gen_before = agent.msgq.generation(self_ns("ipc"), static_cast<uint64_t>(before.msqid));
  EXPECT_NE(gen_before, 0U);

  Shared<int> made;
  ASSERT_EQ(run_in(&a,
                   [&] {
                     if (msgget(key, 0) < 0) return 1;                 // lookup
                     if (msgget(key, IPC_CREAT | 0600) < 0) return 2;  // lookup too: it exists
                     *made = msgget(IPC_PRIVATE, IPC_CREAT | 0600);    // create
                     return *made >= 0 ? 0 : 3;
                   }),
            0);
  after.msqid = *made;
  std::vector<std::string> ops;
  ASSERT_TRUE(tracer_
                  ->drain_events([&](const ipct_event& e) {
                    const ShmTracker::Seen s = agent.msgq.on_event(e);
                    if (e.cgroup_id != a.id() || e.kind != IPCT_KIND_SYSV_MSG) return;
                    ops.emplace_back(s == ShmTracker::Seen::LookedUp  ? "lookup"
                                     : s == ShmTracker::Seen::Created ? "create"
                                                                      : "other");
                  })
                  .ok());
  EXPECT_EQ(ops, (std::vector<std::string>{"lookup", "lookup", "create"}));
  const uint64_t gen_made = agent.msgq.generation(self_ns("ipc"), static_cast<uint64_t>(*made));
  EXPECT_NE(gen_made, 0U);
  EXPECT_NE(gen_made, gen_before);

  // Removed behind the agent's back: forgotten at the next reconciliation.
  ASSERT_EQ(msgctl(after.msqid, IPC_RMID, nullptr), 0);
  after.msqid = -1;
  agent.reconcile();
  const auto forgotten = agent.msgq.take_forgotten();
  ASSERT_EQ(forgotten.size(), 1U);
  EXPECT_EQ(forgotten[0].second, static_cast<uint64_t>(*made));
  EXPECT_EQ(agent.msgq.generation(self_ns("ipc"), static_cast<uint64_t>(*made)), 0U);
}

// A burst of lifecycle records far past what the kernel's ring buffer holds (about 1,365 of 192
// bytes in 256 KiB), with no drain in between: each one is received or counted lost, none goes
// missing, and the tracer's reader took them out as they came (more arrived than the ring holds).
TEST_P(TracerTest, ABurstOfLifecycleEventsIsReceivedOrCountedLostNoneMissing) {
  constexpr int kPairs = 5000;  // msgget + msgctl(IPC_RMID): two records each
  constexpr uint64_t kRingRecords = uint64_t{256} * 1024 / (sizeof(ipct_event) + 8);
  TestCgroup cg("lifecycle-burst");
  ASSERT_TRUE(tracer_->drain_events([](const ipct_event&) {}).ok());
  const DropCounts before = tracer_->read_drops();
  ASSERT_EQ(run_in(&cg,
                   [&] {
                     for (int i = 0; i < kPairs; ++i) {
                       const int id = msgget(IPC_PRIVATE, IPC_CREAT | 0600);
                       if (id < 0) return 1;
                       if (msgctl(id, IPC_RMID, nullptr) != 0) return 2;
                     }
                     return 0;
                   }),
            0);
  uint64_t received = 0;
  ASSERT_TRUE(tracer_
                  ->drain_events([&](const ipct_event& e) {
                    if (e.cgroup_id == cg.id() && e.kind == IPCT_KIND_SYSV_MSG) ++received;
                  })
                  .ok());
  const DropCounts after = tracer_->read_drops();
  const uint64_t lost = after[IPCT_DROP_RINGBUF_FULL] - before[IPCT_DROP_RINGBUF_FULL] +
                        after[IPCT_DROP_EVENT_QUEUE_FULL] - before[IPCT_DROP_EVENT_QUEUE_FULL];
  EXPECT_EQ(received + lost, 2U * kPairs) << "received " << received << ", lost " << lost;
  EXPECT_GT(received, kRingRecords);
}

// A segment and a queue in an IPC namespace of their own (as a container has): read there (the
// reader enters the namespace), owned by their creator, attached by it; when the namespace dies
// with its last process, both are forgotten, so a namespace that reuses its inode starts afresh.
TEST_P(TracerTest, SysvObjectsOfAnotherIpcNamespaceAreReadAndForgottenWithIt) {
  TestCgroup cg("sysv-ns");
  Children kids;
  Shared<std::atomic<int>> step;
  Shared<int> shmid;
  Shared<int> msqid;
  Shared<uint32_t> ns;
  ASSERT_TRUE(tracer_->drain_events([](const ipct_event&) {}).ok());
  Agent agent;
  agent.reconcile();
  kids.pids.push_back(spawn(&cg, [&] {
    if (unshare(CLONE_NEWIPC) != 0) return 1;
    *ns = self_ns("ipc");
    *shmid = shmget(IPC_PRIVATE, 65536, IPC_CREAT | 0600);
    *msqid = msgget(IPC_PRIVATE, IPC_CREAT | 0600);
    if (*shmid < 0 || *msqid < 0) return 2;
    if (shmat(*shmid, nullptr, 0) == reinterpret_cast<void*>(-1)) return 3;  // NOLINT(performance-no-int-to-ptr)
    step->store(1);
    wait_step(step, 2);
    return 0;  // the namespace dies with this process, and its objects with it
  }));
  ASSERT_TRUE(wait_for([&] { return step->load() >= 1; }));
  ASSERT_NE(*ns, self_ns("ipc"));
  ASSERT_TRUE(tracer_
                  ->drain_events([&](const ipct_event& e) {
                    agent.shm.on_event(e);
                    agent.msgq.on_event(e);
                  })
                  .ok());
  SysvSnapshot snap = agent.reconcile();
  EXPECT_TRUE(snap.present.contains(*ns));
  ASSERT_TRUE(snap.read.contains(*ns));  // entered and read
  ASSERT_EQ(snap.read.at(*ns).shm.size(), 1U);
  EXPECT_EQ(snap.read.at(*ns).shm[0].size, 65536U);
  EXPECT_EQ(snap.read.at(*ns).shm[0].nattch, 1U);
  EXPECT_EQ(snap.read.at(*ns).shm[0].cpid, static_cast<uint32_t>(kids.pids[0]));
  ASSERT_EQ(snap.read.at(*ns).msg.size(), 1U);
  const std::string prefix = "sysv_shm:shmid=" + std::to_string(*shmid) + ",ipcns=" + std::to_string(*ns) + ",";
  auto in_ns = [&] {
    std::vector<ChannelFlow> out;
    for (ChannelFlow& f : agent.shm.flows()) {
      if (f.channel.rfind(prefix, 0) == 0) out.push_back(std::move(f));
    }
    return out;
  };
  auto flows = in_ns();
  ASSERT_EQ(flows.size(), 1U);
  EXPECT_EQ(flows[0].src, EndpointRef::cgroup(cg.id()));
  EXPECT_EQ(flows[0].dst, EndpointRef::cgroup(cg.id()));
  EXPECT_EQ(flows[0].shm_size, 65536U);
  EXPECT_EQ(flows[0].shm_attached, 1U);
  const uint64_t gen = agent.msgq.generation(*ns, static_cast<uint64_t>(*msqid));
  EXPECT_NE(gen, 0U);

  step->store(2);
  ASSERT_EQ(wait_exit(kids.pids[0]), 0);
  kids.pids.clear();
  agent.shm.detach_gone([](uint32_t tgid) { return kill(static_cast<pid_t>(tgid), 0) == 0; });
  snap = agent.reconcile();
  EXPECT_FALSE(snap.present.contains(*ns));
  flows = in_ns();
  ASSERT_EQ(flows.size(), 1U);  // reported once more, with nothing attached
  EXPECT_EQ(flows[0].shm_attached, 0U);
  agent.shm.forget_removed();
  EXPECT_TRUE(in_ns().empty());
  const auto forgotten = agent.msgq.take_forgotten();
  EXPECT_NE(std::find(forgotten.begin(), forgotten.end(), std::make_pair(*ns, static_cast<uint64_t>(*msqid))),
            forgotten.end());
  EXPECT_EQ(agent.msgq.generation(*ns, static_cast<uint64_t>(*msqid)), 0U);
}
