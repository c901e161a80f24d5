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
    // The per-syscall tracepoint family, the slowest, is always the last resort.
    EXPECT_EQ(c.back().family, HookFamily::Tracepoint) << mechanism_name(m);
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
  const auto msg = pick(Mechanism::SysvMsg, f);
  ASSERT_EQ(msg.rejected.size(), 1U);
  EXPECT_EQ(msg.rejected[0], "fentry: fentry programs do not work on this kernel");
}

TEST(Hooks, On61FentryIsChosenWhereItExists) {
  const auto f = kernel_6_1();
  EXPECT_EQ(pick(Mechanism::SysvMsg, f).family, HookFamily::Fentry);
  EXPECT_EQ(pick(Mechanism::SysvMsg, f).attach,
            (std::vector<std::string>{"do_msgsnd", "do_msgrcv", "ksys_msgget", "ksys_msgctl"}));
  EXPECT_EQ(pick(Mechanism::PosixMq, f).family, HookFamily::Fentry);
  EXPECT_EQ(pick(Mechanism::SysvShm, f).family, HookFamily::Fentry);
  // No socket length tracepoints before 6.3: fexit on sock_sendmsg/sock_recvmsg.
  const auto sock = pick(Mechanism::Unix, f);
  EXPECT_EQ(sock.family, HookFamily::Fentry);
  EXPECT_EQ(sock.attach, (std::vector<std::string>{"sock_sendmsg", "sock_recvmsg"}));
  ASSERT_FALSE(sock.rejected.empty());
  EXPECT_EQ(sock.rejected[0], "tp_btf: sock_send_length not found");
  // Pipes never use fentry (splice/vmsplice/tee bypass pipe_write/pipe_read).
  EXPECT_EQ(pick(Mechanism::PipeFifo, f).family, HookFamily::TpBtf);
}

TEST(Hooks, MissingFunctionFallsBack) {
  auto f = kernel_6_1();
  f.has_function = [](const std::string& n) { return n != "do_mq_open"; };
  const auto mq = pick(Mechanism::PosixMq, f);
  EXPECT_EQ(mq.family, HookFamily::TpBtf);
  ASSERT_EQ(mq.rejected.size(), 1U);
  EXPECT_EQ(mq.rejected[0], "fentry: do_mq_open not found");
}

TEST(Hooks, ForcedFamily) {
  const auto f = kernel_6_18();
  for (const auto& c : choose_hooks(f, HookFamily::Tracepoint)) {
    EXPECT_EQ(c.family, HookFamily::Tracepoint) << mechanism_name(c.mechanism);
  }
  const auto pipe = pick(Mechanism::PipeFifo, f, HookFamily::Tracepoint);
  EXPECT_EQ(pipe.attach.size(), 11U);
  EXPECT_EQ(pipe.attach.front(), "syscalls/sys_exit_write");
  // Forcing a family this kernel refuses leaves every mechanism without a hook.
  for (const auto& c : choose_hooks(f, HookFamily::Fentry)) EXPECT_FALSE(c.family) << mechanism_name(c.mechanism);
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
