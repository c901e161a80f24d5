// Which kernel hook each IPC mechanism uses, chosen at run time per kernel.
//
// Every mechanism has a list of candidate hooks, cheapest first. A candidate is
// usable when its hook family works on this kernel (proved by `probe`) and every
// attach point it needs exists (a BTF function, a BTF tracepoint or a tracefs
// event). The first usable candidate wins; the reasons the others lost are kept
// for `ipctrace probe`.
#pragma once

#include <functional>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "kernel/mechanisms.h"

namespace ipctrace {

enum class HookFamily {
  Fentry,      // fentry/fexit trampolines on the mechanism's kernel function
  TpBtf,       // BTF-typed raw tracepoints
  RawTp,       // raw tracepoints
  Tracepoint,  // classic tracepoints (per-syscall ones need tracefs)
};
inline constexpr HookFamily kAllHookFamilies[] = {HookFamily::Fentry, HookFamily::TpBtf, HookFamily::RawTp,
                                                  HookFamily::Tracepoint};
std::string_view family_name(HookFamily family);  // "fentry", "tp_btf", "raw_tp", "tracepoint"
std::optional<HookFamily> parse_family(std::string_view name);

// The kernel function of a syscall on this architecture ("read" -> "__x64_sys_read"), and back.
std::string syscall_function(std::string_view name);
std::optional<std::string_view> syscall_of_function(std::string_view function);

// One attach point, with alternative names where the kernel renamed it (first found wins).
struct AttachPoint {
  enum class Type { Function, BtfTracepoint, TracefsEvent } type;
  std::vector<std::string>
      names;  // Function: "pipe_write"; BtfTracepoint: "sys_exit"; TracefsEvent: "syscalls/sys_exit_write"
};

struct HookCandidate {
  HookFamily family;
  std::vector<AttachPoint> points;
  std::string_view note;  // why this candidate sits where it does
};

// The candidate table for one mechanism, cheapest first.
const std::vector<HookCandidate>& hook_candidates(Mechanism m);

// What the running kernel offers; filled from the probe and the kernel's BTF.
struct KernelFacts {
  std::set<HookFamily> working;  // families proved to load, attach and fire
  std::function<bool(const std::string&)> has_function;
  std::function<bool(const std::string&)> has_btf_tracepoint;
  std::function<bool(const std::string&)> has_tracefs_event;  // "category/name"
};

struct HookChoice {
  Mechanism mechanism;
  std::optional<HookFamily> family;   // nullopt: no candidate is usable
  std::vector<std::string> attach;    // the resolved attach points of the chosen candidate
  std::vector<std::string> rejected;  // "fentry: fentry does not work on this kernel", ...
};

// Whether forcing `forced` allows a candidate of `candidate`: `tracepoint` allows every tracepoint
// family (tp_btf, raw_tp, classic), so function hooks can be compared with tracepoints on one
// kernel; the others allow themselves only.
bool family_allows(HookFamily forced, HookFamily candidate);

// Chooses the hook of every mechanism. With `only`, candidates of other families are rejected
// (forcing a family, e.g. to compare two paths on one kernel).
std::vector<HookChoice> choose_hooks(const KernelFacts& facts, std::optional<HookFamily> only = std::nullopt);
HookChoice choose_hook(Mechanism m, const KernelFacts& facts, std::optional<HookFamily> only = std::nullopt);

}  // namespace ipctrace
