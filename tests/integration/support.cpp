#include "support.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/inotify.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <thread>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>

#include <doctest/doctest.h>
#include <fmt/format.h>

namespace fs = std::filesystem;

namespace itest {
namespace {

std::vector<Row> g_rows;
std::vector<Skipped> g_missing;  // what tests found missing while running (see missing())

// The target scripts copied into the sid chroot for this run only: test runs of other
// checkouts on the same machine use the same chroot, and must not overwrite them under us.
struct ChrootScripts {
  std::string host_dir;  // as this process sees it ("" until made)
  ~ChrootScripts() {
    std::error_code ec;
    if (!host_dir.empty()) fs::remove_all(host_dir, ec);
  }
};
ChrootScripts g_chroot_scripts;

pid_t spawn(const std::vector<std::string>& argv, int in_fd, int out_fd, int err_fd, const std::map<std::string, std::string>& env) {
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = fork();
  if (pid == 0) {
    dup2(in_fd, 0);
    dup2(out_fd, 1);
    dup2(err_fd, 2);
    for (int fd = 3; fd < 256; ++fd) close(fd);
    for (const auto& [k, v] : env) setenv(k.c_str(), v.c_str(), 1);
    execvp(args[0], args.data());
    _exit(127);
  }
  return pid;
}

std::string pyenv_root() {
  if (const char* r = getenv("PYENV_ROOT")) return r;
  if (const char* h = getenv("HOME")) return std::string(h) + "/.pyenv";
  return "/root/.pyenv";
}

std::string sid_root() {
  if (const char* r = getenv("OBJSPY_SID_CHROOT")) return r;
  return "/var/cache/objspy/sid-chroot";
}

Discovery make_discovery() {
  Discovery d;
  const std::string targets = source_dir() + "/tests/targets";
  // pyenv: shared libpython with DWARF, 3.8-3.13 expected; 2.7/3.6/3.7 must be refused.
  const std::string root = pyenv_root() + "/versions";
  std::map<std::string, std::string> by_minor;
  if (fs::is_directory(root))
    for (const auto& e : fs::directory_iterator(root)) by_minor[e.path().filename().string()] = e.path().string();
  for (int minor = 8; minor <= 13; ++minor) {
    std::string want = fmt::format("3.{}.", minor);
    bool got = false;
    for (const auto& [ver, path] : by_minor) {
      if (ver.rfind(want, 0) != 0) continue;
      std::string exe = fmt::format("{}/bin/python3.{}", path, minor);
      if (access(exe.c_str(), X_OK) != 0) continue;
      d.found.push_back({"pyenv " + ver, {exe}, targets, fmt::format("3.{}", minor), false});
      got = true;
    }
    if (!got) d.skipped.push_back({fmt::format("pyenv 3.{}", minor), "not installed under " + root + " (tools/setup.sh --chroot installs it)"});
  }
  // The versions objspy must refuse by name, as the README says.
  for (const char* old : {"2.7", "3.6", "3.7"}) {
    bool got = false;
    for (const auto& [ver, path] : by_minor)
      if (ver.rfind(std::string(old) + ".", 0) == 0) {
        std::string exe = fmt::format("{}/bin/python{}", path, old);
        if (access(exe.c_str(), X_OK) != 0) continue;
        d.unsupported.push_back({"pyenv " + ver, {exe}, targets, old, false});
        got = true;
      }
    if (!got) d.skipped.push_back({fmt::format("pyenv {}", old), "not installed under " + root + " (the refusal of old versions is untested)"});
  }
  // Debian bookworm: static, stripped python3.11, and the Py_DEBUG build from python3.11-dbg.
  if (access("/usr/bin/python3.11", X_OK) == 0) d.found.push_back({"debian python3.11 (stripped)", {"/usr/bin/python3.11"}, targets, "3.11", false});
  else d.skipped.push_back({"debian python3.11", "/usr/bin/python3.11 missing (apt-get install python3.11)"});
  if (access("/usr/bin/python3.11d", X_OK) == 0) d.found.push_back({"debian python3.11d (-dbg)", {"/usr/bin/python3.11d"}, targets, "3.11", true});
  else d.skipped.push_back({"debian python3.11d", "missing (apt-get install python3.11-dbg)"});
  // The embedding host built next to the tests (links Debian's libpython3.11.so).
  std::string host = OBJSPY_EMBED_HOST;
  if (!host.empty() && access(host.c_str(), X_OK) == 0) d.found.push_back({"embedded libpython3.11", {host}, targets, "3.11", false});
  else d.skipped.push_back({"embedded libpython", "embed host not built (needs python3-embed from python3.11-dev)"});
  // Debian sid in a chroot: 3.13, 3.14, 3.15 and their debug builds, in another root.
  const std::string sid = sid_root();
  bool sid_ok = fs::is_directory(sid + "/usr/bin");
  bool root_user = geteuid() == 0;
  std::string chroot_targets;
  if (sid_ok && root_user) {
    fs::create_directories(sid + "/tmp");
    std::string tmpl = sid + "/tmp/objspy-targets-XXXXXX";
    if (mkdtemp(tmpl.data())) {
      g_chroot_scripts.host_dir = tmpl;
      chroot_targets = tmpl.substr(sid.size());
      chmod(tmpl.c_str(), 0755);
      for (const auto& e : fs::directory_iterator(targets))
        if (e.path().extension() == ".py") fs::copy_file(e.path(), tmpl + "/" + e.path().filename().string());
    }
  }
  for (int minor = 13; minor <= 15; ++minor)
    for (bool dbg : {false, true}) {
      std::string exe = fmt::format("/usr/bin/python3.{}{}", minor, dbg ? "d" : "");
      std::string what = fmt::format("sid python3.{}{}", minor, dbg ? "d" : "");
      std::string label = what + " (chroot)";
      if (!sid_ok) d.skipped.push_back({what, "no sid chroot at " + sid + " (tools/setup.sh --chroot builds it)"});
      else if (!root_user) d.skipped.push_back({what, "entering the chroot needs root"});
      else if (chroot_targets.empty()) d.skipped.push_back({what, "cannot make a directory for the target scripts in " + sid + "/tmp"});
      else if (access((sid + exe).c_str(), X_OK) != 0) d.skipped.push_back({what, exe + " missing in the chroot (tools/setup.sh --chroot)"});
      else d.found.push_back({label, {"chroot", sid, exe}, chroot_targets, fmt::format("3.{}", minor), dbg});
    }
  return d;
}

}  // namespace

const Discovery& discover() {
  static Discovery d = make_discovery();
  return d;
}

const std::vector<Interpreter>& interpreters() {
  const auto& found = discover().found;
  REQUIRE_MESSAGE(!found.empty(), "no Python interpreter found to test (tools/setup.sh --chroot installs them)");
  return found;
}

bool missing_allowed(const std::string& what) {
  const char* env = getenv("OBJSPY_ALLOW_MISSING");
  if (!env) return false;
  std::string list = env;
  for (std::size_t b = 0; b <= list.size();) {
    auto e = list.find(',', b);
    if (e == std::string::npos) e = list.size();
    std::string item = list.substr(b, e - b);
    item.erase(0, item.find_first_not_of(' '));
    item.erase(item.find_last_not_of(' ') + 1);
    if (!item.empty() && (item == what || (item.back() == '*' && what.rfind(item.substr(0, item.size() - 1), 0) == 0))) return true;
    b = e + 1;
  }
  return false;
}

void missing(const std::string& what, const std::string& why) {
  g_missing.push_back({what, why});
  if (missing_allowed(what)) {
    MESSAGE("SKIPPED (allowed by OBJSPY_ALLOW_MISSING): " << what << ": " << why);
    return;
  }
  FAIL(what << " is missing: " << why << "; to run without it, list it in OBJSPY_ALLOW_MISSING=\"" << what << "\"");
}

std::string source_dir() { return OBJSPY_SOURCE_DIR; }

const Interpreter* plain_python() {
  for (const auto& py : discover().found)
    if (py.argv.size() == 1 && py.label.find("embedded") == std::string::npos) return &py;
  return nullptr;
}

bool wait_for_lines(const std::string& path, std::size_t lines, double timeout_s) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
  auto enough = [&] {
    std::ifstream f(path);
    std::string s((std::istreambuf_iterator<char>(f)), {});
    return static_cast<std::size_t>(std::count(s.begin(), s.end(), '\n')) >= lines;
  };
  // Watch the directory: the file may not exist yet, and may be replaced rather than written.
  int fd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
  if (fd < 0) return false;
  std::string dir = fs::path(path).parent_path().string();
  bool ok = false;
  if (inotify_add_watch(fd, dir.empty() ? "." : dir.c_str(), IN_CREATE | IN_MODIFY | IN_CLOSE_WRITE | IN_MOVED_TO) >= 0) {
    for (;;) {
      if (enough()) { ok = true; break; }  // checked after the watch is set: no change is missed
      int ms = static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count());
      if (ms <= 0) break;
      pollfd p{fd, POLLIN, 0};
      if (poll(&p, 1, ms) > 0) {
        char events[4096];
        while (read(fd, events, sizeof events) > 0) {}  // drained; which file changed does not matter
      }
    }
  }
  close(fd);
  return ok;
}

