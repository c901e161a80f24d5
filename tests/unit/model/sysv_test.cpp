// SysV reconciliation: /proc/sysvipc and /proc/PID/maps parsing (hostile lines included), the
// reader on a fake /proc tree, and the shm tracker's reconcile logic with exact figures.
#include "model/sysv.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "kernel/kinds.h"
#include "model/msgq.h"
#include "model/shm.h"

namespace ipctrace {
namespace {

namespace fs = std::filesystem;

const dev_t kShmDev = makedev(0, 1);
constexpr uint32_t kNs = 4026532000U;
constexpr uint64_t kCgA = 1001;
constexpr uint64_t kCgB = 2002;

const char* kShmHeader =
    "       key      shmid perms                  size  cpid  lpid nattch   uid   gid  cuid  cgid      atime      "
    "dtime      ctime                   rss                  swap\n";

std::string shm_line(int32_t key, uint64_t shmid, const char* perms, uint64_t size, uint32_t cpid, uint64_t nattch) {
  return std::to_string(key) + " " + std::to_string(shmid) + " " + perms + " " + std::to_string(size) + " " +
         std::to_string(cpid) + " 0 " + std::to_string(nattch) + " 0 0 0 0 0 0 1700000000 0 0\n";
}

TEST(SysvParse, TablesAreReadByTheirHeaderNames) {
  uint64_t bad = 0;
  const std::string shm = std::string(kShmHeader) + shm_line(0x4950, 7, "600", 65536, 321, 2) +
                          shm_line(0, 9, "1600", 4096, 322, 1) + "garbage line\n" +
                          "1 2 3 4 5 6 7 8 9 10 11 12 13 14 15\n";  // perms "3" fine, cpid ok... all numeric
  const auto rows = parse_sysvipc_shm(shm, &bad);
  ASSERT_EQ(rows.size(), 3U);
  EXPECT_EQ(rows[0].key, 0x4950);
  EXPECT_EQ(rows[0].shmid, 7U);
  EXPECT_EQ(rows[0].size, 65536U);
  EXPECT_EQ(rows[0].cpid, 321U);
  EXPECT_EQ(rows[0].nattch, 2U);
  EXPECT_EQ(rows[1].mode, 01600U);
  EXPECT_EQ(bad, 1U);

  const std::string msg =
      "       key      msqid perms      cbytes       qnum lspid lrpid   uid   gid  cuid  cgid      stime      rtime    "
      "  "
      "ctime\n"
      "      1234         32   600          10          2     5     6     0     0     0     0          0          0 "
      "1700000000\n"
      "     -1234 x 600 1 1 1 1 0 0 0 0 0 0 0\n";
  bad = 0;
  const auto queues = parse_sysvipc_msg(msg, &bad);
  ASSERT_EQ(queues.size(), 1U);
  EXPECT_EQ(queues[0].key, 1234);
  EXPECT_EQ(queues[0].msqid, 32U);
  EXPECT_EQ(queues[0].qnum, 2U);
  EXPECT_EQ(bad, 1U);

  const std::string sem =
      "       key      semid perms      nsems   uid   gid  cuid  cgid      otime      ctime\n"
      "        -1          3   600          4     0     0     0     0          0 1700000000\n";
  const auto sets = parse_sysvipc_sem(sem);
  ASSERT_EQ(sets.size(), 1U);
  EXPECT_EQ(sets[0].key, -1);
  EXPECT_EQ(sets[0].nsems, 4U);

  // A header without the columns needed: nothing read, one bad line, no crash.
  bad = 0;
  EXPECT_TRUE(parse_sysvipc_shm("key shmid\n1 2\n", &bad).empty());
  EXPECT_EQ(bad, 1U);
  EXPECT_TRUE(parse_sysvipc_shm("", &bad).empty());
  // Numbers past their type: a bad line, not a wrapped value.
  bad = 0;
  EXPECT_TRUE(
      parse_sysvipc_shm(std::string(kShmHeader) + shm_line(1, 2, "600", 3, 4, 5).replace(0, 1, "99999999999"), &bad)
          .empty());
  EXPECT_EQ(bad, 1U);
}

TEST(SysvParse, OnlyARealSegmentMappingIsOne) {
  const auto m = parse_shm_maps_line(
      "7f5a1c000000-7f5a1c010000 rw-s 00000000 00:01 32769                      "
      "/SYSV00004950 (deleted)",
      kShmDev);
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(m->key, 0x4950);
  EXPECT_EQ(m->shmid, 32769U);
  EXPECT_EQ(m->bytes, 65536U);
  // A key with the high bit set is negative, as the kernel shows it in /proc/sysvipc/shm.
  const auto neg = parse_shm_maps_line("1000-2000 r--s 00000000 00:01 5 /SYSVffffffff (deleted)", kShmDev);
  ASSERT_TRUE(neg.has_value());
  EXPECT_EQ(neg->key, -1);

  const char* hostile[] = {
      // a container's own file, named like a segment and deleted, on its tmpfs
      "7f00-8f00 rw-s 00000000 00:2a 32769 /SYSV00004950 (deleted)",
      // not deleted
      "7f00-8f00 rw-s 00000000 00:01 32769 /SYSV00004950",
      // private mapping
      "7f00-8f00 rw-p 00000000 00:01 32769 /SYSV00004950 (deleted)",
      // a longer name, a name with a suffix, a short key, a key that is not hex
      "7f00-8f00 rw-s 00000000 00:01 32769 /SYSV000049501 (deleted)",
      "7f00-8f00 rw-s 00000000 00:01 32769 /SYSV00004950 (deleted) (deleted)",
      "7f00-8f00 rw-s 00000000 00:01 32769 /SYSV0004950 (deleted)",
      "7f00-8f00 rw-s 00000000 00:01 32769 /SYSV0000495g (deleted)",
      "7f00-8f00 rw-s 00000000 00:01 32769 /tmp/x/SYSV00004950 (deleted)",
      // broken fields
      "7f00 rw-s 00000000 00:01 32769 /SYSV00004950 (deleted)",
      "8f00-7f00 rw-s 00000000 00:01 32769 /SYSV00004950 (deleted)",
      "7f00-8f00 rw-s 00000000 0001 32769 /SYSV00004950 (deleted)",
      "7f00-8f00 rw-s 00000000 00:01 -5 /SYSV00004950 (deleted)",
      "7f00-8f00 rw-s 00000000 00:01 99999999999999999999999 /SYSV00004950 (deleted)",
      "7f00-8f00 rwxsx 00000000 00:01 32769 /SYSV00004950 (deleted)",
      "",
      "   ",
      "/SYSV00004950 (deleted)",
  };
  for (const char* line : hostile) EXPECT_FALSE(parse_shm_maps_line(line, kShmDev).has_value()) << line;
  // No shm device learned: nothing is a segment.
  EXPECT_FALSE(parse_shm_maps_line("7f00-8f00 rw-s 00000000 00:00 1 /SYSV00004950 (deleted)", 0).has_value());
}

TEST(SysvParse, NamespaceLinks) {
  EXPECT_EQ(parse_ns_link("ipc:[4026531839]", "ipc"), 4026531839U);
  EXPECT_FALSE(parse_ns_link("net:[4026531839]", "ipc").has_value());
  EXPECT_FALSE(parse_ns_link("ipc:[]", "ipc").has_value());
  EXPECT_FALSE(parse_ns_link("ipc:[12", "ipc").has_value());
  EXPECT_FALSE(parse_ns_link("ipc:[99999999999]", "ipc").has_value());
  EXPECT_FALSE(parse_ns_link("", "ipc").has_value());
}

// A fake host root: /proc/PID/{ns/ipc,cgroup,maps}, a cgroup tree, and tables per namespace.
class FakeRoot {
 public:
  FakeRoot() {
    char tmpl[] = "/tmp/ipctrace-sysv-XXXXXX";
    root_ = mkdtemp(tmpl);
  }
  ~FakeRoot() { fs::remove_all(root_); }
  FakeRoot(const FakeRoot&) = delete;
  FakeRoot& operator=(const FakeRoot&) = delete;

