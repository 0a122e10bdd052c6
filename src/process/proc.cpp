#include "objspy/process/proc.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

namespace objspy {
namespace {

constexpr unsigned long kPfKthread = 0x00200000;

Result<std::string> slurp(const std::string& path, pid_t pid) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    int e = errno;
    if (e == ENOENT || e == ESRCH) return make_error(Errc::no_such_process, fmt::format("no process with PID {}", pid));
    if (e == EACCES || e == EPERM)
      return make_error(Errc::permission_denied, fmt::format("cannot read {}: {}; {}", path, std::strerror(e), permission_hint()));
    return make_error(Errc::io, fmt::format("cannot open {}: {}", path, std::strerror(e)));
  }
  std::string out;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      int e = errno;
      if (e == EINTR) continue;
      ::close(fd);
      if (e == ESRCH) return make_error(Errc::target_exited, fmt::format("process {} exited", pid));
      if (e == EACCES || e == EPERM)
        return make_error(Errc::permission_denied, fmt::format("cannot read {}: {}; {}", path, std::strerror(e), permission_hint()));
      return make_error(Errc::io, fmt::format("cannot read {}: {}", path, std::strerror(e)));
    }
    if (n == 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return out;
}

// A small /proc file, best effort: empty when it cannot be read (gone, refused).
std::string read_small(const std::string& path) { return read_small_file(path, 65536).value_or(""); }

bool exited(char state) { return state == 'Z' || state == 'X' || state == '?'; }

// A process has at most /proc/sys/kernel/threads-max threads; this bounds the directory walk.
constexpr std::size_t kMaxTasks = 1 << 20;

}  // namespace

char parse_stat_state(std::string_view stat) {
  std::size_t close = stat.rfind(')');
  if (close == std::string_view::npos || close + 2 >= stat.size() || stat[close + 1] != ' ') return '?';
  return stat[close + 2];
}

std::optional<pid_t> parse_tracer_pid(std::string_view status) {
  constexpr std::string_view key = "TracerPid:";
  for (std::size_t pos = 0; pos < status.size();) {
    std::size_t nl = status.find('\n', pos);
    std::string_view line = status.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
    pos = nl == std::string_view::npos ? status.size() : nl + 1;
    if (line.substr(0, key.size()) != key) continue;
    line.remove_prefix(key.size());
    while (!line.empty() && (line.front() == ' ' || line.front() == '\t')) line.remove_prefix(1);
    pid_t v = 0;
    auto [end, ec] = std::from_chars(line.data(), line.data() + line.size(), v);
    if (ec != std::errc() || v < 0) return std::nullopt;
    return v;
  }
  return std::nullopt;
}

std::vector<pid_t> list_tasks(pid_t pid) {
  std::vector<pid_t> out;
  DIR* d = opendir(fmt::format("/proc/{}/task", pid).c_str());
  if (!d) return out;
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] == '.') continue;
    pid_t tid = 0;
    auto [end, ec] = std::from_chars(e->d_name, e->d_name + std::strlen(e->d_name), tid);
    if (ec == std::errc() && tid > 0) out.push_back(tid);
    if (out.size() >= kMaxTasks) break;
  }
  closedir(d);
  return out;
}

pid_t live_task(pid_t pid) {
  char leader = parse_stat_state(read_small(fmt::format("/proc/{}/stat", pid)));
  if (leader == '?') return 0;
  if (!exited(leader)) return pid;
  for (pid_t tid : list_tasks(pid))
    if (tid != pid && !exited(parse_stat_state(read_small(fmt::format("/proc/{}/task/{}/stat", pid, tid))))) return tid;
  return 0;
}

std::string task_dir(pid_t pid) {
  pid_t t = live_task(pid);
  return t == 0 || t == pid ? fmt::format("/proc/{}", pid) : fmt::format("/proc/{}/task/{}", pid, t);
}

