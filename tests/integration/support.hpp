// Integration test support: real interpreters, started with a ready handshake and always
// ended and reaped; the objspy binary run as a user runs it.
#pragma once
#include <sys/types.h>

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace itest {

// The deadline for anything a test waits on (a ready line, a log line, an exit, a screen):
// generous, because CI runs on 2 cores that other work keeps busy, and free, because every
// wait ends as soon as what it waits for happens; only a failing test waits it out.
constexpr double kPatience = 120;

// An AddressSanitizer build: its shadow memory and quarantine make absolute bounds on RSS
// meaningless, so those are checked by the release run only (time and exit codes still are).
#if defined(__SANITIZE_ADDRESS__)
constexpr bool kSanitized = true;
#else
constexpr bool kSanitized = false;
#endif

struct Interpreter {
  std::string label;                 // e.g. "pyenv 3.12.1", "sid python3.14d (chroot)"
  std::vector<std::string> argv;     // command that runs a script given as the last argument
  std::string script_dir;            // where target scripts are, as that interpreter sees them
  std::string expect_minor;          // "3.12"
  bool debug = false;
};

struct Skipped {
  std::string what;
  std::string why;
};

// Every interpreter this machine has, plus what was looked for and not found (with why).
struct Discovery {
  std::vector<Interpreter> found;
  std::vector<Skipped> skipped;
  std::vector<Interpreter> unsupported;  // Python 2.7, 3.6, 3.7: must be refused clearly
};
const Discovery& discover();
// The interpreters found; fails the calling test when there are none (a test that loops over
// nothing must not pass).
const std::vector<Interpreter>& interpreters();
// Whether `what` (e.g. "sid python3.15d", "pyenv 3.8", "kthreadd") is listed in the
// comma-separated OBJSPY_ALLOW_MISSING; an entry ending in '*' allows every name it prefixes.
bool missing_allowed(const std::string& what);
// Something a test needs is absent: fails the test unless OBJSPY_ALLOW_MISSING lists `what`;
// either way it is listed with `why` in the summary. The caller returns after it.
void missing(const std::string& what, const std::string& why);
// The first interpreter run directly (not through chroot or the embedding host).
const Interpreter* plain_python();
// Wait (bounded by timeout_s) until `path` holds at least `lines` complete lines; woken by
// inotify when the file changes, so it costs nothing when the lines come quickly.
bool wait_for_lines(const std::string& path, std::size_t lines, double timeout_s);

struct CommandResult {
  int exit_code = -1;
  std::string out;
  std::string err;
  double seconds = 0;       // wall clock, start to exit
  long max_rss_kib = 0;     // the command's peak RSS (getrusage of the child)
};
// Run a command to completion (killed after timeout_s), capturing stdout and stderr.
CommandResult run(const std::vector<std::string>& argv, double timeout_s = 120, const std::map<std::string, std::string>& env = {});
std::vector<std::string> objspy(std::vector<std::string> args);  // {"/path/objspy", args...}

// A target started with pipes on stdin and stdout. It is ready when it has written its first
// line; closing stdin lets it exit; the destructor kills and reaps it regardless.
class Target {
 public:
  Target(std::vector<std::string> argv, const std::map<std::string, std::string>& env = {});
  // `script` (a file in tests/targets) run by interpreter `py`.
  Target(const Interpreter& py, const std::string& script, const std::map<std::string, std::string>& env = {});
  ~Target();
  Target(const Target&) = delete;
  Target& operator=(const Target&) = delete;
  pid_t pid() const { return pid_; }
  // The first line the target wrote, or nullopt (with stderr in `err`) if it did not within
  // the timeout or exited first.
  std::optional<std::string> ready_line(double timeout_s, std::string* err);
  void kill_now();
  // Wait for it to exit by itself and reap it; its wait status, or -1 after `timeout_s`
  // (then it is killed).
  int wait_exit(double timeout_s);
  // Wait (bounded) until it has exited, without reaping it: it stays a zombie until reaped.
  bool wait_exited(double timeout_s);
  // Wait (bounded) until it has stopped itself (SIGSTOP), leaving that state to be waited for.
  bool wait_stopped(double timeout_s);
  // Send one line and wait for one line back (empty on timeout).
  std::string ask(const std::string& line, double timeout_s);
  // The next line on stderr that contains `needle` (nullopt on timeout or end of stderr);
  // `seen` gets everything read so far, for messages.
  std::optional<std::string> stderr_line(const std::string& needle, double timeout_s, std::string* seen = nullptr);

 private:
  pid_t pid_ = -1;
  int in_ = -1, out_ = -1, err_ = -1;
  bool reaped_ = false;
  std::string out_buf_, err_buf_;  // read but not yet handed out as lines
  std::string err_seen_;           // all of stderr read so far
};

// A field of /proc/PID/status in KiB ("VmRSS", "VmSwap"; pid 0: this process), 0 when the
// field or the process is gone.
long status_kib(pid_t pid, const std::string& field);

// A temporary directory, removed however the test ends (a failed REQUIRE included).
struct TempDir {
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::string path;
};

// The files process `pid` maps, copied into `dir` by base name (as a user copies the
// libraries of another machine next to a core file). Best effort.
void copy_mapped_files(pid_t pid, const std::string& dir);
// Whether `py`'s heap lies where no snapshot copies it within budget: this suite's embedding
// host built with ASan keeps it in ASan's allocator reservation (terabytes).
bool heap_in_sanitizer_reservation(const Interpreter& py);

std::string source_dir();
std::string hex_decode(const std::string& hex);

// The result table printed at the end of the run.
struct Row {
  std::string interpreter, version, short_names, qualified_names, note;
};
void record(Row r);
void print_summary();

}  // namespace itest
