// Flows reports (model/report.h) as people and programs read them: a table (human units) or JSON
// (the stable schema below, which `top --remote` reads back: exporters/top_view.h).
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "model/report.h"

namespace ipctrace {

std::string human_bytes(double bytes);  // "0 B", "999 B", "9.8 KiB", "1.5 MiB"
std::string human_count(double n);      // "999", "1.2k", "3.4M"

// JSON schema (stable; README.md "flows --output json"):
// { "node", "kernel", "duration_seconds", "flows": [ { "kind", "src": ENDPOINT, "dst": ENDPOINT, "messages", "bytes",
//   "received_messages", "received_bytes", "counted_at": "sender"|"receiver" (whose calls "messages"
//   and "bytes" count: the receiver's only for a remote peer), "messages_per_second", "bytes_per_second",
//   "first_seen", "last_seen" (RFC 3339 UTC), "channels": [CHANNEL], "unlisted_channels" (single-use
//   channels released and added up into the flow without their ids: model/single_use.h), "receiver_wait": WAIT|null,
//   "shm": {"size_bytes", "attached"}|null } ], "lost": {"<reason>": n}, "hooks": {"<mechanism>": "<family>"} }
// ENDPOINT: {"type": "cgroup"|"remote"|"unknown"|"other" (operations folded: model/flows.h),
//   "name", "cgroup_id", "cgroup_path", "runtime", "container_id", "namespace", "pod", "pod_uid",
//   "container", "unit", "partial", "pid", "comm",
//   "exe" (the file name of the process's executable, mm->exe_file, when it was recorded),
//   "namespaces": {"ipc", "net", "pid", "mnt", "uts", "cgroup", "user"}, "address"}
// The host's root cgroup is an end per executable: "name" "host:dockerd", "container" the same.
// CHANNEL: {"id" (the channel's stable text id: "fifo:ino=123,dev=0:14"), "path" (a FIFO's path as a
//   process using it sees it, a unix socket's bound name, "@name" abstract; null where none is known:
//   model/paths.h)}
// WAIT: {"count", "sum_seconds", "buckets": [{"le_seconds", "count"}]} (cumulative, Prometheus style)
nlohmann::json flows_to_json(const FlowsReport& report);
// The table; `wide` adds the process that used each end first ("comm[pid]", the kernel's task
// name and the process id; "-" where none was recorded): `flows --output wide`.
std::string flows_to_table(const FlowsReport& report, bool wide = false);

}  // namespace ipctrace
