#include "identity.h"

#include <dirent.h>
#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstring>
#include <deque>
#include <initializer_list>
#include <map>
#include <nlohmann/json.hpp>
#include <utility>
#include <vector>

#include "fd.h"

namespace ipctrace {

namespace {

constexpr long kCgroup2SuperMagic = 0x63677270;  // CGROUP2_SUPER_MAGIC, <linux/magic.h>
constexpr int kFileidKernfs = 0xfe;              // FILEID_KERNFS, <linux/exportfs.h>

// ---------------------------------------------------------------------------------------------
// cgroup path conventions

bool is_lower_hex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }

bool is_hex_id(std::string_view s) { return !s.empty() && std::all_of(s.begin(), s.end(), is_lower_hex); }

bool is_uuid(std::string_view s) {
  if (s.size() != 36) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    const bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash ? s[i] != '-' : !is_lower_hex(s[i])) return false;
  }
  return true;
}

// What container ids look like: 64 hex digits (docker, containerd, CRI-O, podman, nerdctl), or
// any hex string of 32 to 128 digits, or a UUID.
bool looks_like_id(std::string_view s) { return (s.size() >= 32 && s.size() <= 128 && is_hex_id(s)) || is_uuid(s); }

// Pod uids: UUIDs, or 32 hex digits for static pods; underscores in systemd slice names.
bool valid_pod_uid(std::string_view s) {
  if (s.size() < 8 || s.size() > 64) return false;
  return std::all_of(s.begin(), s.end(), [](char c) { return is_lower_hex(c) || c == '-' || c == '_'; });
}

std::string dashes(std::string_view s) {
  std::string out(s);
  std::replace(out.begin(), out.end(), '_', '-');
  return out;
}

bool contains(std::string_view s, std::string_view part) { return s.find(part) != std::string_view::npos; }

// systemd unit types that own cgroups.
bool is_unit(std::string_view c) {
  static constexpr std::array<std::string_view, 6> kSuffixes = {".service", ".scope",  ".slice",
                                                                ".mount",   ".socket", ".swap"};
  return std::any_of(kSuffixes.begin(), kSuffixes.end(),
                     [&](std::string_view s) { return c.size() > s.size() && c.ends_with(s); });
}

struct Pod {
  std::string uid;
  std::string qos;
};

// systemd driver: kubepods-pod<uid>.slice (guaranteed), kubepods-<qos>-pod<uid>.slice, with any
// prefix before "kubepods" (kind nests them as kubelet-kubepods-...).
std::optional<Pod> match_pod_slice(std::string_view c) {
  constexpr std::string_view kSlice = ".slice";
  if (!c.ends_with(kSlice)) return std::nullopt;
  std::string_view stem = c.substr(0, c.size() - kSlice.size());
  const size_t k = stem.rfind("kubepods");
  if (k == std::string_view::npos) return std::nullopt;
  std::string_view rest = stem.substr(k + std::string_view("kubepods").size());
  std::string qos = "guaranteed";
  for (std::string_view q : {std::string_view("burstable"), std::string_view("besteffort")}) {
    if (rest.size() > q.size() + 1 && rest[0] == '-' && rest.substr(1).starts_with(q)) {
      qos = std::string(q);
      rest.remove_prefix(q.size() + 1);
      break;
    }
  }
  constexpr std::string_view kPod = "-pod";
  if (!rest.starts_with(kPod)) return std::nullopt;
  rest.remove_prefix(kPod.size());
  if (!valid_pod_uid(rest)) return std::nullopt;
  return Pod{dashes(rest), qos};
}

// cgroupfs driver: /kubepods/pod<uid> (guaranteed), /kubepods/<qos>/pod<uid>.
std::optional<Pod> match_pod_dir(std::string_view c, std::string_view parent, std::string_view grandparent) {
  if (!c.starts_with("pod") || !valid_pod_uid(c.substr(3))) return std::nullopt;
  if ((parent == "burstable" || parent == "besteffort") && contains(grandparent, "kubepods")) {
    return Pod{dashes(c.substr(3)), std::string(parent)};
  }
  if (contains(parent, "kubepods")) return Pod{dashes(c.substr(3)), "guaranteed"};
  return std::nullopt;
}

struct Match {
  std::string_view runtime;
  std::string_view id;
};
enum class Hit { None, Container, Conmon };

