// Channel paths (model/paths.h): /proc/net/unix read in the kernel's exact shape only, FIFOs found
// through this process's own descriptors, the cache and its bounds.
#include "model/paths.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>

#include "kernel/abi.h"

namespace ipctrace {
namespace {

using namespace std::chrono_literals;

const std::string kHeader = "Num       RefCount Protocol Flags    Type St Inode Path\n";

TEST(UnixTable, BoundNamesByInodeInTheKernelsShape) {
  const std::string text =
      kHeader +
      "ffff8c0c4a3b1c00: 00000002 00000000 00010000 0001 01 31233 /run/containerd/containerd.sock\n"
      "ffff8c0c4a3b2000: 00000003 00000000 00000000 0001 03 31240\n"  // unbound: no name
      "0000000000000000: 00000002 00000000 00000000 0002 01  9876 @abstract@with@nul\n"
      "ffff8c0c4a3b3000: 00000002 00000000 00000000 0005 01 123456 /tmp/a name with spaces\n";
  const auto table = parse_unix_table(text);
  EXPECT_EQ(table, (std::map<uint64_t, std::string>{{31233, "/run/containerd/containerd.sock"},
                                                    {9876, "@abstract@with@nul"},
                                                    {123456, "/tmp/a name with spaces"}}));
}

// A connection not accepted yet is listed with inode 0 and its listener's name (unix_create1()):
// a line of its own, which neither names anything nor continues the name before it.
TEST(UnixTable, ConnectionsNotAcceptedYetAreLinesOfNobody) {
  const std::string text = kHeader +
                           "ffff8c0c4a3b1c00: 00000002 00000000 00010000 0001 01 31233 /run/api.sock\n"
                           "ffff8c0c4a3b1d00: 00000002 00000000 00000000 0001 02     0 /run/api.sock\n"
                           "ffff8c0c4a3b1e00: 00000002 00000000 00000000 0001 02     0 /run/api.sock\n"
                           "ffff8c0c4a3b1f00: 00000003 00000000 00000000 0001 03 31250 /run/api.sock\n";
  EXPECT_EQ(parse_unix_table(text),
            (std::map<uint64_t, std::string>{{31233, "/run/api.sock"}, {31250, "/run/api.sock"}}));
}

// A name may hold a newline, which ends the kernel's line: a rest of another shape continues the
// name; a rest in the shape of a line that names an inode listed elsewhere makes that inode
// ambiguous (no path), never another socket's path.
TEST(UnixTable, ANameWithANewlineForgesNothing) {
  const std::string text = kHeader +
                           "ffff8c0c4a3b1c00: 00000002 00000000 00010000 0001 01 31233 /run/real.sock\n"
                           "ffff8c0c4a3b1d00: 00000002 00000000 00010000 0001 01 40000 /tmp/x\n"
                           "ffff000000000000: 00000002 00000000 00010000 0001 01 31233 /run/forged.sock\n"
                           "ffff8c0c4a3b1e00: 00000002 00000000 00010000 0001 01 40001 /tmp/y\n"
                           "not a line at all 50000 /tmp/z\n"
                           "\n"
                           "ffff: 2 0 10000 1 1 50001 /tmp/short-fields\n"
                           "ffff8c0c4a3b1f00: 00000002 00000000 00010000 0001 01 50003\n"  // unbound: ends a name
                           "ffff8c0c4a3b1f00: 00000002 00000000 00010000 0001 01 \t50002 /tmp/tab\n"
                           "ffff8c0c4a3b1f00: 00000002 00000000 00010000 0001 01 50004 \n"
                           "ffff8c0c4a3b1f00: 00000002 00000000 00010000 0001 01 0 /tmp/zero-inode\n"
                           "ffff8c0c4a3b1f00: 00000002 00000000 00010000 0001 01 18446744073709551616 /tmp/overflow\n";
  uint64_t ambiguous = 0;
  const auto table = parse_unix_table(text, &ambiguous);
  EXPECT_EQ(table,
            (std::map<uint64_t, std::string>{
                {40000, "/tmp/x"},
                {40001, "/tmp/y\nnot a line at all 50000 /tmp/z\n\nffff: 2 0 10000 1 1 50001 /tmp/short-fields"}}));
  EXPECT_EQ(ambiguous, 1U);
  // A name split by a newline in front of anything but a line: whole again.
  EXPECT_EQ(parse_unix_table(kHeader + "ffff8c0c4a3b1c00: 00000002 00000000 00010000 0001 01 31233 /tmp/a\nb.sock\n"),
            (std::map<uint64_t, std::string>{{31233, "/tmp/a\nb.sock"}}));
  EXPECT_TRUE(parse_unix_table("").empty());
  EXPECT_TRUE(parse_unix_table(std::string(5000, '\n')).empty());
  EXPECT_TRUE(
      parse_unix_table(std::string("ffff8c0c4a3b1c00: 00000002 00000000 00010000 0001 01 31233 /a\0b", 62)).size() ==
      1);
}

// A FIFO of this process's, created and opened here: found among its descriptors by inode and
// device, with its path as this process sees it; a unix socket bound here found by its inode.
class ChannelPathsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/var/tmp/ipctrace-paths-XXXXXX";  // the disk: a device number with a major
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    for (int fd : fds_) close(fd);
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  // A FIFO opened read-write (no peer needed): its flow as the join makes it.
  ChannelFlow fifo(const std::string& name) {
    const std::string path = dir_ + "/" + name;
    EXPECT_EQ(mkfifo(path.c_str(), 0600), 0);
    const int fd = open(path.c_str(), O_RDWR | O_CLOEXEC);
    EXPECT_GE(fd, 0);
    fds_.push_back(fd);
    struct stat st {};
    EXPECT_EQ(fstat(fd, &st), 0);
    ChannelFlow f;
    f.kind = IPCT_KIND_FIFO;
    f.channel = "fifo:ino=" + std::to_string(st.st_ino);
    f.inode = st.st_ino;
    f.dev = static_cast<uint32_t>((major(st.st_dev) << 20) | minor(st.st_dev));
    f.dst_task.tgid = static_cast<uint32_t>(getpid());
    return f;
  }

