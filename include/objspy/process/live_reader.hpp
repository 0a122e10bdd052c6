// Reads a live process with process_vm_readv (never writes; does not stop the target).
// Falls back to /proc/PID/mem where the syscall is unavailable (ENOSYS, some sandboxes).
// Reads through a live thread when the main thread has exited (see live_task).
#pragma once
#include <sys/types.h>

#include "objspy/process/reader.hpp"

namespace objspy {

class LiveReader final : public MemoryReader {
 public:
  explicit LiveReader(pid_t pid);
  ~LiveReader() override;
  LiveReader(const LiveReader&) = delete;
  LiveReader& operator=(const LiveReader&) = delete;

  Status read(RemoteAddr addr, std::span<std::byte> out) override;
  Result<std::size_t> read_some(RemoteAddr addr, std::span<std::byte> out) override;
  Status read_batch(std::span<ReadRequest> reqs) override;
  pid_t pid() const { return pid_; }
  std::uint64_t syscalls() const { return syscalls_; }
  std::uint64_t bytes_read() const { return bytes_; }

 private:
  Error classify(int err, RemoteAddr addr, std::size_t len) const;
  bool switch_task();  // after ESRCH: another live thread to read through?
  pid_t pid_;
  pid_t task_;  // whose address space is read: pid_, or a live thread when the main one exited
  int mem_fd_ = -1;
  bool use_mem_file_ = false;
  std::uint64_t syscalls_ = 0;
  std::uint64_t bytes_ = 0;
};

}  // namespace objspy
