// Holding every thread of a target still for an exact snapshot, for as short a time as
// possible. PTRACE_SEIZE + PTRACE_INTERRUPT, never SIGSTOP: if objspy dies (even by
// SIGKILL) the kernel detaches and the threads run on; the destructor detaches otherwise.
#pragma once
#include <sys/types.h>

#include <signal.h>

#include <chrono>
#include <memory>
#include <vector>

#include "objspy/core/result.hpp"

namespace objspy {

class ProcessPause {
 public:
  // Err: permission_denied, target_exited.
  static Result<std::unique_ptr<ProcessPause>> freeze(pid_t pid);
  ~ProcessPause();  // resumes every thread
  ProcessPause(const ProcessPause&) = delete;
  ProcessPause& operator=(const ProcessPause&) = delete;
  void resume();
  // From the first interrupt to the last detach (or now, if still held).
  double held_ms() const;

 private:
  explicit ProcessPause(pid_t pid);
  struct Tracee { pid_t tid; int pending_signal; };
  pid_t pid_;
  std::vector<Tracee> tids_;
  std::chrono::steady_clock::time_point start_, end_;
  bool resumed_ = false;
  sigset_t old_mask_;  // signals that would kill objspy wait until the threads run again
};

}  // namespace objspy
