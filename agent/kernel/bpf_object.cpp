#include "kernel/bpf_object.h"

#include <bpf/libbpf.h>

namespace ipctrace {

void BpfLinkDeleter::operator()(bpf_link* link) const { bpf_link__destroy(link); }
void RingBufferDeleter::operator()(ring_buffer* rb) const { ring_buffer__free(rb); }

}  // namespace ipctrace
