// `ipctrace flows`, the binary, end to end: a known workload between two fresh cgroups runs
// while it traces; its JSON and table must show the flow between them with exact figures.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "kernel/probe.h"
#include "kernel_test.h"
#include "subprocess.h"
#include "workload.h"

using ::testing::HasSubstr;

using namespace ipctrace::test;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

const json* find_flow(const json& report, const char* kind, uint64_t src, uint64_t dst) {
  for (const auto& f : report["flows"]) {
    if (f["kind"] == kind && f["src"].value("cgroup_id", uint64_t{0}) == src &&
        f["dst"].value("cgroup_id", uint64_t{0}) == dst) {
      return &f;
    }
  }
  return nullptr;
}

}  // namespace

TEST(FlowsCommand, JsonShowsTheExactFlowBetweenTwoCgroups) {
  IPCTRACE_REQUIRE_KERNEL();
  TestCgroup writer_cg("flows-w");
  TestCgroup reader_cg("flows-r");
  BackgroundProcess p({ipctrace_binary(), "flows", "--duration", "3s", "--output", "json"});
  ASSERT_TRUE(p.wait_for_stderr("flows: tracing for", 30s)) << p.finish(0ms).err;
  ASSERT_TRUE(pipe_between(writer_cg, reader_cg, 10, 1000));
  const ProcessResult r = p.finish(30s);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const json report = json::parse(r.out);
  EXPECT_GE(report["duration_seconds"].get<double>(), 2.9);
  // The family the probe chooses here: function hooks where the kernel allows them.
  const ipctrace::ProbeReport probe = ipctrace::run_probe(ipctrace::ProbeOptions{});
  EXPECT_EQ(report["hooks"]["pipe_fifo"],
            ipctrace::working_families(probe).contains(ipctrace::HookFamily::Fentry) ? "fentry" : "tp_btf");
  EXPECT_EQ(report["lost"]["fold_map_full"], 0);
  const json* f = find_flow(report, "pipe", writer_cg.id(), reader_cg.id());
  ASSERT_NE(f, nullptr) << report.dump(2);
  EXPECT_EQ((*f)["messages"], 10);
  EXPECT_EQ((*f)["bytes"], 10000);
  EXPECT_EQ((*f)["received_bytes"], 10000);
  EXPECT_EQ((*f)["counted_at"], "sender");
  EXPECT_EQ((*f)["channels"].size(), 1U);
  // Rates over the whole traced duration, not the last collection interval (where nothing moved).
  const double duration = report["duration_seconds"].get<double>();
  EXPECT_EQ((*f)["messages_per_second"].get<double>(), 10 / duration);
  EXPECT_EQ((*f)["bytes_per_second"].get<double>(), 10000 / duration);
  const json& src = (*f)["src"];
  EXPECT_EQ(src["type"], "cgroup");
  const std::string path = writer_cg.label();
  EXPECT_EQ(src["cgroup_path"], path);
  EXPECT_EQ(src["namespaces"]["ipc"], self_ns("ipc"));
  EXPECT_EQ(src["namespaces"]["net"], self_ns("net"));
  // The reader waited for the data: its wait time is reported with the flow.
  ASSERT_FALSE((*f)["receiver_wait"].is_null());
  EXPECT_GE((*f)["receiver_wait"]["count"].get<int>(), 1);
}

