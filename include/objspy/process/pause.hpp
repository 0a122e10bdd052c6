// Holding every thread of a target still for an exact snapshot, for as short a time as
// possible, with deadlines. PTRACE_SEIZE + PTRACE_INTERRUPT, never SIGSTOP: if objspy dies
// (even by SIGKILL) the kernel detaches and the threads run on.
//
// The tracing is done by a thread of objspy that does nothing else (the holder): ptrace ties
// a tracee to the thread that attached it, and only the exit of that thread detaches a tracee
// that never reached a stop (a thread waiting in vfork, or in uninterruptible sleep on NFS or
// FUSE). The holder also watches for SIGINT, SIGTERM, SIGHUP and SIGQUIT (and end_all()) while
// the census runs on the caller's thread, so that a stop request lets the target go at once,
// even mid-walk.
#pragma once
#include <sys/types.h>

#include <memory>

#include "objspy/core/result.hpp"

namespace objspy {

class ProcessPause {
 public:
  static constexpr int kDefaultTimeoutMs = 200;
  // Extra time for threads that are runnable (state R: waiting for a CPU on a busy machine).
  static constexpr int kRunnableGraceMs = 2000;

  // Every thread of `pid` held in an interrupt stop. All of them must stop within
  // `timeout_ms` (re-listing new threads included), or kRunnableGraceMs more if every thread
  // still to stop is runnable; if one does not, every thread already held is let go and the
  // error names that thread and its state.
  // A stop signal (see stop_signal()) during the freeze lets the target go and gives a pause
  // that holds nothing (holding() false); the signal then takes its usual course.
  // Err: permission_denied (also: already traced by another process), target_exited,
  // pause_timeout, internal.
  static Result<std::unique_ptr<ProcessPause>> freeze(pid_t pid, int timeout_ms = kDefaultTimeoutMs);
  ~ProcessPause();  // resumes every thread
  ProcessPause(const ProcessPause&) = delete;
  ProcessPause& operator=(const ProcessPause&) = delete;
  void resume();
  // Whether the target is still held: false after resume() or once a stop signal let it go.
  bool holding() const;
  // From the first interrupt to the last detach (or now, if still held).
  double held_ms() const;
  // The stop signal (SIGINT, SIGTERM, SIGHUP, SIGQUIT) that made objspy let a target go, or 0.
  // Once set, freeze() holds nothing any more: objspy is on its way out.
  static int stop_signal();
  // The command is ending and drops the census in flight (PeriodicCensus says so from its io
  // thread): a target held now, or being frozen, is let go within a few milliseconds, none is
  // held again, and live reads fail at once. Sticky.
  static void end_all();
  static bool ending();

 private:
  ProcessPause() = default;
  struct Holder;
  std::unique_ptr<Holder> h_;
};

}  // namespace objspy
