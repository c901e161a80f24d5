// The query string of /api/v1/flows (app/http_query.h): what `top --remote` sends and the agent
// parses, with the same filters as the command line.
#include "app/http_query.h"

#include <gtest/gtest.h>

#include <optional>
#include <string>

namespace ipctrace {
namespace {

TEST(HttpQuery, EmptyIsNoFilter) {
  auto f = parse_flows_query("");
  ASSERT_TRUE(f.ok());
  EXPECT_TRUE(f->empty());
  EXPECT_EQ(flows_query(Filters{}), "");
  auto amps = parse_flows_query("&&");
  ASSERT_TRUE(amps.ok());
  EXPECT_TRUE(amps->empty());
}

TEST(HttpQuery, EveryKeyRepeatedAndDecoded) {
  auto f =
      parse_flows_query("kind=pipe&kind=unix_stream&namespace=shop&pod=cart%2D5d9f&container=web+app&pid=42&pid=7");
  ASSERT_TRUE(f.ok()) << f.error().message();
  Filters want;
  want.kinds = {"pipe", "unix_stream"};
  want.namespaces = {"shop"};
  want.pods = {"cart-5d9f"};
  want.containers = {"web app"};
  want.pids = {42, 7};
  EXPECT_EQ(*f, want);
}

TEST(HttpQuery, RoundTripsAnyValue) {
  Filters f;
  f.kinds = {"tcp"};
  f.namespaces = {"a&b=c", "100%"};
  f.pods = {"sp ace+plus", "naïve/ü"};
  f.containers = {"3f1c2a", "\x01\xff"};
  f.pids = {1, 2147483647};
  const std::string q = flows_query(f);
  EXPECT_EQ(q,
            "kind=tcp&namespace=a%26b%3Dc&namespace=100%25&pod=sp%20ace%2Bplus&pod=na%C3%AFve%2F%C3%BC&"
            "container=3f1c2a&container=%01%FF&pid=1&pid=2147483647");
  auto back = parse_flows_query(q);
  ASSERT_TRUE(back.ok()) << back.error().message();
  EXPECT_EQ(*back, f);
}

TEST(HttpQuery, BadQueriesSayWhatIsWrong) {
  auto error = [](std::string_view q) {
    auto f = parse_flows_query(q);
    return f.ok() ? std::string("(accepted)") : f.error().message();
  };
  EXPECT_EQ(error("pid=abc"), "pid must be a number from 1 to 2147483647, not 'abc'");
  EXPECT_EQ(error("pid=0"), "pid must be a number from 1 to 2147483647, not '0'");
  EXPECT_EQ(error("pid=-3"), "pid must be a number from 1 to 2147483647, not '-3'");
  EXPECT_EQ(error("pid=99999999999"), "pid must be a number from 1 to 2147483647, not '99999999999'");
  EXPECT_EQ(error("pid="), "pid must be a number from 1 to 2147483647, not ''");
  EXPECT_EQ(error("kind=carrier_pigeon"), "unknown kind 'carrier_pigeon'");
  EXPECT_EQ(error("colour=red"), "unknown query parameter 'colour' (kind, namespace, pod, container, pid)");
  EXPECT_EQ(error("kind"), "query parameter 'kind' has no value");
  EXPECT_EQ(error("pod=%zz"), "malformed percent-encoding in '%zz'");
  EXPECT_EQ(error("pod=%4"), "malformed percent-encoding in '%4'");
  EXPECT_EQ(error("pod=a%00b"), "a query value may not contain %00");
  EXPECT_EQ(error(std::string("pod=a\0b", 7)), "a query value may not contain a NUL byte");  // found by fuzz_http_query
  EXPECT_EQ(error(std::string(8193, 'a')), "query longer than 8192 bytes");
  std::string many;
  for (int i = 0; i < 65; ++i) many += "pod=p&";
  EXPECT_EQ(error(many), "more than 64 query values");
}

// The userinfo of a URL, split off: the user and password decoded, the URL without them.
TEST(UrlUserinfo, SplitOffAndDecoded) {
  struct Case {
    std::string url;
    std::string shown;
    std::optional<std::string> user;
    std::optional<std::string> password;
  };
  const Case cases[] = {
      {"https://node-1:9477", "https://node-1:9477", std::nullopt, std::nullopt},
      {"https://alice:s3cret@node-1:9477/x?y=1", "https://node-1:9477/x?y=1", "alice", "s3cret"},
      {"http://alice@node-1", "http://node-1", "alice", std::nullopt},
      {"http://alice:@node-1", "http://node-1", "alice", ""},
      {"http://:pw@node-1", "http://node-1", "", "pw"},
      // Percent-decoded ('+' stays a plus), a malformed escape as written, the last '@' ends it.
      {"http://al%69ce:p%40ss%3Aw%25rd+x%zz@[::1]:9477/", "http://[::1]:9477/", "alice", "p@ss:w%rd+x%zz"},
      {"http://a:b@c@host/", "http://host/", "a", "b@c"},
      // An '@' after the authority is not userinfo.
      {"http://host/path@x", "http://host/path@x", std::nullopt, std::nullopt},
      {"http://host?q=a@b", "http://host?q=a@b", std::nullopt, std::nullopt},
      {"http://host#a@b", "http://host#a@b", std::nullopt, std::nullopt},
      {"not a url@all", "not a url@all", std::nullopt, std::nullopt},
  };
  for (const Case& c : cases) {
    const UrlUserinfo got = split_userinfo(c.url);
    EXPECT_EQ(got.url, c.shown) << c.url;
    EXPECT_EQ(got.user, c.user) << c.url;
    EXPECT_EQ(got.password, c.password) << c.url;
  }
}

}  // namespace
}  // namespace ipctrace
