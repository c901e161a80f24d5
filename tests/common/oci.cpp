#include "oci.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "subprocess.h"

namespace ipctrace::test {

namespace fs = std::filesystem;
using nlohmann::json;
using namespace std::chrono_literals;

namespace {

std::mt19937_64& rng() {
  static std::mt19937_64 gen{std::random_device{}()};
  return gen;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

void write_file(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::trunc);
  out << text;
  if (!out) throw std::runtime_error("cannot write " + path);
}

// Removes `dir` and the directories below it, deepest first (cgroup directories hold only
// kernel files, which go with their directory). True if it is gone.
bool remove_cgroup_tree(const std::string& dir) {
  if (DIR* d = opendir(dir.c_str())) {
    std::vector<std::string> children;
    while (const dirent* e = readdir(d)) {
      const std::string_view n = e->d_name;
      if (e->d_type == DT_DIR && n != "." && n != "..") children.emplace_back(n);
    }
    closedir(d);
    for (const auto& c : children) remove_cgroup_tree((fs::path(dir) / c).string());
  }
  return rmdir(dir.c_str()) == 0 || errno == ENOENT;
}

}  // namespace

std::vector<std::string> remove_cgroup_everywhere(const std::string& path) {
  std::vector<std::string> dirs;
  std::istringstream lines(read_file("/proc/self/mounts"));
  std::string line;
  while (std::getline(lines, line)) {
    std::istringstream f(line);
    std::string src;
    std::string dst;
    std::string type;
    if (f >> src >> dst >> type && (type == "cgroup" || type == "cgroup2")) {
      const std::string dir = (fs::path(dst) / fs::path(path).relative_path()).string();
      if (access(dir.c_str(), F_OK) != 0) continue;
      if (type == "cgroup2") {
        std::ofstream kill(dir + "/cgroup.kill");
        kill << "1\n";
      }
      dirs.push_back(dir);
    }
  }
  std::vector<std::string> left;
  for (const std::string& dir : dirs) {
    bool gone = false;
    for (int i = 0; i < 250 && !gone; ++i) {
      gone = remove_cgroup_tree(dir);
      if (!gone) std::this_thread::sleep_for(20ms);
    }
    if (!gone) left.push_back(dir);
  }
  return left;
}

namespace {

// The runtime spec bits every container shares (after runc's `runc spec`, without sysfs).
json base_config(const std::string& rootfs, const std::vector<std::string>& args, const std::string& cgroups_path,
                 const std::vector<OciMount>& mounts) {
  const json caps = {"CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"};
  json m = json::array({
      {{"destination", "/proc"}, {"type", "proc"}, {"source", "proc"}},
      {{"destination", "/dev"},
       {"type", "tmpfs"},
       {"source", "tmpfs"},
       {"options", {"nosuid", "strictatime", "mode=755", "size=65536k"}}},
      {{"destination", "/dev/pts"},
       {"type", "devpts"},
       {"source", "devpts"},
       {"options", {"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}}},
      {{"destination", "/dev/shm"},
       {"type", "tmpfs"},
       {"source", "shm"},
       {"options", {"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}}},
      {{"destination", "/dev/mqueue"},
       {"type", "mqueue"},
       {"source", "mqueue"},
       {"options", {"nosuid", "noexec", "nodev"}}},
      {{"destination", "/tmp"}, {"type", "tmpfs"}, {"source", "tmpfs"}, {"options", {"nosuid", "nodev", "mode=1777"}}},
  });
  for (const auto& b : mounts) {
    m.push_back({{"destination", b.container}, {"type", "bind"}, {"source", b.host}, {"options", {"rbind", "rw"}}});
  }
  return {
      {"ociVersion", "1.0.2"},
      {"process",
       {{"terminal", false},
        {"user", {{"uid", 0}, {"gid", 0}}},
        {"args", args},
        {"env", {"PATH=/bin", "HOME=/"}},
        {"cwd", "/"},
        {"capabilities",
         {{"bounding", caps}, {"effective", caps}, {"inheritable", caps}, {"permitted", caps}, {"ambient", caps}}},
        {"rlimits", {{{"type", "RLIMIT_NOFILE"}, {"hard", 1024}, {"soft", 1024}}}},
        {"noNewPrivileges", true}}},
      {"root", {{"path", rootfs}, {"readonly", true}}},
      {"mounts", m},
      {"linux",
       {{"cgroupsPath", cgroups_path},
        {"resources", {{"devices", {{{"allow", false}, {"access", "rwm"}}}}}},
        {"maskedPaths",
         {"/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list",
          "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware", "/proc/scsi"}},
        {"readonlyPaths", {"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"}}}},
  };
}

}  // namespace

std::string cgroup2_path_of(pid_t pid) {
  std::istringstream lines(read_file("/proc/" + std::to_string(pid) + "/cgroup"));
  std::string line;
  while (std::getline(lines, line)) {
    if (line.starts_with("0::")) return line.substr(3);
  }
  return {};
}

uint64_t ns_inode(pid_t pid, const char* name) {
  struct stat st {};
  const std::string path = "/proc/" + std::to_string(pid) + "/ns/" + name;
  if (stat(path.c_str(), &st) != 0) return 0;
  return st.st_ino;
}

std::string random_hex(size_t digits) {
  static constexpr std::string_view kHex = "0123456789abcdef";
  std::string out;
  out.reserve(digits);
  for (size_t i = 0; i < digits; ++i) out += kHex[rng()() % 16];
  return out;
}

std::string random_uuid() {
  return random_hex(8) + "-" + random_hex(4) + "-" + random_hex(4) + "-" + random_hex(4) + "-" + random_hex(12);
}

std::string find_program(const std::string& name) {
  std::vector<std::string> dirs;
  if (const char* path = std::getenv("PATH")) {
    std::istringstream parts(path);
    std::string d;
    while (std::getline(parts, d, ':')) {
      if (!d.empty()) dirs.push_back(d);
    }
  }
  dirs.emplace_back("/usr/sbin");
  dirs.emplace_back("/sbin");
  for (const auto& d : dirs) {
    const fs::path p = fs::path(d) / name;
    if (access(p.c_str(), X_OK) == 0) return p.string();
  }
  return {};
}

std::string OciRuntime::blocker() {
  std::string missing;
  if (find_program("runc").empty()) missing = "runc is not installed";
  if (access("/bin/busybox", X_OK) != 0) {
    missing += missing.empty() ? "" : "; ";
    missing += "/bin/busybox is missing (busybox-static)";
  }
  return missing;
}

OciRuntime::OciRuntime(const std::vector<std::string>& binaries) : runc_(find_program("runc")) {
  if (runc_.empty()) throw std::runtime_error("runc not found");
  std::string tmpl = (fs::temp_directory_path() / "ipctrace-oci-XXXXXX").string();
  if (mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp: " + std::string(std::strerror(errno)));
  dir_ = tmpl;
  cgroup_name_ = "ipctrace-oci-" + std::to_string(getpid()) + "-" + random_hex(8);
  rootfs_ = dir_ + "/rootfs";
  for (const char* d : {"bin", "dev", "proc", "sys", "tmp", "shared"}) fs::create_directories(rootfs_ + "/" + d);
  fs::copy_file("/bin/busybox", rootfs_ + "/bin/busybox");
  for (const char* link : {"sh", "sleep"}) fs::create_symlink("busybox", rootfs_ + "/bin/" + link);
  for (const auto& b : binaries) {
    const std::string to = rootfs_ + "/bin/" + fs::path(b).filename().string();
    fs::copy_file(b, to);
    fs::permissions(to, fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec | fs::perms::others_read |
                            fs::perms::others_exec);
  }
  fs::create_directories(dir_ + "/logs");
  fs::create_directories(dir_ + "/bundles");
}

OciRuntime::~OciRuntime() {
  // Foreground containers first (their runc processes are ours to reap), then every container.
  for (auto& c : containers_) {
    if (c.runc_pid > 0 && !c.exited) {
      runc_quiet({"kill", c.id, "KILL"});
      const auto deadline = std::chrono::steady_clock::now() + 10s;
      while (running(c) && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(20ms);
      if (!c.exited) {
        kill(c.runc_pid, SIGKILL);
        waitpid(c.runc_pid, nullptr, 0);
        c.exited = true;
      }
    }
  }
  for (size_t i = ids_.size(); i-- > 0;) {  // the pods' containers before their sandboxes
    runc_quiet({"kill", ids_[i], "KILL"});
    runc_quiet({"delete", "-f", ids_[i]});
  }
  remove_cgroups();
  std::error_code ec;
  fs::remove_all(dir_, ec);
  if (ec) std::fprintf(stderr, "oci: cannot remove %s: %s\n", dir_.c_str(), ec.message().c_str());
}

void OciRuntime::remove_cgroups() const {
  // The test cgroup sits below this process's cgroup in every hierarchy (runc places a relative
  // cgroupsPath there; the cgroup2 driver may go one level up from a systemd scope): try each
  // mount with each of this process's cgroup paths and their parents.
  std::vector<std::string> mounts;
  {
    std::istringstream lines(read_file("/proc/self/mounts"));
    std::string line;
    while (std::getline(lines, line)) {
      std::istringstream f(line);
      std::string src;
      std::string dst;
      std::string type;
      if (f >> src >> dst >> type && (type == "cgroup" || type == "cgroup2")) mounts.push_back(dst);
    }
  }
  std::vector<std::string> own;
  {
    std::istringstream lines(read_file("/proc/self/cgroup"));
    std::string line;
    while (std::getline(lines, line)) {
      const size_t colon = line.find(':', line.find(':') + 1);
      if (colon == std::string::npos) continue;
      for (fs::path p = line.substr(colon + 1);; p = p.parent_path()) {
        own.push_back(p.string());
        if (p == p.parent_path()) break;
      }
    }
  }
  std::vector<std::string> left;
  for (const auto& m : mounts) {
    for (const auto& o : own) {
      const std::string dir = (fs::path(m) / fs::path(o).relative_path() / cgroup_name_).string();
      if (access(dir.c_str(), F_OK) != 0) continue;
      bool gone = false;
      for (int i = 0; i < 100 && !gone; ++i) {
        gone = remove_cgroup_tree(dir);
        if (!gone) std::this_thread::sleep_for(20ms);
      }
      if (!gone) left.push_back(dir);
    }
  }
  for (const auto& d : left)
    std::fprintf(stderr, "oci: cannot remove cgroup %s: %s\n", d.c_str(), std::strerror(errno));
}

std::string OciRuntime::make_dir(const std::string& name) {
  std::string d = dir_ + "/volumes/" + name;
  fs::create_directories(d);
  return d;
}

std::string OciRuntime::bundle(const std::string& id, const std::string& config_json) {
  std::string b = dir_ + "/bundles/" + id;
  fs::create_directories(b);
  write_file(b + "/config.json", config_json);
  return b;
}

pid_t OciRuntime::spawn_runc(const std::vector<std::string>& args, const std::string& log) const {
  std::vector<std::string> argv{runc_};
  argv.insert(argv.end(), args.begin(), args.end());
  std::vector<char*> cargv;
  cargv.reserve(argv.size() + 1);
  for (auto& a : argv) cargv.push_back(a.data());
  cargv.push_back(nullptr);
  const pid_t pid = fork();
  if (pid < 0) throw std::runtime_error("fork");
  if (pid == 0) {
    const int out = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    const int in = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (out < 0 || in < 0) _exit(126);
    dup2(in, STDIN_FILENO);
    dup2(out, STDOUT_FILENO);
    dup2(out, STDERR_FILENO);
    execv(cargv[0], cargv.data());
    _exit(127);
  }
  return pid;
}

void OciRuntime::runc_quiet(const std::vector<std::string>& args) const {
  std::vector<std::string> argv{runc_};
  argv.insert(argv.end(), args.begin(), args.end());
  run_process(argv, 30s);
}

const OciPod& OciRuntime::start_pod(const std::string& k8s_namespace, const std::string& name,
                                    const std::vector<OciMount>& mounts) {
  OciPod pod;
  pod.k8s_namespace = k8s_namespace;
  pod.name = name;
  pod.uid = random_uuid();
  pod.sandbox_id = random_hex(64);
  const std::string cgroups = cgroup_name_ + "/kubepods/besteffort/pod" + pod.uid + "/" + pod.sandbox_id;
  json config = base_config(rootfs_, {"/bin/busybox", "sleep", "3600"}, cgroups, mounts);
  config["hostname"] = name;
  config["linux"]["namespaces"] = json::array(
      {{{"type", "pid"}}, {{"type", "network"}}, {{"type", "ipc"}}, {{"type", "uts"}}, {{"type", "mount"}}});
  config["annotations"] = {
      {"io.kubernetes.cri.container-type", "sandbox"}, {"io.kubernetes.cri.sandbox-id", pod.sandbox_id},
      {"io.kubernetes.cri.sandbox-name", name},        {"io.kubernetes.cri.sandbox-namespace", k8s_namespace},
      {"io.kubernetes.cri.sandbox-uid", pod.uid},
  };
  const std::string b = bundle(pod.sandbox_id, config.dump(2));
  const std::string log = dir_ + "/logs/" + name + "-sandbox.log";
  ids_.push_back(pod.sandbox_id);
  // Detached: runc returns once the sandbox runs; the sandbox keeps runc's stdio (the log).
  const pid_t runc = spawn_runc({"run", "-d", "--bundle", b, pod.sandbox_id}, log);
  int status = 0;
  while (waitpid(runc, &status, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    throw std::runtime_error("runc run -d (sandbox of pod " + name + ") failed: " + read_file(log));
  }
  const ProcessResult st = run_process({runc_, "state", pod.sandbox_id}, 30s);
  if (st.exit_code != 0) throw std::runtime_error("runc state " + pod.sandbox_id + ": " + st.err);
  pod.sandbox_pid = json::parse(st.out).at("pid").get<pid_t>();
  const std::string sandbox_cgroup = cgroup2_path_of(pod.sandbox_pid);
  if (sandbox_cgroup.empty()) throw std::runtime_error("no cgroup2 path for the sandbox of pod " + name);
  pod.cgroup_dir = fs::path(sandbox_cgroup).parent_path().string();
  return pods_.emplace_back(std::move(pod));
}

OciContainer& OciRuntime::run(const OciPod& pod, const std::string& name, const std::vector<std::string>& args,
                              const std::vector<OciMount>& mounts) {
  OciContainer c;
  c.id = random_hex(64);
  c.name = name;
  c.pod = &pod;
  c.log = dir_ + "/logs/" + pod.name + "-" + name + ".log";
  const std::string cgroups = cgroup_name_ + "/kubepods/besteffort/pod" + pod.uid + "/" + c.id;
  json config = base_config(rootfs_, args, cgroups, mounts);
  const std::string ns = "/proc/" + std::to_string(pod.sandbox_pid) + "/ns/";
  config["linux"]["namespaces"] = json::array({{{"type", "pid"}},
                                               {{"type", "mount"}},
                                               {{"type", "ipc"}, {"path", ns + "ipc"}},
                                               {{"type", "network"}, {"path", ns + "net"}},
                                               {{"type", "uts"}, {"path", ns + "uts"}}});
  config["annotations"] = {
      {"io.kubernetes.cri.container-type", "container"},          {"io.kubernetes.cri.container-name", name},
      {"io.kubernetes.cri.sandbox-id", pod.sandbox_id},           {"io.kubernetes.cri.sandbox-name", pod.name},
      {"io.kubernetes.cri.sandbox-namespace", pod.k8s_namespace}, {"io.kubernetes.cri.sandbox-uid", pod.uid},
  };
  const std::string b = bundle(c.id, config.dump(2));
  ids_.push_back(c.id);
  c.runc_pid = spawn_runc({"run", "--bundle", b, c.id}, c.log);
  return containers_.emplace_back(std::move(c));
}

bool OciRuntime::running(OciContainer& c) {
  if (c.exited || c.runc_pid <= 0) return false;
  int status = 0;
  const pid_t r = waitpid(c.runc_pid, &status, WNOHANG);
  if (r == 0 || (r < 0 && errno == EINTR)) return true;
  c.exited = true;
  if (r == c.runc_pid) {
    if (WIFEXITED(status)) c.exit_code = WEXITSTATUS(status);
    if (WIFSIGNALED(status)) c.exit_code = 128 + WTERMSIG(status);
  }
  return false;
}

int OciRuntime::wait(OciContainer& c, std::chrono::milliseconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (running(c)) {
    if (std::chrono::steady_clock::now() >= deadline) {
      c.timed_out = true;
      runc_quiet({"kill", c.id, "KILL"});
      const auto grace = std::chrono::steady_clock::now() + 10s;
      while (running(c) && std::chrono::steady_clock::now() < grace) std::this_thread::sleep_for(20ms);
      if (!c.exited) {
        kill(c.runc_pid, SIGKILL);
        waitpid(c.runc_pid, nullptr, 0);
        c.exited = true;
      }
      break;
    }
    std::this_thread::sleep_for(20ms);
  }
  return c.exit_code;
}

std::string OciRuntime::log_of(const OciContainer& c) { return read_file(c.log); }

}  // namespace ipctrace::test