Hit match_container(std::string_view c, std::string_view parent, bool under_pod, bool last, bool have_container,
                    Match& m) {
  if (c == "." || c == "..") return Hit::None;
  constexpr std::string_view kScope = ".scope";
  const bool scope = c.ends_with(kScope) && c.size() > kScope.size();
  const std::string_view stem = scope ? c.substr(0, c.size() - kScope.size()) : c;
  auto take = [&](std::string_view prefix, std::string_view runtime) {
    if (!stem.starts_with(prefix) || stem.size() == prefix.size()) return false;
    m = {runtime, stem.substr(prefix.size())};
    return true;
  };
  if (stem.starts_with("libpod-conmon-") || stem.starts_with("crio-conmon-")) return Hit::Conmon;
  if (scope && take("docker-", "docker")) return Hit::Container;
  if (take("cri-containerd-", "containerd")) return Hit::Container;
  if (take("crio-", "cri-o")) return Hit::Container;
  if (take("libpod-", "podman")) return Hit::Container;
  if (scope && (take("runc-", "runc") || take("crun-", "runc"))) return Hit::Container;
  if (!scope && parent == "docker" && looks_like_id(c)) {
    m = {"docker", c};
    return Hit::Container;
  }
  if (under_pod) {
    // cgroupfs: the container's directory is its id. systemd: <prefix>-<id>.scope.
    if (!scope && !is_unit(c)) {
      m = {"containerd", c};
      return Hit::Container;
    }
    if (scope) {
      const size_t dash = stem.find('-');
      m = {"runc", dash == std::string_view::npos ? stem : stem.substr(dash + 1)};
      if (!m.id.empty()) return Hit::Container;
    }
  }
  if (scope) {
    const size_t dash = stem.rfind('-');
    if (dash != std::string_view::npos && looks_like_id(stem.substr(dash + 1))) {
      m = {"runc", stem.substr(dash + 1)};
      return Hit::Container;
    }
  }
  if (last && !have_container && !scope && looks_like_id(c)) {
    m = {"runc", c};
    return Hit::Container;
  }
  return Hit::None;
}

// ---------------------------------------------------------------------------------------------
// Runtime state documents

using nlohmann::json;
using Annotations = std::map<std::string, std::string, std::less<>>;

// The document, or nullopt with `error` saying what is wrong ("malformed <what>: parse error at ...").
std::optional<json> parse_json(std::string_view text, std::string_view what, std::string& error) {
  try {
    return json::parse(text.begin(), text.end());
  } catch (const json::exception& e) {
    std::string_view detail = e.what();
    if (detail.starts_with("[json.exception.")) detail.remove_prefix(detail.find("] ") + 2);
    error = "malformed " + std::string(what) + ": " + std::string(detail);
    return std::nullopt;
  }
}

std::string string_at(const json& object, const char* key) {
  if (!object.is_object()) return {};
  auto it = object.find(key);
  if (it == object.end() || !it->is_string()) return {};
  return it->get<std::string>();
}

Annotations string_members(const json& object) {
  Annotations out;
  if (!object.is_object()) return out;
  for (const auto& [key, value] : object.items()) {
    if (value.is_string()) out.emplace(key, value.get<std::string>());
  }
  return out;
}

std::string first_of(const Annotations& a, std::initializer_list<std::string_view> keys) {
  for (std::string_view key : keys) {
    auto it = a.find(key);
    if (it != a.end() && !it->second.empty()) return it->second;
  }
  return {};
}

OciNames names_from(const Annotations& a) {
  OciNames n;
  n.k8s_namespace = first_of(a, {"io.kubernetes.cri.sandbox-namespace", "io.kubernetes.pod.namespace"});
  n.pod = first_of(a, {"io.kubernetes.cri.sandbox-name", "io.kubernetes.pod.name"});
  n.pod_uid = first_of(a, {"io.kubernetes.cri.sandbox-uid", "io.kubernetes.pod.uid"});
  n.container = first_of(a, {"io.kubernetes.cri.container-name", "io.kubernetes.container.name"});
  n.container_type = first_of(a, {"io.kubernetes.cri.container-type", "io.kubernetes.cri-o.ContainerType"});
  n.sandbox_id = first_of(a, {"io.kubernetes.cri.sandbox-id", "io.kubernetes.cri-o.SandboxID"});
  n.name = first_of(a, {"nerdctl/name"});
  n.manager = first_of(a, {"io.container.manager"});
  return n;
}

Error not_a(std::string_view what, std::string_view kind) {
  return Error::msg(std::string(what) + " is not a JSON " + std::string(kind));
}

// ---------------------------------------------------------------------------------------------
// Files

