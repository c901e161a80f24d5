// The one filter rule (model/filter.h): each criterion given holds at some end of a flow (or at the
// one end of a trace event), criteria not given select everything.
#include "model/filter.h"

#include <gtest/gtest.h>

#include "kernel/abi.h"

namespace ipctrace {
namespace {

Endpoint named(const std::string& ns, const std::string& pod, const std::string& container,
               const std::string& id = "") {
  Endpoint e;
  e.cgroup_id = 100;
  e.k8s_namespace = ns;
  e.pod = pod;
  e.container = container;
  e.cgroup.container_id = id;
  return e;
}

FlowView view(int kind, const Endpoint& src, uint32_t src_pid, const Endpoint& dst, uint32_t dst_pid) {
  FlowView v;
  v.kind = kind;
  v.src = {EndpointRef::cgroup(src.cgroup_id), src, TaskHint{src_pid, "a", {}}};
  v.dst = {EndpointRef::cgroup(dst.cgroup_id), dst, TaskHint{dst_pid, "b", {}}};
  return v;
}

TEST(Filter, NoCriterionSelectsEverything) {
  const Endpoint e = named("shop", "cart", "sidecar");
  EXPECT_TRUE(Filters{}.empty());
  EXPECT_TRUE(filter_matches(Filters{}, IPCT_KIND_PIPE, {{&e, 7}}));
  EXPECT_TRUE(filter_matches(Filters{}, IPCT_KIND_TCP, {{nullptr, 0}}));
}

TEST(Filter, EachCriterionOnASingleEnd) {
  const Endpoint e = named("shop", "cart", "sidecar", "3f1c2a9b0d4e5f60");
  Filters f;
  f.kinds = {"tcp"};
  EXPECT_FALSE(filter_matches(f, IPCT_KIND_PIPE, {{&e, 77}}));
  f.kinds = {"tcp", "pipe"};
  EXPECT_TRUE(filter_matches(f, IPCT_KIND_PIPE, {{&e, 77}}));
  f.pids = {78};  // a thread id is not the process
  EXPECT_FALSE(filter_matches(f, IPCT_KIND_PIPE, {{&e, 77}}));
  f.pids = {77};
  EXPECT_TRUE(filter_matches(f, IPCT_KIND_PIPE, {{&e, 77}}));
  f.containers = {"3f1c2a"};  // an id prefix
  EXPECT_TRUE(filter_matches(f, IPCT_KIND_PIPE, {{&e, 77}}));
  f.containers = {"other"};
  EXPECT_FALSE(filter_matches(f, IPCT_KIND_PIPE, {{&e, 77}}));
  f.containers = {""};  // the empty prefix matches nothing
  EXPECT_FALSE(filter_matches(f, IPCT_KIND_PIPE, {{&e, 77}}));
  f.containers = {"sidecar"};
  f.namespaces = {"shop"};
  f.pods = {"cart"};
  EXPECT_TRUE(filter_matches(f, IPCT_KIND_PIPE, {{&e, 77}}));
  EXPECT_TRUE(names_match(f, e));
  f.pods = {"checkout"};
  EXPECT_FALSE(filter_matches(f, IPCT_KIND_PIPE, {{&e, 77}}));
  EXPECT_FALSE(names_match(f, e));
}

TEST(Filter, EachCriterionMayHoldAtADifferentEnd) {
  const Endpoint web = named("prod", "web", "nginx", "3f1c2a9b0d4e77");
  const Endpoint api = named("dev", "app", "api");
  const std::vector<FlowView> views = {view(IPCT_KIND_PIPE, web, 10, named("", "", "/"), 11),
                                       view(IPCT_KIND_TCP, named("dev", "db", "pg"), 20, api, 777)};
  Filters f;
  EXPECT_EQ(filter_flows(views, f).size(), 2U);
  f.kinds = {"tcp"};
  ASSERT_EQ(filter_flows(views, f).size(), 1U);
  EXPECT_EQ(filter_flows(views, f)[0].kind, IPCT_KIND_TCP);
  f = {};
  f.namespaces = {"prod"};
  ASSERT_EQ(filter_flows(views, f).size(), 1U);
  EXPECT_EQ(filter_flows(views, f)[0].kind, IPCT_KIND_PIPE);
  f = {};
  f.containers = {"3f1c2a"};
  EXPECT_EQ(filter_flows(views, f).size(), 1U);
  f = {};
  f.pods = {"app"};
  EXPECT_EQ(filter_flows(views, f).size(), 1U);
  f = {};
  f.pids = {777};
  ASSERT_EQ(filter_flows(views, f).size(), 1U);
  EXPECT_EQ(filter_flows(views, f)[0].kind, IPCT_KIND_TCP);
  f.pids = {1};
  EXPECT_EQ(filter_flows(views, f).size(), 0U);
  // pod "db" at the source, container "api" at the destination: both criteria hold.
  f = {};
  f.pods = {"db"};
  f.containers = {"api"};
  EXPECT_EQ(filter_flows(views, f).size(), 1U);
  f.namespaces = {"prod"};
  EXPECT_EQ(filter_flows(views, f).size(), 0U);
}

TEST(Filter, RemoteAndUnknownEndsHaveNoNames) {
  FlowView v;
  v.kind = IPCT_KIND_TCP;
  v.src = {EndpointRef::address("10.0.0.5:443"), {}, {}};
  v.dst = {EndpointRef::unknown(), {}, {}};
  Filters f;
  f.namespaces = {""};
  EXPECT_TRUE(filter_flows({v}, f).empty());
  f = {};
  f.kinds = {"tcp"};
  EXPECT_EQ(filter_flows({v}, f).size(), 1U);
}

}  // namespace
}  // namespace ipctrace