std::vector<std::string> objspy(std::vector<std::string> args) {
  args.insert(args.begin(), OBJSPY_BINARY);
  return args;
}

CommandResult run(const std::vector<std::string>& argv, double timeout_s, const std::map<std::string, std::string>& env) {
  int o[2], e[2];
  if (pipe2(o, O_CLOEXEC) != 0 || pipe2(e, O_CLOEXEC) != 0) return {};
  int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
  const auto started = std::chrono::steady_clock::now();
  pid_t pid = spawn(argv, devnull, o[1], e[1], env);
  close(devnull);
  close(o[1]);
  close(e[1]);
  CommandResult r;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
  pollfd fds[2] = {{o[0], POLLIN, 0}, {e[0], POLLIN, 0}};
  int open_fds = 2;
  while (open_fds > 0) {
    int ms = static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count());
    if (ms <= 0) { kill(pid, SIGKILL); r.err += "\n[itest: timed out]"; break; }
    if (poll(fds, 2, ms) < 0) continue;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP))) continue;
      char buf[65536];
      ssize_t n = read(fds[i].fd, buf, sizeof buf);
      if (n <= 0) { close(fds[i].fd); fds[i].fd = -1; --open_fds; continue; }
      (i == 0 ? r.out : r.err).append(buf, static_cast<size_t>(n));
    }
  }
  for (auto& f : fds) if (f.fd >= 0) close(f.fd);
  int st = 0;
  struct rusage ru {};
  wait4(pid, &st, 0, &ru);
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  r.max_rss_kib = ru.ru_maxrss;
  r.exit_code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  return r;
}

