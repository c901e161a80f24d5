#include "model/filter.h"

#include <algorithm>

#include "kernel/kinds.h"

namespace ipctrace {
namespace {

bool one_of(const std::vector<std::string>& wanted, const std::string& value) {
  return std::find(wanted.begin(), wanted.end(), value) != wanted.end();
}

bool container_matches(const std::vector<std::string>& wanted, const Endpoint& e) {
  return std::any_of(wanted.begin(), wanted.end(), [&](const std::string& c) {
    return !c.empty() && (e.container == c || (!e.cgroup.container_id.empty() && e.cgroup.container_id.starts_with(c)));
  });
}

// Whether some end satisfies `test`.
template <typename Test>
bool some_end(std::initializer_list<FilterEnd> ends, Test test) {
  return std::any_of(ends.begin(), ends.end(), test);
}

}  // namespace

bool filter_matches(const Filters& f, int kind, std::initializer_list<FilterEnd> ends) {
  if (!f.kinds.empty() && !one_of(f.kinds, std::string(kind_name(kind)))) return false;
  const auto named = [&](auto test) {
    return some_end(ends, [&](const FilterEnd& end) { return end.endpoint != nullptr && test(*end.endpoint); });
  };
  if (!f.namespaces.empty() && !named([&](const Endpoint& e) { return one_of(f.namespaces, e.k8s_namespace); })) {
    return false;
  }
  if (!f.pods.empty() && !named([&](const Endpoint& e) { return one_of(f.pods, e.pod); })) return false;
  if (!f.containers.empty() && !named([&](const Endpoint& e) { return container_matches(f.containers, e); })) {
    return false;
  }
  if (!f.pids.empty()) {
    const bool pid = some_end(ends, [&](const FilterEnd& end) {
      return end.pid != 0 &&
             std::any_of(f.pids.begin(), f.pids.end(), [&](int p) { return static_cast<uint32_t>(p) == end.pid; });
    });
    if (!pid) return false;
  }
  return true;
}

bool names_match(const Filters& f, const Endpoint& endpoint) {
  Filters names;
  names.namespaces = f.namespaces;
  names.pods = f.pods;
  names.containers = f.containers;
  return filter_matches(names, 0, {{&endpoint, 0}});
}

std::vector<FlowView> filter_flows(const std::vector<FlowView>& views, const Filters& filters) {
  std::vector<FlowView> out;
  for (const FlowView& v : views) {
    const FilterEnd src{v.src.ref.type == EndpointRef::Type::Cgroup ? &v.src.endpoint : nullptr, v.src.task.tgid};
    const FilterEnd dst{v.dst.ref.type == EndpointRef::Type::Cgroup ? &v.dst.endpoint : nullptr, v.dst.task.tgid};
    if (filter_matches(filters, v.kind, {src, dst})) out.push_back(v);
  }
  return out;
}

}  // namespace ipctrace
