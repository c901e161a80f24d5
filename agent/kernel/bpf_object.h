// Owners of libbpf's objects: each is destroyed with the function libbpf gives for it when its owner
// goes (links, ring buffers, skeletons; map and program descriptors are base/fd.h's Fd). A Tracer
// or a probe that fails half-way through start-up leaves nothing attached or loaded. Only forward
// declarations here: libbpf's headers stay in kernel/'s .cpp files.
#pragma once

#include <memory>

struct bpf_link;
struct ring_buffer;

namespace ipctrace {

struct BpfLinkDeleter {
  void operator()(bpf_link* link) const;  // bpf_link__destroy: detaches the program
};
struct RingBufferDeleter {
  void operator()(ring_buffer* rb) const;  // ring_buffer__free
};

// An attachment: the program is detached when the link goes.
using BpfLink = std::unique_ptr<bpf_link, BpfLinkDeleter>;
// A ring buffer's consumer (its epoll descriptor and mappings).
using RingBufferPtr = std::unique_ptr<ring_buffer, RingBufferDeleter>;

// A skeleton (bpftool gen skeleton) with its destroy function:
// SkeletonPtr<ipctrace_probe, ipctrace_probe__destroy>.
template <auto Destroy>
struct SkeletonDeleter {
  template <typename Skel>
  void operator()(Skel* s) const {
    Destroy(s);
  }
};
template <typename Skel, auto Destroy>
using SkeletonPtr = std::unique_ptr<Skel, SkeletonDeleter<Destroy>>;

}  // namespace ipctrace
