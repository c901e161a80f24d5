#include "exporters/trace_format.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <ctime>

#include "base/text.h"
#include "kernel/kinds.h"
#include "model/flows.h"

namespace ipctrace {

namespace {

std::string comm_of(const char (&comm)[16]) { return comm_text(comm, sizeof(comm)); }

// The kernel's device encoding (major << 20 | minor) as "major:minor".
std::string dev_text(uint32_t kdev) { return fmt::format("{}:{}", kdev >> 20U, kdev & 0xfffffU); }

// The channel of a data operation, in words.
std::string channel_text(const TraceRecord& r) {
  const ipct_chan_obj& o = r.ch.obj;
  if (is_inet_kind(r.kind)) {
    const ipct_chan_inet& i = r.ch.inet;
    return fmt::format("{} -> {}", format_inet(i.family, i.laddr, i.lport), format_inet(i.family, i.raddr, i.rport));
  }
  if (is_unix_kind(r.kind)) {
    return o.peer != 0 ? fmt::format("socket {} peer {}", o.id, o.peer) : fmt::format("socket {}", o.id);
  }
  switch (r.kind) {
    case IPCT_KIND_PIPE:
    case IPCT_KIND_FIFO:
    case IPCT_KIND_POSIX_MQ:
      return fmt::format("inode {} dev {}", o.id, dev_text(o.dev));
    case IPCT_KIND_SYSV_MSG:
      return fmt::format("msqid {} ipcns {}", o.id, o.dev);
    case IPCT_KIND_SIGNAL:
      return fmt::format("signal {} to pid {} {} (cgroup {})", o.dev, o.peer, comm_of(o.comm), o.id);
    default:
      return fmt::format("id {}", o.id);
  }
}

std::string lifecycle_text(const TraceRecord& r) {
  switch (r.op) {
    case IPCT_OP_CREATE:
      if (r.kind == IPCT_KIND_SYSV_SHM) {
        return fmt::format("shmid {} key {:#x} size {} ipcns {}", r.id, static_cast<uint32_t>(r.aux), r.aux2, r.dev);
      }
      return fmt::format("msqid {} key {:#x} ipcns {}", r.id, static_cast<uint32_t>(r.aux), r.dev);
    case IPCT_OP_OPEN:
      return fmt::format("{} inode {} fd {}", r.name, r.id, r.ret);
    case IPCT_OP_ATTACH:
      return fmt::format("shmid {} at {:#x} ipcns {}", r.id, r.aux, r.dev);
    case IPCT_OP_DETACH:
      return fmt::format("from {:#x} ipcns {}", r.aux, r.dev);
    case IPCT_OP_REMOVE:
      return fmt::format("{} {} ipcns {}", r.kind == IPCT_KIND_SYSV_SHM ? "shmid" : "msqid", r.id, r.dev);
    case IPCT_OP_UNLINK:
      return r.name;
    case IPCT_OP_NOTIFY:
      return fmt::format("inode {} {}", r.id, r.ret != 0 ? "registered" : "removed");
    default:
      return {};
  }
}

}  // namespace

// The fields both kinds of kernel record carry.
template <typename Event>
TraceRecord common_fields(const Event& e, TraceRecord::Type type) {
  TraceRecord r;
  r.type = type;
  r.boot_ns = e.ts_ns;
  r.cgroup_id = e.cgroup_id;
  r.pid = e.tgid;
  r.tid = e.tid;
  r.ns = e.ns;
  r.kind = e.kind;
  r.comm = comm_of(e.comm);
  return r;
}

TraceRecord trace_record(const ipct_event& e) {
  TraceRecord r = common_fields(e, TraceRecord::Type::Lifecycle);
  r.op = e.op;
  r.ret = e.ret;
  r.id = e.id;
  r.aux = e.aux;
  r.aux2 = e.aux2;
  r.dev = e.dev;
  r.name = std::string(e.name, strnlen(e.name, sizeof(e.name)));
  return r;
}

TraceRecord trace_record(const ipct_data_event& e) {
  TraceRecord r = common_fields(e, TraceRecord::Type::Data);
  r.dir = e.dir;
  r.msgs = e.msgs;
  r.bytes = e.bytes;
  r.ch = e.ch;
  return r;
}

std::string trace_op_name(const TraceRecord& r) {
  if (r.type == TraceRecord::Type::Data) {
    if (r.kind == IPCT_KIND_SIGNAL) return "signal";
    return r.dir == IPCT_DIR_SEND ? "send" : "receive";
  }
  switch (r.op) {
    case IPCT_OP_CREATE:
      return r.lookup ? "lookup" : "create";
    case IPCT_OP_OPEN:
      return "open";
    case IPCT_OP_ATTACH:
      return "attach";
    case IPCT_OP_DETACH:
      return "detach";
    case IPCT_OP_REMOVE:
      return "remove";
    case IPCT_OP_UNLINK:
      return "unlink";
    case IPCT_OP_NOTIFY:
      return "notify";
    default:
      return "unknown";
  }
}

std::string trace_time(uint64_t boot_ns, int64_t realtime_minus_boot_ns, bool utc_iso) {
  const int64_t ns = static_cast<int64_t>(boot_ns) + realtime_minus_boot_ns;
  const time_t secs = static_cast<time_t>(ns / 1000000000);
  const int64_t frac = ns % 1000000000;
  std::tm tm{};
  if (utc_iso) {
    gmtime_r(&secs, &tm);
    return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:09}Z", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                       tm.tm_hour, tm.tm_min, tm.tm_sec, frac);
  }
  localtime_r(&secs, &tm);
  return fmt::format("{:02}:{:02}:{:02}.{:06}", tm.tm_hour, tm.tm_min, tm.tm_sec, frac / 1000);
}