std::optional<std::string> traced_by(pid_t pid, pid_t tid) {
  auto tracer = parse_tracer_pid(read_small(fmt::format("/proc/{}/task/{}/status", pid, tid)));
  if (!tracer || *tracer == 0) return std::nullopt;
  std::string comm = read_small(fmt::format("/proc/{}/comm", *tracer));
  while (!comm.empty() && comm.back() == '\n') comm.pop_back();
  std::string_view name = comm.empty() ? std::string_view("?") : std::string_view(comm);
  if (tid == pid) return fmt::format("another tracer (PID {}, {}) holds process {}", *tracer, name, pid);
  return fmt::format("another tracer (PID {}, {}) holds thread {} of process {}", *tracer, name, tid, pid);
}

std::string permission_hint() {
  std::string hint = "run objspy as root or grant it CAP_SYS_PTRACE (setcap cap_sys_ptrace+ep objspy; in containers --cap-add SYS_PTRACE)";
  std::ifstream f("/proc/sys/kernel/yama/ptrace_scope");
  int scope = -1;
  if (f >> scope) {
    if (scope == 1) hint += "; kernel.yama.ptrace_scope is 1, which also allows only descendants for non-root users (sysctl kernel.yama.ptrace_scope=0)";
    else if (scope == 2) hint += "; kernel.yama.ptrace_scope is 2: only CAP_SYS_PTRACE may attach";
    else if (scope == 3) hint += "; kernel.yama.ptrace_scope is 3: attaching is disabled until reboot";
  }
  return hint;
}

Result<ProcessInfo> inspect_process(pid_t pid) {
  if (pid <= 0) return make_error(Errc::no_such_process, fmt::format("no process with PID {}", pid));
  OBJSPY_ASSIGN(std::string stat, slurp(fmt::format("/proc/{}/stat", pid), pid));
  ProcessInfo info;
  info.pid = pid;
  // comm is in parentheses and may itself contain ") "; the fields start after the last ')'.
  std::size_t open = stat.find('(');
  std::size_t close = stat.rfind(')');
  if (open == std::string::npos || close == std::string::npos || close < open)
    return make_error(Errc::internal, fmt::format("unexpected /proc/{}/stat format", pid));
  info.comm = stat.substr(open + 1, close - open - 1);
  std::istringstream rest(stat.substr(close + 1));
  std::string field;
  std::vector<std::string> fields;  // fields[0] is field 3 (state)
  while (rest >> field) fields.push_back(field);
  if (fields.size() < 20) return make_error(Errc::internal, fmt::format("unexpected /proc/{}/stat format", pid));
  info.state = fields[0].empty() ? '?' : fields[0][0];
  unsigned long flags = std::stoul(fields[6]);       // field 9
  info.start_time = std::stoull(fields[19]);          // field 22
  info.kernel_thread = (flags & kPfKthread) != 0;
  if (info.state == 'Z' || info.state == 'X') {
    // A main thread that called pthread_exit is a zombie while the other threads run on.
    pid_t t = live_task(pid);
    char s = t > 0 && t != pid ? parse_stat_state(read_small(fmt::format("/proc/{}/task/{}/stat", pid, t))) : '?';
    if (!exited(s)) {
      info.state = s;
      info.main_thread_exited = true;
    }
  }
  if (info.state == 'Z' || info.state == 'X')
    return make_error(Errc::no_such_process, fmt::format("process {} ({}) is a zombie: it has exited and has no memory to read", pid, info.comm));
  if (info.kernel_thread)
    return make_error(Errc::not_python, fmt::format("process {} ({}) is a kernel thread, not a Python process", pid, info.comm));
  return info;
}

Result<MemoryMap> read_memory_map(pid_t pid) {
  OBJSPY_ASSIGN(std::string text, slurp(task_dir(pid) + "/maps", pid));
  if (text.empty()) {
    if (!process_alive(pid)) return make_error(Errc::target_exited, fmt::format("process {} exited", pid));
    return make_error(Errc::not_python, fmt::format("process {} has no user memory (a kernel thread?), not a Python process", pid));
  }
  return MemoryMap::parse(text);
}

std::string map_files_path(pid_t pid, const Mapping& m) { return fmt::format("{}/map_files/{:x}-{:x}", task_dir(pid), m.start, m.end); }

