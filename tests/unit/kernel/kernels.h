// The kernels the hook choice and the planner are tested against, as KernelFacts (no kernel needed).
#pragma once

#include <string>

#include "kernel/hooks.h"

namespace ipctrace::test {

// A kernel like this project's machine: 6.18, fentry refused, every tracepoint present.
inline KernelFacts kernel_6_18() {
  KernelFacts f;
  f.working = {HookFamily::TpBtf, HookFamily::RawTp, HookFamily::Tracepoint};
  f.has_function = [](const std::string&) { return true; };
  f.has_btf_tracepoint = [](const std::string&) { return true; };
  f.has_tracefs_event = [](const std::string&) { return true; };
  return f;
}

// A kernel like Debian's 6.1: fentry works, no socket length tracepoints (added in 6.3), the
// pipe functions under their names from before 6.15.
inline KernelFacts kernel_6_1() {
  KernelFacts f = kernel_6_18();
  f.working.insert(HookFamily::Fentry);
  f.has_function = [](const std::string& n) { return !n.starts_with("anon_pipe_") && !n.starts_with("fifo_pipe_"); };
  f.has_btf_tracepoint = [](const std::string& n) { return n != "sock_send_length" && n != "sock_recv_length"; };
  return f;
}

// A kernel from 6.15 on where fentry works: anon_pipe_* and fifo_pipe_*, no pipe_read/pipe_write.
inline KernelFacts kernel_6_18_with_fentry() {
  KernelFacts f = kernel_6_18();
  f.working.insert(HookFamily::Fentry);
  f.has_function = [](const std::string& n) { return n != "pipe_read" && n != "pipe_write"; };
  return f;
}

}  // namespace ipctrace::test