// An AF_INET client connected to an AF_INET6 dual-stack [::] listener: one end is 127.0.0.1, the
// other ::ffff:127.0.0.1, and the flow joins them, with the byte at both ends.
TEST(FlowsCommand, AnIpv4ClientOfADualStackListenerIsJoined) {
  IPCTRACE_REQUIRE_KERNEL();
  TestCgroup client_cg("flows-v4c");
  TestCgroup server_cg("flows-v6s");
  const int listener = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(listener, 0);
  const int off = 0;
  ASSERT_EQ(setsockopt(listener, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof(off)), 0);
  sockaddr_in6 any{};
  any.sin6_family = AF_INET6;
  any.sin6_addr = in6addr_any;
  ASSERT_EQ(bind(listener, reinterpret_cast<sockaddr*>(&any), sizeof(any)), 0);
  ASSERT_EQ(listen(listener, 1), 0);
  socklen_t alen = sizeof(any);
  ASSERT_EQ(getsockname(listener, reinterpret_cast<sockaddr*>(&any), &alen), 0);
  BackgroundProcess p({ipctrace_binary(), "flows", "--duration", "3s", "--output", "json"});
  ASSERT_TRUE(p.wait_for_stderr("flows: tracing for", 30s)) << p.finish(0ms).err;
  const pid_t server = spawn(&server_cg, [&] {
    const int c = accept(listener, nullptr, nullptr);
    char byte = 0;
    return c >= 0 && recv(c, &byte, 1, 0) == 1 ? 0 : 1;
  });
  const pid_t client = spawn(&client_cg, [&] {
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = any.sin6_port;
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    const int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (connect(s, reinterpret_cast<sockaddr*>(&to), sizeof(to)) != 0) return 1;
    return send(s, "x", 1, 0) == 1 ? 0 : 2;
  });
  ASSERT_EQ(wait_exit(client), 0);
  ASSERT_EQ(wait_exit(server), 0);
  close(listener);
  const ProcessResult r = p.finish(30s);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const json report = json::parse(r.out);
  const json* f = find_flow(report, "tcp", client_cg.id(), server_cg.id());
  ASSERT_NE(f, nullptr) << report.dump(2);
  EXPECT_EQ((*f)["messages"], 1);
  EXPECT_EQ((*f)["bytes"], 1);
  EXPECT_EQ((*f)["received_bytes"], 1);
  const std::string id =
      "tcp:127.0.0.1:" + std::to_string(ntohs(any.sin6_port)) + "@netns=" + std::to_string(self_ns("net"));
  EXPECT_EQ((*f)["channels"], json::array({json{{"id", id}, {"path", nullptr}}}));
}