std::string rooted_path(pid_t pid, const Mapping& m) { return fmt::format("{}/root{}", task_dir(pid), m.path); }

Status same_file_as_mapped(const std::string& path, const Mapping& m) {
  // The kernel marks a mapped file whose name was unlinked (an upgrade replaces files by
  // rename, leaving the old inode mapped and nameless).
  if (m.deleted) return make_error(Errc::io, "it was deleted or replaced since it was mapped");
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return make_error(Errc::io, fmt::format("cannot stat {}: {}", path, std::strerror(errno)));
  if (major(st.st_dev) != m.dev_major || minor(st.st_dev) != m.dev_minor || st.st_ino != m.inode)
    return make_error(Errc::io, fmt::format("{} is device {:x}:{:x} inode {}, the mapping device {:x}:{:x} inode {}", path, major(st.st_dev),
                                            minor(st.st_dev), st.st_ino, m.dev_major, m.dev_minor, m.inode));
  return {};
}

bool process_alive(pid_t pid) {
  if (::kill(pid, 0) != 0 && errno == ESRCH) return false;
  return live_task(pid) != 0;
}

Result<ProcessMemory> parse_smaps_rollup(std::string_view text) {
  ProcessMemory m;
  bool rss = false, pss = false, anon = false, swap = false;
  std::size_t lines = 0;
  while (!text.empty() && lines++ < 256) {  // the kernel writes about 25 lines
    const auto eol = text.find('\n');
    const std::string_view line = text.substr(0, eol);
    text = eol == std::string_view::npos ? std::string_view() : text.substr(eol + 1);
    const auto colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    const std::string_view key = line.substr(0, colon);
    std::uint64_t* into = nullptr;
    bool* seen = nullptr;
    if (key == "Rss") into = &m.rss_bytes, seen = &rss;
    else if (key == "Pss") into = &m.pss_bytes, seen = &pss;
    else if (key == "Anonymous") into = &m.anonymous_bytes, seen = &anon;
    else if (key == "Swap") into = &m.swap_bytes, seen = &swap;
    else continue;
    std::string_view v = line.substr(colon + 1);
    while (!v.empty() && v.front() == ' ') v.remove_prefix(1);
    std::uint64_t kib = 0;
    const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), kib);
    if (ec != std::errc() || std::string_view(end, static_cast<std::size_t>(v.data() + v.size() - end)) != " kB" || kib > (1ULL << 50))
      return make_error(Errc::io, fmt::format("smaps_rollup: unexpected {} line", key));
    *into = kib * 1024;
    *seen = true;
  }
  if (!rss || !pss || !anon || !swap) return make_error(Errc::io, "smaps_rollup: Rss, Pss, Anonymous or Swap missing");
  return m;
}

std::string executable_path(pid_t pid) {
  char buf[4096];
  const ssize_t n = ::readlink(fmt::format("/proc/{}/exe", pid).c_str(), buf, sizeof buf - 1);
  return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string();
}

std::optional<std::string> read_small_file(const std::string& path, std::size_t cap) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
  if (fd < 0) return std::nullopt;
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return std::nullopt;
  }
  std::string out;
  char buf[4096];
  while (out.size() < cap) {
    const ssize_t n = ::read(fd, buf, std::min(sizeof buf, cap - out.size()));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return out;
}

Result<std::uint64_t> read_rss_bytes(pid_t pid) {
  OBJSPY_ASSIGN(std::string text, slurp(fmt::format("/proc/{}/statm", pid), pid));
  // size resident shared text lib data dt, in pages.
  std::istringstream in(text);
  std::uint64_t size = 0, resident = 0;
  if (!(in >> size >> resident)) return make_error(Errc::io, fmt::format("unexpected /proc/{}/statm format", pid));
  return resident * static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
}

Result<ProcessMemory> read_process_memory(pid_t pid) {
  OBJSPY_ASSIGN(std::string text, slurp(fmt::format("/proc/{}/smaps_rollup", pid), pid));
  return parse_smaps_rollup(text);
}

}  // namespace objspy
