// --pause has deadlines: a thread that cannot stop (waiting in vfork) makes objspy let the
// target go and fail within --pause-timeout, and SIGTERM during a pause ends objspy within a
// second; in each case every thread of the target runs again.
#include <doctest/doctest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "support.hpp"

namespace {

using Clock = std::chrono::steady_clock;

std::string slurp(const std::string& path) {
  std::ifstream f(path);
  return std::string((std::istreambuf_iterator<char>(f)), {});
}

char state_of(const std::string& stat) {
  auto close = stat.rfind(')');
  return close == std::string::npos || close + 2 >= stat.size() ? '?' : stat[close + 2];
}

std::vector<pid_t> tasks_of(pid_t pid) {
  std::vector<pid_t> out;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(fmt::format("/proc/{}/task", pid), ec))
    out.push_back(static_cast<pid_t>(std::stol(e.path().filename().string())));
  return out;
}

// Every thread runs (no 'T'/'t') and none is traced any more; what is wrong otherwise.
std::string threads_free(pid_t pid) {
  std::string bad;
  for (pid_t tid : tasks_of(pid)) {
    std::string dir = fmt::format("/proc/{}/task/{}", pid, tid);
    char s = state_of(slurp(dir + "/stat"));
    if (s == 'T' || s == 't') bad += fmt::format("thread {} is stopped ({}); ", tid, s);
    std::string status = slurp(dir + "/status");
    auto at = status.find("TracerPid:");
    if (at != std::string::npos && std::stol(status.substr(at + 10)) != 0) bad += fmt::format("thread {} is still traced; ", tid);
  }
  return bad;
}

// Polls a /proc fact of a target until it holds (bounded): a condition, not a guessed delay.
template <class F>
bool wait_until(F&& holds, double timeout_s) {
  auto deadline = Clock::now() + std::chrono::duration<double>(timeout_s);
  while (Clock::now() < deadline) {
    if (holds()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return holds();
}

// vfork_stuck.py's child waits in open() forever; this kills it (before the target dies, the
// child is still the target's: its parent PID says so).
struct KillChildren {
  pid_t parent;
  ~KillChildren() {
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator("/proc", ec)) {
      std::string name = e.path().filename().string();
      if (name.find_first_not_of("0123456789") != std::string::npos) continue;
      std::string stat = slurp(e.path().string() + "/stat");
      auto close = stat.rfind(')');
      if (close == std::string::npos) continue;
      int ppid = 0;
      char st = 0;
      if (std::sscanf(stat.c_str() + close + 1, " %c %d", &st, &ppid) == 2 && ppid == parent) kill(std::stoi(name), SIGKILL);
    }
  }
};

// A vfork_stuck.py target whose spawning thread really is waiting in the kernel; its TID.
pid_t stuck_thread(itest::Target& t, const itest::Interpreter& py) {
  std::string err;
  auto ready = t.ready_line(120, &err);
  REQUIRE_MESSAGE(ready, py.label << ": " << err);
  REQUIRE(ready->rfind("ready ", 0) == 0);
  pid_t tid = static_cast<pid_t>(std::stol(ready->substr(6)));
  std::string stat_path = fmt::format("/proc/{}/task/{}/stat", t.pid(), tid);
  REQUIRE_MESSAGE(wait_until([&] { return state_of(slurp(stat_path)) == 'D'; }, 30),
                  py.label << ": thread " << tid << " never waited in vfork: " << slurp(stat_path));
  return tid;
}

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// Once objspy (`o`) holds target `t`'s main thread, SIGTERM to objspy: it must end within a
// second, by that signal, and leave every thread of the target running.
// `killed_by_signal`: dump dies by it, as without --pause; the long-running commands handle it
// and end cleanly (exit 0).
void sigterm_mid_pause(itest::Target& t, itest::Target& o, bool killed_by_signal = true) {
  std::string main_stat = fmt::format("/proc/{}/stat", t.pid());
  std::string objspy_stat = fmt::format("/proc/{}/stat", o.pid());
  wait_until([&] { return state_of(slurp(main_stat)) == 't' || state_of(slurp(objspy_stat)) == 'Z'; }, 30);
  if (state_of(slurp(main_stat)) != 't') {
    std::string seen;
    o.stderr_line("\x01", 2, &seen);  // everything objspy said
    FAIL("objspy never held the main thread: " << seen);
  }
  auto t0 = Clock::now();
  REQUIRE(kill(o.pid(), SIGTERM) == 0);
  int st = o.wait_exit(5);
  double took = seconds_since(t0);
  CHECK(took < 1.0);
  REQUIRE(st != -1);
  if (killed_by_signal) {
    CHECK(WIFSIGNALED(st));
    CHECK(WTERMSIG(st) == SIGTERM);  // the signal's own status, as without --pause
  } else {
    CHECK(WIFEXITED(st));
    CHECK(WEXITSTATUS(st) == 0);
  }
  CHECK(threads_free(t.pid()) == "");
  CHECK(t.ask("ping", 10) == "pong");
}

}  // namespace