// Statsd-style traffic: an unconnected UDP socket sends 11 datagrams to 4 receivers (two in one
// cgroup, two in another, one of them IPv6) with sendto(). Each destination is its own channel,
// joined to its receiver: two flows with exact figures, and nothing to an unknown peer.
TEST(FlowsCommand, UnconnectedUdpSendsAreJoinedPerDestination) {
  IPCTRACE_REQUIRE_KERNEL();
  TestCgroup sender_cg("flows-us");
  TestCgroup a_cg("flows-ua");
  TestCgroup b_cg("flows-ub");
  struct Receiver {
    int family;
    const char* host;
    int fd = -1;
    sockaddr_storage addr{};
    socklen_t len = 0;
  };
  std::vector<Receiver> rx{{AF_INET, "127.0.0.1"}, {AF_INET, "127.0.0.1"}, {AF_INET6, "::1"}, {AF_INET, "127.0.0.1"}};
  for (Receiver& r : rx) {
    r.fd = socket(r.family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    ASSERT_GE(r.fd, 0);
    if (r.family == AF_INET) {
      auto* a = reinterpret_cast<sockaddr_in*>(&r.addr);
      a->sin_family = AF_INET;
      inet_pton(AF_INET, r.host, &a->sin_addr);
      r.len = sizeof(sockaddr_in);
    } else {
      auto* a = reinterpret_cast<sockaddr_in6*>(&r.addr);
      a->sin6_family = AF_INET6;
      inet_pton(AF_INET6, r.host, &a->sin6_addr);
      r.len = sizeof(sockaddr_in6);
    }
    ASSERT_EQ(bind(r.fd, reinterpret_cast<sockaddr*>(&r.addr), r.len), 0);
    ASSERT_EQ(getsockname(r.fd, reinterpret_cast<sockaddr*>(&r.addr), &r.len), 0);
  }
  const std::vector<int> datagrams{3, 4, 2, 2};  // to rx[0..3]; rx[0], rx[1] in a_cg; rx[2], rx[3] in b_cg
  BackgroundProcess p({ipctrace_binary(), "flows", "--duration", "3s", "--output", "json"});
  ASSERT_TRUE(p.wait_for_stderr("flows: tracing for", 30s)) << p.finish(0ms).err;
  const pid_t sender = spawn(&sender_cg, [&] {
    const int s4 = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    const int s6 = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    for (size_t i = 0; i < rx.size(); ++i) {
      for (int n = 0; n < datagrams[i]; ++n) {
        const int s = rx[i].family == AF_INET ? s4 : s6;
        if (sendto(s, "0123456789", 10, 0, reinterpret_cast<const sockaddr*>(&rx[i].addr), rx[i].len) != 10) return 1;
      }
    }
    return 0;
  });
  ASSERT_EQ(wait_exit(sender), 0);
  for (TestCgroup* cg : {&a_cg, &b_cg}) {
    const size_t first = cg == &a_cg ? 0 : 2;
    const pid_t reader = spawn(cg, [&] {
      char buf[16];
      for (size_t i = first; i < first + 2; ++i) {
        for (int n = 0; n < datagrams[i]; ++n) {
          if (recv(rx[i].fd, buf, sizeof(buf), 0) != 10) return 1;
        }
      }
      return 0;
    });
    ASSERT_EQ(wait_exit(reader), 0);
  }
  for (const Receiver& r : rx) close(r.fd);
  const ProcessResult r = p.finish(30s);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const json report = json::parse(r.out);
  const json* to_a = find_flow(report, "udp", sender_cg.id(), a_cg.id());
  ASSERT_NE(to_a, nullptr) << report.dump(2);
  EXPECT_EQ((*to_a)["messages"], 7);
  EXPECT_EQ((*to_a)["bytes"], 70);
  EXPECT_EQ((*to_a)["received_messages"], 7);
  EXPECT_EQ((*to_a)["received_bytes"], 70);
  EXPECT_EQ((*to_a)["channels"].size(), 2U);
  const json* to_b = find_flow(report, "udp", sender_cg.id(), b_cg.id());
  ASSERT_NE(to_b, nullptr) << report.dump(2);
  EXPECT_EQ((*to_b)["messages"], 4);
  EXPECT_EQ((*to_b)["bytes"], 40);
  EXPECT_EQ((*to_b)["received_messages"], 4);
  EXPECT_EQ((*to_b)["received_bytes"], 40);
  EXPECT_EQ((*to_b)["channels"].size(), 2U);
  for (const auto& f : report["flows"]) {
    if (f["kind"] != "udp") continue;
    const bool ours = f["src"].value("cgroup_id", uint64_t{0}) == sender_cg.id() ||
                      f["dst"].value("cgroup_id", uint64_t{0}) == a_cg.id() ||
                      f["dst"].value("cgroup_id", uint64_t{0}) == b_cg.id();
    EXPECT_TRUE(!ours || &f == to_a || &f == to_b) << "another flow of the workload: " << f.dump();
  }
}

// A process that names itself with invalid UTF-8 (`printf 'A\377B' > /proc/self/comm`) and
// writes into a pipe once stopped `flows --output json` (nlohmann throws on such a string). Two
// such names, differing only in the invalid byte: both flows are reported, each with its name
// escaped (A\x{FF}B, A\x{FE}B), exact figures, valid JSON.
TEST(FlowsCommand, AProcessNameOfInvalidUtf8IsShownEscapedAndApart) {
  IPCTRACE_REQUIRE_KERNEL();
  TestCgroup ff_cg("flows-ff");
  TestCgroup fe_cg("flows-fe");
  TestCgroup reader_cg("flows-8r");
  int fds[2];
  ASSERT_EQ(pipe2(fds, O_CLOEXEC), 0);
  BackgroundProcess p({ipctrace_binary(), "flows", "--duration", "3s", "--output", "json"});
  ASSERT_TRUE(p.wait_for_stderr("flows: tracing for", 30s)) << p.finish(0ms).err;
  auto writer = [&](const char* name, size_t writes) {
    return [=] {
      if (prctl(PR_SET_NAME, name) != 0) return 1;
      const char buf[100] = {};
      for (size_t i = 0; i < writes; ++i) {
        if (write(fds[1], buf, sizeof(buf)) != static_cast<ssize_t>(sizeof(buf))) return 2;
      }
      return 0;
    };
  };
  ASSERT_EQ(wait_exit(spawn(&ff_cg, writer("A\377B", 3))), 0);
  ASSERT_EQ(wait_exit(spawn(&fe_cg, writer("A\376B", 2))), 0);
  ASSERT_EQ(wait_exit(spawn(&reader_cg,
                            [&] {
                              char buf[500];
                              size_t got = 0;
                              while (got < 500) {
                                const ssize_t n = read(fds[0], buf, sizeof(buf) - got);
                                if (n <= 0) return 1;
                                got += static_cast<size_t>(n);
                              }
                              return 0;
                            })),
            0);
  close(fds[0]);
  close(fds[1]);
  const ProcessResult r = p.finish(30s);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const json report = json::parse(r.out);
  const json* ff = find_flow(report, "pipe", ff_cg.id(), reader_cg.id());
  const json* fe = find_flow(report, "pipe", fe_cg.id(), reader_cg.id());
  ASSERT_NE(ff, nullptr) << report.dump(2);
  ASSERT_NE(fe, nullptr) << report.dump(2);
  EXPECT_EQ((*ff)["src"]["comm"], "A\\x{FF}B");
  EXPECT_EQ((*ff)["bytes"], 300);
  EXPECT_EQ((*fe)["src"]["comm"], "A\\x{FE}B");
  EXPECT_EQ((*fe)["bytes"], 200);
}

// --output wide: the table and, last, the process of each end by its task name and pid.
TEST(FlowsCommand, WideNamesTheProcessOfEachEnd) {
  IPCTRACE_REQUIRE_KERNEL();
  TestCgroup writer_cg("flows-ww");
  TestCgroup reader_cg("flows-wr");
  int fds[2];
  ASSERT_EQ(pipe2(fds, O_CLOEXEC), 0);
  BackgroundProcess p({ipctrace_binary(), "flows", "--duration", "3s", "--output", "wide", "--kind", "pipe"});
  ASSERT_TRUE(p.wait_for_stderr("flows: tracing for", 30s)) << p.finish(0ms).err;
  const pid_t writer = spawn(&writer_cg, [&] {
    if (prctl(PR_SET_NAME, "wide-writer") != 0) return 1;
    const std::vector<char> buf(1024, 'w');
    for (int i = 0; i < 4; ++i) {
      if (write(fds[1], buf.data(), buf.size()) != static_cast<ssize_t>(buf.size())) return 2;
    }
    return 0;
  });
  ASSERT_EQ(wait_exit(writer), 0);
  const pid_t reader = spawn(&reader_cg, [&] {
    if (prctl(PR_SET_NAME, "wide-reader") != 0) return 1;
    std::vector<char> buf(4096);
    size_t got = 0;
    while (got < buf.size()) {
      const ssize_t n = read(fds[0], buf.data() + got, buf.size() - got);
      if (n <= 0) return 2;
      got += static_cast<size_t>(n);
    }
    return 0;
  });
  ASSERT_EQ(wait_exit(reader), 0);
  close(fds[0]);
  close(fds[1]);
  const ProcessResult r = p.finish(30s);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(r.out.starts_with("KIND ")) << r.out;
  EXPECT_THAT(r.out, HasSubstr(" WAIT AVG SRC PROCESS              DST PROCESS\n")) << r.out;
  std::string row;
  std::istringstream lines(r.out);
  for (std::string line; std::getline(lines, line);) {
    if (line.find(writer_cg.label()) != std::string::npos) row = line;
  }
  ASSERT_FALSE(row.empty()) << r.out;
  EXPECT_THAT(row, HasSubstr(reader_cg.label())) << row;
  EXPECT_THAT(row, HasSubstr(" 4   4.00 KiB ")) << row;
  std::string writer_proc = "wide-writer[" + std::to_string(writer) + "]";
  writer_proc.resize(24, ' ');  // the column's width
  EXPECT_TRUE(row.ends_with(" " + writer_proc + " wide-reader[" + std::to_string(reader) + "]")) << row;
}

// Host processes in the root cgroup are one end per executable, named after the file the kernel
// exec'd, not after the comm (which a process sets, and which exec cuts to 15 bytes): two copies
// of the workload, ipct-host-daemon-one and -two, both "ipct-host-daemo" by comm, each write
// into a pipe of their own from the root cgroup to a reader in a test cgroup.
TEST(FlowsCommand, HostProcessesAreNamedByTheirExecutable) {
  IPCTRACE_REQUIRE_KERNEL();
  TestCgroup reader_cg("flows-hr");
  const TempDir tmp;
  const std::filesystem::path dir = tmp.path();
  const std::string one = dir / "ipct-host-daemon-one";
  const std::string two = dir / "ipct-host-daemon-two";
  std::filesystem::copy_file(IPCTRACE_TEST_WORKLOAD, one);
  std::filesystem::copy_file(IPCTRACE_TEST_WORKLOAD, two);
  int a[2];
  int b[2];
  ASSERT_EQ(pipe2(a, O_CLOEXEC), 0);
  ASSERT_EQ(pipe2(b, O_CLOEXEC), 0);
  const std::string root_procs = cgroup2_root() + "/cgroup.procs";
  BackgroundProcess p({ipctrace_binary(), "flows", "--duration", "3s", "--output", "json"});
  ASSERT_TRUE(p.wait_for_stderr("flows: tracing for", 30s)) << p.finish(0ms).err;
  // An exec'd writer of `bytes` bytes to `fd`, in the root cgroup whatever cgroup this test runs in.
  auto host_writer = [&](const std::string& exe, int fd, const char* bytes) {
    return spawn(nullptr, [&, fd, bytes] {
      std::ofstream(root_procs) << "0\n";
      if (dup2(fd, STDOUT_FILENO) < 0) return 1;
      execl(exe.c_str(), exe.c_str(), "write", bytes, static_cast<char*>(nullptr));
      return 2;
    });
  };
  ASSERT_EQ(wait_exit(host_writer(one, a[1], "3000")), 0);
  ASSERT_EQ(wait_exit(host_writer(two, b[1], "5000")), 0);
  close(a[1]);
  close(b[1]);
  ASSERT_EQ(run_in(&reader_cg,
                   [&] {
                     for (const auto& [fd, want] : {std::pair{a[0], 3000}, std::pair{b[0], 5000}}) {
                       std::vector<char> buf(static_cast<size_t>(want) + 1);
                       ssize_t got = 0;
                       for (ssize_t n; (n = read(fd, buf.data() + got, buf.size() - static_cast<size_t>(got))) > 0;)
                         got += n;
                       if (got != want) return 1;
                     }
                     return 0;
                   }),
            0);
  close(a[0]);
  close(b[0]);
  const ProcessResult r = p.finish(30s);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const json report = json::parse(r.out);
  std::map<std::string, const json*> from_host;
  for (const auto& f : report["flows"]) {
    if (f["kind"] == "pipe" && f["dst"].value("cgroup_id", uint64_t{0}) == reader_cg.id() &&
        f["src"].value("cgroup_path", "") == "/") {
      from_host[f["src"]["name"].get<std::string>()] = &f;
    }
  }
  ASSERT_EQ(from_host.size(), 2U) << report.dump(2);
  for (const auto& [name, bytes] : {std::pair{"ipct-host-daemon-one", 3000}, std::pair{"ipct-host-daemon-two", 5000}}) {
    const json* f = from_host["host:" + std::string(name)];
    ASSERT_NE(f, nullptr) << name << "\n" << report.dump(2);
    EXPECT_EQ((*f)["bytes"], bytes);
    EXPECT_EQ((*f)["messages"], 1);
    EXPECT_EQ((*f)["channels"].size(), 1U);
    EXPECT_EQ((*f)["src"]["exe"], name);
    EXPECT_EQ((*f)["src"]["container"], "host:" + std::string(name));
    EXPECT_EQ((*f)["src"]["comm"], "ipct-host-daemo");
    EXPECT_EQ((*f)["dst"]["name"], "cgroup:" + reader_cg.label());
  }
}

// Paths where the kernel knows them: a FIFO's (a name with a newline and an invalid byte, shown
// escaped) and a unix stream socket's bound name, in both directions of the connection (the
// server's replies leave from the socket accept() made, which shares its listener's name). The
// processes stay until the report is made: a path is found through a process that uses it.
TEST(FlowsCommand, FifoAndUnixSocketPathsAreShown) {
  IPCTRACE_REQUIRE_KERNEL();
  TestCgroup a_cg("flows-pa");
  TestCgroup b_cg("flows-pb");
  // On the disk's file system, whose device numbers the C library and the kernel encode apart
  // (a tmpfs's, major 0, the two encodings agree on).
  const TempDir tmp("/var/tmp");
  const std::string fifo = tmp.path() + "/odd\n" + static_cast<char>(0xff) + ".fifo";
  const std::string sock = tmp.path() + "/api.sock";
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  const int listener = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(listener, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, sock.c_str(), sizeof(addr.sun_path) - 1);
  ASSERT_EQ(bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ASSERT_EQ(listen(listener, 1), 0);
  int release[2];
  ASSERT_EQ(pipe2(release, O_CLOEXEC), 0);
  // A child's exit status within 10 s, or -1: killed (it waits for a peer that failed before its
  // open or accept). Every child is reaped, whatever ends the test.
  auto exit_within = [](pid_t pid) {
    for (int i = 0; i < 200; ++i) {
      int status = 0;
      if (waitpid(pid, &status, WNOHANG) == pid)
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      usleep(50'000);
    }
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
    return -1;
  };
  struct Children {
    std::vector<pid_t> pids;
    ~Children() {
      for (pid_t pid : pids) {
        kill(pid, SIGKILL);
        waitpid(pid, nullptr, 0);
      }
    }
  } children;
  BackgroundProcess p({ipctrace_binary(), "flows", "--duration", "4s", "--output", "json"});
  ASSERT_TRUE(p.wait_for_stderr("flows: tracing for", 30s)) << p.finish(0ms).err;
  // Each child waits for the end of file on the release pipe, once the test closes its write end
  // (the child's own copy closed first).
  auto wait_release = [&] {
    close(release[1]);
    char c;
    return read(release[0], &c, 1) >= 0;
  };
  // a: writes 700 bytes into the FIFO, then serves: reads 300 bytes, answers 1100.
  const pid_t a = spawn(&a_cg, [&] {
    const int w = open(fifo.c_str(), O_WRONLY | O_CLOEXEC);
    if (w < 0 || write(w, std::string(700, 'f').data(), 700) != 700) return 1;
    const int c = accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
    std::string buf(300, '\0');
    if (c < 0 || recv(c, buf.data(), buf.size(), MSG_WAITALL) != 300) return 2;
    if (send(c, std::string(1100, 's').data(), 1100, 0) != 1100) return 3;
    return wait_release() ? 0 : 4;
  });
  children.pids.push_back(a);
  // b: reads the FIFO, connects, sends 300 bytes, reads the 1100 of the answer.
  const pid_t b = spawn(&b_cg, [&] {
    const int r = open(fifo.c_str(), O_RDONLY | O_CLOEXEC);
    std::string buf(1100, '\0');
    if (r < 0 || read(r, buf.data(), 700) != 700) return 1;
    const int c = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (c < 0 || connect(c, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) != 0) return 2;
    if (send(c, std::string(300, 'c').data(), 300, 0) != 300) return 3;
    if (recv(c, buf.data(), 1100, MSG_WAITALL) != 1100) return 4;
    return wait_release() ? 0 : 5;
  });
  children.pids.push_back(b);
  const ProcessResult r = p.finish(30s);
  close(release[1]);
  children.pids.clear();
  EXPECT_EQ(exit_within(a), 0);
  EXPECT_EQ(exit_within(b), 0);
  close(release[0]);
  close(listener);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const json report = json::parse(r.out);
  const std::string shown_fifo = tmp.path() + "/odd\n\\x{FF}.fifo";  // the byte escaped, JSON's \n
  for (const auto& [kind, src, dst, bytes, path] : {std::tuple{"fifo", a_cg.id(), b_cg.id(), 700, shown_fifo},
                                                    std::tuple{"unix_stream", b_cg.id(), a_cg.id(), 300, sock},
                                                    std::tuple{"unix_stream", a_cg.id(), b_cg.id(), 1100, sock}}) {
    const json* f = find_flow(report, kind, src, dst);
    ASSERT_NE(f, nullptr) << kind << " " << bytes << "\n" << report.dump(2);
    EXPECT_EQ((*f)["bytes"], bytes);
    ASSERT_EQ((*f)["channels"].size(), 1U) << f->dump(2);
    EXPECT_EQ((*f)["channels"][0]["path"], path) << f->dump(2);
    EXPECT_TRUE((*f)["channels"][0]["id"].get<std::string>().starts_with(std::string(kind) + ":ino=")) << f->dump(2);
  }
}

TEST(FlowsCommand, TableKindFilterAndEarlyStop) {
  IPCTRACE_REQUIRE_KERNEL();
  TestCgroup writer_cg("flows-tw");
  TestCgroup reader_cg("flows-tr");
  // A long duration ended early by SIGINT: the report still comes, at once.
  BackgroundProcess p({ipctrace_binary(), "flows", "--duration", "5m", "--kind", "pipe"});
  ASSERT_TRUE(p.wait_for_stderr("flows: tracing for", 30s)) << p.finish(0ms).err;
  ASSERT_TRUE(pipe_between(writer_cg, reader_cg, 10, 1000));
  usleep(1100 * 1000);  // one collection
  const auto stopped = std::chrono::steady_clock::now();
  p.signal(SIGINT);
  const ProcessResult r = p.finish(30s);
  EXPECT_LT(std::chrono::steady_clock::now() - stopped, 5s);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(r.out.starts_with("KIND ")) << r.out;
  const std::string writer_path = writer_cg.label();
  bool found = false;
  std::istringstream lines(r.out);
  std::string line;
  while (std::getline(lines, line)) {
    EXPECT_FALSE(line.starts_with("unix") || line.starts_with("tcp")) << "the kind filter let through: " << line;
    if (line.starts_with("pipe ") && line.find("flows-tw") != std::string::npos &&
        line.find("flows-tr") != std::string::npos) {
      found = true;
      EXPECT_THAT(line, HasSubstr(" 10 ")) << line;
      EXPECT_THAT(line, HasSubstr("9.77 KiB")) << line;
    }
  }
  EXPECT_TRUE(found) << r.out;
}

TEST(FlowsCommand, WithoutPrivilegesSaysWhy) {
  IPCTRACE_REQUIRE_KERNEL();
  const ProcessResult r =
      run_process({"/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all",
                   "--bounding-set=-all", ipctrace_binary(), "flows", "--duration", "1s"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("missing privileges: CAP_BPF, CAP_PERFMON")) << r.err;
  EXPECT_TRUE(r.out.empty());
}
