// The tracer test fixture: one tracer per hook setup (the automatic choice, tracepoints only,
// raw tracepoints, sockets on sys_exit, the typed syscall path without the cast), kept for the
// whole suite, and the helpers that read its exact totals. Shared by the kernel tests of the
// mechanisms (tracer_kernel_test.cpp) and of the conformance patterns (conformance_kernel_test.cpp);
// the suite is instantiated once, in tracer_kernel_test.cpp.
#pragma once

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <functional>
#include <iterator>
#include <map>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "kernel/probe.h"
#include "kernel/tracer.h"
#include "kernel_test.h"
#include "workload.h"

namespace ipctrace::test {

struct Totals {
  uint64_t msgs = 0;
  uint64_t bytes = 0;
  size_t entries = 0;
  ipct_ns_ids ns{};
  uint32_t tgid = 0;
};

// A way of choosing hooks: every path a kernel may end up on is exercised on this one.
struct HookSetup {
  const char* name;
  std::vector<HookChoice> (*choose)();
  bool without_rdonly_cast = false;  // TracerConfig::test_only_without_rdonly_cast
};

inline std::vector<HookChoice> auto_hooks() { return run_probe(ProbeOptions{}).hooks; }

inline std::vector<HookChoice> forced_hooks(HookFamily family) {
  ProbeOptions opts;
  opts.force_family = family;
  return run_probe(opts).hooks;
}

inline std::vector<HookChoice> raw_tp_hooks() { return forced_hooks(HookFamily::RawTp); }

// Tracepoints only: where function hooks work (the kernel matrix's 6.1), the sys_exit path they
// replace, so both families count the same workloads on one kernel.
inline std::vector<HookChoice> tracepoint_hooks() { return forced_hooks(HookFamily::Tracepoint); }

// As on kernels before 6.3 without function hooks, which lack the socket length tracepoints:
// sockets on sys_exit.
inline std::vector<HookChoice> no_sock_tracepoint_hooks() {
  const ProbeReport report = run_probe(ProbeOptions{});
  auto btf = KernelBtf::load();
  if (!btf) return {};
  std::shared_ptr<KernelBtf> kb = *btf;
  KernelFacts facts;
  facts.working = working_families(report);
  facts.has_function = [kb](const std::string& n) { return kb->has_function(n); };
  facts.has_btf_tracepoint = [kb](const std::string& n) {
    return n != "sock_send_length" && n != "sock_recv_length" && kb->has_btf_tracepoint(n);
  };
  return choose_hooks(facts, HookFamily::Tracepoint);
}

inline bool function_hooks_work() { return working_families(run_probe(ProbeOptions{})).contains(HookFamily::Fentry); }

inline std::ostream& operator<<(std::ostream& os, const HookSetup& s) { return os << s.name; }

class TracerTest : public testing::TestWithParam<HookSetup> {
 protected:
  static void TearDownTestSuite() {
    for (auto& [name, t] : tracers_) delete t;
    tracers_.clear();
    hooks_by_setup_.clear();
  }

  void SetUp() override {
    IPCTRACE_REQUIRE_KERNEL();
    const HookSetup& setup = GetParam();
    // One tracer per hook setup, started at its first test and kept until the suite ends:
    // gtest runs each test for every setup in turn, and a start costs seconds on an emulated
    // kernel. Tracers are independent (maps of their own), so each counts every workload.
    if (!tracers_.contains(setup.name)) {
      hooks_by_setup_[setup.name] = setup.choose();
      TracerConfig config;
      config.test_only_without_rdonly_cast = setup.without_rdonly_cast;
      auto t = Tracer::start(config, hooks_by_setup_[setup.name]);
      ASSERT_TRUE(t.ok()) << "tracer did not start: " << t.error().message();
      tracers_[setup.name] = std::move(t).value().release();
    }
    tracer_ = tracers_[setup.name];
    hooks_ = hooks_by_setup_[setup.name];
  }

  // Sum of the flows of `cg` with this kind and direction whose channel passes `match`.
  static Totals totals(const TestCgroup& cg, int kind, int dir,
                       const std::function<bool(const ipct_flow_key&)>& match = nullptr) {
    auto flows = tracer_->read_flows();
    EXPECT_TRUE(flows.ok()) << flows.error().message();
    Totals t;
    if (!flows) return t;
    for (const auto& f : *flows) {
      if (f.key.cgroup_id != cg.id() || f.key.kind != kind || f.key.dir != dir) continue;
      if (match && !match(f.key)) continue;
      t.msgs += f.msgs;
      t.bytes += f.bytes;
      t.entries++;
      t.ns = f.ns;
      t.tgid = f.tgid;
    }
    return t;
  }

  static std::function<bool(const ipct_flow_key&)> obj(uint64_t id) {
    return [id](const ipct_flow_key& k) { return k.ch.obj.id == id; };
  }

  // The name tag of unix datagram socket `ino`, from its receives' entries (0: none yet).
  static uint64_t recv_tag(uint64_t ino) {
    auto flows = tracer_->read_flows();
    uint64_t tag = 0;
    if (flows) {
      for (const auto& f : *flows) {
        if (f.key.kind == IPCT_KIND_UNIX_DGRAM && f.key.dir == IPCT_DIR_RECV && f.key.ch.obj.id == ino)
          tag = f.key.ch.obj.sk_tag;
      }
    }
    return tag;
  }

  // Sends of unix socket `from` to the name tagged `tag`, with no connected peer.
  static std::function<bool(const ipct_flow_key&)> named(uint64_t from, uint64_t tag) {
    return [=](const ipct_flow_key& k) { return k.ch.obj.id == from && k.ch.obj.sk_tag == tag && k.ch.obj.peer == 0; };
  }

  static std::vector<ipct_event> events_of(const TestCgroup& cg) {
    std::vector<ipct_event> out;
    auto n = tracer_->drain_events([&](const ipct_event& e) {
      if (e.cgroup_id == cg.id()) out.push_back(e);
    });
    EXPECT_TRUE(n.ok());
    return out;
  }

  static inline std::map<std::string, Tracer*> tracers_;
  static inline Tracer* tracer_ = nullptr;
  static inline std::vector<HookChoice> hooks_;
  static inline std::map<std::string, std::vector<HookChoice>> hooks_by_setup_;
};

inline uint64_t ino_of(int fd) {
  struct stat st {};
  fstat(fd, &st);
  return st.st_ino;
}

struct NsIds {
  uint32_t ipc, net, pid, mnt, uts, cgroup, user;
};
inline NsIds own_ns() {
  return {self_ns("ipc"), self_ns("net"),    self_ns("pid"), self_ns("mnt"),
          self_ns("uts"), self_ns("cgroup"), self_ns("user")};
}

inline bool write_all(int fd, const char* buf, size_t n) { return write(fd, buf, n) == static_cast<ssize_t>(n); }

// Whether process `pid` is inside system call `nr` and off the CPU (/proc/PID/syscall: its number
// first; "running" while it runs).
inline bool blocked_in(pid_t pid, long nr) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/syscall");
  std::string first;
  in >> first;
  return first == std::to_string(nr);
}

// The State letter of /proc/PID/stat ('S' asleep, 'T' stopped...), '?' if unreadable.
inline char state_of(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const size_t paren = text.rfind(')');
  return paren == std::string::npos || paren + 2 >= text.size() ? '?' : text[paren + 2];
}

}  // namespace ipctrace::test
