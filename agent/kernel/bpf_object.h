// Owners of libbpf's objects: each is destroyed with the function libbpf gives for it, when its
// owner goes (the skeletons, links, ring buffers; map and program descriptors are base/fd.h's Fd).
// A Tracer or a probe that fails half-way through start-up leaves nothing attached or loaded.
#pragma once

#include <bpf/libbpf.h>

#include <memory>

namespace ipctrace {

// A deleter that calls `Destroy` (a libbpf free/destroy function).
template <auto Destroy>
struct LibbpfDeleter {
  template <typename T>
  void operator()(T* p) const {
    Destroy(p);
  }
};

// A skeleton (bpftool gen skeleton): SkeletonPtr<ipctrace_bpf, ipctrace_bpf__destroy>.
template <typename Skel, auto Destroy>
using SkeletonPtr = std::unique_ptr<Skel, LibbpfDeleter<Destroy>>;

// An attachment: the program is detached when the link goes.
using BpfLink = std::unique_ptr<bpf_link, LibbpfDeleter<bpf_link__destroy>>;

// A ring buffer's consumer (its epoll descriptor and mappings).
using RingBufferPtr = std::unique_ptr<ring_buffer, LibbpfDeleter<ring_buffer__free>>;

}  // namespace ipctrace
