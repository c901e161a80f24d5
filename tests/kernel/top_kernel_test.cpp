// `ipctrace top` end to end on this kernel: batch frames parsed while a known workload runs, and
// the full-screen view driven through tmux (keys in, screen captured) as a person would use it.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "kernel_test.h"
#include "subprocess.h"
#include "tmux.h"
#include "workload.h"

using ::testing::HasSubstr;
using ::testing::Not;

using namespace ipctrace::test;
using namespace std::chrono_literals;

namespace {

// The name top shows for a test cgroup.
std::string shown_name(const TestCgroup& cg) { return "cgroup:" + cg.label(); }

std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);) lines.push_back(l);
  return lines;
}

std::vector<std::string> words(const std::string& line) {
  std::vector<std::string> w;
  std::istringstream in(line);
  for (std::string x; in >> x;) w.push_back(x);
  return w;
}

// The first line holding all of `parts`, or "".
std::string line_with(const std::string& text, const std::vector<std::string>& parts) {
  for (const auto& l : split_lines(text)) {
    bool all = true;
    for (const auto& p : parts) all = all && l.find(p) != std::string::npos;
    if (all) return l;
  }
  return {};
}

// Two flows that run until stopped: a pipe moving 16 KiB per write a few times a tick (many
// bytes, few messages) and a unix datagram socketpair moving 64 messages of 16 bytes per tick
// (few bytes, many messages). Sorted by bytes/s the pipe leads; by messages/s the socket does.
class SteadyFlows {
 public:
  SteadyFlows(const TestCgroup& bulk_w, const TestCgroup& bulk_r, const TestCgroup& chat_w, const TestCgroup& chat_r) {
    int p[2];
    if (pipe(p) != 0) throw std::runtime_error("pipe");
    int s[2];
    if (socketpair(AF_UNIX, SOCK_DGRAM, 0, s) != 0) throw std::runtime_error("socketpair");
    auto stop = [this] { return stop_->load(); };
    // Each child keeps only its own end: a reader sees EOF once its writer is gone.
    pids_.push_back(spawn(&bulk_r, [&] {
      close(p[1]);
      close(s[0]);
      close(s[1]);
      std::vector<char> buf(65536);
      while (read(p[0], buf.data(), buf.size()) > 0) {
      }
      return 0;
    }));
    pids_.push_back(spawn(&bulk_w, [&, stop] {
      close(p[0]);
      close(s[0]);
      close(s[1]);
      const std::vector<char> chunk(16384, 'b');
      while (!stop()) {
        for (int i = 0; i < 4; ++i) {
          if (write(p[1], chunk.data(), chunk.size()) < 0) return 1;
        }
        usleep(50 * 1000);
      }
      return 0;
    }));
    pids_.push_back(spawn(&chat_r, [&] {
      close(s[0]);
      close(p[0]);
      close(p[1]);
      char buf[64];
      while (recv(s[1], buf, sizeof(buf), 0) > 0) {
      }
      return 0;
    }));
    pids_.push_back(spawn(&chat_w, [&, stop] {
      close(s[1]);
      close(p[0]);
      close(p[1]);
      const char msg[16] = "hello";
      while (!stop()) {
        for (int i = 0; i < 64; ++i) {
          if (send(s[0], msg, sizeof(msg), 0) < 0) return 1;
        }
        usleep(50 * 1000);
      }
      return 0;
    }));
    close(p[0]);
    close(p[1]);
    close(s[0]);
    close(s[1]);
  }
  ~SteadyFlows() {
    stop_->store(true);
    for (pid_t pid : pids_) {
      // Readers end when their writer closes; anything still running after a second is killed.
      for (int i = 0; i < 100 && kill(pid, 0) == 0; ++i) {
        int status = 0;
        if (waitpid(pid, &status, WNOHANG) == pid) break;
        usleep(10 * 1000);
      }
      kill(pid, SIGKILL);
      waitpid(pid, nullptr, WNOHANG);
    }
  }
  SteadyFlows(const SteadyFlows&) = delete;
  SteadyFlows& operator=(const SteadyFlows&) = delete;
  SteadyFlows(SteadyFlows&&) = delete;
  SteadyFlows& operator=(SteadyFlows&&) = delete;

 private:
  Shared<std::atomic<bool>> stop_;
  std::vector<pid_t> pids_;
};

// The row index (0-based among table rows) of the first line naming `name` in a captured screen.
int row_of(const std::string& screen, const std::string& name) {
  int row = -1;
  bool in_table = false;
  for (const auto& l : split_lines(screen)) {
    if (!in_table) {
      in_table = l.rfind("SRC", 0) == 0 || l.rfind("ENDPOINT", 0) == 0;
      continue;
    }
    ++row;
    if (l.find(name) != std::string::npos) return row;
  }
  return -1;
}

}  // namespace

