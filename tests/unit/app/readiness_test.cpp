// The agent's /readyz and /api/v1/flows state (app/agent/http_api.h): readiness after failed
// collections, and the published document filtered by a query with the one filter rule.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "app/agent/http_api.h"
#include "exporters/flows_format.h"
#include "kernel/abi.h"

namespace ipctrace {
namespace {

TEST(Readiness, ReadyAfterACollectionUntilThreeFailInARow) {
  EXPECT_EQ(readiness(0, 0, "").reason, "the first collection has not run yet");
  EXPECT_FALSE(readiness(0, 0, "").ready);
  EXPECT_FALSE(readiness(0, 2, "x").ready);
  EXPECT_TRUE(readiness(1, 0, "").ready);
  EXPECT_TRUE(readiness(5, 1, "read the flow table: Bad address").ready);
  EXPECT_TRUE(readiness(5, 2, "read the flow table: Bad address").ready);
  const Readiness three = readiness(5, 3, "read the flow table: Bad address");
  EXPECT_FALSE(three.ready);
  EXPECT_EQ(three.reason, "3 collections failed in a row, the last: read the flow table: Bad address");
  EXPECT_FALSE(readiness(0, 4, "x").ready);
}

FlowsReport two_flows() {
  FlowsReport r;
  r.node = "n";
  for (auto [kind, pod, pid] : {std::tuple{IPCT_KIND_PIPE, "web", 10U}, std::tuple{IPCT_KIND_TCP, "db", 20U}}) {
    FlowView v;
    v.kind = kind;
    Endpoint e;
    e.cgroup_id = pid;
    e.k8s_namespace = "shop";
    e.pod = pod;
    e.container = "c";
    v.src = {EndpointRef::cgroup(pid), e, TaskHint{pid, "x", {}}};
    v.dst = {EndpointRef::unknown(), {}, {}};
    r.flows.push_back(v);
  }
  return r;
}

TEST(Published, ServesTheWholeDocumentOrTheFilteredOne) {
  Published p;
  EXPECT_EQ(*p.flows_document(""), R"({"flows": []})");
  EXPECT_EQ(*p.flows_document("kind=pipe"), R"({"flows": []})");  // the same shape before the first cycle
  EXPECT_FALSE(p.flows_document("kind=nope").ok());               // and the query checked all the same
  EXPECT_FALSE(p.readiness().ready);
  const FlowsReport report = two_flows();
  const std::string whole = flows_to_json(report).dump();
  p.publish(report, whole);
  EXPECT_EQ(*p.flows_document(""), whole);
  auto pipes = p.flows_document("kind=pipe");
  ASSERT_TRUE(pipes.ok());
  const auto doc = nlohmann::json::parse(*pipes);
  ASSERT_EQ(doc["flows"].size(), 1U);
  EXPECT_EQ(doc["flows"][0]["src"]["pod"], "web");
  EXPECT_EQ(nlohmann::json::parse(*p.flows_document("pod=db&pid=20"))["flows"].size(), 1U);
  EXPECT_EQ(nlohmann::json::parse(*p.flows_document("pod=db&pid=10"))["flows"].size(), 0U);
  auto bad = p.flows_document("pid=abc");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().message(), "pid must be a number from 1 to 2147483647, not 'abc'");
  p.set_readiness(readiness(1, 0, ""));
  EXPECT_TRUE(p.readiness().ready);
}

}  // namespace
}  // namespace ipctrace
