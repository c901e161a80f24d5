// The program planner (kernel/planner.h) on every hook setup a kernel can end up with, without a
// kernel: which programs load and where function hooks attach, the kind masks, the syscall table
// and the wait path. And every program it can name exists in the BPF object (opened, not loaded).
#include "kernel/planner.h"

#include <gtest/gtest.h>
#include <sys/syscall.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <set>
#include <string>
#include <vector>

#include "ipctrace_bpf.skel.h"
#include "kernel/kinds.h"
#include "kernels.h"

namespace ipctrace {
namespace {

using test::kernel_6_1;
using test::kernel_6_18;
using test::kernel_6_18_with_fentry;

constexpr uint32_t bit(int kind) { return IPCT_KIND_BIT(kind); }
constexpr uint32_t kPipes = bit(IPCT_KIND_PIPE) | bit(IPCT_KIND_FIFO);
// sysv_shm's syscalls move no data: its kind is in no mask (signals are on no syscall path).
constexpr uint32_t kQueues = bit(IPCT_KIND_SYSV_MSG) | bit(IPCT_KIND_POSIX_MQ);
constexpr uint32_t kSockets = bit(IPCT_KIND_UNIX_STREAM) | bit(IPCT_KIND_UNIX_DGRAM) | bit(IPCT_KIND_UNIX_SEQPACKET) |
                              bit(IPCT_KIND_TCP) | bit(IPCT_KIND_UDP);

ProgramPlan plan(const std::vector<HookChoice>& hooks, bool cast, bool wait = true) {
  auto p = plan_programs(hooks, PlanOptions{wait, cast});
  EXPECT_TRUE(p.ok()) << p.error().message();
  return p.ok() ? *p : ProgramPlan{};
}

std::vector<std::string> names(const ProgramPlan& p) {
  std::vector<std::string> out;
  for (const auto& prog : p.programs) out.push_back(prog.name);
  return out;
}

std::vector<HookChoice> sockets_on_sys_exit() {
  KernelFacts f = kernel_6_18();
  f.has_btf_tracepoint = [](const std::string& n) { return n != "sock_send_length" && n != "sock_recv_length"; };
  return choose_hooks(f, HookFamily::Tracepoint);
}

std::string fn(const char* syscall) { return syscall_function(syscall); }

TEST(Planner, TracepointsWithTheCast) {
  const ProgramPlan p = plan(choose_hooks(kernel_6_18()), true);
  EXPECT_EQ(names(p), (std::vector<std::string>{"ipct_sys_exit_cast", "ipct_sock_send_btf", "ipct_sock_recv_btf",
                                                "ipct_signal_btf", "ipct_sys_enter_cast", "ipct_cgroup_mkdir_btf"}));
  EXPECT_EQ(p.cgroup_program, "ipct_cgroup_mkdir_btf");
  for (const auto& prog : p.programs) EXPECT_EQ(prog.function, "") << prog.name;
  EXPECT_EQ(p.sys_exit_kinds, kPipes | kQueues);
  EXPECT_EQ(p.fexit_kinds, 0U);
  EXPECT_EQ(p.wait, WaitPath::SysEnter);
  EXPECT_TRUE(p.task_storage);
  EXPECT_FALSE(p.inflight_lru);
  // Pipes, queues and shm on sys_exit; the receiving calls for wait time; sockets sends are not.
  EXPECT_EQ(p.sys_table[SYS_write], IPCT_SYS_WRITE);
  EXPECT_EQ(p.sys_table[SYS_preadv2], IPCT_SYS_PREAD);
  EXPECT_EQ(p.sys_table[SYS_vmsplice], IPCT_SYS_VMSPLICE);
  EXPECT_EQ(p.sys_table[SYS_msgsnd], IPCT_SYS_MSGSND);
  EXPECT_EQ(p.sys_table[SYS_mq_notify], IPCT_SYS_MQ_NOTIFY);
  EXPECT_EQ(p.sys_table[SYS_shmat], IPCT_SYS_SHMAT);
  EXPECT_EQ(p.sys_table[SYS_recvmmsg], IPCT_SYS_RECVMMSG);
  EXPECT_EQ(p.sys_table[SYS_sendto], IPCT_SYS_NONE);
  EXPECT_EQ(p.sys_table[SYS_getpid], IPCT_SYS_NONE);
  size_t followed = 0;
  for (uint8_t code : p.sys_table) followed += code != IPCT_SYS_NONE ? 1 : 0;
  // pipes; recvfrom/msg/mmsg; sendmmsg's exit (the end of the socket tracepoints' count of its
  // messages); SysV queues; POSIX queues; shm
  EXPECT_EQ(followed, 14U + 3U + 1U + 4U + 5U + 4U);
  EXPECT_EQ(p.sys_table[SYS_sendmmsg], IPCT_SYS_SENDMMSG);
  EXPECT_TRUE(p.mmsg_index);
  EXPECT_EQ(p.sys_table[SYS_sendfile], IPCT_SYS_SENDFILE);
  // Sockets on their tracepoints: their ends of splice and sendfile are counted on sys_exit.
  EXPECT_EQ(p.splice_kinds, kSockets);
  ASSERT_EQ(p.hooks.size(), 8U);
  EXPECT_EQ(p.hooks[0], (AttachedHook{Mechanism::PipeFifo, HookFamily::TpBtf, {"ipct_sys_exit_cast"}}));
  EXPECT_EQ(p.hooks[1],
            (AttachedHook{Mechanism::Unix, HookFamily::TpBtf, {"ipct_sock_send_btf", "ipct_sock_recv_btf"}}));
  EXPECT_EQ(p.hooks[6], (AttachedHook{Mechanism::Signal, HookFamily::TpBtf, {"ipct_signal_btf"}}));
  EXPECT_EQ(p.hooks[7], (AttachedHook{Mechanism::PipeFifo, HookFamily::TpBtf, {"ipct_sys_enter_cast"}}));
}

TEST(Planner, TracepointsWithoutTheCastKeepWaitStartsInTheLru) {
  const ProgramPlan p = plan(choose_hooks(kernel_6_18()), false);
  EXPECT_EQ(names(p), (std::vector<std::string>{"ipct_sys_exit_btf", "ipct_sock_send_btf", "ipct_sock_recv_btf",
                                                "ipct_signal_btf", "ipct_sys_enter_btf", "ipct_cgroup_mkdir_btf"}));
  EXPECT_FALSE(p.task_storage);
  EXPECT_TRUE(p.inflight_lru);
}

TEST(Planner, RawTracepoints) {
  const ProgramPlan p = plan(choose_hooks(kernel_6_18(), HookFamily::RawTp), true);
  EXPECT_EQ(names(p), (std::vector<std::string>{"ipct_sys_exit_raw", "ipct_sock_send_raw", "ipct_sock_recv_raw",
                                                "ipct_signal_raw", "ipct_sys_enter_raw", "ipct_cgroup_mkdir_raw"}));
  EXPECT_EQ(p.cgroup_program, "ipct_cgroup_mkdir_raw");
  EXPECT_EQ(p.sys_exit_kinds, kPipes | kQueues);
  EXPECT_FALSE(p.task_storage);
  EXPECT_TRUE(p.inflight_lru);
}

TEST(Planner, SocketsOnSysExitBeforeTheSocketTracepoints) {
  const ProgramPlan p = plan(sockets_on_sys_exit(), true);
  EXPECT_EQ(names(p), (std::vector<std::string>{"ipct_sys_exit_cast", "ipct_signal_btf", "ipct_sys_enter_cast",
                                                "ipct_cgroup_mkdir_btf"}));
  EXPECT_EQ(p.sys_exit_kinds, kPipes | kSockets | kQueues);
  EXPECT_EQ(p.sys_table[SYS_sendto], IPCT_SYS_SENDTO);
  EXPECT_EQ(p.sys_table[SYS_sendmmsg], IPCT_SYS_SENDMMSG);
  EXPECT_EQ(p.sys_table[SYS_splice], IPCT_SYS_SPLICE);
  EXPECT_EQ(p.sys_table[SYS_sendfile], IPCT_SYS_SENDFILE);
  EXPECT_EQ(p.splice_kinds, 0U);  // sys_exit counts the sockets anyway
}

// Datagram sockets on the socket tracepoints count sendmmsg's messages off per thread; the call's
// exit ends the count: on sys_exit where the syscall path has it, else on sendmmsg's own function
// exit where function hooks load, else on a sys_exit added for it alone. Where the sockets are on
// a syscall path there is no count to end.
TEST(Planner, SendmmsgOnTheSocketTracepointsEndsItsCountAtTheCallsExit) {
  EXPECT_FALSE(plan(sockets_on_sys_exit(), true).mmsg_index);
  EXPECT_FALSE(plan(choose_hooks(kernel_6_1()), false).mmsg_index);  // sockets on function hooks

  const ProgramPlan fn615 = plan(choose_hooks(kernel_6_18_with_fentry()), true);
  EXPECT_TRUE(fn615.mmsg_index);
  EXPECT_FALSE(fn615.has("ipct_sys_exit_cast"));
  EXPECT_EQ(fn615.sys_table[SYS_sendmmsg], IPCT_SYS_NONE);
  const auto fx = std::find_if(fn615.programs.begin(), fn615.programs.end(),
                               [](const PlannedProgram& p) { return p.name == "ipct_fx_sendmmsg"; });
  ASSERT_NE(fx, fn615.programs.end());
  EXPECT_EQ(fx->function, fn("sendmmsg"));
  EXPECT_EQ(fn615.fexit_kinds & kSockets, 0U);  // it counts no socket there

  std::vector<HookChoice> unix_only = choose_hooks(kernel_6_18());
  std::erase_if(unix_only, [](const HookChoice& h) { return h.mechanism != Mechanism::Unix; });
  const ProgramPlan u = plan(unix_only, true, false);
  EXPECT_TRUE(u.mmsg_index);
  EXPECT_TRUE(u.has("ipct_sys_exit_cast"));
  EXPECT_EQ(u.sys_exit_kinds, 0U);
  size_t followed = 0;
  for (uint8_t code : u.sys_table) followed += code != IPCT_SYS_NONE ? 1 : 0;
  EXPECT_EQ(followed, 1U);
  EXPECT_EQ(u.sys_table[SYS_sendmmsg], IPCT_SYS_SENDMMSG);
}

TEST(Planner, FunctionHooksBefore615TimeReceivesOnFunctionEntries) {
  const ProgramPlan p = plan(choose_hooks(kernel_6_1()), false);
  const std::vector<PlannedProgram> expected = {
      {"ipct_fx_pipe_read_any", "pipe_read"},
      {"ipct_fx_pipe_write_any", "pipe_write"},
      {"ipct_fx_splice", fn("splice")},
      {"ipct_fx_tee", fn("tee")},
      {"ipct_fx_vmsplice", fn("vmsplice")},
      {"ipct_fx_sendfile64", fn("sendfile64")},
      {"ipct_fx_read", fn("read")},
      {"ipct_fx_readv", fn("readv")},
      {"ipct_fx_write", fn("write")},
      {"ipct_fx_writev", fn("writev")},
      {"ipct_fx_sendto", fn("sendto")},
      {"ipct_fx_sendmsg", fn("sendmsg")},
      {"ipct_fx_sendmmsg", fn("sendmmsg")},
      {"ipct_fx_recvfrom", fn("recvfrom")},
      {"ipct_fx_recvmsg", fn("recvmsg")},
      {"ipct_fx_recvmmsg", fn("recvmmsg")},
      {"ipct_fx_msgsnd", fn("msgsnd")},
      {"ipct_fx_msgrcv", fn("msgrcv")},
      {"ipct_fx_msgget", fn("msgget")},
      {"ipct_fx_msgctl", fn("msgctl")},
      {"ipct_fx_mq_open", fn("mq_open")},
      {"ipct_fx_mq_unlink", fn("mq_unlink")},
      {"ipct_fx_mq_timedsend", fn("mq_timedsend")},
      {"ipct_fx_mq_timedreceive", fn("mq_timedreceive")},
      {"ipct_fx_mq_notify", fn("mq_notify")},
      {"ipct_fx_shmget", fn("shmget")},
      {"ipct_fx_shmat", fn("shmat")},
      {"ipct_fx_shmdt", fn("shmdt")},
      {"ipct_fx_shmctl", fn("shmctl")},
      {"ipct_signal_btf", ""},
      {"ipct_fe_pipe_read_any", "pipe_read"},
      {"ipct_fe_read", fn("read")},
      {"ipct_fe_readv", fn("readv")},
      {"ipct_fe_recvfrom", fn("recvfrom")},
      {"ipct_fe_recvmsg", fn("recvmsg")},
      {"ipct_fe_recvmmsg", fn("recvmmsg")},
      {"ipct_fe_msgrcv", fn("msgrcv")},
      {"ipct_fe_mq_timedreceive", fn("mq_timedreceive")},
      {"ipct_cgroup_mkdir_btf", ""},  // signals' tracepoint family; tp_btf with function hooks alone
  };
  EXPECT_EQ(p.programs, expected);
  EXPECT_EQ(p.sys_exit_kinds, 0U);
  EXPECT_EQ(p.fexit_kinds, kPipes | kSockets | kQueues);
  EXPECT_EQ(p.splice_kinds, 0U);
  for (uint8_t code : p.sys_table) EXPECT_EQ(code, IPCT_SYS_NONE);
  EXPECT_EQ(p.wait, WaitPath::Functions);
  EXPECT_FALSE(p.task_storage);
  EXPECT_TRUE(p.inflight_lru);
  EXPECT_EQ(p.hooks.back(),
            (AttachedHook{Mechanism::PipeFifo,
                          HookFamily::Fentry,
                          {"ipct_fe_pipe_read_any", "ipct_fe_read", "ipct_fe_readv", "ipct_fe_recvfrom",
                           "ipct_fe_recvmsg", "ipct_fe_recvmmsg", "ipct_fe_msgrcv", "ipct_fe_mq_timedreceive"}}));
}

TEST(Planner, FunctionHooksFrom615WithSocketTracepoints) {
  const ProgramPlan p = plan(choose_hooks(kernel_6_18_with_fentry()), true);
  // Sockets stay on their tracepoints; their receiving syscalls' functions come in for wait time
  // only (fexit_kinds has no socket kind, so those exits count no socket data twice).
  EXPECT_EQ(p.fexit_kinds, kPipes | kQueues);
  EXPECT_EQ(p.splice_kinds, kSockets);  // on the splice and sendfile functions' exits
  EXPECT_TRUE(p.has("ipct_sock_send_btf"));
  EXPECT_FALSE(p.has("ipct_sys_exit_cast"));
  EXPECT_FALSE(p.has("ipct_sys_enter_cast"));
  // The wait path's hook, then sendmmsg's exit (SendmmsgOnTheSocketTracepointsEndsItsCountAtTheCallsExit)
  ASSERT_GE(p.hooks.size(), 2U);
  EXPECT_EQ(p.hooks.back(), (AttachedHook{Mechanism::Inet, HookFamily::Fentry, {"ipct_fx_sendmmsg"}}));
  const std::vector<std::string> wait = p.hooks[p.hooks.size() - 2].programs;
  EXPECT_EQ(wait,
            (std::vector<std::string>{"ipct_fe_pipe_read_anon", "ipct_fe_pipe_read_fifo", "ipct_fx_read",
                                      "ipct_fe_read", "ipct_fx_readv", "ipct_fe_readv", "ipct_fx_recvfrom",
                                      "ipct_fe_recvfrom", "ipct_fx_recvmsg", "ipct_fe_recvmsg", "ipct_fx_recvmmsg",
                                      "ipct_fe_recvmmsg", "ipct_fe_msgrcv", "ipct_fe_mq_timedreceive"}));
  EXPECT_EQ(p.wait, WaitPath::Functions);
}

TEST(Planner, WithoutAPipeHookTheSocketTracepointsKeepSpliceAndSendfile) {
  std::vector<HookChoice> hooks = choose_hooks(kernel_6_18());
  std::erase_if(hooks, [](const HookChoice& h) { return h.mechanism == Mechanism::PipeFifo; });
  const ProgramPlan p = plan(hooks, true);
  EXPECT_TRUE(p.has("ipct_sock_send_btf"));
  EXPECT_EQ(p.splice_kinds, 0U);  // no path counts them at the call's exit: the tracepoints do
}

// io_uring's completion program counts what no other hook of the setup sees, in the syscall path's
// family: on 6.18's tracepoints the pipes' reads and writes (the socket tracepoints see io_uring's
// sends and receives), every splice and tee end but a splice into a socket; with function hooks
// before 6.3 the sockets' (the pipe's functions see its reads and writes).
TEST(Planner, IoUringCompletionsCountWhatNoOtherHookSees) {
  constexpr uint32_t kSpliceRead = bit(IPCT_KIND_UNIX_STREAM) | bit(IPCT_KIND_TCP);
  const auto with_uring = [](const std::vector<HookChoice>& hooks, bool cast) {
    auto p = plan_programs(hooks, PlanOptions{true, cast, true});
    EXPECT_TRUE(p.ok()) << p.error().message();
    return p.ok() ? *p : ProgramPlan{};
  };
  const ProgramPlan tp = with_uring(choose_hooks(kernel_6_18()), true);
  EXPECT_TRUE(tp.has("ipct_uring_cast"));
  EXPECT_EQ(tp.hooks.back(), (AttachedHook{Mechanism::PipeFifo, HookFamily::TpBtf, {"ipct_uring_cast"}}));
  EXPECT_EQ(tp.uring_rw_kinds, kPipes);
  EXPECT_EQ(tp.uring_splice_out_kinds, kPipes);
  EXPECT_EQ(tp.uring_splice_in_kinds, kPipes | kSpliceRead);

  EXPECT_TRUE(with_uring(choose_hooks(kernel_6_18()), false).has("ipct_uring_btf"));
  const ProgramPlan raw = with_uring(choose_hooks(kernel_6_18(), HookFamily::RawTp), true);
  EXPECT_TRUE(raw.has("ipct_uring_raw"));
  EXPECT_FALSE(raw.has("ipct_uring_cast"));

  const ProgramPlan sys = with_uring(sockets_on_sys_exit(), true);
  EXPECT_EQ(sys.uring_rw_kinds, kPipes | kSockets);
  EXPECT_EQ(sys.uring_splice_out_kinds, kPipes | kSockets);
  EXPECT_EQ(sys.uring_splice_in_kinds, kPipes | kSockets);

  const ProgramPlan fn61 = with_uring(choose_hooks(kernel_6_1()), false);
  EXPECT_TRUE(fn61.has("ipct_uring_btf"));  // typed, beside the function hooks
  EXPECT_EQ(fn61.uring_rw_kinds, kSockets);
  EXPECT_EQ(fn61.uring_splice_out_kinds, kPipes | kSockets);
  EXPECT_EQ(fn61.uring_splice_in_kinds, kPipes | kSockets);

  const ProgramPlan fn618 = with_uring(choose_hooks(kernel_6_18_with_fentry()), true);
  EXPECT_EQ(fn618.uring_rw_kinds, 0U);
  EXPECT_EQ(fn618.uring_splice_out_kinds, kPipes);
  EXPECT_EQ(fn618.uring_splice_in_kinds, kPipes | kSpliceRead);

  // Without the request in the tracepoint: no program, nothing counted.
  const ProgramPlan old = plan(choose_hooks(kernel_6_18()), true);
  EXPECT_FALSE(old.has("ipct_uring_cast"));
  EXPECT_EQ(old.uring_rw_kinds | old.uring_splice_out_kinds | old.uring_splice_in_kinds, 0U);
  // Function hooks alone (--hooks fentry on 6.1: signals go unhooked): no tracepoint family to
  // take, no program, nothing counted, and probe says so.
  const ProgramPlan fentry = with_uring(choose_hooks(kernel_6_1(), HookFamily::Fentry), false);
  EXPECT_FALSE(fentry.has("ipct_uring_btf"));
  EXPECT_EQ(fentry.uring_rw_kinds | fentry.uring_splice_out_kinds | fentry.uring_splice_in_kinds, 0U);
  // Without pipes, the program is listed under the sockets it serves.
  std::vector<HookChoice> no_pipes = choose_hooks(kernel_6_18());
  std::erase_if(no_pipes, [](const HookChoice& h) { return h.mechanism == Mechanism::PipeFifo; });
  EXPECT_EQ(with_uring(no_pipes, true).hooks.back().mechanism, Mechanism::Unix);
  // Signals alone: nothing for io_uring to count, no program.
  const std::vector<HookChoice> signals = {{Mechanism::Signal, HookFamily::TpBtf, {"signal_generate"}, {}}};
  EXPECT_FALSE(with_uring(signals, true).has("ipct_uring_cast"));
}

// What `ipctrace probe` lists as not seen, per mechanism and setup.
TEST(Planner, PathsNotSeenFollowTheHooksAndTheKernel) {
  const std::string skip =
      "io_uring requests with IOSQE_CQE_SKIP_SUCCESS (no completion is posted), completions that overflow the "
      "completion queue, multishot reads and the intermediate completions of multishot receives";
  const std::string aio = "Linux AIO (io_submit) reads and writes";
  const std::string fixed = "the input of an io_uring splice from a registered file (SPLICE_F_FD_IN_FIXED)";
  const std::string batched = "io_uring splice into a socket: one send per batch of 16 pipe buffers, not per request";
  const std::string no_rw = "io_uring reads and writes, sends and receives (no usable io_uring_complete hook here)";
  const std::string no_splice = "io_uring splice and tee (no usable io_uring_complete hook here)";
  const PlanOptions uring{true, true, true};
  const PlanOptions old{true, true, false};
  const auto tp = choose_hooks(kernel_6_18());
  EXPECT_EQ(paths_not_seen(tp, Mechanism::PipeFifo, uring), (std::vector<std::string>{skip, aio, fixed}));
  EXPECT_EQ(paths_not_seen(tp, Mechanism::Unix, uring), (std::vector<std::string>{fixed, batched}));
  EXPECT_EQ(paths_not_seen(tp, Mechanism::PipeFifo, old), (std::vector<std::string>{no_rw, aio, no_splice}));
  EXPECT_EQ(paths_not_seen(tp, Mechanism::SysvMsg, uring), std::vector<std::string>{});
  EXPECT_EQ(paths_not_seen(tp, Mechanism::Signal, uring), std::vector<std::string>{});
  // 6.1's function hooks: the pipe's functions see io_uring's reads and writes, the socket
  // syscalls' functions do not.
  const auto fn = choose_hooks(kernel_6_1());
  EXPECT_EQ(paths_not_seen(fn, Mechanism::PipeFifo, uring), (std::vector<std::string>{fixed}));
  EXPECT_EQ(paths_not_seen(fn, Mechanism::Inet, uring), (std::vector<std::string>{skip, aio, fixed}));
}

TEST(Planner, WaitTimeOff) {
  for (bool cast : {false, true}) {
    const ProgramPlan p = plan(choose_hooks(kernel_6_18()), cast, false);
    EXPECT_EQ(p.wait, WaitPath::None);
    EXPECT_EQ(p.hooks.size(), 7U);
    EXPECT_FALSE(p.task_storage);
    EXPECT_FALSE(p.inflight_lru);
    EXPECT_EQ(p.sys_table[SYS_recvfrom], IPCT_SYS_NONE);
    EXPECT_EQ(p.sys_table[SYS_read], IPCT_SYS_READ);  // pipes still
    const ProgramPlan f = plan(choose_hooks(kernel_6_1()), cast, false);
    for (const auto& prog : f.programs) EXPECT_FALSE(prog.name.starts_with("ipct_fe_")) << prog.name;
  }
  // Signals alone cannot time anything: no wait path, and the tracer says so.
  const std::vector<HookChoice> signals = {{Mechanism::Signal, HookFamily::TpBtf, {"signal_generate"}, {}}};
  EXPECT_EQ(plan(signals, true).wait, WaitPath::None);
  EXPECT_EQ(plan(signals, true).splice_kinds, 0U);
}

TEST(Planner, RefusesWhatWouldCountTwiceOrNotAtAll) {
  // Without cgroup events: no cgroup_mkdir program.
  {
    const std::vector<HookChoice> raw{{Mechanism::Signal, HookFamily::RawTp, {"signal_generate"}, {}}};
    PlanOptions without;
    without.cgroup_events = false;
    auto p = plan_programs(raw, without);
    ASSERT_TRUE(p.ok()) << p.error().message();
    EXPECT_EQ(p->cgroup_program, "");
    EXPECT_FALSE(p->has("ipct_cgroup_mkdir_raw"));
    auto with = plan_programs(raw, PlanOptions{});
    ASSERT_TRUE(with.ok());
    EXPECT_EQ(with->cgroup_program, "ipct_cgroup_mkdir_raw");
  }
  auto none = plan_programs({}, PlanOptions{});
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.error().message(), "no IPC mechanism has a usable hook on this kernel");
  const std::vector<HookChoice> unusable = {{Mechanism::PipeFifo, std::nullopt, {}, {"fentry: ..."}}};
  EXPECT_FALSE(plan_programs(unusable, PlanOptions{}).ok());
  const std::vector<HookChoice> two = {{Mechanism::PipeFifo, HookFamily::TpBtf, {"sys_exit"}, {}},
                                       {Mechanism::SysvMsg, HookFamily::RawTp, {"sys_exit"}, {}}};
  auto both = plan_programs(two, PlanOptions{});
  ASSERT_FALSE(both.ok());
  EXPECT_EQ(both.error().message(), "sys_exit chosen in two hook families");
  const std::vector<HookChoice> unknown = {{Mechanism::PipeFifo, HookFamily::TpBtf, {"sys_exit", "nope"}, {}}};
  EXPECT_EQ(plan_programs(unknown, PlanOptions{}).error().message(), "no tp_btf program for nope (pipe_fifo)");
  const std::vector<HookChoice> function = {{Mechanism::PipeFifo, HookFamily::Fentry, {"vfs_read"}, {}}};
  EXPECT_EQ(plan_programs(function, PlanOptions{}).error().message(), "no fentry program for vfs_read (pipe_fifo)");
}

TEST(Planner, EveryProgramItCanNameIsInTheObject) {
  std::set<std::string> wanted;
  for (const auto& hooks :
       {choose_hooks(kernel_6_18()), choose_hooks(kernel_6_18(), HookFamily::RawTp), choose_hooks(kernel_6_1()),
        choose_hooks(kernel_6_18_with_fentry()), sockets_on_sys_exit()}) {
    for (bool cast : {false, true}) {
      for (const auto& prog : plan(hooks, cast).programs) wanted.insert(prog.name);
      auto uring = plan_programs(hooks, PlanOptions{true, cast, true});
      ASSERT_TRUE(uring.ok());
      for (const auto& prog : uring->programs) wanted.insert(prog.name);
    }
  }
  // Every candidate of every mechanism, not only those these kernels choose.
  for (Mechanism m : kAllMechanisms) {
    for (const HookCandidate& c : hook_candidates(m)) {
      for (const AttachPoint& point : c.points) {
        for (const std::string& name : point.names) {
          if (c.family == HookFamily::Fentry) {
            const auto exit = function_program(name, false);
            ASSERT_TRUE(exit.has_value()) << name;
            wanted.insert(*exit);
          } else {
            for (bool cast : {false, true}) {
              const auto prog = tracepoint_program(name, c.family, cast);
              ASSERT_TRUE(prog.has_value()) << name << " " << family_name(c.family);
              wanted.insert(*prog);
            }
          }
        }
      }
    }
  }
  ipctrace_bpf* skel = ipctrace_bpf__open();
  ASSERT_NE(skel, nullptr) << "open the BPF object: " << std::strerror(errno);
  for (const std::string& name : wanted) {
    EXPECT_NE(bpf_object__find_program_by_name(skel->obj, name.c_str()), nullptr) << name;
  }
  // And the other way round: no program in bpf/ that the planner can never choose.
  size_t in_object = 0;
  bpf_program* prog = nullptr;
  bpf_object__for_each_program(prog, skel->obj) {
    ++in_object;
    EXPECT_TRUE(wanted.contains(bpf_program__name(prog))) << bpf_program__name(prog);
  }
  EXPECT_EQ(in_object, wanted.size());
  ipctrace_bpf__destroy(skel);
}

}  // namespace
}  // namespace ipctrace
