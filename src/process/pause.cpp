#include "objspy/process/pause.hpp"

#include <dirent.h>
#include <signal.h>
#include <sys/ptrace.h>
#include <sys/wait.h>

#include <cerrno>
#include <cstring>
#include <set>

#include <fmt/format.h>

#include "objspy/process/proc.hpp"

namespace objspy {
namespace {

std::set<pid_t> list_tasks(pid_t pid) {
  std::set<pid_t> out;
  DIR* d = opendir(fmt::format("/proc/{}/task", pid).c_str());
  if (!d) return out;
  while (dirent* e = readdir(d))
    if (e->d_name[0] != '.') out.insert(static_cast<pid_t>(std::atoi(e->d_name)));
  closedir(d);
  return out;
}

}  // namespace

ProcessPause::ProcessPause(pid_t pid) : pid_(pid) {
  // SIGINT and friends are held while threads are stopped, so that the detach always runs;
  // they are delivered right after resume().
  sigset_t s;
  sigemptyset(&s);
  for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGPIPE}) sigaddset(&s, sig);
  pthread_sigmask(SIG_BLOCK, &s, &old_mask_);
}

Result<std::unique_ptr<ProcessPause>> ProcessPause::freeze(pid_t pid) {
  std::unique_ptr<ProcessPause> p(new ProcessPause(pid));
  p->start_ = std::chrono::steady_clock::now();
  std::set<pid_t> held;
  // Threads may be created while we stop the others: list again until nothing is new.
  for (int round = 0; round < 100; ++round) {
    std::set<pid_t> tasks = list_tasks(pid);
    if (tasks.empty()) return make_error(Errc::target_exited, fmt::format("process {} exited", pid));
    bool added = false;
    for (pid_t tid : tasks) {
      if (held.count(tid)) continue;
      if (ptrace(PTRACE_SEIZE, tid, nullptr, nullptr) != 0) {
        int e = errno;
        if (e == ESRCH) continue;  // that thread just exited
        if (e == EPERM)
          return make_error(Errc::permission_denied,
                            fmt::format("cannot pause process {} (ptrace: {}); {}", pid, std::strerror(e), permission_hint()));
        return make_error(Errc::internal, fmt::format("ptrace(SEIZE, {}): {}", tid, std::strerror(e)));
      }
      held.insert(tid);
      p->tids_.push_back({tid, 0});
      added = true;
      if (ptrace(PTRACE_INTERRUPT, tid, nullptr, nullptr) != 0) continue;
      // Wait for this thread's interrupt stop.
      for (;;) {
        int st = 0;
        pid_t w = waitpid(tid, &st, __WALL);
        if (w < 0) {
          if (errno == EINTR) continue;
          break;  // gone
        }
        if (WIFEXITED(st) || WIFSIGNALED(st)) break;
        if (WIFSTOPPED(st)) {
          if ((st >> 16) == PTRACE_EVENT_STOP) break;
          // A signal arrived first: let the thread have it, then its interrupt stop follows.
          ptrace(PTRACE_CONT, tid, nullptr, reinterpret_cast<void*>(static_cast<long>(WSTOPSIG(st))));
        }
      }
    }
    if (!added) return p;
  }
  return p;
}

void ProcessPause::resume() {
  if (resumed_) return;
  for (const auto& t : tids_) ptrace(PTRACE_DETACH, t.tid, nullptr, reinterpret_cast<void*>(static_cast<long>(t.pending_signal)));
  end_ = std::chrono::steady_clock::now();
  resumed_ = true;
  pthread_sigmask(SIG_SETMASK, &old_mask_, nullptr);
}

ProcessPause::~ProcessPause() { resume(); }

double ProcessPause::held_ms() const {
  auto end = resumed_ ? end_ : std::chrono::steady_clock::now();
  return std::chrono::duration<double, std::milli>(end - start_).count();
}

}  // namespace objspy
