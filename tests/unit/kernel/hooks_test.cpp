#include "kernel/hooks.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "kernels.h"

using namespace ipctrace;
using namespace ipctrace::test;

namespace {

std::string sys(const char* name) { return syscall_function(name); }

HookChoice pick(Mechanism m, const KernelFacts& f, std::optional<HookFamily> only = std::nullopt) {
  return choose_hook(m, f, only);
}

}  // namespace

TEST(Hooks, EveryMechanismHasCandidatesCheapestFirst) {
  for (Mechanism m : kAllMechanisms) {
    const auto& c = hook_candidates(m);
    ASSERT_FALSE(c.empty()) << mechanism_name(m);
    // Typed (plain loads) before untyped (a helper call per read) for every attach point, and
    // function hooks before the sys_exit tracepoint, which slows every syscall.
    EXPECT_EQ(c.back().family, HookFamily::RawTp) << mechanism_name(m);
    bool seen_sys_exit = false;
    for (const auto& cand : c) {
      EXPECT_FALSE(cand.points.empty()) << mechanism_name(m);
      const bool sys_exit = cand.points.front().names.front() == "sys_exit";
      if (cand.family == HookFamily::Fentry) {
        EXPECT_FALSE(seen_sys_exit) << mechanism_name(m);
      }
      seen_sys_exit |= sys_exit;
    }
  }
  // Every syscall-path mechanism has a function-hook candidate.
  for (Mechanism m : {Mechanism::PipeFifo, Mechanism::Unix, Mechanism::Inet, Mechanism::SysvMsg, Mechanism::PosixMq,
                      Mechanism::SysvShm}) {
    bool fentry = false;
    for (const auto& cand : hook_candidates(m)) fentry |= cand.family == HookFamily::Fentry;
    EXPECT_TRUE(fentry) << mechanism_name(m);
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
  EXPECT_EQ(pick(Mechanism::SysvMsg, f).rejected,
            (std::vector<std::string>{"fentry: fentry programs do not work on this kernel"}));
  // The pipe's two function candidates lose for one reason, said once.
  EXPECT_EQ(pick(Mechanism::PipeFifo, f).rejected,
            (std::vector<std::string>{"fentry: fentry programs do not work on this kernel"}));
}

TEST(Hooks, WithoutTpBtfRawTracepointsAreChosen) {
  auto f = kernel_6_18();
  f.working.erase(HookFamily::TpBtf);
  for (const auto& c : choose_hooks(f)) {
    EXPECT_EQ(c.family, HookFamily::RawTp) << mechanism_name(c.mechanism);
    EXPECT_NE(std::find(c.rejected.begin(), c.rejected.end(), "tp_btf: tp_btf programs do not work on this kernel"),
              c.rejected.end());
  }
  // Sockets: the untyped socket tracepoints come before any sys_exit path.
  EXPECT_EQ(pick(Mechanism::Unix, f).attach, (std::vector<std::string>{"sock_send_length", "sock_recv_length"}));
}

TEST(Hooks, On61FunctionHooksAreChosenWithTheOlderPipeNames) {
  const auto f = kernel_6_1();
  const auto pipe = pick(Mechanism::PipeFifo, f);
  EXPECT_EQ(pipe.family, HookFamily::Fentry);
  EXPECT_EQ(pipe.attach, (std::vector<std::string>{"pipe_read", "pipe_write", sys("splice"), sys("tee"),
                                                   sys("vmsplice"), sys("sendfile64")}));
  ASSERT_EQ(pipe.rejected.size(), 1U);
  EXPECT_EQ(pipe.rejected[0], "fentry: anon_pipe_read not found");
  EXPECT_EQ(pick(Mechanism::SysvMsg, f).attach,
            (std::vector<std::string>{sys("msgsnd"), sys("msgrcv"), sys("msgget"), sys("msgctl")}));
  EXPECT_EQ(pick(Mechanism::PosixMq, f).family, HookFamily::Fentry);
  EXPECT_EQ(pick(Mechanism::SysvShm, f).family, HookFamily::Fentry);
  // No socket length tracepoints before 6.3: the socket syscalls' functions.
  const auto sock = pick(Mechanism::Unix, f);
  EXPECT_EQ(sock.family, HookFamily::Fentry);
  EXPECT_EQ(sock.attach.front(), sys("read"));
  EXPECT_EQ(sock.attach.size(), 12U);  // read ... recvmmsg, splice, sendfile64
  ASSERT_EQ(sock.rejected.size(), 2U);
  EXPECT_EQ(sock.rejected[0], "tp_btf: sock_send_length not found");
  EXPECT_EQ(sock.rejected[1], "raw_tp: sock_send_length not found");
  EXPECT_EQ(pick(Mechanism::Signal, f).family, HookFamily::TpBtf);
}

TEST(Hooks, From615ThePipeAndFifoFunctionsAreHookedApart) {
  const auto f = kernel_6_18_with_fentry();
  const auto pipe = pick(Mechanism::PipeFifo, f);
  EXPECT_EQ(pipe.family, HookFamily::Fentry);
  EXPECT_EQ(pipe.attach,
            (std::vector<std::string>{"anon_pipe_read", "anon_pipe_write", "fifo_pipe_read", "fifo_pipe_write",
                                      sys("splice"), sys("tee"), sys("vmsplice"), sys("sendfile64")}));
  // Sockets keep their tracepoints, as cheap as a function hook and exact for sendmmsg.
  EXPECT_EQ(pick(Mechanism::Unix, f).attach, (std::vector<std::string>{"sock_send_length", "sock_recv_length"}));
}

TEST(Hooks, WithoutSocketTracepointsOrFunctionHooksSocketsUseSysExit) {
  auto f = kernel_6_1();
  f.working.erase(HookFamily::Fentry);
  const auto sock = pick(Mechanism::Unix, f);
  EXPECT_EQ(sock.family, HookFamily::TpBtf);
  EXPECT_EQ(sock.attach, (std::vector<std::string>{"sys_exit"}));
  ASSERT_EQ(sock.rejected.size(), 3U);
  EXPECT_EQ(sock.rejected[2], "fentry: fentry programs do not work on this kernel");
  EXPECT_EQ(pick(Mechanism::Inet, f).attach, (std::vector<std::string>{"sys_exit"}));
  EXPECT_EQ(pick(Mechanism::PipeFifo, f).family, HookFamily::TpBtf);
}

TEST(Hooks, ForcedFamily) {
  const auto f = kernel_6_18();
  for (const auto& c : choose_hooks(f, HookFamily::RawTp)) {
    EXPECT_EQ(c.family, HookFamily::RawTp) << mechanism_name(c.mechanism);
  }
  EXPECT_EQ(pick(Mechanism::Unix, f, HookFamily::RawTp).rejected.front(), "tp_btf: not the forced hook family");
  // Forcing a family this kernel refuses leaves every mechanism without a hook.
  for (const auto& c : choose_hooks(f, HookFamily::Fentry)) EXPECT_FALSE(c.family) << mechanism_name(c.mechanism);
  // `tracepoint` allows every tracepoint family and no function hook: on 6.1 it is the sys_exit
  // path that function hooks replace, for comparing the two on one kernel.
  const auto f61 = kernel_6_1();
  for (const auto& c : choose_hooks(f61, HookFamily::Tracepoint)) {
    EXPECT_EQ(c.family, HookFamily::TpBtf) << mechanism_name(c.mechanism);
  }
  EXPECT_EQ(pick(Mechanism::PipeFifo, f61, HookFamily::Tracepoint).attach, (std::vector<std::string>{"sys_exit"}));
  EXPECT_EQ(pick(Mechanism::PipeFifo, f61, HookFamily::Tracepoint).rejected.front(),
            "fentry: not the forced hook family");
  for (const auto& c : choose_hooks(f61, HookFamily::Fentry)) {
    EXPECT_EQ(c.family == HookFamily::Fentry, c.mechanism != Mechanism::Signal) << mechanism_name(c.mechanism);
  }
}

TEST(Hooks, NothingWorksNothingChosen) {
  KernelFacts none;
  for (const auto& c : choose_hooks(none)) {
    EXPECT_FALSE(c.family);
    // One reason per family: every family is refused, and each says so once.
    std::set<HookFamily> families;
    for (const auto& cand : hook_candidates(c.mechanism)) families.insert(cand.family);
    EXPECT_EQ(c.rejected.size(), families.size()) << mechanism_name(c.mechanism);
  }
}

TEST(Hooks, SyscallFunctionNames) {
#if defined(__x86_64__)
  EXPECT_EQ(syscall_function("msgsnd"), "__x64_sys_msgsnd");
#endif
  EXPECT_EQ(syscall_of_function("__x64_sys_mq_timedreceive"), "mq_timedreceive");
  EXPECT_FALSE(syscall_of_function("pipe_read"));
}

TEST(Hooks, FamilyNamesRoundTrip) {
  for (HookFamily f : kAllHookFamilies) EXPECT_EQ(parse_family(family_name(f)), f);
  EXPECT_FALSE(parse_family("kprobe"));
  EXPECT_FALSE(parse_family("auto"));
}
