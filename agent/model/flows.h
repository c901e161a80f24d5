// Joining the two ends of every channel into flows between endpoints.
//
// The kernel counts per (cgroup, kind, channel, direction). A flow is `src -> dst` on one
// channel: the sending end's messages and bytes, with what the receiving end read kept
// beside them. Every kind reduces to one shape: senders put data into an object, readers
// take it out:
//
//   kind              object data goes into                 senders                readers
//   pipe, fifo        the pipe inode                        writers of it          readers of it
//   posix_mq          the mqueue inode                      mq_timedsend callers   mq_timedreceive callers
//   sysv_msg          (IPC namespace, msqid)                msgsnd callers         msgrcv callers
//   unix_*            the receiving socket (the sender's    sends on the peer      receives on it
//                     peer inode; before accept(), the
//                     socket's sk_tag and the reads' peer)
//   tcp, udp          the receiving socket (local address   sends addressed to it  receives on it
//                     and port; a wildcard or unconnected   (or from the address
//                     receiver matches by port)             a receiver's peer is)
//
// Addresses: an IPv4-mapped IPv6 address (::ffff:a.b.c.d) is the IPv4 address; a loopback
// address is a place only within its network namespace.
//
// Several writers and readers on one object split honestly: each writer's messages and bytes
// go to the readers in proportion to the bytes each reader took out (by messages if no bytes,
// equally if nothing was read), and each reader's receipts go back to the writers in
// proportion to the bytes each wrote; integer shares by largest remainder, so every total is
// conserved exactly. An object with writers but no reader seen yet gives a flow to an unknown
// peer (for tcp/udp: the remote address); readers with no writer seen give flows from one,
// except a connected tcp/udp receiver whose peer is outside the node: its receipts are the flow's
// figures, from the peer's address, counted_at_receiver.
// Signals go straight from the sender's cgroup to the target's. Shared memory has no data
// flow: a segment's creator is joined to every process that attached it (model/shm.h).
#pragma once

#include <compare>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "kernel/tracer.h"

namespace ipctrace {

// One end of a flow. Unknown: not seen (no reader or writer of the channel seen yet). Other: the
// peers of a cgroup's operations whose flows could not be kept (a full flow table, or the
// cgroup's share of it: the FlowSample::folded of its kind and direction), on channels not told
// apart.
struct EndpointRef {
  enum class Type { Unknown = 0, Cgroup = 1, Remote = 2, Other = 3 };
  Type type = Type::Unknown;
  uint64_t cgroup_id = 0;  // Cgroup
  std::string remote;      // Remote: "10.0.0.5:443", "[2001:db8::1]:80"

  static EndpointRef cgroup(uint64_t id) { return {Type::Cgroup, id, {}}; }
  static EndpointRef address(std::string a) { return {Type::Remote, 0, std::move(a)}; }
  static EndpointRef unknown() { return {}; }
  static EndpointRef other() { return {Type::Other, 0, {}}; }
  // clang-tidy 14 sees the literal 0 of the synthesized comparison as a null pointer.
  auto operator<=>(const EndpointRef&) const = default;  // NOLINT(modernize-use-nullptr)
  bool operator==(const EndpointRef&) const = default;
};

// What the kernel recorded about the task that first used a flow entry.
struct TaskHint {
  uint32_t tgid = 0;
  std::string comm;  // task->comm: what the process calls itself (it can set it)
  ipct_ns_ids ns{};
  bool exited = false;  // the process is known to have exited (a SysV segment's creator)
  // Its executable's file name (FlowSample::exe: mm->exe_file, not comm's prctl); "" when not
  // recorded (a signal's target, a shared memory segment's user, a kernel thread).
  std::string exe{};
};

struct ChannelFlow {
  int kind = 0;         // enum ipct_kind
  std::string channel;  // stable text id of the object, e.g. "pipe:ino=123,dev=0:14"
  EndpointRef src;
  EndpointRef dst;
  uint64_t msgs = 0;  // counted at the sending end (but see counted_at_receiver)
  uint64_t bytes = 0;
  uint64_t recv_msgs = 0;  // what the receiving end read of it
  uint64_t recv_bytes = 0;
  // A flow from a remote peer (a TCP/UDP address with no sender on this node): this node's
  // receiving end is its only witness, so msgs and bytes are the receipts (equal to recv_*).
  bool counted_at_receiver = false;
  // The channel this flow's counts were joined under before (with an unknown peer), whose
  // totals the collector hands over to it: unix data sent before accept() is joined to the
  // accepted socket once that socket has read. Not part of the id.
  std::string taken_over_from;
  uint64_t shm_size = 0;      // sysv_shm: segment size in bytes
  uint64_t shm_attached = 0;  // sysv_shm: attachments by dst currently in place
  TaskHint src_task;
  TaskHint dst_task;
  // Where the channel's path can be found (model/paths.h), not part of the id. fifo: its inode and
  // device (kernel encoding); unix: the inode of the socket data went into (dst's) and of the
  // socket it was sent from (src_socket, src's); 0 otherwise.
  uint64_t inode = 0;
  uint32_t dev = 0;
  uint64_t src_socket = 0;
  // The channel's path where the kernel knows one: a FIFO's, as a process using it sees it; a unix
  // socket's bound name ("@name": abstract). "" when not known (model/paths.h ChannelPaths).
  std::string path;

  // Identity of the flow across collections.
  [[nodiscard]] std::tuple<int, std::string, EndpointRef, EndpointRef> id() const { return {kind, channel, src, dst}; }
};

// Splits `total` into integer parts proportional to `weights` (equal parts if all are zero);
// the parts sum to `total` exactly (largest remainder).
std::vector<uint64_t> apportion(uint64_t total, const std::vector<uint64_t>& weights);

// Formats an inet address of a channel ("127.0.0.1:80", "[::1]:80"); IPv4-mapped IPv6 as IPv4.
std::string format_inet(uint16_t family, const uint8_t addr[16], uint16_t port);
// The address alone ("127.0.0.1", "[::1]"), as a remote peer's endpoint names it.
std::string format_inet_host(uint16_t family, const uint8_t addr[16]);

// Joins the kernel's per-end totals into channel flows (shared memory has none: model/shm.h).
// Each id() appears once (the collector's deltas need it): kernel keys one id covers are summed.
std::vector<ChannelFlow> join_flows(const std::vector<FlowSample>& samples);
// The same over some of the samples (model/single_use.h moved_channels(): whole channels), which
// stay where they are while it runs.
std::vector<ChannelFlow> join_flows(const std::vector<const FlowSample*>& samples);

}  // namespace ipctrace
