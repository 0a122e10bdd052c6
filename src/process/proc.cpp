#include "objspy/process/proc.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cerrno>
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

}  // namespace

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
  if (info.state == 'Z' || info.state == 'X')
    return make_error(Errc::no_such_process, fmt::format("process {} ({}) is a zombie: it has exited and has no memory to read", pid, info.comm));
  if (info.kernel_thread)
    return make_error(Errc::not_python, fmt::format("process {} ({}) is a kernel thread, not a Python process", pid, info.comm));
  return info;
}

Result<MemoryMap> read_memory_map(pid_t pid) {
  OBJSPY_ASSIGN(std::string text, slurp(fmt::format("/proc/{}/maps", pid), pid));
  if (text.empty()) {
    if (!process_alive(pid)) return make_error(Errc::target_exited, fmt::format("process {} exited", pid));
    return make_error(Errc::not_python, fmt::format("process {} has no user memory (a kernel thread?), not a Python process", pid));
  }
  return MemoryMap::parse(text);
}

std::string map_files_path(pid_t pid, const Mapping& m) { return fmt::format("/proc/{}/map_files/{:x}-{:x}", pid, m.start, m.end); }

std::string rooted_path(pid_t pid, const Mapping& m) { return fmt::format("/proc/{}/root{}", pid, m.path); }

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
  std::ifstream f(fmt::format("/proc/{}/stat", pid));
  std::string s;
  if (!std::getline(f, s)) return false;
  std::size_t close = s.rfind(')');
  return close != std::string::npos && close + 2 < s.size() && s[close + 2] != 'Z' && s[close + 2] != 'X';
}

}  // namespace objspy
