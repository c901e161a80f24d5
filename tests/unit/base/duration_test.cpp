#include "base/duration.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

using ::testing::HasSubstr;

using namespace std::chrono_literals;
using ipctrace::Duration;
using ipctrace::format_duration;
using ipctrace::parse_duration;

TEST(Duration, ParsesEveryUnit) {
  EXPECT_EQ(*parse_duration("250ns"), Duration(250));
  EXPECT_EQ(*parse_duration("20us"), 20us);
  EXPECT_EQ(*parse_duration("500ms"), 500ms);
  EXPECT_EQ(*parse_duration("5s"), 5s);
  EXPECT_EQ(*parse_duration("2m"), 2min);
  EXPECT_EQ(*parse_duration("1h"), 1h);
}

TEST(Duration, BareNumberIsSeconds) {
  EXPECT_EQ(*parse_duration("3"), 3s);
  EXPECT_EQ(*parse_duration("0"), 0s);
}

TEST(Duration, Fractions) {
  EXPECT_EQ(*parse_duration("1.5s"), 1500ms);
  EXPECT_EQ(*parse_duration("0.25m"), 15s);
  EXPECT_EQ(*parse_duration(" 2s "), 2s);
}

TEST(Duration, RejectsMalformed) {
  for (const char* bad : {"", "s", "-1s", "5x", "5 s", "1..5s", "abc", "5sec", "1e3s"}) {
    auto r = parse_duration(bad);
    EXPECT_FALSE(r.ok()) << bad;
    if (!r.ok()) {
      EXPECT_THAT(r.error().message(), HasSubstr("invalid duration")) << r.error().message();
    }
  }
}

TEST(Duration, RejectsOverflowAndAnythingPastAYear) {
  EXPECT_FALSE(parse_duration("99999999999h").ok());
  const auto huge = parse_duration("9223372036s");  // just below INT64_MAX nanoseconds
  ASSERT_FALSE(huge.ok());
  EXPECT_EQ(huge.error().message(),
            "invalid duration '9223372036s': longer than 8760h (a year) (use e.g. 500ms, 5s, 2m)");
  EXPECT_FALSE(parse_duration("8760.5h").ok());
  ASSERT_TRUE(parse_duration("8760h").ok());
  EXPECT_EQ(*parse_duration("8760h"), std::chrono::hours(8760));
}

TEST(Duration, FormatsShortestExactSpelling) {
  EXPECT_EQ(format_duration(0s), "0s");
  EXPECT_EQ(format_duration(5s), "5s");
  EXPECT_EQ(format_duration(1500ms), "1.5s");
  EXPECT_EQ(format_duration(120s), "2m");
  EXPECT_EQ(format_duration(300s), "5m");
  EXPECT_EQ(format_duration(250ms), "250ms");
  EXPECT_EQ(format_duration(Duration(7)), "7ns");
}

TEST(Duration, FormatRoundTrips) {
  for (Duration d : {Duration(1), Duration(1500), Duration(1000000), Duration(2500000000), Duration(3600000000000)}) {
    EXPECT_EQ(*parse_duration(format_duration(d)), d) << format_duration(d);
  }
}