  // A process in namespace `ns` and cgroup `/cg`, with `maps`.
  void process(uint32_t pid, uint32_t ns, const std::string& cg, const std::string& maps) {
    const fs::path p = fs::path(root_) / "proc" / std::to_string(pid);
    fs::create_directories(p / "ns");
    fs::create_symlink("ipc:[" + std::to_string(ns) + "]", p / "ns" / "ipc");
    std::ofstream(p / "cgroup") << "0::/" << cg << "\n";
    std::ofstream(p / "maps") << maps;
    fs::create_directories(fs::path(root_) / "cg" / cg);
  }
  uint64_t cgroup_id(const std::string& cg) const {
    struct stat st {};
    stat((fs::path(root_) / "cg" / cg).c_str(), &st);
    return st.st_ino;
  }
  [[nodiscard]] std::string path(const std::string& rel) const { return (fs::path(root_) / rel).string(); }

  SysvReader reader(size_t max_maps_bytes = size_t{8} << 20) {
    SysvReader::Options o;
    o.max_maps_bytes = max_maps_bytes;
    o.host_root = root_;
    o.cgroup_root = path("cg");
    o.shm_dev = kShmDev;
    o.tables = [this](const std::string&, const std::map<uint32_t, uint32_t>& ns_pids) {
      std::map<uint32_t, Result<SysvTables>> out;
      for (const auto& [ns, pid] : ns_pids) {
        auto it = tables.find(ns);
        if (it == tables.end()) {
          out.emplace(ns, Error(EACCES, "setns"));
        } else {
          out.emplace(ns, it->second);
        }
      }
      return out;
    };
    return SysvReader(o);
  }

