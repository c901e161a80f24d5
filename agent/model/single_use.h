// Releasable channels: which of the kernel's keys make channels that were used within one or two
// collections and have been idle for two since (single-use), or that no process holds open any
// more (closed), so that the agent releases them long before the idle timeout (a shell's
// `cmd | grep`, a runtime's socketpair per exec, a neighbour churning pipes would otherwise hold
// the kept flows for --idle-timeout).
//
// No hook sees a pipe or socket released on every kernel this agent runs on (kprobes and fentry
// are not everywhere; no tracepoint fires on the last close of a file). Two ways instead: by
// activity, when each key was first taken in and when its counts last grew, in collections
// (FlowSample::first_read, last_read): a channel whose every operation fell within two
// consecutive collections and that has been idle for two more is single-use; and by a list of
// every process's open files (kernel/open_files.h, where the kernel allows it): a channel none of
// whose objects is open is closed. Released (Collector), its keys leave the kept flows
// (Tracer::delete_flows) and its flows the collector's table, into the reports' released flows.
// Used again, it starts again from zero as a new flow; a single-use one is not released a second
// time unless it is closed then (ReleasedChannels); the Prometheus counters, which add up per
// label set, go on from where they were.
//
// A channel is the set of keys the join puts together (model/flows.h), found here without the
// join: keys that share an object (pipe, fifo, posix_mq: inode and device), a socket (unix: a
// key's own inode or its peer's), the tag an unconnected or pre-accept() unix send names (sk_tag,
// with the receivers that carry it), or a signal target (process and signal, as the join names
// the channel). All the keys of a channel go together or none. The collector also keeps a channel
// whose join has an unknown end (written and not read yet, a client's data before a late
// accept()): its other end may come; closed, a pipe, a FIFO or a unix channel whose every send named
// its peer socket goes even so (its data went with its last descriptor). TCP is released only closed (a connection's
// addresses and ports are reused by the next one: activity says nothing), and as the join names it: every connection
// with an endpoint in common (a server's listening address) is one channel, released once none of them is open at
// either end. A closed TCP channel with a send from an endpoint that no receive names as its peer (a client that sent
// and closed before the server's accept() and read: the data waits in a queue no descriptor holds, or the reader is on
// another node) is released only after kSingleUseIdleReads more collections, so that a late read still joins its
// sender. Not released here: udp (addressed by port and address, which many senders share: --idle-timeout), sysv_msg (a
// queue's removal releases it: model/msgq.h), and folded samples (per cgroup, not per channel).
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <set>
#include <string>
#include <unordered_set>
#include <vector>

#include "kernel/open_files.h"
#include "kernel/tracer.h"

namespace ipctrace {

// Collections within which a single-use channel's operations all fall, and collections it has
// been idle since (reads in which none of its keys' counts grew).
inline constexpr uint64_t kSingleUseActiveReads = 2;
inline constexpr uint64_t kSingleUseIdleReads = 2;

// A channel that may leave the kept flows: the indices of its keys in the samples, and whether it
// is closed (no process holds any of its objects open) rather than only single-use.
struct ReleasableChannel {
  std::vector<size_t> keys;
  bool closed = false;
};

// The channels among `samples` (as Tracer::read_flows() returned them at read `now`, its read
// count) that are single-use, or closed: every object they name (a pipe's or FIFO's inode, a unix
// socket's inode or its peer's, a TCP connection at either end) is missing from `open`, the open files listed after
// that read (kernel/open_files.h; nullptr: not listed, so none is known closed). A channel that names no such object (a
// signal, a unix send known only by a tag) is never closed, nor is a POSIX queue (it keeps its messages with no
// descriptor open, until mq_unlink()). `exported`: the read of the last collection whose figures went out (a failed
// cycle's did not); a channel whose counts grew after it is neither yet.
std::vector<ReleasableChannel> releasable_channels(const std::vector<FlowSample>& samples, uint64_t now,
                                                   uint64_t exported, const OpenObjects* open = nullptr);

// The samples of the channels (the keys the join puts together, model/flows.h, as
// releasable_channels() finds them) one of whose keys was taken in or grew after read `since`
// (FlowSample::first_read, last_read), in the samples' order: what a collection joins again. The
// flows of a channel none of whose keys moved are as the last join made them. TCP keys are one
// channel here, and UDP keys another (a send finds its receiver by address, wildcard, port or the
// receiver's peer), joined again whenever one of them moved; a folded sample is its own.
std::vector<const FlowSample*> moved_channels(const std::vector<FlowSample>& samples, uint64_t since);

// Channels released and seen again since (a long-lived channel used in bursts): released once,
// then left to the idle timeout, so that its bursts stay one flow. Remembers the last
// kRemembered channels released and the last kRemembered of those seen again (ChannelFlow::channel),
// by a 64-bit hash of the channel (8 bytes each instead of the id's text, which a churning
// neighbour would make 13 MiB of; two channels of one hash, one in 2^64 for a pair, would only
// keep the second until the idle timeout).
class ReleasedChannels {
 public:
  static constexpr size_t kRemembered = 65536;
  void released(const std::string& channel);
  // A channel in this collection's join: reused if it was released before.
  void seen(const std::string& channel);
  [[nodiscard]] bool reused(const std::string& channel) const { return reused_.contains(hash(channel)); }

 private:
  static uint64_t hash(const std::string& channel) { return std::hash<std::string>{}(channel); }
  static void remember(std::unordered_set<uint64_t>& set, std::deque<uint64_t>& order, uint64_t channel);
  std::unordered_set<uint64_t> released_;
  std::deque<uint64_t> released_order_;
  std::unordered_set<uint64_t> reused_;
  std::deque<uint64_t> reused_order_;
};

}  // namespace ipctrace