// A regular file of at most `max` bytes.
Result<std::string> read_bounded(const std::string& path, size_t max) {
  max = std::min(max, size_t{1} << 40);
  Fd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK));
  if (fd.get() < 0) return Error::from_errno("open " + path);
  struct stat st {};
  if (fstat(fd.get(), &st) != 0) return Error::from_errno("stat " + path);
  if (!S_ISREG(st.st_mode)) return Error::msg(path + " is not a regular file");
  if (static_cast<uint64_t>(st.st_size) > max) {
    return Error::msg(path + " is larger than " + std::to_string(max) + " bytes");
  }
  // Sized by the file (which may still grow), up to one byte past the limit to notice it.
  std::string out;
  out.resize(std::min(static_cast<size_t>(st.st_size), max) + 1);
  size_t got = 0;
  while (true) {
    if (got == out.size()) {
      if (out.size() > max) break;
      out.resize(std::min(out.size() * 2, max + 1));
    }
    const ssize_t n = read(fd.get(), out.data() + got, out.size() - got);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Error::from_errno("read " + path);
    }
    if (n == 0) break;
    got += static_cast<size_t>(n);
  }
  if (got > max) return Error::msg(path + " is larger than " + std::to_string(max) + " bytes");
  out.resize(got);
  return out;
}

bool is_missing(const Error& e) { return e.code() == ENOENT || e.code() == ENOTDIR; }

Result<std::string> fd_path(int fd) {
  const std::string link = "/proc/self/fd/" + std::to_string(fd);
  std::string buf(4096, '\0');
  const ssize_t n = readlink(link.c_str(), buf.data(), buf.size());
  if (n < 0) return Error::from_errno("readlink " + link);
  if (static_cast<size_t>(n) >= buf.size()) return Error(ENAMETOOLONG, "readlink " + link);
  buf.resize(static_cast<size_t>(n));
  return buf;
}

