#include "objspy/process/live_reader.hpp"

#include <fcntl.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <algorithm>
#include <cstring>

#include <fmt/format.h>

#include "objspy/process/pause.hpp"
#include "objspy/process/proc.hpp"

namespace objspy {

LiveReader::LiveReader(pid_t pid) : pid_(pid), task_(pid) {}

bool LiveReader::switch_task() {
  pid_t t = live_task(pid_);
  if (t == 0 || t == task_) return false;
  task_ = t;
  if (mem_fd_ >= 0) ::close(mem_fd_);
  mem_fd_ = -1;
  return true;
}

LiveReader::~LiveReader() {
  if (mem_fd_ >= 0) ::close(mem_fd_);
}

Error LiveReader::classify(int err, RemoteAddr addr, std::size_t len) const {
  if (err == ESRCH || (err != EFAULT && err != EIO && !process_alive(pid_)))
    return make_error(Errc::target_exited, fmt::format("process {} exited while objspy was reading it", pid_));
  if (err == EPERM || err == EACCES)
    return make_error(Errc::permission_denied, fmt::format("cannot read the memory of process {}: {}; {}", pid_, std::strerror(err), permission_hint()));
  if (err == EFAULT || err == EIO || err == 0)
    return make_error(Errc::bad_address, fmt::format("no readable memory at {:#x}+{} in process {}", addr.value(), len, pid_));
  return make_error(Errc::internal, fmt::format("reading process {} at {:#x}: {}", pid_, addr.value(), std::strerror(err)));
}

Result<std::size_t> LiveReader::read_some(RemoteAddr addr, std::span<std::byte> out) {
  if (out.empty()) return std::size_t{0};
  // The command is ending and drops the census in progress: end it now, not after a walk of
  // seconds over a large heap.
  if (ProcessPause::ending()) return make_error(Errc::internal, fmt::format("reading process {} abandoned: objspy is ending", pid_));
  ++syscalls_;
  if (!use_mem_file_) {
    iovec local{out.data(), out.size()};
    iovec remote{reinterpret_cast<void*>(addr.value()), out.size()};  // a remote address, never dereferenced here
    ssize_t n = ::process_vm_readv(task_, &local, 1, &remote, 1, 0);
    int err = n < 0 ? errno : 0;
    // The thread read through is gone (or was a main thread that called pthread_exit): once
    // per thread, read through another live one.
    if (err == ESRCH && switch_task()) {
      n = ::process_vm_readv(task_, &local, 1, &remote, 1, 0);
      err = n < 0 ? errno : 0;
    }
    if (n > 0) { bytes_ += static_cast<std::uint64_t>(n); return static_cast<std::size_t>(n); }
    if (n == 0) return classify(EFAULT, addr, out.size());
    if (err != ENOSYS) return classify(err, addr, out.size());
    use_mem_file_ = true;
  }
  if (mem_fd_ < 0) {
    mem_fd_ = ::open((task_dir(pid_) + "/mem").c_str(), O_RDONLY | O_CLOEXEC);
    if (mem_fd_ < 0) return classify(errno, addr, out.size());
  }
  ssize_t n;
  do n = ::pread(mem_fd_, out.data(), out.size(), static_cast<off_t>(addr.value()));
  while (n < 0 && errno == EINTR);
  if (n > 0) { bytes_ += static_cast<std::uint64_t>(n); return static_cast<std::size_t>(n); }
  return classify(n == 0 ? EIO : errno, addr, out.size());
}

Status LiveReader::read_batch(std::span<ReadRequest> reqs) {
  // process_vm_readv copies iovecs in order and stops at the first one it cannot read fully;
  // the byte count tells where. That one is retried alone (it fails alone), the rest go on.
  constexpr std::size_t kMaxIov = 1024;  // IOV_MAX on Linux
  std::size_t i = 0;
  iovec local[kMaxIov], remote[kMaxIov];
  while (i < reqs.size()) {
    if (use_mem_file_) {
      for (; i < reqs.size(); ++i) {
        auto st = read(reqs[i].addr, reqs[i].out);
        reqs[i].ok = st.ok();
        if (!st.ok() && st.error().code != Errc::bad_address) return st;
      }
      return {};
    }
    std::size_t n = std::min(kMaxIov, reqs.size() - i);
    for (std::size_t k = 0; k < n; ++k) {
      local[k] = {reqs[i + k].out.data(), reqs[i + k].out.size()};
      remote[k] = {reinterpret_cast<void*>(reqs[i + k].addr.value()), reqs[i + k].out.size()};  // remote, never dereferenced
    }
    if (ProcessPause::ending()) return make_error(Errc::internal, fmt::format("reading process {} abandoned: objspy is ending", pid_));
    ++syscalls_;
    ssize_t got = ::process_vm_readv(task_, local, n, remote, n, 0);
    if (got < 0 && errno == ESRCH && switch_task()) got = ::process_vm_readv(task_, local, n, remote, n, 0);
    if (got < 0) {
      int e = errno;
      if (e == ENOSYS) { use_mem_file_ = true; continue; }
      if (e != EFAULT) return classify(e, reqs[i].addr, reqs[i].out.size());
      got = 0;  // the first one is unreadable
    }
    bytes_ += static_cast<std::uint64_t>(got);
    std::size_t left = static_cast<std::size_t>(got), k = 0;
    for (; k < n && left >= reqs[i + k].out.size(); ++k) {
      left -= reqs[i + k].out.size();
      reqs[i + k].ok = true;
    }
    if (k == n) { i += n; continue; }
    // Request i+k stopped the copy: read it alone (all or nothing), then go on after it.
    auto st = read(reqs[i + k].addr, reqs[i + k].out);
    reqs[i + k].ok = st.ok();
    if (!st.ok() && st.error().code != Errc::bad_address) return st;
    i += k + 1;
  }
  return {};
}

Status LiveReader::read(RemoteAddr addr, std::span<std::byte> out) {
  std::size_t done = 0;
  while (done < out.size()) {
    OBJSPY_ASSIGN(std::size_t n, read_some(addr + done, out.subspan(done)));
    done += n;
  }
  return {};
}

}  // namespace objspy
