#include "identity/resolver.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <utility>

#include "base/files.h"
#include "base/text.h"
#include "identity/runtimes.h"

namespace ipctrace {

namespace {

// Names from runtime state are a container's choice, of any length: each at most kMaxNameBytes.
Endpoint& bound_names(Endpoint& ep) {
  for (std::string* name : {&ep.runtime, &ep.k8s_namespace, &ep.pod, &ep.pod_uid, &ep.container}) {
    if (name->size() > Endpoint::kMaxNameBytes) *name = bounded(*name, Endpoint::kMaxNameBytes);
  }
  return ep;
}

}  // namespace

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

IdentityResolver::IdentityResolver(Options options)
    : opt_(std::move(options)), warnings_(10, std::chrono::minutes(1), [](uint64_t n) {
        return fmt::format(
            "identity: {} more endpoints could not be named in the last minute (not logged one by one; counted in "
            "ipctrace_identity_errors_total)",
            n);
      }) {
  if (opt_.host_root.empty()) opt_.host_root.push_back('/');  // not = "/": GCC 12 -O3 -Wrestrict
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
  return resolve_locked(cgroup_id, nullptr, false);
}

Endpoint IdentityResolver::learn(uint64_t cgroup_id, std::string_view path) {
  const std::lock_guard lock(mu_);
  std::string p(path);
  // The kernel's path is from the hierarchy's root; lookups are from the cgroup2 mount the agent
  // reads, which can sit deeper (a node that is itself a container: kind, docker-in-docker). The
  // first cgroup found both ways says how much deeper; a path outside the mount is not used.
  auto live = paths_ ? paths_->lookup(cgroup_id) : Result<std::string>(Error(ENOENT, "no cgroup2"));
  if (live && live->size() <= p.size() && p.ends_with(*live)) {
    if (!mount_prefix_) mount_prefix_ = p.substr(0, p.size() - live->size());
    p = *live;
  } else if (mount_prefix_) {
    if (!p.starts_with(*mount_prefix_) || (p.size() > mount_prefix_->size() && p[mount_prefix_->size()] != '/')) {
      p.clear();
    } else {
      p.erase(0, mount_prefix_->size());
      if (p.empty()) p = "/";
    }
  }
  return resolve_locked(cgroup_id, p.empty() ? nullptr : &p, true);
}

Endpoint IdentityResolver::refresh(uint64_t cgroup_id) {
  const std::lock_guard lock(mu_);
  return resolve_locked(cgroup_id, nullptr, true);
}

Endpoint IdentityResolver::resolve_locked(uint64_t cgroup_id, const std::string* learned_path, bool force) {
  const auto now = std::chrono::steady_clock::now();
  auto it = cache_.find(cgroup_id);
  if (it != cache_.end()) {
    lru_.splice(lru_.begin(), lru_, it->second.lru);
    Entry& cached_entry = it->second;
    if (learned_path != nullptr && cached_entry.learned_path.empty()) cached_entry.learned_path = *learned_path;
    if (!cached_entry.endpoint.partial) return cached_entry.endpoint;
    if (!force && (cached_entry.attempts > opt_.max_retries || now - cached_entry.last_attempt < opt_.retry_interval)) {
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
    if (learned_path != nullptr) fresh.learned_path = *learned_path;
    it = cache_.emplace(cgroup_id, std::move(fresh)).first;
  }

  Entry& entry = it->second;
  Attempt a = attempt(cgroup_id, entry.learned_path);
  // A forced try of an entry that has had its first is not one of its retries.
  if (!force || entry.attempts == 0) ++entry.attempts;
  entry.last_attempt = now;
  entry.endpoint = std::move(a.endpoint);
  bound_names(entry.endpoint);
  const bool last_try = entry.attempts > opt_.max_retries;
  entry.endpoint.pending = !last_try && (a.kind == Attempt::Kind::Pending || a.kind == Attempt::Kind::Missing);
  const bool report = a.kind == Attempt::Kind::Failed ||
                      (last_try && (a.kind == Attempt::Kind::Missing || a.kind == Attempt::Kind::Pending));
  if (report && !entry.reported) {
    entry.reported = true;
    errors_.fetch_add(1, std::memory_order_relaxed);
    this->report(cgroup_id, entry, a.error);
  }
  return entry.endpoint;
}

IdentityResolver::Attempt IdentityResolver::attempt(uint64_t cgroup_id, const std::string& learned_path) {
  if (!learned_path.empty()) return identify_container(cgroup_id, parse_cgroup_path(learned_path));
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
  Endpoint ep = identify_container(cgroup_id, cgroup).endpoint;
  return bound_names(ep);
}

void IdentityResolver::report(uint64_t cgroup_id, const Entry& entry, const std::string& error) {
  warnings_.warn(fmt::format("identity: cgroup {} ({}): {}; named {}", cgroup_id,
                             entry.endpoint.cgroup.path.empty() ? "path unknown" : entry.endpoint.cgroup.path, error,
                             entry.endpoint.display()));
}

IdentityResolver::Attempt IdentityResolver::identify_container(uint64_t cgroup_id, const CgroupIdentity& path_says) {
  const StateRoot root{opt_.host_root, opt_.max_file_bytes, opt_.containerd_state};
  const CgroupIdentity cgroup = owner_by_state(root, path_says);
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
  if (!usable_container_id(id)) return give_up(Attempt::Kind::Missing, "container id '" + id + "' is not a file name");
  const RuntimeLookup r = lookup_container(root, cgroup.runtime, id);
  switch (r.outcome) {
    case RuntimeLookup::Outcome::Missing:
      return give_up(Attempt::Kind::Missing, "no runtime state for container " + id + " under " + opt_.host_root);
    case RuntimeLookup::Outcome::Failed:
      return give_up(Attempt::Kind::Failed, r.error);
    case RuntimeLookup::Outcome::Found:
      break;
  }
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

}  // namespace ipctrace