void walk_dir(int fd, const std::string& rel, size_t depth, const CgroupPaths::Options& opt,
              std::unordered_map<uint64_t, std::string>& index, bool& truncated) {
  DIR* dir = fdopendir(fd);
  if (dir == nullptr) {
    close(fd);
    return;
  }
  while (const dirent* ent = readdir(dir)) {
    const std::string_view name = ent->d_name;
    if (name == "." || name == "..") continue;
    if (ent->d_type != DT_DIR && ent->d_type != DT_UNKNOWN) continue;
    struct stat st {};
    if (fstatat(dirfd(dir), ent->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISDIR(st.st_mode)) continue;
    if (index.size() >= opt.max_entries) {
      truncated = true;
      break;
    }
    std::string child = rel;
    child += '/';
    child += name;
    index.emplace(st.st_ino, child);
    if (depth < opt.max_depth) {
      const int cfd = openat(dirfd(dir), ent->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (cfd >= 0) walk_dir(cfd, child, depth + 1, opt, index, truncated);
    }
    if (truncated) break;
  }
  closedir(dir);
}

}  // namespace

// -----------------------------------------------------------------------------------------------

CgroupIdentity parse_cgroup_path(std::string_view path) {
  CgroupIdentity out;
  std::vector<std::string_view> parts;
  for (size_t pos = 0; pos <= path.size();) {
    size_t end = path.find('/', pos);
    if (end == std::string_view::npos) end = path.size();
    if (end > pos) parts.push_back(path.substr(pos, end - pos));
    pos = end + 1;
  }
  for (std::string_view p : parts) {
    out.path += '/';
    out.path += p;
  }
  if (out.path.empty()) out.path = "/";

  // A systemd-style cgroupsPath ("slice:prefix:name") given to the cgroupfs driver becomes one
  // directory of that name: read it as the slice and the scope systemd would have made.
  std::deque<std::string> made;
  std::vector<std::string_view> components;
  for (std::string_view p : parts) {
    const size_t c1 = p.find(':');
    const size_t c2 = c1 == std::string_view::npos ? c1 : p.find(':', c1 + 1);
    if (c2 != std::string_view::npos && p.find(':', c2 + 1) == std::string_view::npos &&
        p.substr(0, c1).ends_with(".slice") && c2 + 1 < p.size()) {
      components.push_back(p.substr(0, c1));
      made.push_back(std::string(p.substr(c1 + 1, c2 - c1 - 1)) + "-" + std::string(p.substr(c2 + 1)) + ".scope");
      components.emplace_back(made.back());
    } else {
      components.push_back(p);
    }
  }

  std::optional<Pod> pending;  // the pod seen since the last container
  std::optional<Pod> container_pod;
  Match container;
  bool have = false;
  bool under_pod = false;
  std::string_view unit;
  for (size_t i = 0; i < components.size(); ++i) {
    const std::string_view c = components[i];
    const std::string_view parent = i > 0 ? components[i - 1] : std::string_view();
    const std::string_view grandparent = i > 1 ? components[i - 2] : std::string_view();
    if (auto pod = match_pod_slice(c)) {
      pending = std::move(pod);
      under_pod = true;
      unit = c;
      continue;
    }
    if (auto pod = match_pod_dir(c, parent, grandparent)) {
      pending = std::move(pod);
      under_pod = true;
      continue;
    }
    Match m;
    const Hit hit = match_container(c, parent, under_pod, i + 1 == components.size(), have, m);
    under_pod = false;
    if (hit == Hit::Container) {
      container = m;
      have = true;
      container_pod = std::exchange(pending, std::nullopt);
      unit = {};
      continue;
    }
    if (is_unit(c)) unit = c;
  }

  const std::optional<Pod>& pod = have ? container_pod : pending;
  if (pod) {
    out.pod_uid = pod->uid;
    out.qos = pod->qos;
  }
  if (have) {
    out.runtime = std::string(container.runtime);
    out.container_id = std::string(container.id);
  } else if (!unit.empty()) {
    out.runtime = "systemd";
    out.unit = std::string(unit);
  } else {
    out.runtime = "host";
  }
  return out;
}

std::string short_container_id(std::string_view id) { return std::string(id.substr(0, 12)); }

std::string Endpoint::display() const {
  if (!pod.empty()) return k8s_namespace + "/" + pod + "/" + container;
  if (!cgroup.container_id.empty()) {
    const std::string& rt = runtime.empty() ? cgroup.runtime : runtime;
    return rt + ":" + (container.empty() ? short_container_id(cgroup.container_id) : container);
  }
  if (cgroup.runtime == "systemd" && !cgroup.unit.empty()) return "systemd:" + cgroup.unit;
  if (cgroup.path == "/") return "host";
  if (!cgroup.path.empty()) return "cgroup:" + cgroup.path;
  return "cgroup#" + std::to_string(cgroup_id);
}

Result<OciNames> parse_oci_annotations(std::string_view config_json) {
  try {
    std::string error;
    auto j = parse_json(config_json, "OCI config", error);
    if (!j) return Error::msg(error);
    if (!j->is_object()) return not_a("OCI config", "object");
    auto it = j->find("annotations");
    if (it == j->end()) return OciNames{};
    return names_from(string_members(*it));
  } catch (const std::exception& e) {
    return Error::msg(std::string("OCI config: ") + e.what());
  }
}

Result<DockerNames> parse_docker_config(std::string_view config_v2_json) {
  try {
    std::string error;
    auto j = parse_json(config_v2_json, "docker config.v2.json", error);
    if (!j) return Error::msg(error);
    if (!j->is_object()) return not_a("docker config.v2.json", "object");
    DockerNames out;
    out.name = string_at(*j, "Name");
    if (out.name.starts_with('/')) out.name.erase(0, 1);
    auto config = j->find("Config");
    if (config != j->end() && config->is_object()) {
      auto labels_it = config->find("Labels");
      if (labels_it != config->end()) {
        const Annotations labels = string_members(*labels_it);
        out.k8s = names_from(labels);
        const std::string type = first_of(labels, {"io.kubernetes.docker.type"});
        if (type == "podsandbox") {
          out.k8s.container_type = "sandbox";
        } else if (!type.empty()) {
          out.k8s.container_type = type;
        }
        if (out.k8s.sandbox_id.empty()) out.k8s.sandbox_id = first_of(labels, {"io.kubernetes.sandbox.id"});
      }
    }
    return out;
  } catch (const std::exception& e) {
    return Error::msg(std::string("docker config.v2.json: ") + e.what());
  }
}

Result<RuntimeState> parse_runtime_state(std::string_view state_json) {
  try {
    std::string error;
    auto j = parse_json(state_json, "runtime state", error);
    if (!j) return Error::msg(error);
    if (!j->is_object()) return not_a("runtime state", "object");
    RuntimeState out;
    out.bundle = string_at(*j, "bundle");
    auto config = j->find("config");
    if (config != j->end() && config->is_object()) {
      auto labels = config->find("labels");
      if (labels != config->end() && labels->is_array()) {
        Annotations annotations;
        for (const auto& label : *labels) {
          if (!label.is_string()) continue;
          const auto& text = label.get_ref<const std::string&>();
          const size_t eq = text.find('=');
          if (eq == std::string::npos) continue;
          std::string key = text.substr(0, eq);
          std::string value = text.substr(eq + 1);
          if (key == "bundle") {
            if (out.bundle.empty()) out.bundle = std::move(value);
          } else {
            annotations.emplace(std::move(key), std::move(value));
          }
        }
        out.names = names_from(annotations);
      }
    }
    if (out.bundle.empty()) return Error::msg("runtime state names no bundle");
    return out;
  } catch (const std::exception& e) {
    return Error::msg(std::string("runtime state: ") + e.what());
  }
}

Result<std::string> parse_storage_container_name(std::string_view containers_json, std::string_view id) {
  try {
    std::string error;
    auto j = parse_json(containers_json, "containers.json", error);
    if (!j) return Error::msg(error);
    if (!j->is_array()) return not_a("containers.json", "array");
    for (const auto& c : *j) {
      if (string_at(c, "id") != id) continue;
      auto names = c.find("names");
      if (names == c.end() || !names->is_array()) return std::string();
      for (const auto& n : *names) {
        if (n.is_string() && !n.get_ref<const std::string&>().empty()) return n.get<std::string>();
      }
      return std::string();
    }
    return std::string();
  } catch (const std::exception& e) {
    return Error::msg(std::string("containers.json: ") + e.what());
  }
}

bool is_cgroup2(const std::string& dir) {
  struct statfs fs {};
  return statfs(dir.c_str(), &fs) == 0 && static_cast<long>(fs.f_type) == kCgroup2SuperMagic;
}

std::optional<std::string> find_cgroup2_root(const std::string& host_root) {
  for (const char* candidate : {"/sys/fs/cgroup", "/sys/fs/cgroup/unified"}) {
    std::string dir = join_path(host_root, candidate);
    if (is_cgroup2(dir)) return dir;
  }
  return std::nullopt;
}

std::string join_path(std::string_view root, std::string_view path) {
  while (!root.empty() && root.back() == '/') root.remove_suffix(1);
  while (!path.empty() && path.front() == '/') path.remove_prefix(1);
  std::string out(root);
  if (path.empty()) return out.empty() ? "/" : out;
  out += '/';
  out += path;
  return out;
}

// -----------------------------------------------------------------------------------------------
// CgroupPaths

CgroupPaths::CgroupPaths(Options options) : opt_(std::move(options)) {
  root_fd_ = open(opt_.root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (root_fd_ < 0) {
    root_errno_ = errno;
    return;
  }
  if (opt_.use_handles && is_cgroup2(opt_.root)) {
    auto link = fd_path(root_fd_);
    if (link) {
      root_link_ = *link;
      handles_ = true;
    }
  }
}

CgroupPaths::~CgroupPaths() {
  if (root_fd_ >= 0) close(root_fd_);
}

Result<std::string> CgroupPaths::lookup_by_handle(uint64_t id) {
  alignas(struct file_handle) std::array<unsigned char, sizeof(struct file_handle) + sizeof(uint64_t)> buf{};
  auto* handle = reinterpret_cast<struct file_handle*>(buf.data());
  handle->handle_bytes = sizeof(uint64_t);
  handle->handle_type = kFileidKernfs;
  std::memcpy(buf.data() + offsetof(struct file_handle, f_handle), &id, sizeof(id));
  const Fd fd(open_by_handle_at(root_fd_, handle, O_PATH | O_CLOEXEC));
  if (fd.get() < 0) return Error::from_errno("open_by_handle_at");
  auto link = fd_path(fd.get());
  if (!link) return link.error();
  std::string_view p = *link;
  constexpr std::string_view kDeleted = " (deleted)";
  if (p.ends_with(kDeleted)) return Error(ENOENT, "cgroup removed");
  if (root_link_ != "/") {
    if (!p.starts_with(root_link_) || (p.size() > root_link_.size() && p[root_link_.size()] != '/')) {
      return Error(EXDEV, "cgroup outside " + opt_.root);
    }
    p.remove_prefix(root_link_.size());
  }
  return p.empty() ? std::string("/") : std::string(p);
}

Result<std::string> CgroupPaths::lookup(uint64_t id) {
  if (root_fd_ < 0) return Error(root_errno_, "open cgroup root " + opt_.root);
  if (handles_) {
    auto found = lookup_by_handle(id);
    if (found) return found;
    const int code = found.error().code();
    if (code == ENOENT || code == ESTALE) return Error(ENOENT, "cgroup " + std::to_string(id) + " not found");
    if (code != EXDEV) {
      handles_ = false;
      spdlog::debug("identity: cgroup ids by file handle do not work here ({}); walking {} instead",
                    found.error().message(), opt_.root);
    }
  }
  if (auto it = index_.find(id); it != index_.end()) return it->second;
  if (last_walk_ && std::chrono::steady_clock::now() - *last_walk_ < opt_.rewalk_interval) {
    return Error(EAGAIN, "cgroup " + std::to_string(id) + " not indexed yet");
  }
  if (auto st = walk(); !st) return st.error();
  if (auto it = index_.find(id); it != index_.end()) return it->second;
  return Error(ENOENT, "cgroup " + std::to_string(id) + " not found under " + opt_.root);
}

Status CgroupPaths::walk() {
  last_walk_ = std::chrono::steady_clock::now();
  ++walks_;
  struct stat st {};
  if (fstat(root_fd_, &st) != 0) return Error::from_errno("stat " + opt_.root);
  std::unordered_map<uint64_t, std::string> index;
  index.emplace(st.st_ino, "/");
  bool truncated = false;
  const int fd = openat(root_fd_, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return Error::from_errno("open " + opt_.root);
  walk_dir(fd, "", 1, opt_, index, truncated);
  if (truncated && !truncated_) {
    spdlog::warn("identity: more than {} cgroups under {}: only the first are named", opt_.max_entries, opt_.root);
  }
  truncated_ = truncated;
  index_.swap(index);
  return Ok{};
}

// -----------------------------------------------------------------------------------------------
// IdentityResolver

struct IdentityResolver::Attempt {
  enum class Kind {
    Ok,       // complete
    Pending,  // cgroup not indexed and a re-walk not due: try again later
    Missing,  // no runtime has state for the container (yet)
    Failed,   // unreadable or malformed state, vanished cgroup
  };
  Endpoint endpoint;
  Kind kind = Kind::Ok;
  std::string error;
};

namespace {

enum class Source { Containerd, Crio, Podman, Docker, Runc, Crun };

struct SourceResult {
  enum class Outcome { Missing, Found, Failed } outcome = Outcome::Missing;
  std::string runtime;
  OciNames names;
  std::string error;  // Failed, or Found with incomplete names
};

SourceResult failed(std::string error) {
  SourceResult r;
  r.outcome = SourceResult::Outcome::Failed;
  r.error = std::move(error);
  return r;
}

SourceResult found(std::string runtime, OciNames names) {
  SourceResult r;
  r.outcome = SourceResult::Outcome::Found;
  r.runtime = std::move(runtime);
  r.names = std::move(names);
  return r;
}

std::vector<Source> source_order(std::string_view runtime) {
  std::vector<Source> order;
  if (runtime == "containerd") order = {Source::Containerd};
  if (runtime == "cri-o") order = {Source::Crio};
  if (runtime == "podman") order = {Source::Podman};
  if (runtime == "docker") order = {Source::Docker};
  if (runtime == "runc") order = {Source::Runc, Source::Crun};
  for (Source s : {Source::Containerd, Source::Crio, Source::Podman, Source::Docker, Source::Runc, Source::Crun}) {
    if (std::find(order.begin(), order.end(), s) == order.end()) order.push_back(s);
  }
  return order;
}

std::string concat(std::initializer_list<std::string_view> parts) {
  std::string out;
  for (std::string_view p : parts) out += p;
  return out;
}

// An id that is safe as a file name component.
bool usable_id(std::string_view id) {
  return !id.empty() && id != "." && id != ".." && id.find('/') == std::string_view::npos &&
         id.find('\0') == std::string_view::npos;
}

}  // namespace

IdentityResolver::IdentityResolver(Options options) : opt_(std::move(options)) {
  if (opt_.host_root.empty()) opt_.host_root = "/";
  if (opt_.max_entries == 0) opt_.max_entries = 1;
  if (!opt_.cgroup_root.empty()) {
    cgroup_root_ = opt_.cgroup_root;
  } else if (auto root = find_cgroup2_root(opt_.host_root)) {
    cgroup_root_ = *root;
  }
  if (cgroup_root_.empty()) {
    spdlog::warn("identity: no cgroup2 file system at {} or {}: endpoints are named by cgroup id only",
                 join_path(opt_.host_root, "/sys/fs/cgroup"), join_path(opt_.host_root, "/sys/fs/cgroup/unified"));
    return;
  }
  CgroupPaths::Options paths;
  paths.root = cgroup_root_;
  paths.rewalk_interval = opt_.rewalk_interval;
  paths_.emplace(std::move(paths));
}

IdentityResolver::~IdentityResolver() = default;

size_t IdentityResolver::cached() const {
  const std::lock_guard lock(mu_);
  return cache_.size();
}

void IdentityResolver::forget(uint64_t cgroup_id) {
  const std::lock_guard lock(mu_);
  auto it = cache_.find(cgroup_id);
  if (it == cache_.end()) return;
  lru_.erase(it->second.lru);
  cache_.erase(it);
}

Endpoint IdentityResolver::resolve(uint64_t cgroup_id) {
  const std::lock_guard lock(mu_);
  const auto now = std::chrono::steady_clock::now();
  auto it = cache_.find(cgroup_id);
  if (it != cache_.end()) {
    lru_.splice(lru_.begin(), lru_, it->second.lru);
    const Entry& cached_entry = it->second;
    if (!cached_entry.endpoint.partial || cached_entry.attempts > opt_.max_retries ||
        now - cached_entry.last_attempt < opt_.retry_interval) {
      return cached_entry.endpoint;
    }
  } else {
    while (cache_.size() >= opt_.max_entries && !lru_.empty()) {
      cache_.erase(lru_.back());
      lru_.pop_back();
    }
    lru_.push_front(cgroup_id);
    Entry fresh;
    fresh.lru = lru_.begin();
    it = cache_.emplace(cgroup_id, std::move(fresh)).first;
  }

  Entry& entry = it->second;
  Attempt a = attempt(cgroup_id);
  ++entry.attempts;
  entry.last_attempt = now;
  entry.endpoint = std::move(a.endpoint);
  const bool last_try = entry.attempts > opt_.max_retries;
  entry.endpoint.pending = !last_try && (a.kind == Attempt::Kind::Pending || a.kind == Attempt::Kind::Missing);
  const bool report = a.kind == Attempt::Kind::Failed ||
                      (last_try && (a.kind == Attempt::Kind::Missing || a.kind == Attempt::Kind::Pending));
  if (report && !entry.reported) {
    entry.reported = true;
    errors_.fetch_add(1, std::memory_order_relaxed);
    // Churn (a thousand short-lived containers) must not flood the log: a burst, then a count.
    if (now - warn_window_ >= std::chrono::minutes(1)) {
      if (suppressed_ > 0) {
        spdlog::warn(
            "identity: {} more endpoints could not be named in the last minute (not logged one by one; "
            "counted in ipctrace_identity_errors_total)",
            suppressed_);
      }
      warn_window_ = now;
      warned_in_window_ = 0;
      suppressed_ = 0;
    }
    if (warned_in_window_ < kWarnBurst) {
      ++warned_in_window_;
      spdlog::warn("identity: cgroup {} ({}): {}; named {}", cgroup_id,
                   entry.endpoint.cgroup.path.empty() ? "path unknown" : entry.endpoint.cgroup.path, a.error,
                   entry.endpoint.display());
    } else {
      ++suppressed_;
    }
  }
  return entry.endpoint;
}

IdentityResolver::Attempt IdentityResolver::attempt(uint64_t cgroup_id) {
  if (!paths_) {
    Attempt a;
    a.endpoint.cgroup_id = cgroup_id;
    a.endpoint.partial = true;
    a.endpoint.container = a.endpoint.display();
    a.kind = Attempt::Kind::Failed;
    a.error = "no cgroup2 file system found";
    return a;
  }
  auto path = paths_->lookup(cgroup_id);
  if (!path) {
    Attempt a;
    a.endpoint.cgroup_id = cgroup_id;
    a.endpoint.partial = true;
    a.endpoint.container = a.endpoint.display();
    a.kind = path.error().code() == EAGAIN ? Attempt::Kind::Pending : Attempt::Kind::Failed;
    switch (path.error().code()) {
      case ENOENT:
        a.error = "cgroup not found (it vanished or never existed)";
        break;
      case EAGAIN:
        a.error = "cgroup not found in the last walk of " + cgroup_root_ + " (too soon to walk again)";
        break;
      default:
        a.error = path.error().message();
    }
    return a;
  }
  return identify_container(cgroup_id, parse_cgroup_path(*path));
}

Endpoint IdentityResolver::identify(uint64_t cgroup_id, const CgroupIdentity& cgroup) {
  return identify_container(cgroup_id, cgroup).endpoint;
}

Result<std::string> IdentityResolver::read_state_file(const std::string& path) const {
  return read_bounded(path, opt_.max_file_bytes);
}

IdentityResolver::Attempt IdentityResolver::identify_container(uint64_t cgroup_id, const CgroupIdentity& cgroup) {
  Attempt a;
  Endpoint& ep = a.endpoint;
  ep.cgroup_id = cgroup_id;
  ep.cgroup = cgroup;
  ep.runtime = cgroup.runtime;
  ep.pod_uid = cgroup.pod_uid;
  const std::string& id = cgroup.container_id;
  if (id.empty()) {
    ep.container = cgroup.runtime == "systemd" ? cgroup.unit : cgroup.path;
    return a;
  }
  ep.container = short_container_id(id);
  auto give_up = [&](Attempt::Kind kind, std::string error) {
    ep.partial = true;
    a.kind = kind;
    a.error = std::move(error);
    return a;
  };
  if (!usable_id(id)) return give_up(Attempt::Kind::Missing, "container id '" + id + "' is not a file name");

  const std::string& root = opt_.host_root;
  // An OCI config.json: its annotations.
  auto from_config = [&](const std::string& file, std::string runtime) -> SourceResult {
    auto text = read_state_file(file);
    if (!text) return is_missing(text.error()) ? SourceResult{} : failed(text.error().message());
    auto names = parse_oci_annotations(*text);
    if (!names) return failed(file + ": " + names.error().message());
    return found(std::move(runtime), std::move(*names));
  };
  // containers/storage (CRI-O, podman): the name from containers.json when annotations have none.
  auto from_storage = [&](const std::string& store, std::string runtime) -> SourceResult {
    SourceResult r =
        from_config(join_path(root, store + "/overlay-containers/" + id + "/userdata/config.json"), std::move(runtime));
    if (r.outcome != SourceResult::Outcome::Found) return r;
    if (r.names.manager == "libpod") r.runtime = "podman";
    if (!r.names.container.empty() || !r.names.name.empty()) return r;
    const std::string list = join_path(root, "/var/lib/containers/storage/overlay-containers/containers.json");
    auto text = read_state_file(list);
    if (!text) {
      if (!is_missing(text.error())) r.error = text.error().message();
      return r;
    }
    auto name = parse_storage_container_name(*text, id);
    if (!name) {
      r.error = list + ": " + name.error().message();
      return r;
    }
    r.names.name = *name;
    return r;
  };
  // runc and crun: their state names the bundle, whose config.json has the annotations; runc's
  // state also carries them as labels, used when the bundle cannot be read.
  auto from_state = [&](const std::string& file, std::string runtime) -> SourceResult {
    auto text = read_state_file(file);
    if (!text) return is_missing(text.error()) ? SourceResult{} : failed(text.error().message());
    auto state = parse_runtime_state(*text);
    if (!state) return failed(file + ": " + state.error().message());
    SourceResult r = from_config(join_path(join_path(root, state->bundle), "config.json"), runtime);
    if (r.outcome == SourceResult::Outcome::Found) return r;
    if (state->names.kubernetes()) return found(std::move(runtime), state->names);
    if (r.outcome == SourceResult::Outcome::Missing) {
      return failed("bundle " + state->bundle + " named by " + file + " has no config.json");
    }
    return r;
  };

  for (Source source : source_order(cgroup.runtime)) {
    SourceResult r;
    switch (source) {
      case Source::Containerd: {
        const std::string tasks = join_path(root, "/run/containerd/io.containerd.runtime.v2.task");
        r = from_config(concat({tasks, "/k8s.io/", id, "/config.json"}), "containerd");
        if (r.outcome != SourceResult::Outcome::Missing) break;
        // Other containerd namespaces (moby for docker, default for nerdctl and ctr).
        if (DIR* dir = opendir(tasks.c_str())) {
          std::vector<std::string> namespaces;
          while (const dirent* ent = readdir(dir)) {
            const std::string_view ns = ent->d_name;
            if (ns != "." && ns != ".." && ns != "k8s.io") namespaces.emplace_back(ns);
          }
          closedir(dir);
          std::sort(namespaces.begin(), namespaces.end());
          for (const auto& ns : namespaces) {
            r = from_config(concat({tasks, "/", ns, "/", id, "/config.json"}), "containerd");
            if (r.outcome != SourceResult::Outcome::Missing) break;
          }
        }
        break;
      }
      case Source::Crio:
        r = from_storage("/run/containers/storage", "cri-o");
        break;
      case Source::Podman:
        r = from_storage("/var/lib/containers/storage", "podman");
        break;
      case Source::Docker: {
        const std::string file = join_path(root, "/var/lib/docker/containers/" + id + "/config.v2.json");
        auto text = read_state_file(file);
        if (!text) {
          if (!is_missing(text.error())) r = failed(text.error().message());
          break;
        }
        auto docker = parse_docker_config(*text);
        if (!docker) {
          r = failed(file + ": " + docker.error().message());
          break;
        }
        r = found("docker", docker->k8s);
        r.names.name = docker->name;
        break;
      }
      case Source::Runc:
        r = from_state(join_path(root, "/run/runc/" + id + "/state.json"), "runc");
        break;
      case Source::Crun:
        r = from_state(join_path(root, "/run/crun/" + id + "/status"), "crun");
        break;
    }
    if (r.outcome == SourceResult::Outcome::Missing) continue;
    if (r.outcome == SourceResult::Outcome::Failed) return give_up(Attempt::Kind::Failed, r.error);

    const OciNames& n = r.names;
    ep.runtime = r.runtime;
    ep.k8s_namespace = n.k8s_namespace;
    ep.pod = n.pod;
    if (!n.pod_uid.empty()) ep.pod_uid = n.pod_uid;
    ep.sandbox = n.container_type == "sandbox";
    if (!n.container.empty()) {
      ep.container = n.container;
    } else if (!n.name.empty()) {
      ep.container = n.name;
    } else if (ep.sandbox) {
      ep.container = "POD";
    }
    if (!r.error.empty()) return give_up(Attempt::Kind::Failed, r.error);
    return a;
  }
  return give_up(Attempt::Kind::Missing, "no runtime state for container " + id + " under " + root);
}

}  // namespace ipctrace