TEST(TopCommand, BatchFramesShowTheExactTotalsOfAKnownWorkload) {
  IPCTRACE_REQUIRE_KERNEL();
  TestCgroup writer_cg("top-w");
  TestCgroup reader_cg("top-r");
  BackgroundProcess p({ipctrace_binary(), "top", "--batch", "-n", "2", "-d", "2s"});
  ASSERT_TRUE(p.wait_for_stderr("top: tracing this node", 30s)) << p.finish(0ms).err;
  ASSERT_TRUE(pipe_between(writer_cg, reader_cg, 8, 1024));
  const ProcessResult r = p.finish(30s);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, Not(HasSubstr("\x1b"))) << "terminal control codes in batch output";

  // Two frames separated by one blank line, each starting with the title line.
  std::vector<std::vector<std::string>> frames(1);
  for (const auto& l : split_lines(r.out)) {
    if (l.rfind("ipctrace top - ", 0) == 0 && !frames.back().empty()) frames.emplace_back();
    frames.back().push_back(l);
  }
  ASSERT_EQ(frames.size(), 2U) << r.out;
  const std::string w = shown_name(writer_cg);
  const std::string rd = shown_name(reader_cg);
  for (size_t i = 0; i < frames.size(); ++i) {
    const auto& f = frames[i];
    ASSERT_GE(f.size(), 8U) << r.out;
    EXPECT_THAT(f[0], HasSubstr(" - every 2s")) << f[0];
    EXPECT_EQ(f[1].find("records lost 0"), f[1].size() - std::string("records lost 0").size()) << f[1];
    EXPECT_EQ(f[2].rfind("hooks: ", 0), 0U) << f[2];
    EXPECT_EQ(words(f[6]), (std::vector<std::string>{"SRC", "DST", "KIND", "MSG/S", "BYTES/S", "MSGS", "BYTES", "WAIT",
                                                     "SRC-PROC", "DST-PROC"}));
    std::string row;
    for (const auto& l : f) {
      if (l.rfind(w + " ", 0) == 0) row = l;
    }
    ASSERT_FALSE(row.empty()) << "no row from " << w << " in frame " << i << ":\n" << r.out;
    const auto cells = words(row);
    ASSERT_GE(cells.size(), 11U) << row;
    EXPECT_EQ(cells[1], rd);
    EXPECT_EQ(cells[2], "pipe");
    // Totals are exact: 8 writes, 8,192 bytes. The second frame's rates: nothing moved since. The
    // last two cells: the writing and the reading process, "comm[pid]".
    const size_t n = cells.size();
    EXPECT_EQ(cells[n - 6], "8") << row;
    EXPECT_EQ(cells[n - 5] + " " + cells[n - 4], "8.00 KiB") << row;
    // (the workload's processes are forks of this one, with its task name).
    std::string comm;
    std::getline(std::ifstream("/proc/self/comm"), comm);
    for (const std::string& proc : {cells[n - 2], cells[n - 1]}) {
      EXPECT_EQ(proc.rfind(comm + "[", 0), 0U) << row;
      EXPECT_TRUE(proc.ends_with("]")) << row;
      EXPECT_GT(std::stoul(proc.substr(comm.size() + 1)), 1UL) << row;
    }
    EXPECT_NE(cells[n - 2], cells[n - 1]) << "writer and reader are two processes: " << row;
    if (i == 1) {
      EXPECT_EQ(cells[3], "0") << row;
      EXPECT_EQ(cells[4] + " " + cells[5], "0 B/s") << row;
    }
  }
}

