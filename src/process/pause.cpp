#include "objspy/process/pause.hpp"

#include <pthread.h>
#include <signal.h>
#include <sys/ptrace.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <fstream>
#include <map>
#include <mutex>
#include <optional>
#include <vector>

#include <fmt/format.h>

#include "objspy/process/proc.hpp"

namespace objspy {
namespace {

using Clock = std::chrono::steady_clock;

// A stop request (a user's Ctrl-C, a service manager's SIGTERM) while a target is held.
constexpr int kStopSignals[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};
std::atomic<int> g_stop_signal{0};
std::atomic<bool> g_ending{false};

sigset_t stop_set() {
  sigset_t s;
  sigemptyset(&s);
  for (int sig : kStopSignals) sigaddset(&s, sig);
  return s;
}

// The stop signal waiting for objspy (blocked while a target is held), or 0. sigpending does
// not consume it: it is delivered when unblocked, with its usual effect.
int pending_stop() {
  sigset_t p;
  if (sigpending(&p) != 0) return 0;
  for (int sig : kStopSignals)
    if (sigismember(&p, sig) == 1) return sig;
  return 0;
}

void sleep_ms(long ms) {
  timespec ts{ms / 1000, (ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {}
}

std::string read_line(const std::string& path) {
  std::ifstream f(path);
  std::string s;
  std::getline(f, s);
  return s;
}

// "state D, wchan kernel_clone": what a thread that does not stop is doing.
std::string thread_state(pid_t pid, pid_t tid) {
  std::string dir = fmt::format("/proc/{}/task/{}", pid, tid);
  std::string out = fmt::format("state {}", parse_stat_state(read_line(dir + "/stat")));
  std::string wchan = read_line(dir + "/wchan");
  if (!wchan.empty() && wchan != "0") out += ", wchan " + wchan;
  return out;
}

enum class TaskState { running, stopped, gone };

}  // namespace

// Shared by the caller's thread and the holder thread; the tracing itself (every ptrace call
// and waitpid) happens on the holder thread only.
struct ProcessPause::Holder {
  Holder(pid_t p, int ms) : pid(p), timeout_ms(ms) {}
  const pid_t pid;
  const int timeout_ms;
  pthread_t thread{};
  bool joined = false;
  sigset_t old_mask{};  // the caller's signal mask before the pause

  mutable std::mutex m;
  std::condition_variable cv;
  bool frozen = false;            // the freeze's outcome is known
  std::optional<Error> error;     // its failure
  bool resume_requested = false;
  bool holding = false;
  Clock::time_point start{}, end{};

  // Holder thread only (read by the caller after the join).
  pid_t holder_tid = 0;
  std::map<pid_t, TaskState> tasks;
  std::vector<pid_t> undetached;  // traced but never stopped: released by the holder's exit

  static void* run(void* self);
  Status freeze_all(int* stop_sig);
  void poll_stop(pid_t tid, TaskState& state);
  void release_all();
  Error timeout_error() const;
  bool late_all_runnable() const;  // every thread still to stop is runnable (and there is one)
};

// Collects `tid`'s stop if it has one to report, without waiting.
void ProcessPause::Holder::poll_stop(pid_t tid, TaskState& state) {
  for (int i = 0; i < 8 && state == TaskState::running; ++i) {  // a few signals may come first
    int st = 0;
    pid_t w = waitpid(tid, &st, __WALL | WNOHANG);
    if (w == 0) return;
    if (w < 0) {
      if (errno == EINTR) continue;
      state = TaskState::gone;  // ECHILD: exited and reaped
      return;
    }
    if (WIFEXITED(st) || WIFSIGNALED(st)) { state = TaskState::gone; return; }
    if (!WIFSTOPPED(st)) continue;
    if ((st >> 16) == PTRACE_EVENT_STOP) { state = TaskState::stopped; return; }
    // A signal arrived first: let the thread have it; its interrupt stop follows.
    ptrace(PTRACE_CONT, tid, nullptr, reinterpret_cast<void*>(static_cast<long>(WSTOPSIG(st))));
  }
}

Status ProcessPause::Holder::freeze_all(int* stop_sig) {
  const auto deadline = start + std::chrono::milliseconds(timeout_ms);
  // Threads may be created while the others are stopped: list again until nothing is new,
  // all within the deadline.
  for (;;) {
    if ((*stop_sig = pending_stop()) != 0 || g_ending) return {};
    std::vector<pid_t> listed = list_tasks(pid);
    if (listed.empty()) return make_error(Errc::target_exited, fmt::format("process {} exited", pid));
    bool added = false;
    for (pid_t tid : listed) {
      if (tasks.count(tid)) continue;
      if (ptrace(PTRACE_SEIZE, tid, nullptr, nullptr) != 0) {
        int e = errno;
        if (e == ESRCH) continue;  // that thread just exited
        if (e == EPERM) {
          // A thread that has exited (a main thread after pthread_exit) cannot be traced and
          // needs no holding.
          if (!process_alive(pid)) return make_error(Errc::target_exited, fmt::format("process {} exited", pid));
          char s = parse_stat_state(read_line(fmt::format("/proc/{}/task/{}/stat", pid, tid)));
          if (s == 'Z' || s == 'X' || s == '?') { tasks[tid] = TaskState::gone; continue; }
          if (auto tracer = traced_by(pid, tid))
            return make_error(Errc::permission_denied, fmt::format("{}: --pause cannot hold it too (run without --pause, or detach the other tracer)", *tracer));
          return make_error(Errc::permission_denied, fmt::format("cannot pause process {} (ptrace: {}); {}", pid, std::strerror(e), permission_hint()));
        }
        return make_error(Errc::internal, fmt::format("ptrace(SEIZE, {}): {}", tid, std::strerror(e)));
      }
      tasks[tid] = TaskState::running;
      added = true;
      ptrace(PTRACE_INTERRUPT, tid, nullptr, nullptr);  // fails only if it is exiting: waitpid says so
    }
    bool all_stopped = true;
    for (auto& [tid, state] : tasks) {
      poll_stop(tid, state);
      all_stopped = all_stopped && state != TaskState::running;
    }
    if (all_stopped && !added) return {};
    // A thread in state R is only waiting for a CPU: it takes its interrupt stop as soon as it
    // runs. On a loaded machine that can take longer than the deadline, which is meant for
    // threads that cannot stop (D state, vfork); those get no grace.
    const auto now = Clock::now();
    if (now >= deadline && (now >= deadline + std::chrono::milliseconds(kRunnableGraceMs) || !late_all_runnable()))
      return timeout_error();
    if (!all_stopped) sleep_ms(1);
  }
}

bool ProcessPause::Holder::late_all_runnable() const {
  bool any = false;
  for (const auto& [tid, state] : tasks) {
    if (state != TaskState::running) continue;
    if (parse_stat_state(read_line(fmt::format("/proc/{}/task/{}/stat", pid, tid))) != 'R') return false;
    any = true;
  }
  return any;
}

Error ProcessPause::Holder::timeout_error() const {
  std::vector<pid_t> late;
  for (const auto& [tid, state] : tasks)
    if (state == TaskState::running) late.push_back(tid);
  if (late.empty())  // every thread stopped, but new ones kept appearing until the deadline
    return make_error(Errc::pause_timeout, fmt::format("cannot pause process {}: it kept starting new threads for {} ms; the target was released", pid, timeout_ms));
  std::string more = late.size() > 1 ? fmt::format(" (and {} more)", late.size() - 1) : "";
  return make_error(Errc::pause_timeout, fmt::format("cannot pause process {}: thread {} ({}){} did not stop within {} ms; the target was released",
                                                     pid, late.front(), thread_state(pid, late.front()), more, timeout_ms));
}

void ProcessPause::Holder::release_all() {
  for (const auto& [tid, state] : tasks) {
    if (state == TaskState::gone) continue;
    // PTRACE_DETACH needs the thread in a stop; one still running (or on its way to the stop)
    // is detached by the kernel when this thread exits, with its pending interrupt cleared.
    if (ptrace(PTRACE_DETACH, tid, nullptr, nullptr) != 0 && errno != ESRCH) continue;
    if (state == TaskState::running) undetached.push_back(tid);
  }
}

void* ProcessPause::Holder::run(void* self) {
  auto& h = *static_cast<Holder*>(self);
  h.holder_tid = static_cast<pid_t>(gettid());
  // Every signal is for the caller's thread; the stop signals (blocked by the caller before
  // this thread started) are only looked at here.
  sigset_t all;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, nullptr);
  int sig = 0;
  Status st = h.freeze_all(&sig);
  {
    std::lock_guard<std::mutex> lk(h.m);
    h.holding = st.ok() && sig == 0 && !g_ending;
    if (!st.ok()) h.error = st.take_error();
    h.frozen = true;
  }
  h.cv.notify_all();
  {
    std::unique_lock<std::mutex> lk(h.m);
    while (h.holding && !h.resume_requested) {
      h.cv.wait_for(lk, std::chrono::milliseconds(5));
      if (h.resume_requested || g_ending) break;
      if ((sig = pending_stop()) != 0) break;
    }
  }
  h.release_all();
  {
    std::lock_guard<std::mutex> lk(h.m);
    h.holding = false;
    h.end = Clock::now();
  }
  if (sig != 0) {
    // The target runs again; now the stop request takes its course: unblocked here, the signal
    // is delivered to this thread (by default it ends objspy with that signal's status; a
    // handler, like the long-running commands' own, runs and they end cleanly).
    g_stop_signal = sig;
    sigset_t s = stop_set();
    pthread_sigmask(SIG_UNBLOCK, &s, nullptr);
  }
  return nullptr;
}

Result<std::unique_ptr<ProcessPause>> ProcessPause::freeze(pid_t pid, int timeout_ms) {
  std::unique_ptr<ProcessPause> p(new ProcessPause());
  if (g_ending || g_stop_signal != 0) return p;  // objspy is on its way out: hold nothing
  p->h_ = std::make_unique<Holder>(pid, timeout_ms > 0 ? timeout_ms : kDefaultTimeoutMs);
  Holder& h = *p->h_;
  // The stop signals wait (blocked) for the holder to let the target go; it looks for them.
  // The others that would end objspy are held too, and delivered when the pause ends.
  sigset_t s = stop_set();
  sigaddset(&s, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &s, &h.old_mask);
  h.start = Clock::now();
  if (int e = pthread_create(&h.thread, nullptr, &Holder::run, &h); e != 0) {
    h.joined = true;
    pthread_sigmask(SIG_SETMASK, &h.old_mask, nullptr);
    return make_error(Errc::internal, fmt::format("cannot pause process {}: no thread to hold it ({})", pid, std::strerror(e)));
  }
  {
    // Bounded: the holder reports within its deadline (plus one listing of the threads).
    std::unique_lock<std::mutex> lk(h.m);
    h.cv.wait(lk, [&] { return h.frozen; });
  }
  if (h.error) {
    Error e = *h.error;
    p->resume();
    return e;
  }
  return p;
}

void ProcessPause::resume() {
  if (!h_ || h_->joined) return;
  Holder& h = *h_;
  {
    std::lock_guard<std::mutex> lk(h.m);
    h.resume_requested = true;
  }
  h.cv.notify_all();
  pthread_join(h.thread, nullptr);
  h.joined = true;
  // The holder's exit detaches what it could not; the join can return just before the kernel
  // has done so. Wait for it (bounded) so that "released" is true when this returns.
  for (pid_t tid : h.undetached) {
    for (int i = 0; i < 200; ++i) {
      std::ifstream f(fmt::format("/proc/{}/task/{}/status", h.pid, tid));
      std::string text((std::istreambuf_iterator<char>(f)), {});
      auto tracer = parse_tracer_pid(text);
      if (!tracer || *tracer != h.holder_tid) break;
      sleep_ms(1);
    }
  }
  pthread_sigmask(SIG_SETMASK, &h.old_mask, nullptr);
}

ProcessPause::~ProcessPause() { resume(); }

bool ProcessPause::holding() const {
  if (!h_) return false;
  std::lock_guard<std::mutex> lk(h_->m);
  return h_->holding;
}

double ProcessPause::held_ms() const {
  if (!h_) return 0;
  std::lock_guard<std::mutex> lk(h_->m);
  auto end = h_->holding || h_->end == Clock::time_point{} ? Clock::now() : h_->end;
  return std::chrono::duration<double, std::milli>(end - h_->start).count();
}

int ProcessPause::stop_signal() { return g_stop_signal; }

void ProcessPause::end_all() { g_ending = true; }

bool ProcessPause::ending() { return g_ending; }

}  // namespace objspy
