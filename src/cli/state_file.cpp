#include "objspy/cli/state_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

namespace objspy::cli {

std::string default_state_path(pid_t pid, std::uint64_t start_time, NameForm form) {
  std::string dir;
  if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x) dir = std::string(x) + "/objspy";
  else if (const char* h = std::getenv("HOME"); h && *h) dir = std::string(h) + "/.cache/objspy";
  else dir = "/tmp/objspy-" + std::to_string(::getuid());
  return fmt::format("{}/state-{}-{}-{}.json", dir, pid, start_time, form == NameForm::qualified ? "qualified" : "short");
}

Result<StateFile> StateFile::open(const std::string& path) {
  std::error_code ec;
  std::filesystem::path p(path);
  if (p.has_parent_path()) std::filesystem::create_directories(p.parent_path(), ec);
  if (ec) return make_error(Errc::io, fmt::format("cannot create {}: {}", p.parent_path().string(), ec.message()));
  std::string lock = path + ".lock";
  // objspy often runs as root in a directory others may write: never through a planted link,
  // and only a regular file (a FIFO there would hang the lock).
  int fd = ::open(lock.c_str(), O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) return make_error(Errc::io, fmt::format("cannot open {}: {}", lock, std::strerror(errno)));
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return make_error(Errc::io, fmt::format("{} is not a regular file; remove it", lock));
  }
  while (::flock(fd, LOCK_EX) != 0) {
    if (errno != EINTR) {
      int e = errno;
      ::close(fd);
      return make_error(Errc::io, fmt::format("cannot lock {}: {}", lock, std::strerror(e)));
    }
  }
  return StateFile(path, fd);
}

StateFile::~StateFile() {
  if (lock_fd_ >= 0) ::close(lock_fd_);  // releases the lock
}

Result<std::optional<Snapshot>> StateFile::load() {
  std::ifstream in(path_);
  if (!in) return std::optional<Snapshot>{};
  std::stringstream ss;
  ss << in.rdbuf();
  auto s = parse_snapshot(ss.str());
  if (!s.ok()) return make_error(Errc::io, fmt::format("state file {} is unreadable ({}); remove it to start over", path_, s.error().message));
  return std::optional<Snapshot>(std::move(s).value());
}

Status StateFile::save(const std::string& census_json) {
  std::string tmp = fmt::format("{}.tmp.{}", path_, ::getpid());
  // A new file of our own (O_EXCL): whatever was planted at that name is removed first, a
  // link itself and not what it points to.
  ::unlink(tmp.c_str());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) return make_error(Errc::io, fmt::format("cannot write {}: {}", tmp, std::strerror(errno)));
  std::size_t done = 0;
  while (done < census_json.size()) {
    ssize_t n = ::write(fd, census_json.data() + done, census_json.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      int e = errno;
      ::close(fd);
      ::unlink(tmp.c_str());
      return make_error(Errc::io, fmt::format("cannot write {}: {}", tmp, std::strerror(e)));
    }
    done += static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0 || ::rename(tmp.c_str(), path_.c_str()) != 0) {
    int e = errno;
    ::unlink(tmp.c_str());
    return make_error(Errc::io, fmt::format("cannot replace {}: {}", path_, std::strerror(e)));
  }
  return {};
}

}  // namespace objspy::cli
