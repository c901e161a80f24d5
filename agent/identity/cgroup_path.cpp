#include "identity/cgroup_path.h"

#include <algorithm>
#include <array>
#include <cstddef>
#include <deque>
#include <optional>
#include <utility>
#include <vector>

namespace ipctrace {
namespace {

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

// A systemd-style cgroupsPath, "slice:prefix:name".
struct SystemdPath {
  std::string_view slice, prefix, name;
};

std::optional<SystemdPath> split_systemd_path(std::string_view p) {
  const size_t c1 = p.find(':');
  const size_t c2 = c1 == std::string_view::npos ? c1 : p.find(':', c1 + 1);
  if (c2 == std::string_view::npos || p.find(':', c2 + 1) != std::string_view::npos) return std::nullopt;
  return SystemdPath{p.substr(0, c1), p.substr(c1 + 1, c2 - c1 - 1), p.substr(c2 + 1)};
}

// The path's directories, each with the index of the part it came from; a systemd-style
// cgroupsPath ("slice:prefix:name") given to the cgroupfs driver becomes one directory of that
// name: read as the slice and the scope systemd would have made (kept in `made`, which the views
// point into).
struct Components {
  std::vector<std::string_view> names;
  std::vector<size_t> part;
};

Components components_of(const std::vector<std::string_view>& parts, std::deque<std::string>& made) {
  Components out;
  for (size_t i = 0; i < parts.size(); ++i) {
    const std::string_view p = parts[i];
    const auto systemd = split_systemd_path(p);
    if (systemd && systemd->slice.ends_with(".slice") && !systemd->name.empty()) {
      out.names.push_back(systemd->slice);
      made.push_back(std::string(systemd->prefix) + "-" + std::string(systemd->name) + ".scope");
      out.names.emplace_back(made.back());
      out.part.insert(out.part.end(), {i, i});
    } else {
      out.names.push_back(p);
      out.part.push_back(i);
    }
  }
  return out;
}

// A container-looking component below the first: which component, what it says, its pod.
struct Claim {
  size_t component = 0;
  Match match;
  std::optional<Pod> pod;
};

// What the walk from the root down found: the outermost container, the pod around it, the
// container-looking components below it, the unit.
struct Scan {
  std::optional<Pod> pending;  // the pod seen since the last container-looking component
  std::optional<Pod> container_pod;
  Match container;
  bool have = false;
  std::vector<Claim> nested;
  std::string_view unit;
};

Scan scan(const std::vector<std::string_view>& components) {
  Scan s;
  bool under_pod = false;
  for (size_t i = 0; i < components.size(); ++i) {
    const std::string_view c = components[i];
    const std::string_view parent = i > 0 ? components[i - 1] : std::string_view();
    const std::string_view grandparent = i > 1 ? components[i - 2] : std::string_view();
    if (auto pod = match_pod_slice(c)) {
      s.pending = std::move(pod);
      under_pod = true;
      s.unit = c;
      continue;
    }
    if (auto pod = match_pod_dir(c, parent, grandparent)) {
      s.pending = std::move(pod);
      under_pod = true;
      continue;
    }
    Match m;
    const Hit hit = match_container(c, parent, under_pod, i + 1 == components.size(), s.have, m);
    under_pod = false;
    if (hit == Hit::Container) {
      std::optional<Pod> pod = std::exchange(s.pending, std::nullopt);
      if (!s.have) {
        s.container = m;
        s.have = true;
        s.container_pod = std::move(pod);
      } else if (s.nested.size() < kMaxNestedClaims) {
        s.nested.push_back(Claim{i, m, std::move(pod)});
      }
      s.unit = {};
      continue;
    }
    if (is_unit(c)) s.unit = c;
  }
  return s;
}

std::vector<std::string_view> split_path(std::string_view path) {
  std::vector<std::string_view> parts;
  for (size_t pos = 0; pos <= path.size();) {
    size_t end = path.find('/', pos);
    if (end == std::string_view::npos) end = path.size();
    if (end > pos) parts.push_back(path.substr(pos, end - pos));
    pos = end + 1;
  }
  return parts;
}

// "/" and the first `n` parts.
std::string join_parts(const std::vector<std::string_view>& parts, size_t n) {
  std::string out;
  for (size_t i = 0; i < n && i < parts.size(); ++i) {
    out += '/';
    out += parts[i];
  }
  if (out.empty()) out.push_back('/');  // not = "/": GCC 12 -O3 warns (-Wrestrict, a false positive)
  return out;
}

std::string normalise(std::string_view path) {
  const std::vector<std::string_view> parts = split_path(path);
  return join_parts(parts, parts.size());
}

// What systemd makes of a slice name, as runc and crun expand it (libcontainer/cgroups/systemd
// ExpandSlice): "a-b-c.slice" is /a.slice/a-b.slice/a-b-c.slice, "-.slice" the root; a name with
// an empty dash-separated part or a "/" is none.
std::optional<std::string> expand_slice(std::string_view slice) {
  constexpr std::string_view kSlice = ".slice";
  if (!slice.ends_with(kSlice)) return std::nullopt;
  const std::string_view stem = slice.substr(0, slice.size() - kSlice.size());
  if (stem == "-") return std::string("/");
  if (stem.find('/') != std::string_view::npos) return std::nullopt;
  std::string path;
  for (size_t pos = 0; pos <= stem.size();) {
    size_t dash = stem.find('-', pos);
    if (dash == std::string_view::npos) dash = stem.size();
    if (dash == pos) return std::nullopt;
    path.append("/").append(stem.substr(0, dash)).append(kSlice);
    pos = dash + 1;
  }
  return path;
}

}  // namespace

CgroupIdentity parse_cgroup_path(std::string_view path) {
  CgroupIdentity out;
  const std::vector<std::string_view> parts = split_path(path);
  out.path = join_parts(parts, parts.size());

  std::deque<std::string> made;
  const Components components = components_of(parts, made);
  const Scan s = scan(components.names);
  const std::optional<Pod>& pod = s.have ? s.container_pod : s.pending;
  if (pod) {
    out.pod_uid = pod->uid;
    out.qos = pod->qos;
  }
  if (s.have) {
    out.runtime = std::string(s.container.runtime);
    out.container_id = std::string(s.container.id);
    for (const Claim& c : s.nested) {
      out.nested.push_back(NestedClaim{join_parts(parts, components.part[c.component] + 1),
                                       std::string(c.match.runtime), std::string(c.match.id),
                                       c.pod ? c.pod->uid : std::string(), c.pod ? c.pod->qos : std::string()});
    }
  } else if (!s.unit.empty()) {
    out.runtime = "systemd";
    out.unit = std::string(s.unit);
  } else {
    out.runtime = "host";
  }
  return out;
}

CgroupIdentity owned_by_nested(const CgroupIdentity& cgroup, size_t i) {
  if (i >= cgroup.nested.size()) return cgroup;
  const NestedClaim& claim = cgroup.nested[i];
  CgroupIdentity out;
  out.path = cgroup.path;
  out.runtime = claim.runtime;
  out.container_id = claim.container_id;
  out.pod_uid = claim.pod_uid;
  out.qos = claim.qos;
  out.nested.assign(cgroup.nested.begin() + static_cast<std::ptrdiff_t>(i) + 1, cgroup.nested.end());
  return out;
}

std::vector<std::string> cgroup_paths_for(std::string_view cgroups_path) {
  std::vector<std::string> out;
  if (split_path(cgroups_path).empty()) return out;
  // runc's and crun's systemd driver: the unit in the slice ("" is system.slice); a name that is a
  // slice is that slice, anything else a scope (runc getUnitName).
  if (const auto systemd = split_systemd_path(cgroups_path)) {
    const std::string_view slice = systemd->slice.empty() ? std::string_view("system.slice") : systemd->slice;
    const auto parent = expand_slice(slice);
    const std::string_view name = systemd->name;
    const bool one_unit = !name.empty() && name.find('/') == std::string_view::npos &&
                          systemd->prefix.find('/') == std::string_view::npos;
    if (parent && one_unit) {
      std::string unit = name.ends_with(".slice") ? std::string(name)
                                                  : std::string(systemd->prefix) + "-" + std::string(name) + ".scope";
      out.push_back(normalise(*parent + "/" + unit));
    }
  }
  // cgroupfs: the path from the root, a relative one too (one directory for "slice:prefix:name").
  std::string literal = normalise(cgroups_path);
  if (std::find(out.begin(), out.end(), literal) == out.end()) out.push_back(std::move(literal));
  return out;
}

std::string short_container_id(std::string_view id) { return std::string(id.substr(0, 12)); }

}  // namespace ipctrace
