#include "exporters/probe_format.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

using ::testing::HasSubstr;

using namespace ipctrace;

namespace {

ProbeReport sample() {
  ProbeReport r;
  r.kernel = *KernelVersion::parse("6.1.0-28-cloud-amd64");
  r.btf = true;
  r.btf_detail = "/sys/kernel/btf/vmlinux";
  r.tracefs = "/sys/kernel/tracing";
  r.caps = Capabilities(0x000000c000000000ULL);  // CAP_BPF + CAP_PERFMON
  r.features = {{Feature::TpBtf, true, "ok", "loaded, attached, fired 3 of 3", 0},
                {Feature::Kprobe, false, "attach", "attach: No such file or directory", ENOENT}};
  HookChoice h{Mechanism::SysvMsg, HookFamily::TpBtf, {"sys_exit"}, {"fentry: fentry programs do not work"}};
  HookChoice none{Mechanism::Signal, std::nullopt, {}, {"tp_btf: signal_generate not found"}};
  r.hooks = {h, none};
  return r;
}

}  // namespace

TEST(ProbeFormat, Json) {
  const auto j = probe_to_json(sample());
  EXPECT_EQ(j["kernel"]["release"], "6.1.0-28-cloud-amd64");
  EXPECT_EQ(j["kernel"]["minor"], 1);
  EXPECT_EQ(j["btf"]["available"], true);
  EXPECT_EQ(j["tracefs"]["path"], "/sys/kernel/tracing");
  EXPECT_EQ(j["privileges"]["sufficient"], true);
  EXPECT_EQ(j["privileges"]["capabilities"], nlohmann::json({"CAP_BPF", "CAP_PERFMON"}));
  EXPECT_EQ(j["privileges"]["effective"], "0x000000c000000000");
  EXPECT_EQ(j["features"]["tp_btf"]["works"], true);
  EXPECT_EQ(j["features"]["kprobe"]["works"], false);
  EXPECT_EQ(j["features"]["kprobe"]["stage"], "attach");
  EXPECT_EQ(j["features"]["kprobe"]["errno"], ENOENT);
  EXPECT_EQ(j["hooks"]["sysv_msg"]["family"], "tp_btf");
  EXPECT_EQ(j["hooks"]["sysv_msg"]["attach"], nlohmann::json({"sys_exit"}));
  EXPECT_EQ(j["hooks"]["sysv_msg"]["kinds"], nlohmann::json({"sysv_msg"}));
  EXPECT_TRUE(j["hooks"]["signal"]["family"].is_null());
  EXPECT_TRUE(j["forced_hook_family"].is_null());
  EXPECT_EQ(j["agent_can_run"], true);
}

TEST(ProbeFormat, JsonWithoutPrivileges) {
  auto r = sample();
  r.caps = Capabilities(0);
  r.missing_caps = {"CAP_BPF", "CAP_PERFMON"};
  const auto j = probe_to_json(r);
  EXPECT_EQ(j["privileges"]["sufficient"], false);
  EXPECT_EQ(j["privileges"]["missing"], nlohmann::json({"CAP_BPF", "CAP_PERFMON"}));
  EXPECT_EQ(j["agent_can_run"], false);
  ASSERT_EQ(j["blockers"].size(), 1U);
  EXPECT_THAT(j["blockers"][0].get<std::string>(), HasSubstr("CAP_BPF, CAP_PERFMON"));
}

TEST(ProbeFormat, Text) {
  const std::string t = probe_to_text(sample());
  EXPECT_THAT(t, HasSubstr("Kernel        6.1.0-28-cloud-amd64\n")) << t;
  EXPECT_THAT(t, HasSubstr("Privileges    sufficient (CAP_BPF CAP_PERFMON)")) << t;
  EXPECT_THAT(t, HasSubstr("  tp_btf               yes  loaded, attached, fired 3 of 3\n")) << t;
  EXPECT_THAT(t, HasSubstr("  kprobe               no   attach: No such file or directory\n")) << t;
  EXPECT_THAT(t, HasSubstr("  sysv_msg   tp_btf      sys_exit\n")) << t;
  EXPECT_THAT(t, HasSubstr("  signal     NONE        no usable hook\n")) << t;
  EXPECT_THAT(t, HasSubstr("The agent can run on this kernel.")) << t;
}

// The memory figure of a 192-CPU node (the figures of tests/unit/kernel/map_budget_test.cpp's
// sizing: 657 entries per CPU); without one, why not.
TEST(ProbeFormat, MemoryFigure) {
  auto r = sample();
  r.memory = KernelMemory{192, true, 65536, 657, 66'000'000, uint64_t{64} << 20};
  const auto j = probe_to_json(r);
  EXPECT_EQ(j["memory"]["possible_cpus"], 192);
  EXPECT_EQ(j["memory"]["cpu_table_entries"], 657);
  EXPECT_EQ(j["memory"]["kernel_map_bytes"], 66'000'000);
  EXPECT_EQ(j["memory"]["kernel_map_budget_bytes"], 67'108'864);
  // Read a chunk of 34 keys at a time (1 MiB / (192 x 160 bytes)), not a whole table (19.2 MiB).
  EXPECT_EQ(j["memory"]["read_buffer_bytes"], 34ULL * 192 * 160);
  // 24 MiB idle + 1,120 bytes x 65,536 kept flows + the read buffer.
  EXPECT_EQ(j["memory"]["agent_rss_bytes"], (24ULL << 20) + 1120ULL * 65536 + 34ULL * 192 * 160);
  const std::string t = probe_to_text(r);
  EXPECT_THAT(t, HasSubstr("Memory at the defaults (192 possible CPUs, --flow-map-entries 65536):\n")) << t;
  EXPECT_THAT(t, HasSubstr("  kernel maps  62.9 MiB of a 64 MiB budget (66000000 bytes)\n")) << t;
  EXPECT_THAT(t, HasSubstr("  flow tables  657 entries per CPU (sized down from 16384 by the budget)\n")) << t;
  EXPECT_THAT(t, HasSubstr("  read buffer  1.0 MiB of the agent's, at most, while it reads the tables\n")) << t;
  EXPECT_THAT(t, HasSubstr("  agent RSS    95.0 MiB at most, estimated: 24 MiB idle + 1120 bytes x 65536 flows kept + "
                           "the read buffer\n"))
      << t;

  // Planned for another node (`--possible-cpus`): said so.
  r.memory->this_node = false;
  EXPECT_EQ(probe_to_json(r)["memory"]["this_node"], false);
  EXPECT_THAT(probe_to_text(r),
              HasSubstr("Memory at the defaults (192 possible CPUs, planned for another node with --possible-cpus, "
                        "--flow-map-entries 65536):\n"));

  r.memory.reset();
  r.memory_detail = "the agent cannot run here (see the blockers below)";
  EXPECT_EQ(probe_to_json(r)["memory"]["detail"], "the agent cannot run here (see the blockers below)");
  EXPECT_THAT(probe_to_text(r),
              HasSubstr("Memory        not planned: the agent cannot run here (see the blockers below)\n"));
}