Target::Target(std::vector<std::string> argv, const std::map<std::string, std::string>& env) {
  int i[2], o[2], e[2];
  if (pipe2(i, O_CLOEXEC) != 0 || pipe2(o, O_CLOEXEC) != 0 || pipe2(e, O_CLOEXEC) != 0) return;
  pid_ = spawn(argv, i[0], o[1], e[1], env);
  close(i[0]);
  close(o[1]);
  close(e[1]);
  in_ = i[1];
  out_ = o[0];
  err_ = e[0];
}

namespace {
std::vector<std::string> script_argv(const Interpreter& py, const std::string& script) {
  auto argv = py.argv;
  argv.push_back(py.script_dir + "/" + script);
  return argv;
}
}  // namespace

Target::Target(const Interpreter& py, const std::string& script, const std::map<std::string, std::string>& env)
    : Target(script_argv(py, script), env) {}

Target::~Target() {
  kill_now();
  for (int fd : {in_, out_, err_}) if (fd >= 0) close(fd);
}

void Target::kill_now() {
  if (pid_ <= 0 || reaped_) return;
  kill(pid_, SIGKILL);
  int st;
  waitpid(pid_, &st, 0);
  reaped_ = true;
}

int Target::wait_exit(double timeout_s) {
  if (pid_ <= 0 || reaped_) return -1;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
  // A pidfd becomes readable when the child exits: no polling with sleeps.
  // (The syscall: bookworm's <sys/pidfd.h> lacks extern "C" and does not link from C++.)
  int pfd = static_cast<int>(syscall(SYS_pidfd_open, pid_, 0));
  int st = 0;
  for (;;) {
    pid_t r = waitpid(pid_, &st, WNOHANG);
    if (r == pid_) {
      reaped_ = true;
      if (pfd >= 0) close(pfd);
      return st;
    }
    if (r < 0) break;
    int ms = static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count());
    if (ms <= 0) break;
    if (pfd >= 0) {
      pollfd p{pfd, POLLIN, 0};
      poll(&p, 1, ms);
    } else {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));  // kernel without pidfd_open (< 5.3)
    }
  }
  if (pfd >= 0) close(pfd);
  kill_now();
  return -1;
}

bool Target::wait_exited(double timeout_s) {
  if (pid_ <= 0 || reaped_) return false;
  int pfd = static_cast<int>(syscall(SYS_pidfd_open, pid_, 0));
  if (pfd < 0) return false;
  // A pidfd is readable once the process has exited, reaped or not.
  pollfd p{pfd, POLLIN, 0};
  bool exited = poll(&p, 1, static_cast<int>(timeout_s * 1000)) == 1;
  close(pfd);
  return exited;
}

bool Target::wait_stopped(double timeout_s) {
  if (pid_ <= 0 || reaped_) return false;
  // waitid has no timeout and a pidfd does not signal a stop: asked every 5 ms up to the deadline.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
  for (;;) {
    siginfo_t info{};
    if (waitid(P_PID, static_cast<id_t>(pid_), &info, WSTOPPED | WNOHANG | WNOWAIT) == 0 && info.si_pid == pid_ && info.si_code == CLD_STOPPED)
      return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    poll(nullptr, 0, 5);
  }
}

