// Kinds and the kernel's task command, as the agent prints them.
#include "kernel/kinds.h"

#include <gtest/gtest.h>

#include "kernel/abi.h"

using namespace ipctrace;

TEST(Kinds, NamesRoundTrip) {
  for (int k = 1; k < IPCT_KIND_MAX; ++k) {
    const auto parsed = parse_kind(kind_name(k));
    ASSERT_TRUE(parsed.has_value()) << k;
    EXPECT_EQ(*parsed, k);
  }
  EXPECT_EQ(kind_name(IPCT_KIND_MAX + 5), "unknown");
}

TEST(Kinds, ACommandIsItsBytesUpToTheNul) {
  const char plain[16] = "nginx: worker";
  EXPECT_EQ(comm_text(plain, sizeof(plain)), "nginx: worker");
  // All 16 bytes used, no NUL: the kernel never writes one past them, nor does comm_text read it.
  const char full[16] = {'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j', 'k', 'l', 'm', 'n', 'o', 'p'};
  EXPECT_EQ(comm_text(full, sizeof(full)), "abcdefghijklmnop");
  // A terminal escape, a newline and bytes that are no UTF-8: kept, so that two names differing
  // only there stay apart; every writer escapes them (base/text.h).
  const char hostile[16] = "\x1b[2J\n\xff\xfe";
  EXPECT_EQ(comm_text(hostile, sizeof(hostile)), "\x1b[2J\n\xff\xfe");
}
