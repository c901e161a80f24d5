// Stopping on a signal (base/stop.h): the flag, the signal, the interruptible sleep, and the
// dispositions put back afterwards.
#include "base/stop.h"

#include <gtest/gtest.h>

#include <chrono>
#include <csignal>

namespace ipctrace {
namespace {

using namespace std::chrono_literals;

void (*handler_of(int sig))(int) {
  struct sigaction now {};
  sigaction(sig, nullptr, &now);
  return now.sa_handler;
}

TEST(StopSignal, ASignalAsksToStopAndSaysWhich) {
  const StopSignal stop;
  EXPECT_FALSE(stop.requested());
  EXPECT_EQ(stop.signal(), 0);
  ASSERT_EQ(raise(SIGTERM), 0);  // handled: the test process goes on
  EXPECT_TRUE(stop.requested());
  EXPECT_EQ(stop.signal(), SIGTERM);
  ASSERT_EQ(raise(SIGINT), 0);
  EXPECT_EQ(stop.signal(), SIGTERM);  // the first one is kept
}

TEST(StopSignal, SleepEndsEarlyOnceAStopIsAsked) {
  StopSignal stop({SIGUSR1});
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_TRUE(stop.sleep_for(60ms));
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 60ms);
  stop.request();
  EXPECT_TRUE(stop.requested());
  EXPECT_EQ(stop.signal(), 0);  // asked for, not signalled
  const auto t1 = std::chrono::steady_clock::now();
  EXPECT_FALSE(stop.sleep_for(10s));
  EXPECT_LT(std::chrono::steady_clock::now() - t1, 1s);
}

TEST(StopSignal, PutsBackTheDispositionsItReplaced) {
  ASSERT_EQ(handler_of(SIGUSR2), SIG_DFL);
  std::signal(SIGHUP, SIG_IGN);
  {
    const StopSignal stop({SIGUSR2, SIGHUP});
    EXPECT_NE(handler_of(SIGUSR2), SIG_DFL);
    EXPECT_NE(handler_of(SIGHUP), SIG_IGN);
  }
  EXPECT_EQ(handler_of(SIGUSR2), SIG_DFL);
  EXPECT_EQ(handler_of(SIGHUP), SIG_IGN);
  std::signal(SIGHUP, SIG_DFL);
  // A new owner starts with no stop asked.
  const StopSignal again({SIGUSR2});
  EXPECT_FALSE(again.requested());
}

TEST(StopSignalDeathTest, TwoOwnersAtOnceAreRefused) {
  EXPECT_DEATH(
      {
        const StopSignal first({SIGUSR1});
        const StopSignal second({SIGUSR2});
      },
      "");
}

}  // namespace
}  // namespace ipctrace
