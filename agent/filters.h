// Filters shared by `top`, `flows` and `trace`: which flows or events to show.
#pragma once

#include <string>
#include <vector>

namespace ipctrace {

struct Filters {
  std::vector<std::string> kinds;
  std::vector<std::string> containers;
  std::vector<std::string> pods;
  std::vector<std::string> namespaces;
  std::vector<int> pids;
};

}  // namespace ipctrace
