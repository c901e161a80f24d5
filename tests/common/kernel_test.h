// Kernel tests need root and working BPF. Locally they skip with the reason when that is
// missing; under CI=true a kernel test that cannot run fails, because a skipped kernel test
// in CI would hide exactly what it exists to check.
#pragma once

#include <gtest/gtest.h>

#include <string>

namespace ipctrace::test {

// Empty when kernel tests can run here; otherwise why not.
std::string kernel_test_blocker();
bool in_ci();
// How much slower than native this machine runs kernel work: IPCTRACE_TEST_TIME_SCALE (the kernel
// matrix's emulated guest sets it), else 1. Wall-clock budgets in tests are multiplied by it.
double time_scale();

}  // namespace ipctrace::test

#define IPCTRACE_REQUIRE_KERNEL()                                                                    \
  do {                                                                                               \
    const std::string ipct_blocker_ = ::ipctrace::test::kernel_test_blocker();                       \
    if (!ipct_blocker_.empty()) {                                                                    \
      if (::ipctrace::test::in_ci()) FAIL() << "kernel test cannot run under CI: " << ipct_blocker_; \
      GTEST_SKIP() << "kernel test needs root and BPF: " << ipct_blocker_;                           \
    }                                                                                                \
  } while (0)
