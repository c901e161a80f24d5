#include "kernel/open_files.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include "base/fd.h"
#include "ipctrace_files.skel.h"
#include "kernel/libbpf_log.h"

namespace ipctrace {

bool in_initial_pid_namespace() {
  struct stat st {};
  return stat("/proc/self/ns/pid", &st) == 0 && st.st_ino == kInitialPidNamespaceInode;
}

std::string OpenObjects::tcp_key(const ipct_chan_inet& c, bool reversed) {
  std::string out(36, '\0');
  auto put = [&](size_t at, const uint8_t* addr, uint16_t port) {
    if (c.family == AF_INET) {
      out[at + 10] = '\xff';
      out[at + 11] = '\xff';
      std::memcpy(out.data() + at + 12, addr, 4);
    } else {
      std::memcpy(out.data() + at, addr, 16);
    }
    std::memcpy(out.data() + at + 16, &port, 2);
  };
  put(reversed ? 18 : 0, c.laddr, c.lport);
  put(reversed ? 0 : 18, c.raddr, c.rport);
  return out;
}

OpenFileLister::~OpenFileLister() = default;

Result<std::unique_ptr<OpenFileLister>> OpenFileLister::load() {
  if (!in_initial_pid_namespace()) {
    return Error::msg(
        "not in the initial PID namespace (a pod needs hostPID: true): the list of open files would miss other "
        "namespaces' processes");
  }
  std::unique_ptr<OpenFileLister> l(new OpenFileLister());
  LibbpfQuiet quiet;  // a kernel without task_file iterators is expected to refuse it
  l->skel_ = {ipctrace_files__open(), ipctrace_files__destroy};
  if (!l->skel_) return Error(errno, "open the open-files object");
  if (int err = ipctrace_files__load(l->skel_.get()); err != 0) {
    return Error(-err, "load the task_file iterator (Linux 5.8+)");
  }
  l->link_.reset(bpf_program__attach_iter(l->skel_->progs.ipct_open_files, nullptr));
  if (!l->link_) return Error(errno, "attach the task_file iterator");
  return l;
}

Result<OpenObjects> OpenFileLister::list() const {
  const Fd it(bpf_iter_create(bpf_link__fd(link_.get())));
  if (it.get() < 0) return Error(errno, "create a task_file iterator");
  OpenObjects out;
  std::vector<ipct_open_file> buf(1024);  // 64 KiB a read
  size_t have = 0;                        // bytes of buf filled: a read may end within a record
  for (;;) {
    const ssize_t n =
        read(it.get(), reinterpret_cast<char*>(buf.data()) + have, buf.size() * sizeof(ipct_open_file) - have);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Error(errno, "read the task_file iterator");
    }
    if (n == 0) break;
    have += static_cast<size_t>(n);
    const size_t whole = have / sizeof(ipct_open_file);
    for (size_t i = 0; i < whole; ++i) {
      const ipct_open_file& r = buf[i];
      if (r.type == IPCT_OPEN_SOCKET) {
        out.sockets.insert(r.ino);
      } else if (r.type == IPCT_OPEN_FIFO || r.type == IPCT_OPEN_MQUEUE) {
        out.files.insert({r.dev, r.ino});
      } else if (r.type == IPCT_OPEN_TCP) {
        out.tcp.insert(OpenObjects::tcp_key(r.inet));
      }
    }
    out.descriptors += whole;
    if (out.descriptors > kMaxOpenFileRecords) {
      return Error::msg("the task_file iterator listed more than " + std::to_string(kMaxOpenFileRecords) +
                        " open pipes, FIFOs, sockets and queues");
    }
    const size_t rest = have - whole * sizeof(ipct_open_file);
    if (rest > 0) std::memmove(buf.data(), reinterpret_cast<char*>(buf.data()) + whole * sizeof(ipct_open_file), rest);
    have = rest;
  }
  return out;
}

}  // namespace ipctrace