  std::string dir_;
  std::vector<int> fds_;
};

TEST_F(ChannelPathsTest, AFifoIsFoundThroughADescriptorOfItsUser) {
  ChannelPaths paths;
  std::vector<ChannelFlow> flows = {fifo("app.fifo")};
  paths.annotate(flows, std::chrono::steady_clock::now());
  EXPECT_EQ(flows[0].path, dir_ + "/app.fifo");
  EXPECT_EQ(paths.stats().found, 1U);
  // The wrong device: not this FIFO.
  ChannelFlow other = fifo("other.fifo");
  EXPECT_EQ(paths.fifo_path(other.dst_task.tgid, other.inode, other.dev + 1), "");
  EXPECT_EQ(paths.fifo_path(other.dst_task.tgid, other.inode, other.dev), dir_ + "/other.fifo");
}

TEST_F(ChannelPathsTest, ABoundUnixSocketIsFoundByItsInode) {
  const int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(fd, 0);
  fds_.push_back(fd);
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  const std::string path = dir_ + "/api.sock";
  std::strncpy(a.sun_path, path.c_str(), sizeof(a.sun_path) - 1);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
  struct stat st {};
  ASSERT_EQ(fstat(fd, &st), 0);
  ChannelPaths paths;
  ChannelFlow f;
  f.kind = IPCT_KIND_UNIX_DGRAM;
  f.channel = "unix_dgram:ino=" + std::to_string(st.st_ino);
  f.inode = st.st_ino;
  f.dst_task.tgid = static_cast<uint32_t>(getpid());
  std::vector<ChannelFlow> flows = {f};
  paths.annotate(flows, std::chrono::steady_clock::now());
  EXPECT_EQ(flows[0].path, path);
  // Looked up from the sender's side: its own socket, in its namespace.
  ChannelFlow reverse = f;
  reverse.inode = 1;  // not a socket of anyone's
  reverse.channel = "unix_dgram:ino=1";
  reverse.src_task.tgid = static_cast<uint32_t>(getpid());
  reverse.src_socket = st.st_ino;
  flows = {reverse};
  paths.annotate(flows, std::chrono::steady_clock::now());
  EXPECT_EQ(flows[0].path, path);
}

// Not found: looked for again only after the retry interval; a process gone: nothing, no error.
TEST_F(ChannelPathsTest, NotFoundIsRetriedLaterAndForgottenWithTheFlow) {
  ChannelPathsOptions o;
  o.retry = 10s;
  ChannelPaths paths(o);
  ChannelFlow f = fifo("late.fifo");
  const uint32_t me = f.dst_task.tgid;
  f.dst_task.tgid = 0x7ffffff0;  // no such process
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<ChannelFlow> flows = {f};
  paths.annotate(flows, t0);
  EXPECT_EQ(flows[0].path, "");
  EXPECT_EQ(paths.stats().not_found, 1U);
  flows[0].dst_task.tgid = me;
  paths.annotate(flows, t0 + 5s);  // not yet
  EXPECT_EQ(flows[0].path, "");
  EXPECT_EQ(paths.stats().not_found, 1U);
  paths.annotate(flows, t0 + 11s);
  EXPECT_EQ(flows[0].path, dir_ + "/late.fifo");
  // Kept while the flow is; once a call goes without it, it is looked up again.
  std::vector<ChannelFlow> none;
  paths.annotate(none, t0 + 12s);
  flows[0].path.clear();
  flows[0].dst_task.tgid = 0x7ffffff0;
  paths.annotate(flows, t0 + 13s);
  EXPECT_EQ(flows[0].path, "");
}

// A process holding many descriptors costs a bounded walk, counted when it is cut.
TEST_F(ChannelPathsTest, TheDescriptorWalkIsBounded) {
  ChannelFlow f = fifo("deep.fifo");
  ChannelPathsOptions o;
  o.max_fds_per_process = 1;  // the lowest descriptor: the FIFO's is the highest (the walk's own is lower)
  ChannelPaths paths(o);
  std::vector<ChannelFlow> flows = {f};
  paths.annotate(flows, std::chrono::steady_clock::now());
  EXPECT_EQ(flows[0].path, "");
  EXPECT_EQ(paths.stats().truncated, 1U);
  ChannelPathsOptions few;
  few.max_lookups_per_call = 1;
  ChannelPaths limited(few);
  std::vector<ChannelFlow> two = {fifo("a.fifo"), fifo("b.fifo")};
  limited.annotate(two, std::chrono::steady_clock::now());
  EXPECT_EQ(two[0].path, dir_ + "/a.fifo");
  EXPECT_EQ(two[1].path, "");  // the next call's
  EXPECT_EQ(limited.stats().truncated, 1U);
  limited.annotate(two, std::chrono::steady_clock::now());
  EXPECT_EQ(two[1].path, dir_ + "/b.fifo");
}

}  // namespace
}  // namespace ipctrace
