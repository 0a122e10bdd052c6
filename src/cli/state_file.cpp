#include "objspy/cli/state_file.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include <fmt/format.h>

namespace objspy::cli {
namespace {

std::string errno_text(int e) { return std::strerror(e); }

// Set, non-empty and absolute (the XDG spec: a relative path is invalid and ignored).
std::optional<std::string> absolute_env(const char* name) {
  const char* v = std::getenv(name);
  if (!v || v[0] != '/') return std::nullopt;
  return std::string(v);
}

// Anything at a name objspy uses in its directory that is not a regular file was put there
// by someone else: refused, never followed or replaced.
Error planted(const std::string& shown, unsigned mode) {
  // Advice to remove it only for what can only have been planted (not /dev/zero).
  const bool removable = S_ISLNK(mode) || S_ISFIFO(mode) || S_ISSOCK(mode);
  return make_error(Errc::io, fmt::format("refusing {}: it is {}, not a file objspy wrote{}", shown, file_kind(mode), removable ? "; remove it" : ""));
}

}  // namespace

Result<std::string> default_state_dir(uid_t euid) {
  if (auto s = absolute_env("STATE_DIRECTORY")) return s->substr(0, s->find(':'));
  if (auto x = absolute_env("XDG_STATE_HOME")) return *x + "/objspy";
  if (auto h = absolute_env("HOME")) return *h + "/.local/state/objspy";
  if (euid == 0) return std::string("/var/lib/objspy");
  return make_error(Errc::io, "no directory for the --growth state: HOME, XDG_STATE_HOME and STATE_DIRECTORY are unset; give --state FILE");
}

Result<std::string> default_state_path(pid_t pid, std::uint64_t start_time, NameForm form) {
  OBJSPY_ASSIGN(std::string dir, default_state_dir(::geteuid()));
  return fmt::format("{}/state-{}-{}-{}.json", dir, pid, start_time, form == NameForm::qualified ? "qualified" : "short");
}

Result<StateFile> StateFile::open(const std::string& path) {
  const std::filesystem::path p(path);
  const std::string name = p.filename().string();
  if (name.empty() || name == "." || name == "..") return make_error(Errc::io, fmt::format("--state {}: not a file name", path));
  OBJSPY_ASSIGN(Fd dir, open_private_dir(p.parent_path().string(), true));
  // A FIFO or a device at the state's name is refused before a lock file is made next to it.
  struct stat st {};
  if (::fstatat(dir.get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && !S_ISREG(st.st_mode)) return planted(path, st.st_mode);
  const std::string lock = path + ".lock";
  // Read-only (a lock needs no more) and O_NONBLOCK: whatever is at the name, nothing is
  // written to it and the open itself cannot wait.
  Fd fd(::openat(dir.get(), (name + ".lock").c_str(), O_RDONLY | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0600));
  if (fd.get() < 0) {
    const int e = errno;
    if ((e == ELOOP || e == ENXIO) && ::fstatat(dir.get(), (name + ".lock").c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0) return planted(lock, st.st_mode);
    return make_error(Errc::io, fmt::format("cannot open {}: {}", lock, errno_text(e)));
  }
  if (::fstat(fd.get(), &st) != 0) return make_error(Errc::io, fmt::format("cannot open {}: {}", lock, errno_text(errno)));
  if (!S_ISREG(st.st_mode)) return planted(lock, st.st_mode);
  while (::flock(fd.get(), LOCK_EX) != 0) {
    if (errno != EINTR) return make_error(Errc::io, fmt::format("cannot lock {}: {}", lock, errno_text(errno)));
  }
  return StateFile(path, std::move(dir), name, std::move(fd));
}

Result<std::optional<Snapshot>> StateFile::load() {
  Fd fd(::openat(dir_.get(), name_.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
  if (fd.get() < 0) {
    const int e = errno;
    if (e == ENOENT) return std::optional<Snapshot>{};
    struct stat st {};
    if (e == ELOOP && ::fstatat(dir_.get(), name_.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0) return planted(path_, st.st_mode);
    return make_error(Errc::io, fmt::format("cannot read {}: {}", path_, errno_text(e)));
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) == 0 && !S_ISREG(st.st_mode)) return planted(path_, st.st_mode);
  OBJSPY_ASSIGN(std::string text, read_regular(fd.get(), path_, kMaxStateBytes));
  auto s = parse_snapshot(text);
  if (!s.ok()) return make_error(Errc::io, fmt::format("state file {} is unreadable ({}); remove it to start over", path_, s.error().message));
  return std::optional<Snapshot>(std::move(s).value());
}

Status StateFile::save(const std::string& census_json) {
  // One name, not one per process: the lock makes this run the only writer, and a name the
  // tests (and an administrator) can predict.
  const std::string tmp_name = name_ + ".tmp";
  const std::string tmp = path_ + ".tmp";
  const int flags = O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC;
  Fd fd(::openat(dir_.get(), tmp_name.c_str(), flags, 0600));
  if (fd.get() < 0 && errno == EEXIST) {
    struct stat st {};
    if (::fstatat(dir_.get(), tmp_name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && !S_ISREG(st.st_mode)) return planted(tmp, st.st_mode);
    // A regular file: what a run that died before its rename left. Its name goes, not its content.
    ::unlinkat(dir_.get(), tmp_name.c_str(), 0);
    fd = Fd(::openat(dir_.get(), tmp_name.c_str(), flags, 0600));
  }
  if (fd.get() < 0) return make_error(Errc::io, fmt::format("cannot write {}: {}", tmp, errno_text(errno)));
  auto fail = [&](const char* what) {
    const int e = errno;
    ::unlinkat(dir_.get(), tmp_name.c_str(), 0);
    return make_error(Errc::io, fmt::format("cannot {} {}: {}", what, tmp, errno_text(e)));
  };
  std::size_t done = 0;
  while (done < census_json.size()) {
    const ssize_t n = ::write(fd.get(), census_json.data() + done, census_json.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return fail("write");
    done += static_cast<std::size_t>(n);
  }
  if (::fsync(fd.get()) != 0) return fail("write");
  if (::close(fd.release()) != 0) return fail("write");
  if (::renameat(dir_.get(), tmp_name.c_str(), dir_.get(), name_.c_str()) != 0) return fail("rename");
  return {};
}

}  // namespace objspy::cli