std::string trace_text_header() {
  return fmt::format("{:<15} {:>7} {:<15} {:<32} {:<13} {:<7} {}\n", "TIME", "PID", "COMM", "ENDPOINT", "KIND", "OP",
                     "DETAIL");
}

std::string trace_text_line(const TraceRecord& r, const Endpoint& endpoint, int64_t realtime_minus_boot_ns) {
  std::string detail;
  if (r.type == TraceRecord::Type::Data) {
    if (r.kind == IPCT_KIND_SIGNAL) {
      detail = channel_text(r);
    } else {
      detail = r.msgs == 1 ? fmt::format("{} B  {}", r.bytes, channel_text(r))
                           : fmt::format("{} B in {} msgs  {}", r.bytes, r.msgs, channel_text(r));
    }
    if (!r.path.empty()) detail += "  path " + r.path;
  } else {
    detail = lifecycle_text(r);
  }
  // The command, the endpoint's names and a queue's name are what a container chose: escaped for
  // the terminal (base/text.h), so one record is one line.
  return fmt::format("{:<15} {:>7} {:<15} {:<32} {:<13} {:<7} {}\n",
                     trace_time(r.boot_ns, realtime_minus_boot_ns, false), r.pid, visible(r.comm),
                     visible(endpoint.display()), kind_name(r.kind), trace_op_name(r), visible(detail));
}

nlohmann::json trace_json(const TraceRecord& r, const Endpoint& endpoint, int64_t realtime_minus_boot_ns) {
  nlohmann::json j;
  j["time"] = trace_time(r.boot_ns, realtime_minus_boot_ns, true);
  j["type"] = r.type == TraceRecord::Type::Data ? "data" : "lifecycle";
  j["kind"] = kind_name(r.kind);
  j["op"] = trace_op_name(r);
  j["pid"] = r.pid;
  j["tid"] = r.tid;
  j["comm"] = r.comm;
  j["endpoint"] = {{"cgroup_id", r.cgroup_id},    {"cgroup_path", endpoint.cgroup.path},
                   {"runtime", endpoint.runtime}, {"namespace", endpoint.k8s_namespace},
                   {"pod", endpoint.pod},         {"container", endpoint.container},
                   {"name", endpoint.display()},  {"partial", endpoint.partial}};
  j["ns"] = {{"ipc", r.ns.ipc}, {"net", r.ns.net},       {"pid", r.ns.pid},  {"mnt", r.ns.mnt},
             {"uts", r.ns.uts}, {"cgroup", r.ns.cgroup}, {"user", r.ns.user}};
  if (r.type == TraceRecord::Type::Data) {
    j["messages"] = r.msgs;
    j["bytes"] = r.bytes;
    nlohmann::json ch;
    if (is_inet_kind(r.kind)) {
      const ipct_chan_inet& i = r.ch.inet;
      ch = {{"netns", i.netns},
            {"local", format_inet(i.family, i.laddr, i.lport)},
            {"remote", format_inet(i.family, i.raddr, i.rport)}};
    } else if (is_unix_kind(r.kind)) {
      ch = {{"socket_inode", r.ch.obj.id}, {"peer_inode", r.ch.obj.peer}};
      ch["path"] = r.path.empty() ? nlohmann::json(nullptr) : nlohmann::json(r.path);
    } else if (r.kind == IPCT_KIND_SYSV_MSG) {
      ch = {{"msqid", r.ch.obj.id}, {"ipc_ns", r.ch.obj.dev}};
    } else if (r.kind == IPCT_KIND_SIGNAL) {
      ch = {{"signal", r.ch.obj.dev},
            {"target_pid", r.ch.obj.peer},
            {"target_comm", comm_of(r.ch.obj.comm)},
            {"target_cgroup_id", r.ch.obj.id}};
    } else {
      ch = {{"inode", r.ch.obj.id}, {"dev", dev_text(r.ch.obj.dev)}};
      if (r.kind == IPCT_KIND_FIFO) ch["path"] = r.path.empty() ? nlohmann::json(nullptr) : nlohmann::json(r.path);
    }
    j["channel"] = ch;
  } else {
    j["ret"] = r.ret;
    switch (r.op) {
      case IPCT_OP_CREATE:
        j["id"] = r.id;
        j["key"] = static_cast<uint32_t>(r.aux);
        if (r.kind == IPCT_KIND_SYSV_SHM) j["size"] = r.aux2;
        j["ipc_ns"] = r.dev;
        break;
      case IPCT_OP_ATTACH:
        j["id"] = r.id;
        j["address"] = r.aux;
        j["ipc_ns"] = r.dev;
        break;
      case IPCT_OP_DETACH:
        j["address"] = r.aux;
        j["ipc_ns"] = r.dev;
        break;
      case IPCT_OP_REMOVE:
        j["id"] = r.id;
        j["ipc_ns"] = r.dev;
        break;
      case IPCT_OP_OPEN:
      case IPCT_OP_UNLINK:
      case IPCT_OP_NOTIFY:
        if (!r.name.empty()) j["name"] = r.name;
        if (r.id != 0) j["inode"] = r.id;
        break;
      default:
        break;
    }
  }
  return j;
}

}  // namespace ipctrace