TEST_CASE("--pause of a target with a thread stuck in vfork fails within its deadline and leaves every thread running") {
  const auto& found = itest::discover().found;
  REQUIRE_FALSE(found.empty());
  for (const auto& py : found) {
    CAPTURE(py.label);
    itest::Target t(py, "vfork_stuck.py");
    KillChildren reap{t.pid()};
    pid_t tid = stuck_thread(t, py);
    auto t0 = Clock::now();
    auto r = itest::run(itest::objspy({"dump", "--pid", std::to_string(t.pid()), "--pause", "--pause-timeout", "300"}), 60);
    double took = seconds_since(t0);
    INFO(r.err);
    CHECK(r.exit_code == 13);
    CHECK(r.out.empty());
    CHECK(r.err.find(fmt::format("thread {} (state D", tid)) != std::string::npos);
    CHECK(r.err.find("did not stop within 300 ms; the target was released") != std::string::npos);
    // The bound: the pause timeout plus attaching (ELF symbols, layout) on a loaded machine.
    CHECK(took < 0.3 + 10);
    CHECK(threads_free(t.pid()) == "");
    CHECK(t.ask("ping", 10) == "pong");
    // The failure was that thread's: once its child can exec, the target is paused normally.
    CHECK(t.ask("release", 10) == "released");
    REQUIRE(wait_until([&] { return state_of(slurp(fmt::format("/proc/{}/task/{}/stat", t.pid(), tid))) != 'D'; }, 30));
    auto again = itest::run(itest::objspy({"dump", "--pid", std::to_string(t.pid()), "--pause", "--format", "json"}), 60);
    INFO(again.err);
    CHECK(again.exit_code == 0);
    CHECK(threads_free(t.pid()) == "");
  }
}

TEST_CASE("SIGTERM to objspy while --pause waits for a thread that cannot stop ends it within a second") {
  const auto& found = itest::discover().found;
  REQUIRE_FALSE(found.empty());
  for (const auto& py : found) {
    CAPTURE(py.label);
    itest::Target t(py, "vfork_stuck.py");
    KillChildren reap{t.pid()};
    stuck_thread(t, py);
    // A long deadline: objspy is certainly still holding the other threads when SIGTERM comes.
    itest::Target o(itest::objspy({"dump", "--pid", std::to_string(t.pid()), "--pause", "--pause-timeout", "60000"}));
    sigterm_mid_pause(t, o);
  }
}

TEST_CASE("SIGTERM to objspy while --pause holds a target during a slow census ends it within a second") {
  const auto& found = itest::discover().found;
  REQUIRE_FALSE(found.empty());
  for (const auto& py : found) {
    CAPTURE(py.label);
    // Two threads, and a heap that stays put (one batch of objects, then a 100 s sleep): the
    // slow census must not meet a heap that grows while it attaches.
    itest::Target t(py, "churn.py", {{"CHURN_RATE", "10"}});
    std::string err;
    REQUIRE_MESSAGE(t.ready_line(120, &err), err);
    // Every read of the census takes 50 ms (LD_PRELOAD shim): the walk holds the target for
    // seconds, so SIGTERM comes while all threads are stopped and the main thread walks.
    itest::Target o(itest::objspy({"dump", "--pid", std::to_string(t.pid()), "--pause"}),
                    {{"LD_PRELOAD", OBJSPY_EXIT_SHIM}, {"OBJSPY_TEST_READ_DELAY_US", "50000"}});
    sigterm_mid_pause(t, o);
  }
}

TEST_CASE("SIGTERM to record while --pause waits for a thread that cannot stop ends it cleanly within a second") {
  const auto& found = itest::discover().found;
  REQUIRE_FALSE(found.empty());
  for (const auto& py : found) {
    CAPTURE(py.label);
    itest::Target t(py, "vfork_stuck.py");
    KillChildren reap{t.pid()};
    stuck_thread(t, py);
    // record takes its censuses on a worker thread and handles SIGTERM on its io thread: the
    // hold in flight must be let go all the same.
    itest::Target o(itest::objspy({"record", "--pid", std::to_string(t.pid()), "--pause", "--pause-timeout", "60000", "-o", "/dev/null"}));
    sigterm_mid_pause(t, o, false);
    std::string seen;
    CHECK(o.stderr_line("record ended (terminated)", 5, &seen));
  }
}