TEST(TopCommand, TheTerminalViewSortsFiltersTogglesAndQuits) {
  IPCTRACE_REQUIRE_KERNEL();
  if (!Tmux::installed()) {
    if (in_ci()) FAIL() << "tmux is missing (tools/install-deps.sh installs it)";
    GTEST_SKIP() << "tmux is missing";
  }
  TestCgroup bulk_w("top-bulk-w");
  TestCgroup bulk_r("top-bulk-r");
  TestCgroup chat_w("top-chat-w");
  TestCgroup chat_r("top-chat-r");
  char dir_template[] = "/tmp/ipctrace-top-XXXXXX";
  ASSERT_NE(mkdtemp(dir_template), nullptr);
  const std::string dir = dir_template;
  const std::string rc_file = dir + "/rc";
  struct Cleanup {
    std::string dir;
    ~Cleanup() {
      unlink((dir + "/rc").c_str());
      rmdir(dir.c_str());
    }
  } cleanup{dir};

  Tmux tmux;
  const std::string command = ipctrace_binary() + " top -d 1s; echo $? > " + rc_file;
  ASSERT_TRUE(tmux.start(command, 200, 40));
  // Wait for the view before the workload: the flows must start after the programs are attached.
  std::string screen =
      tmux.wait_for([](const std::string& s) { return s.find("ipctrace top - ") != std::string::npos; }, 30s);
  ASSERT_THAT(screen, HasSubstr("ipctrace top - ")) << screen;

  SteadyFlows flows(bulk_w, bulk_r, chat_w, chat_r);
  const std::string bulk = shown_name(bulk_w);
  const std::string chat = shown_name(chat_w);
  auto both_moving = [&](const std::string& s) {
    const std::string a = line_with(s, {bulk, "pipe"});
    const std::string b = line_with(s, {chat, "unix_dgram"});
    return !a.empty() && !b.empty() && a.find(" 0 B/s") == std::string::npos && b.find(" 0 B/s") == std::string::npos;
  };
  screen = tmux.wait_for(both_moving, 20s);
  ASSERT_TRUE(both_moving(screen)) << screen;
  // The row names both ends and the kind.
  EXPECT_FALSE(line_with(screen, {bulk, shown_name(bulk_r), "pipe"}).empty()) << screen;
  EXPECT_FALSE(line_with(screen, {chat, shown_name(chat_r), "unix_dgram"}).empty()) << screen;
  EXPECT_THAT(screen, HasSubstr("sort BYTES/S desc")) << screen;
  EXPECT_LT(row_of(screen, bulk), row_of(screen, chat)) << screen;

  // m: by messages per second, the chatty socket leads.
  tmux.keys({"m"});
  screen = tmux.wait_for(
      [&](const std::string& s) {
        return s.find("sort MSG/S desc") != std::string::npos && row_of(s, chat) >= 0 && row_of(s, bulk) >= 0 &&
               row_of(s, chat) < row_of(s, bulk);
      },
      5s);
  EXPECT_THAT(screen, HasSubstr("sort MSG/S desc")) << screen;
  EXPECT_LT(row_of(screen, chat), row_of(screen, bulk)) << screen;

  // k + "pipe" + Enter: only the pipe is left.
  tmux.keys({"k"});
  tmux.keys({"pipe", "Enter"});
  screen = tmux.wait_for([&](const std::string& s) { return s.find("filter kind=pipe") != std::string::npos; }, 5s);
  EXPECT_THAT(screen, HasSubstr("filter kind=pipe")) << screen;
  EXPECT_GE(row_of(screen, bulk), 0) << screen;
  EXPECT_EQ(row_of(screen, chat), -1) << screen;

  // c clears the filter; v switches to the endpoints view.
  tmux.keys({"c"});
  tmux.keys({"v"});
  screen = tmux.wait_for([&](const std::string& s) { return s.find("view endpoints") != std::string::npos; }, 5s);
  EXPECT_THAT(screen, HasSubstr("view endpoints - sort B/S desc - filter none")) << screen;
  EXPECT_FALSE(line_with(screen, {"ENDPOINT", "FLOWS", "IN B/S", "OUT B/S"}).empty()) << screen;
  EXPECT_GE(row_of(screen, shown_name(bulk_r)), 0) << screen;
  EXPECT_GE(row_of(screen, chat), 0) << screen;

  // The smallest terminal it draws in: still a clean screen, nothing wider than it; below that,
  // it says so.
  tmux.resize(68, 12);
  screen = tmux.wait_for([&](const std::string& s) { return s.find("ENDPOINT") != std::string::npos; }, 5s);
  EXPECT_THAT(screen, HasSubstr("ENDPOINT")) << screen;
  for (const auto& l : split_lines(screen)) EXPECT_LE(l.size(), 68U) << l;
  tmux.resize(50, 12);
  screen = tmux.wait_for([&](const std::string& s) { return s.find("terminal too small") != std::string::npos; }, 5s);
  EXPECT_EQ(split_lines(screen).at(0), "terminal too small (50x12): needs 68x12") << screen;

  // q quits with status 0.
  tmux.keys({"q"});
  const std::string rc = Tmux::first_line_within(rc_file, 10s);
  EXPECT_EQ(rc, "0");
}

TEST(TopCommand, WithoutPrivilegesSaysWhyAndPointsAtRemote) {
  IPCTRACE_REQUIRE_KERNEL();
  const ProcessResult r =
      run_process({"/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all",
                   "--bounding-set=-all", ipctrace_binary(), "top", "-b", "-n", "1"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("top: cannot trace here: missing privileges: CAP_BPF, CAP_PERFMON")) << r.err;
  EXPECT_THAT(r.err, HasSubstr("--remote URL reads a running agent")) << r.err;
  EXPECT_TRUE(r.out.empty());
}
