#include <gtest/gtest.h>

#include "kernel/facts.h"
#include "kernel/kinds.h"

using ipctrace::Cap;
using ipctrace::Capabilities;
using ipctrace::KernelVersion;

TEST(KernelVersion, ParsesDistributionReleases) {
  auto v = KernelVersion::parse("6.18.44-fc-v669");
  ASSERT_TRUE(v);
  EXPECT_EQ(v->major, 6);
  EXPECT_EQ(v->minor, 18);
  EXPECT_EQ(v->patch, 44);
  EXPECT_EQ(v->release, "6.18.44-fc-v669");

  v = KernelVersion::parse("6.1.0-28-cloud-amd64");
  ASSERT_TRUE(v);
  EXPECT_EQ(v->major, 6);
  EXPECT_EQ(v->minor, 1);
  EXPECT_EQ(v->patch, 0);

  v = KernelVersion::parse("5.15");
  ASSERT_TRUE(v);
  EXPECT_EQ(v->minor, 15);
  EXPECT_EQ(v->patch, 0);

  v = KernelVersion::parse("6.3-rc1");
  ASSERT_TRUE(v);
  EXPECT_EQ(v->minor, 3);
}

TEST(KernelVersion, RejectsGarbage) {
  EXPECT_FALSE(KernelVersion::parse(""));
  EXPECT_FALSE(KernelVersion::parse("linux"));
  EXPECT_FALSE(KernelVersion::parse("6"));
  EXPECT_FALSE(KernelVersion::parse("6.x"));
}

TEST(KernelVersion, Compares) {
  auto v = *KernelVersion::parse("6.3.1");
  EXPECT_TRUE(v.at_least(6, 3));
  EXPECT_TRUE(v.at_least(5, 19));
  EXPECT_FALSE(v.at_least(6, 4));
  EXPECT_FALSE(v.at_least(7, 0));
}

// Real /proc/PID/status excerpts: root in the init namespace, a container with the default
// Docker set (no CAP_SYS_ADMIN, no CAP_BPF), and a least-privilege agent (CAP_BPF + CAP_PERFMON).
TEST(Capabilities, ParsesStatus) {
  auto root = Capabilities::parse_status(
      "Name:\tbash\nCapInh:\t0000000000000000\nCapPrm:\t000001ffffffffff\n"
      "CapEff:\t000001ffffffffff\nCapBnd:\t000001ffffffffff\n");
  ASSERT_TRUE(root.ok());
  EXPECT_TRUE(root->has(Cap::SysAdmin));
  EXPECT_TRUE(root->has(Cap::Bpf));
  EXPECT_TRUE(root->can_trace());
  EXPECT_TRUE(root->missing_for_tracing().empty());

  auto docker = Capabilities::parse_status("CapEff:\t00000000a80425fb\n");
  ASSERT_TRUE(docker.ok());
  EXPECT_FALSE(docker->has(Cap::SysAdmin));
  EXPECT_TRUE(docker->has(Cap::Kill));
  EXPECT_FALSE(docker->can_trace());
  EXPECT_EQ(docker->missing_for_tracing(), (std::vector<std::string>{"CAP_BPF", "CAP_PERFMON"}));

  auto lp = Capabilities::parse_status("CapEff:\t000000c000000000\n");
  ASSERT_TRUE(lp.ok());
  EXPECT_TRUE(lp->has(Cap::Bpf));
  EXPECT_TRUE(lp->has(Cap::Perfmon));
  EXPECT_FALSE(lp->has(Cap::SysAdmin));
  EXPECT_TRUE(lp->can_trace());

  auto bpf_only = Capabilities::parse_status("CapEff:\t0000008000000000\n");
  ASSERT_TRUE(bpf_only.ok());
  EXPECT_EQ(bpf_only->missing_for_tracing(), (std::vector<std::string>{"CAP_PERFMON"}));
}

TEST(Capabilities, RejectsMalformedStatus) {
  EXPECT_FALSE(Capabilities::parse_status("").ok());
  EXPECT_FALSE(Capabilities::parse_status("CapPrm:\t0000\n").ok());
  EXPECT_FALSE(Capabilities::parse_status("CapEff:\tzz\n").ok());
}

TEST(Tracefs, FindsMountPoint) {
  const std::string mounts =
      "sysfs /sys sysfs rw,nosuid 0 0\n"
      "cgroup2 /sys/fs/cgroup/unified cgroup2 rw 0 0\n"
      "tracefs /sys/kernel/tracing tracefs rw,nosuid,nodev,noexec 0 0\n";
  EXPECT_EQ(ipctrace::find_tracefs_in(mounts), "/sys/kernel/tracing");
  EXPECT_EQ(ipctrace::find_tracefs_in("none /sys/kernel/debug/tracing tracefs rw 0 0\n"), "/sys/kernel/debug/tracing");
  EXPECT_FALSE(ipctrace::find_tracefs_in("sysfs /sys sysfs rw 0 0\n"));
  EXPECT_FALSE(ipctrace::find_tracefs_in(""));
}

TEST(Kinds, NamesMatchTheAbi) {
  EXPECT_EQ(ipctrace::all_kinds().size(), 11U);
  EXPECT_EQ(ipctrace::parse_kind("pipe"), 1);
  EXPECT_EQ(ipctrace::parse_kind("signal"), 11);
  EXPECT_EQ(ipctrace::kind_name(6), "tcp");
  EXPECT_EQ(ipctrace::kind_name(0), "unknown");
  EXPECT_EQ(ipctrace::kind_name(99), "unknown");
  EXPECT_FALSE(ipctrace::parse_kind("PIPE"));
}