namespace {

// The next line from `fd` that contains `needle` (any line when it is empty), through the
// buffer `buf`; every byte read is also appended to `seen`. nullopt on timeout or end of input.
std::optional<std::string> next_line(int fd, std::string& buf, std::string& seen, const std::string& needle, double timeout_s) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
  for (;;) {
    for (auto nl = buf.find('\n'); nl != std::string::npos; nl = buf.find('\n')) {
      std::string line = buf.substr(0, nl);
      buf.erase(0, nl + 1);
      if (line.find(needle) != std::string::npos) return line;
    }
    int ms = static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count());
    if (ms <= 0) return std::nullopt;
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, ms) <= 0) continue;
    char chunk[65536];
    ssize_t n = read(fd, chunk, sizeof chunk);
    if (n <= 0) return std::nullopt;
    buf.append(chunk, static_cast<size_t>(n));
    seen.append(chunk, static_cast<size_t>(n));
  }
}

}  // namespace

std::optional<std::string> Target::ready_line(double timeout_s, std::string* err) {
  std::string ignored;
  if (auto line = next_line(out_, out_buf_, ignored, "", timeout_s)) return line;
  // Not ready: collect what it said on stderr (to its end: it is dead now).
  kill_now();
  next_line(err_, err_buf_, err_seen_, std::string(1, '\0'), 10);
  *err = err_seen_;
  return std::nullopt;
}

std::string Target::ask(const std::string& line, double timeout_s) {
  std::string msg = line + "\n";
  if (write(in_, msg.data(), msg.size()) != static_cast<ssize_t>(msg.size())) return {};
  std::string err;
  auto got = ready_line(timeout_s, &err);
  return got ? *got : std::string();
}

std::optional<std::string> Target::stderr_line(const std::string& needle, double timeout_s, std::string* seen) {
  auto line = next_line(err_, err_buf_, err_seen_, needle, timeout_s);
  if (seen) *seen = err_seen_;
  return line;
}

std::string hex_decode(const std::string& hex) {
  std::string out;
  for (size_t k = 0; k + 1 < hex.size(); k += 2) out.push_back(static_cast<char>(std::stoi(hex.substr(k, 2), nullptr, 16)));
  return out;
}

void record(Row r) { g_rows.push_back(std::move(r)); }

void print_summary() {
  const auto& d = discover();
  std::string s = "\n==================== objspy integration: interpreters ====================\n";
  s += fmt::format("{:<34} {:<18} {:<14} {:<14} {}\n", "interpreter", "version", "short names", "qualified", "note");
  for (const auto& r : g_rows)
    s += fmt::format("{:<34} {:<18} {:<14} {:<14} {}\n", r.interpreter, r.version, r.short_names, r.qualified_names, r.note);
  std::vector<Skipped> all = d.skipped;
  all.insert(all.end(), g_missing.begin(), g_missing.end());
  if (all.empty()) {
    s += "SKIPPED: none\n";
  } else {
    s += fmt::format("\n!!!!!!!! SKIPPED {} interpreter(s) or test requirement(s) !!!!!!!!\n", all.size());
    for (const auto& k : all)
      s += fmt::format("  SKIPPED {:<28} {:<44} {}\n", k.what, missing_allowed(k.what) ? "(allowed by OBJSPY_ALLOW_MISSING)" : "(NOT ALLOWED: the suite fails)",
                       k.why);
  }
  s += "===========================================================================\n";
  std::fputs(s.c_str(), stderr);
}

long status_kib(pid_t pid, const std::string& field) {
  std::ifstream in(pid ? "/proc/" + std::to_string(pid) + "/status" : std::string("/proc/self/status"));
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(field + ":", 0) == 0) return std::stol(line.substr(field.size() + 1));
  return 0;
}

TempDir::TempDir() {
  char tmpl[] = "/tmp/objspy-itest-XXXXXX";
  const char* made = mkdtemp(tmpl);
  path = made ? made : "";
}

TempDir::~TempDir() {
  std::error_code ec;
  if (!path.empty()) std::filesystem::remove_all(path, ec);
}

void copy_mapped_files(pid_t pid, const std::string& dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(fmt::format("/proc/{}/map_files", pid), ec)) {
    std::error_code ec2;
    const fs::path target = fs::read_symlink(e.path(), ec2);
    if (!ec2) fs::copy_file(e.path(), dir + "/" + target.filename().string(), fs::copy_options::overwrite_existing, ec2);
  }
}

bool heap_in_sanitizer_reservation(const Interpreter& py) { return kSanitized && py.label.find("embedded") != std::string::npos; }

}  // namespace itest