  std::map<uint32_t, SysvTables> tables;

 private:
  std::string root_;
};

std::string seg_map(uint64_t shmid, uint32_t key) {
  char name[32];
  std::snprintf(name, sizeof(name), "/SYSV%08x (deleted)", key);
  return "7f0000000000-7f0000010000 rw-s 00000000 00:01 " + std::to_string(shmid) + " " + name + "\n";
}

ipct_event shm_ev(uint64_t cgroup, uint32_t tgid, uint8_t op, int64_t ret, uint64_t id, uint64_t aux, uint64_t aux2,
                  uint32_t ns = kNs) {
  ipct_event e{};
  e.kind = IPCT_KIND_SYSV_SHM;
  e.cgroup_id = cgroup;
  e.tgid = tgid;
  e.op = op;
  e.ret = ret;
  e.id = id;
  e.aux = aux;
  e.aux2 = aux2;
  e.dev = ns;
  return e;
}

// A segment of 65536 bytes created by a process of cgroup A before the agent, attached by one of
// cgroup B: owner A, attacher B, size 65536; B's shmget of the key is a lookup.
TEST(SysvReconcile, ASegmentCreatedBeforeTheAgentHasItsRealOwner) {
  FakeRoot root;
  root.process(10, kNs, "a", "");
  root.process(20, kNs, "b", seg_map(7, 0x4950));
  root.tables[kNs] = {std::string(kShmHeader) + shm_line(0x4950, 7, "600", 65536, 10, 1), "", ""};
  SysvReader reader = root.reader();
  ShmTracker shm;
  SysvSnapshot snap = reader.read();
  EXPECT_EQ(snap.present, std::set<uint32_t>{kNs});
  EXPECT_TRUE(shm.attachments_disagree(snap));  // nattch 1, nothing known
  reader.walk_maps(snap);
  shm.reconcile(snap);
  const uint64_t a = root.cgroup_id("a");
  const uint64_t b = root.cgroup_id("b");
  // B looks the key up and attaches again (events after the inventory).
  EXPECT_EQ(shm.on_event(shm_ev(b, 20, IPCT_OP_CREATE, 7, 7, 0x4950, 0)), ShmTracker::Seen::LookedUp);
  const auto flows = shm.flows();
  ASSERT_EQ(flows.size(), 1U);
  EXPECT_EQ(flows[0].src, EndpointRef::cgroup(a));
  EXPECT_EQ(flows[0].dst, EndpointRef::cgroup(b));
  EXPECT_EQ(flows[0].shm_size, 65536U);
  EXPECT_EQ(flows[0].shm_attached, 1U);
  EXPECT_EQ(flows[0].src_task.tgid, 10U);
  EXPECT_FALSE(flows[0].src_task.exited);
  EXPECT_EQ(flows[0].channel, "sysv_shm:shmid=7,ipcns=4026532000,gen=1");
  EXPECT_EQ(snap.namespace_errors + snap.process_errors + snap.bad_lines, 0U);
}

// The creator has exited and was never seen: an unknown owner, its pid, marked exited.
TEST(SysvReconcile, ACreatorThatExitedIsShownAsSuch) {
  FakeRoot root;
  root.process(20, kNs, "b", seg_map(7, 0x4950));
  root.tables[kNs] = {std::string(kShmHeader) + shm_line(0x4950, 7, "600", 65536, 99, 1), "", ""};
  SysvReader reader = root.reader();
  ShmTracker shm;
  SysvSnapshot snap = reader.read();
  reader.walk_maps(snap);
  shm.reconcile(snap);
  const auto flows = shm.flows();
  ASSERT_EQ(flows.size(), 1U);
  EXPECT_EQ(flows[0].src, EndpointRef::unknown());
  EXPECT_EQ(flows[0].src_task.tgid, 99U);
  EXPECT_TRUE(flows[0].src_task.exited);
  EXPECT_EQ(flows[0].dst, EndpointRef::cgroup(root.cgroup_id("b")));
}

// shmat once, then fork: the kernel counts 2 attachments, and so does the tracker once the maps
// are walked; then the child execs (no event): 1; the parent execs: 0.
TEST(SysvReconcile, ForkAndExecAreTakenFromTheMaps) {
  FakeRoot root;
  root.process(30, kNs, "b", seg_map(7, 0x4950));
  root.process(31, kNs, "b", seg_map(7, 0x4950));  // the child
  root.tables[kNs] = {std::string(kShmHeader) + shm_line(0x4950, 7, "600", 65536, 30, 2), "", ""};
  const uint64_t b = root.cgroup_id("b");
  ShmTracker shm;
  EXPECT_EQ(shm.on_event(shm_ev(b, 30, IPCT_OP_CREATE, 7, 7, 0x4950, 65536)), ShmTracker::Seen::Created);
  shm.on_event(shm_ev(b, 30, IPCT_OP_ATTACH, 0, 7, 0x7f0000000000, 0));
  SysvReader reader = root.reader();
  SysvSnapshot snap = reader.read();
  EXPECT_TRUE(shm.attachments_disagree(snap));
  reader.walk_maps(snap);
  shm.reconcile(snap);
  ASSERT_EQ(shm.flows().size(), 1U);
  EXPECT_EQ(shm.flows()[0].shm_attached, 2U);
  EXPECT_EQ(shm.flows()[0].msgs, 1U);  // one attach call

  std::ofstream(root.path("proc/31/maps")) << "";  // exec
  root.tables[kNs].shm = std::string(kShmHeader) + shm_line(0x4950, 7, "600", 65536, 30, 1);
  snap = reader.read();
  EXPECT_TRUE(shm.attachments_disagree(snap));
  reader.walk_maps(snap);
  shm.reconcile(snap);
  EXPECT_EQ(shm.flows()[0].shm_attached, 1U);

  std::ofstream(root.path("proc/30/maps")) << "";
  root.tables[kNs].shm = std::string(kShmHeader) + shm_line(0x4950, 7, "600", 65536, 30, 0);
  snap = reader.read();
  EXPECT_TRUE(shm.attachments_disagree(snap));
  reader.walk_maps(snap);
  shm.reconcile(snap);
  ASSERT_EQ(shm.flows().size(), 1U);
  EXPECT_EQ(shm.flows()[0].shm_attached, 0U);
  EXPECT_FALSE(shm.attachments_disagree(reader.read()));
}

// Lost records: the segment was removed and destroyed, no event said so. The kernel no longer lists
// it: reported once with nothing attached, then forgotten.
TEST(SysvReconcile, ASegmentTheKernelNoLongerHasIsForgotten) {
  FakeRoot root;
  root.process(30, kNs, "b", "");
  root.tables[kNs] = {kShmHeader, "", ""};
  ShmTracker shm;
  shm.on_event(shm_ev(kCgA, 30, IPCT_OP_CREATE, 7, 7, 0x4950, 65536));
  shm.on_event(shm_ev(kCgB, 30, IPCT_OP_ATTACH, 0, 7, 0x7f0000000000, 0));
  SysvReader reader = root.reader();
  shm.reconcile(reader.read());
  ASSERT_EQ(shm.flows().size(), 1U);
  EXPECT_EQ(shm.flows()[0].shm_attached, 0U);
  shm.forget_removed();
  EXPECT_TRUE(shm.flows().empty());
}

// A namespace no process is in any more is gone, with its segments; a namespace that could not be
// read (EACCES) keeps what was known.
TEST(SysvReconcile, ANamespaceGoneTakesItsSegmentsAndAnUnreadableOneKeepsThem) {
  constexpr uint32_t kOther = 4026532999U;
  FakeRoot root;
  root.process(40, kOther, "c", "");  // its tables are not given: EACCES
  ShmTracker shm;
  shm.on_event(shm_ev(kCgA, 30, IPCT_OP_CREATE, 7, 7, 0x4950, 65536));
  shm.on_event(shm_ev(kCgB, 30, IPCT_OP_ATTACH, 0, 7, 0x7f0000000000, 0));
  shm.on_event(shm_ev(kCgA, 40, IPCT_OP_CREATE, 7, 7, 0x1, 4096, kOther));
  shm.on_event(shm_ev(kCgB, 40, IPCT_OP_ATTACH, 0, 7, 0x7f0000000000, 0, kOther));
  SysvReader reader = root.reader();
  SysvSnapshot snap = reader.read();
  EXPECT_EQ(snap.namespace_errors, 1U);
  shm.reconcile(snap);
  shm.forget_removed();
  const auto flows = shm.flows();
  ASSERT_EQ(flows.size(), 1U);
  EXPECT_EQ(flows[0].channel, "sysv_shm:shmid=7,ipcns=4026532999,gen=2");
  EXPECT_EQ(flows[0].shm_attached, 1U);
}

// /proc itself unreadable (a wrong --host-root, a mount gone): counted, and nothing is taken for gone.
TEST(SysvReconcile, AnUnreadableProcDropsNothing) {
  SysvReader::Options o;
  o.host_root = "/nonexistent-ipctrace-root";
  o.shm_dev = kShmDev;
  SysvReader reader(o);
  ShmTracker shm;
  MsgQueueTracker msgq;
  shm.on_event(shm_ev(kCgA, 30, IPCT_OP_CREATE, 7, 7, 0x4950, 65536));
  shm.on_event(shm_ev(kCgB, 30, IPCT_OP_ATTACH, 0, 7, 0x7f0000000000, 0));
  ipct_event q = shm_ev(kCgA, 30, IPCT_OP_CREATE, 9, 9, 0x77, 0);
  q.kind = IPCT_KIND_SYSV_MSG;
  EXPECT_EQ(msgq.on_event(q), ShmTracker::Seen::Created);
  EXPECT_EQ(msgq.on_event(q), ShmTracker::Seen::LookedUp);
  SysvSnapshot snap = reader.read();
  EXPECT_FALSE(snap.listed);
  EXPECT_EQ(snap.namespace_errors, 1U);
  shm.reconcile(snap);
  msgq.reconcile(snap);
  shm.forget_removed();
  ASSERT_EQ(shm.flows().size(), 1U);
  EXPECT_EQ(shm.flows()[0].shm_attached, 1U);
  EXPECT_EQ(msgq.generation(kNs, 9), 1U);
}

// A queue the kernel no longer lists, or of a namespace gone, is forgotten; its generation stays
// until taken, so its last counts are reported under its channel.
TEST(SysvReconcile, QueuesAreForgottenWithTheirNamespace) {
  FakeRoot root;
  root.process(10, kNs, "a", "");
  const std::string msg_header =
      "       key      msqid perms      cbytes       qnum lspid lrpid   uid   gid  cuid  cgid      stime      rtime    "
      "  "
      "ctime\n";
  root.tables[kNs] = {kShmHeader, msg_header + "119 9 600 0 0 0 0 0 0 0 0 0 0 0\n", ""};
  SysvReader reader = root.reader();
  MsgQueueTracker msgq;
  msgq.reconcile(reader.read());
  EXPECT_EQ(msgq.generation(kNs, 9), 1U);
  ipct_event q = shm_ev(kCgA, 10, IPCT_OP_CREATE, 9, 9, 119, 0);
  q.kind = IPCT_KIND_SYSV_MSG;
  EXPECT_EQ(msgq.on_event(q), ShmTracker::Seen::LookedUp);  // made before the agent: a lookup
  fs::remove_all(root.path("proc/10"));                     // the namespace's last process is gone
  msgq.reconcile(reader.read());
  EXPECT_EQ(msgq.generation(kNs, 9), 1U);
  const auto gone = msgq.take_forgotten();
  ASSERT_EQ(gone.size(), 1U);
  EXPECT_EQ(gone[0], std::make_pair(kNs, uint64_t{9}));
  EXPECT_EQ(msgq.generation(kNs, 9), 0U);
  EXPECT_EQ(msgq.size(), 0U);
  // A new namespace at the same inode with a queue at the same id: another queue.
  root.process(11, kNs, "a", "");
  msgq.reconcile(reader.read());
  EXPECT_EQ(msgq.generation(kNs, 9), 2U);
}

// The same (ns, shmid) with another key is another segment: a new generation, a new channel.
TEST(SysvReconcile, AnotherKeyAtTheSameIdIsAnotherSegment) {
  FakeRoot root;
  root.process(10, kNs, "a", "");
  root.tables[kNs] = {std::string(kShmHeader) + shm_line(0x4950, 7, "600", 65536, 10, 0), "", ""};
  SysvReader reader = root.reader();
  ShmTracker shm;
  shm.reconcile(reader.read());
  shm.on_event(shm_ev(root.cgroup_id("a"), 10, IPCT_OP_ATTACH, 0, 7, 0x7f0000000000, 0));
  EXPECT_EQ(shm.flows()[0].channel, "sysv_shm:shmid=7,ipcns=4026532000,gen=1");
  root.tables[kNs].shm = std::string(kShmHeader) + shm_line(0x5000, 7, "600", 4096, 10, 0);
  shm.reconcile(reader.read());
  ASSERT_EQ(shm.flows().size(), 0U);  // nobody attached the new one yet
  shm.on_event(shm_ev(root.cgroup_id("a"), 10, IPCT_OP_ATTACH, 0, 7, 0x7f0000000000, 0));
  ASSERT_EQ(shm.flows().size(), 1U);
  EXPECT_EQ(shm.flows()[0].channel, "sysv_shm:shmid=7,ipcns=4026532000,gen=2");
  EXPECT_EQ(shm.flows()[0].shm_size, 4096U);
  // A removed segment (SHM_DEST) shows key 0: still the same one.
  root.tables[kNs].shm = std::string(kShmHeader) + shm_line(0, 7, "1600", 4096, 10, 1);
  shm.reconcile(reader.read());
  EXPECT_EQ(shm.flows()[0].channel, "sysv_shm:shmid=7,ipcns=4026532000,gen=2");
}

// Hostile and unreadable maps: a file named like a segment on another device is no attachment; a
// mapping whose key is not the segment's is counted as foreign; a process whose maps cannot be read
// (not gone) keeps the attachments known.
TEST(SysvReconcile, HostileAndUnreadableMaps) {
  FakeRoot root;
  root.process(10, kNs, "a", "7f00-8f00 rw-s 00000000 00:2a 7 /SYSV00004950 (deleted)\n" + seg_map(7, 0x9999));
  root.process(20, kNs, "b", "");
  fs::remove(root.path("proc/20/maps"));
  fs::create_directories(root.path("proc/20/maps"));  // unreadable: EISDIR
  root.tables[kNs] = {std::string(kShmHeader) + shm_line(0x4950, 7, "600", 65536, 10, 1), "", ""};
  ShmTracker shm;
  const uint64_t b = root.cgroup_id("b");
  shm.on_event(shm_ev(b, 20, IPCT_OP_ATTACH, 0, 7, 0x7f0000000000, 0));
  SysvReader reader = root.reader();
  SysvSnapshot snap = reader.read();
  reader.walk_maps(snap);
  EXPECT_EQ(snap.process_errors, 1U);
  EXPECT_EQ(snap.unreadable_pids, std::set<uint32_t>{20});
  shm.reconcile(snap);
  EXPECT_EQ(shm.foreign_mappings(), 1U);
  const auto flows = shm.flows();
  ASSERT_EQ(flows.size(), 1U);
  EXPECT_EQ(flows[0].dst, EndpointRef::cgroup(b));
  EXPECT_EQ(flows[0].shm_attached, 1U);
  EXPECT_EQ(flows[0].src, EndpointRef::cgroup(root.cgroup_id("a")));
}

// A maps file past its bound is cut there and counted; what was read counts.
TEST(SysvReconcile, AHugeMapsFileIsCutAndCounted) {
  FakeRoot root;
  std::string maps;
  for (int i = 0; i < 2000; ++i) maps += "7f00-8f00 rw-p 00000000 08:01 12345 /usr/lib/libc.so.6\n";
  root.process(10, kNs, "a", seg_map(7, 0x4950) + maps);
  root.tables[kNs] = {std::string(kShmHeader) + shm_line(0x4950, 7, "600", 65536, 10, 1), "", ""};
  SysvReader reader = root.reader(4096);
  SysvSnapshot snap = reader.read();
  reader.walk_maps(snap);
  EXPECT_EQ(snap.truncated, 1U);
  ASSERT_EQ(snap.attachers.size(), 1U);
  EXPECT_EQ(snap.attachers[0].segments.size(), 1U);
}

// A walk that takes longer than its limit is abandoned and counted; none starts while it runs,
// and once it has ended the next one walks.
TEST(SysvReconcile, AWalkPastItsLimitIsAbandonedAndCounted) {
  FakeRoot root;
  std::string maps;
  for (int i = 0; i < 200000; ++i) maps += "7f00-8f00 rw-s 00000000 00:01 7 /SYSV00004950 (deleted)\n";
  root.process(10, kNs, "a", maps);
  root.tables[kNs] = {std::string(kShmHeader) + shm_line(0x4950, 7, "600", 65536, 10, 1), "", ""};
  SysvReader reader = root.reader(size_t{64} << 20);
  SysvSnapshot snap = reader.read();
  EXPECT_FALSE(reader.walk_maps_within(snap, std::chrono::milliseconds(0)));
  EXPECT_FALSE(snap.maps_walked);
  EXPECT_EQ(snap.walk_timeouts, 1U);
  for (int i = 0; i < 10000 && reader.walk_running(); ++i) usleep(1000);
  ASSERT_FALSE(reader.walk_running());
  snap = reader.read();
  EXPECT_TRUE(reader.walk_maps_within(snap, std::chrono::seconds(30)));
  EXPECT_TRUE(snap.maps_walked);
  EXPECT_EQ(snap.walk_timeouts, 0U);
  ASSERT_EQ(snap.attachers.size(), 1U);
  EXPECT_EQ(snap.attachers[0].segments.begin()->second, 200000U);
}

}  // namespace
}  // namespace ipctrace
