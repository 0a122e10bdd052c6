// Launch mode: start a program, wait (on Boost.Asio timers and signals) until its interpreter
// is up and it has had `delay` seconds to build its heap, sample it, then end it.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <optional>
#include <thread>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <fmt/format.h>

#include "objspy/census/sampler.hpp"
#include "objspy/cli/commands.hpp"
#include "objspy/core/escape.hpp"

namespace objspy::cli {
namespace {

// Owns the child: whatever happens (error, exception, signal), it is ended and reaped.
class Child {
 public:
  explicit Child(pid_t pid) : pid_(pid) {}
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;
  ~Child() { end(); }
  pid_t pid() const { return pid_; }
  // Non-blocking: the wait status if it has exited.
  std::optional<int> exited() {
    if (status_) return status_;
    int st = 0;
    if (::waitpid(pid_, &st, WNOHANG) == pid_) status_ = st;
    return status_;
  }
  // Block until it has exited (it is known to be exiting).
  void wait() {
    if (status_) return;
    int st = 0;
    if (::waitpid(pid_, &st, 0) == pid_) status_ = st;
  }
  void end() {
    if (status_) return;
    ::kill(pid_, SIGTERM);
    for (int i = 0; i < 100 && !exited(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    if (!exited()) {
      ::kill(pid_, SIGKILL);
      int st = 0;
      ::waitpid(pid_, &st, 0);
      status_ = st;
    }
  }

 private:
  pid_t pid_;
  std::optional<int> status_;
};

std::string describe_status(int st) {
  if (WIFEXITED(st)) return fmt::format("exited with status {}", WEXITSTATUS(st));
  if (WIFSIGNALED(st)) return fmt::format("was killed by signal {}", WTERMSIG(st));
  return "stopped";
}

Result<pid_t> spawn(const std::vector<std::string>& argv) {
  int pipefd[2];
  if (::pipe2(pipefd, O_CLOEXEC) != 0) return make_error(Errc::launch_failed, fmt::format("pipe: {}", std::strerror(errno)));
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = ::fork();
  if (pid < 0) return make_error(Errc::launch_failed, fmt::format("fork: {}", std::strerror(errno)));
  if (pid == 0) {
    // The program's own output goes to stderr: stdout carries only objspy's data.
    int devnull = ::open("/dev/null", O_RDONLY);
    if (devnull >= 0) ::dup2(devnull, 0);
    ::dup2(2, 1);
    ::close(pipefd[0]);
    ::execvp(args[0], args.data());
    int e = errno;
    ssize_t ignored = ::write(pipefd[1], &e, sizeof e);
    (void)ignored;
    ::_exit(127);
  }
  ::close(pipefd[1]);
  int err = 0;
  ssize_t n;
  do n = ::read(pipefd[0], &err, sizeof err);
  while (n < 0 && errno == EINTR);
  ::close(pipefd[0]);
  if (n == sizeof err) {
    int st;
    ::waitpid(pid, &st, 0);
    return make_error(Errc::launch_failed, fmt::format("cannot start {}: {}", argv[0], std::strerror(err)));
  }
  return pid;
}

}  // namespace

Status run_launched(const std::vector<std::string>& argv, double delay, double start_timeout, bool verbose,
                    const std::function<Status(pid_t)>& with_pid) {
  OBJSPY_ASSIGN(pid_t pid, spawn(argv));
  Child child(pid);
  namespace asio = boost::asio;
  asio::io_context io;
  asio::signal_set signals(io, SIGINT, SIGTERM);
  asio::steady_timer poll(io), settle(io);
  const auto started = std::chrono::steady_clock::now();
  std::optional<Error> failure;
  bool ready = false;

  signals.async_wait([&](const boost::system::error_code& ec, int sig) {
    if (ec) return;
    failure = make_error(Errc::launch_failed, fmt::format("interrupted by signal {} before the census", sig));
    io.stop();
  });
  // Poll every 20 ms until the program's interpreter can be read (a wrapper script may exec
  // Python later), then give it `delay` seconds.
  auto exited_early = [&] {
    auto st = child.exited();
    if (st) {
      failure = make_error(Errc::launch_failed, fmt::format("{} {} before objspy could read it", argv[0], describe_status(*st)));
      io.stop();
    }
    return st.has_value();
  };
  std::function<void()> probe = [&] {
    if (exited_early()) return;
    auto attached = Sampler::attach(pid);
    // The program may exit while objspy reads it: that is the launch failing, not a target
    // that exited mid-census. Its memory goes before it can be reaped: wait for that.
    if (!attached.ok()) {
      const Errc c = attached.error().code;
      if (c == Errc::target_exited || c == Errc::no_such_process) child.wait();
      if (exited_early()) return;
    }
    if (attached.ok()) {
      ready = true;
      if (verbose) std::fputs(fmt::format("objspy: interpreter of PID {} is up; waiting {:.1f} s\n", pid, delay).c_str(), stderr);
      settle.expires_after(std::chrono::duration_cast<std::chrono::steady_clock::duration>(std::chrono::duration<double>(delay)));
      settle.async_wait([&](const boost::system::error_code& ec) {
        if (!ec) io.stop();
      });
      return;
    }
    const Errc code = attached.error().code;
    bool transient = code == Errc::not_python || code == Errc::corrupt_target || code == Errc::bad_address;
    if (!transient || std::chrono::steady_clock::now() - started > std::chrono::duration<double>(start_timeout)) {
      failure = transient ? make_error(Errc::launch_failed, fmt::format("{} (PID {}) did not start a Python interpreter within {:.0f} s: {}", argv[0],
                                                                         pid, start_timeout, attached.error().message))
                          : attached.take_error();
      io.stop();
      return;
    }
    poll.expires_after(std::chrono::milliseconds(20));
    poll.async_wait([&](const boost::system::error_code& ec) {
      if (!ec) probe();
    });
  };
  asio::post(io, probe);
  io.run();
  if (failure) return *failure;
  if (!ready) return make_error(Errc::launch_failed, "launch interrupted");
  if (auto st = child.exited())
    return make_error(Errc::launch_failed, fmt::format("{} {} before the census", argv[0], describe_status(*st)));
  return with_pid(pid);
}

}  // namespace objspy::cli
