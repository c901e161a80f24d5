#include "hooks.h"

#include <gtest/gtest.h>

#include <set>

using namespace ipctrace;

namespace {

// A kernel like this project's machine: 6.18, fentry refused, every tracepoint present.
KernelFacts kernel_6_18() {
  KernelFacts f;
  f.working = {HookFamily::TpBtf, HookFamily::RawTp, HookFamily::Tracepoint};
  f.has_function = [](const std::string&) { return true; };
  f.has_btf_tracepoint = [](const std::string&) { return true; };
  f.has_tracefs_event = [](const std::string&) { return true; };
  return f;
}

// A kernel like Debian's 6.1: fentry works, no socket length tracepoints (added in 6.3).
KernelFacts kernel_6_1() {
  KernelFacts f = kernel_6_18();
  f.working.insert(HookFamily::Fentry);
  f.has_btf_tracepoint = [](const std::string& n) { return n != "sock_send_length" && n != "sock_recv_length"; };
  return f;
}

HookChoice pick(Mechanism m, const KernelFacts& f, std::optional<HookFamily> only = std::nullopt) {
  return choose_hook(m, f, only);
}

}  // namespace

TEST(Hooks, EveryMechanismHasCandidatesCheapestFirst) {
  for (Mechanism m : kAllMechanisms) {
    const auto& c = hook_candidates(m);
    ASSERT_FALSE(c.empty()) << mechanism_name(m);
    // Typed (plain loads) before untyped (a helper call per read), for every attach point.
    EXPECT_EQ(c.front().family, HookFamily::TpBtf) << mechanism_name(m);
    EXPECT_EQ(c.back().family, HookFamily::RawTp) << mechanism_name(m);
    EXPECT_EQ(c.size() % 2, 0U) << mechanism_name(m);
    for (const auto& cand : c) EXPECT_FALSE(cand.points.empty()) << mechanism_name(m);
  }
}

TEST(Hooks, On618TracepointPathsAreChosen) {
  const auto f = kernel_6_18();
  EXPECT_EQ(pick(Mechanism::PipeFifo, f).family, HookFamily::TpBtf);
  EXPECT_EQ(pick(Mechanism::PipeFifo, f).attach, (std::vector<std::string>{"sys_exit"}));
  EXPECT_EQ(pick(Mechanism::Unix, f).attach, (std::vector<std::string>{"sock_send_length", "sock_recv_length"}));
  EXPECT_EQ(pick(Mechanism::Inet, f).family, HookFamily::TpBtf);
  EXPECT_EQ(pick(Mechanism::SysvMsg, f).family, HookFamily::TpBtf);
  EXPECT_EQ(pick(Mechanism::Signal, f).attach, (std::vector<std::string>{"signal_generate"}));
  EXPECT_TRUE(pick(Mechanism::SysvMsg, f).rejected.empty());
}

TEST(Hooks, WithoutTpBtfRawTracepointsAreChosen) {
  auto f = kernel_6_18();
  f.working.erase(HookFamily::TpBtf);
  for (const auto& c : choose_hooks(f)) {
    EXPECT_EQ(c.family, HookFamily::RawTp) << mechanism_name(c.mechanism);
    ASSERT_EQ(c.rejected.size(), 1U);
    EXPECT_EQ(c.rejected[0], "tp_btf: tp_btf programs do not work on this kernel");
  }
  // Sockets: the untyped socket tracepoints come before any sys_exit path.
  EXPECT_EQ(pick(Mechanism::Unix, f).attach, (std::vector<std::string>{"sock_send_length", "sock_recv_length"}));
}

TEST(Hooks, WithoutSocketTracepointsSocketsUseSysExit) {
  // Debian's 6.1 has no sock_send_length (added in 6.3): sockets are found through the
  // descriptors on the sys_exit path.
  const auto f = kernel_6_1();
  const auto sock = pick(Mechanism::Unix, f);
  EXPECT_EQ(sock.family, HookFamily::TpBtf);
  EXPECT_EQ(sock.attach, (std::vector<std::string>{"sys_exit"}));
  ASSERT_EQ(sock.rejected.size(), 2U);
  EXPECT_EQ(sock.rejected[0], "tp_btf: sock_send_length not found");
  EXPECT_EQ(sock.rejected[1], "raw_tp: sock_send_length not found");
  EXPECT_EQ(pick(Mechanism::Inet, f).attach, (std::vector<std::string>{"sys_exit"}));
  EXPECT_EQ(pick(Mechanism::PipeFifo, f).family, HookFamily::TpBtf);
  EXPECT_EQ(pick(Mechanism::Signal, f).family, HookFamily::TpBtf);
}

TEST(Hooks, ForcedFamily) {
  const auto f = kernel_6_18();
  for (const auto& c : choose_hooks(f, HookFamily::RawTp)) {
    EXPECT_EQ(c.family, HookFamily::RawTp) << mechanism_name(c.mechanism);
    EXPECT_EQ(c.rejected.front(), "tp_btf: not the forced hook family");
  }
  // Forcing a family with no candidates (or one this kernel refuses) leaves every mechanism without a hook.
  for (const auto& c : choose_hooks(f, HookFamily::Fentry)) EXPECT_FALSE(c.family) << mechanism_name(c.mechanism);
  for (const auto& c : choose_hooks(f, HookFamily::Tracepoint)) EXPECT_FALSE(c.family) << mechanism_name(c.mechanism);
}

TEST(Hooks, NothingWorksNothingChosen) {
  KernelFacts none;
  for (const auto& c : choose_hooks(none)) {
    EXPECT_FALSE(c.family);
    EXPECT_EQ(c.rejected.size(), hook_candidates(c.mechanism).size());
  }
}

TEST(Hooks, FamilyNamesRoundTrip) {
  for (HookFamily f : kAllHookFamilies) EXPECT_EQ(parse_family(family_name(f)), f);
  EXPECT_FALSE(parse_family("kprobe"));
  EXPECT_FALSE(parse_family("auto"));
}
