// The kernel maps' memory budget (kernel/tracer.h): what each kind of map takes, and the per-CPU
// flow tables sized so that all of it stays within kKernelMapBudgetBytes on any number of CPUs.
#include <bpf/bpf.h>
#include <gtest/gtest.h>

#include "kernel/tracer.h"

using namespace ipctrace;

namespace {

constexpr uint64_t kMiB = 1 << 20;
constexpr uint64_t kFixed = 10 * kMiB;  // about what the other maps take with the defaults

uint64_t tables_bytes(uint32_t entries, uint32_t cpus) {
  uint64_t buckets = 1;
  while (buckets < uint64_t{4} * entries) buckets <<= 1;
  return map_memory_bytes(BPF_MAP_TYPE_PERCPU_ARRAY, 4, sizeof(ipct_flow_entry), 2 * entries, cpus) +
         map_memory_bytes(BPF_MAP_TYPE_PERCPU_ARRAY, 4, 8, static_cast<uint32_t>(2 * buckets), cpus);
}

}  // namespace

TEST(MapBudget, EachKindOfMapAsTheKernelAllocatesIt) {
  EXPECT_EQ(map_memory_bytes(BPF_MAP_TYPE_ARRAY, 4, 12, 10, 192), 160U);                      // values rounded to 8
  EXPECT_EQ(map_memory_bytes(BPF_MAP_TYPE_PERCPU_ARRAY, 4, 160, 100, 192), 800U + 3072000U);  // per CPU
  // ipct_folded: 32,768 of 16 + 16 bytes, 3,146,800 bytes of memlock on Linux 6.18.
  EXPECT_EQ(map_memory_bytes(BPF_MAP_TYPE_HASH, 16, 16, 32768, 2), 3145728U);
  EXPECT_EQ(map_memory_bytes(BPF_MAP_TYPE_PERCPU_HASH, 16, 272, 8192, 2), 8192U * (64 + 16 + 8 + 2 * 272));
  EXPECT_EQ(map_memory_bytes(BPF_MAP_TYPE_RINGBUF, 0, 0, 262144, 192), 262144U);  // not per CPU
  EXPECT_EQ(map_memory_bytes(BPF_MAP_TYPE_TASK_STORAGE, 4, 8, 0, 192), 0U);
}

TEST(MapBudget, SmallNodesKeepTheFullTables) {
  EXPECT_EQ(cpu_flow_table_entries(65536, 1, kFixed), kMaxCpuFlowTableEntries);
  EXPECT_EQ(cpu_flow_table_entries(65536, 2, kFixed), kMaxCpuFlowTableEntries);
  EXPECT_EQ(cpu_flow_table_entries(65536, 7, kFixed), kMaxCpuFlowTableEntries);
  EXPECT_EQ(cpu_flow_table_entries(65536, 8, kFixed), 15188U);  // 54 MiB / (8 x 448 + 144 bytes)
  EXPECT_EQ(cpu_flow_table_entries(1000, 2, kFixed), 1000U);    // never more than --flow-map-entries
}

TEST(MapBudget, LargeNodesStayWithinTheBudget) {
  // Every count up to 1,024: where 4 x entries lands just past a power of two the index has
  // nearly 8 buckets an entry, the case the per-entry bound is for.
  for (uint32_t cpus = 1; cpus <= 1024; ++cpus) {
    const uint32_t entries = cpu_flow_table_entries(65536, cpus, kFixed);
    EXPECT_LE(kFixed + tables_bytes(entries, cpus), kKernelMapBudgetBytes) << cpus << " CPUs";
    // And not far below it: at least half of what is left goes to the tables (up to 7 CPUs
    // the tables are at their largest, 16,384 entries, and leave more).
    if (entries < kMaxCpuFlowTableEntries) {
      EXPECT_GE(kFixed + 2 * tables_bytes(entries, cpus), kKernelMapBudgetBytes) << cpus << " CPUs";
    }
  }
  EXPECT_EQ(cpu_flow_table_entries(65536, 192, kFixed), 657U);
  // Past about 4,000 CPUs the floor wins over the budget.
  EXPECT_EQ(cpu_flow_table_entries(65536, 8192, kFixed), kMinCpuFlowTableEntries);
  // Other maps that take it all leave the floor; below the floor, what was asked for.
  EXPECT_EQ(cpu_flow_table_entries(10, 2, kFixed), 10U);
  EXPECT_EQ(cpu_flow_table_entries(65536, 2, 80 * kMiB), kMinCpuFlowTableEntries);
}

// The agent reads the tables a chunk of keys at a time: at most 1 MiB of entries (a key holds
// every possible CPU's 160-byte entry), at least one key, never more than a table holds.
TEST(MapBudget, TheReadBufferDoesNotGrowWithTheCpus) {
  EXPECT_EQ(flow_read_chunk_keys(16384, 1), 6553U);  // 1,048,576 / 160
  EXPECT_EQ(flow_read_chunk_keys(16384, 2), 3276U);
  EXPECT_EQ(flow_read_chunk_keys(657, 192), 34U);  // 1,048,576 / 30,720
  EXPECT_EQ(flow_read_chunk_keys(100, 1), 100U);   // a small table at once
  EXPECT_EQ(flow_read_chunk_keys(64, 8192), 1U);   // one key of 8,192 CPUs' entries: 1.25 MiB
  EXPECT_EQ(flow_read_chunk_keys(0, 0), 1U);
  for (uint32_t cpus = 1; cpus <= 6553; ++cpus) {
    const uint32_t entries = cpu_flow_table_entries(65536, cpus, kFixed);
    const KernelMemory m{cpus, true, 65536, entries, 0, kKernelMapBudgetBytes};
    EXPECT_LE(m.read_buffer_bytes(), kFlowReadChunkBytes) << cpus << " CPUs";
    EXPECT_GT(m.read_buffer_bytes(), kFlowReadChunkBytes / 2) << cpus << " CPUs";  // not far below it
    // So the agent's RSS estimate stays within 96 MiB at the defaults, whatever the CPUs.
    EXPECT_LE(m.agent_rss_bytes(), 96 * kMiB) << cpus << " CPUs";
  }
  // 24 MiB idle + 1,120 bytes a kept flow + the read buffer.
  const KernelMemory two{2, true, 65536, 16384, 0, kKernelMapBudgetBytes};
  EXPECT_EQ(two.agent_rss_bytes(), 24 * kMiB + uint64_t{1120} * 65536 + uint64_t{3276} * 2 * 160);
  const KernelMemory small{2, true, 1000, 1000, 0, kKernelMapBudgetBytes};
  EXPECT_EQ(small.agent_rss_bytes(), 24 * kMiB + uint64_t{1120} * 1000 + uint64_t{1000} * 2 * 160);
}
