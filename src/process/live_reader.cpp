#include "objspy/process/live_reader.hpp"

#include <fcntl.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
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

Status LiveReader::read(RemoteAddr addr, std::span<std::byte> out) {
  std::size_t done = 0;
  while (done < out.size()) {
    OBJSPY_ASSIGN(std::size_t n, read_some(addr + done, out.subspan(done)));
    done += n;
  }
  return {};
}

}  // namespace objspy
