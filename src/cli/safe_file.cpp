#include "objspy/cli/safe_file.hpp"

#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <vector>

#include <fmt/format.h>

namespace objspy::cli {
namespace {

std::string errno_text(int e) { return std::strerror(e); }

// One directory of the path to a private directory, open at `fd`. `last`: the directory the
// files go in, which no one else may write, sticky or not.
Status check_dir(int fd, const std::string& shown, bool last) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) return make_error(Errc::io, fmt::format("cannot check {}: {}", shown, errno_text(errno)));
  if (!S_ISDIR(st.st_mode)) return make_error(Errc::io, fmt::format("{} is {}, not a directory", shown, file_kind(st.st_mode)));
  const uid_t me = ::geteuid();
  if (st.st_uid != 0 && st.st_uid != me)
    return make_error(Errc::io, fmt::format("refusing {}: it is owned by uid {}, not by root{}, so that user could replace the files objspy keeps there",
                                            shown, st.st_uid, me == 0 ? "" : fmt::format(" or uid {}", me)));
  const bool others_write = (st.st_mode & (S_IWGRP | S_IWOTH)) != 0;
  if (others_write && (last || (st.st_mode & S_ISVTX) == 0))
    return make_error(Errc::io, fmt::format("refusing {}: it is writable by group or others (mode {:04o}), who could plant links at the names objspy uses; "
                                            "use a directory only its owner can write (chmod go-w)",
                                            shown, st.st_mode & 07777));
  return {};
}

Result<Fd> open_dir_at(int parent, const std::string& name, const std::string& shown) {
  int fd = ::openat(parent, name.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) {
    const int e = errno;
    // The existing part was resolved a moment ago, so a link here was put there since.
    struct stat st {};
    if ((e == ELOOP || e == ENOTDIR) && ::fstatat(parent, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0)
      return make_error(Errc::io, fmt::format("refusing {}: it is {}, not a directory", shown, file_kind(st.st_mode)));
    return make_error(Errc::io, fmt::format("cannot open {}: {}", shown, errno_text(e)));
  }
  return Fd(fd);
}

}  // namespace

Fd& Fd::operator=(Fd&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(o.fd_, -1);
  }
  return *this;
}

Fd::~Fd() {
  if (fd_ >= 0) ::close(fd_);
}

const char* file_kind(unsigned mode) {
  switch (mode & S_IFMT) {
    case S_IFREG: return "a regular file";
    case S_IFDIR: return "a directory";
    case S_IFLNK: return "a symbolic link";
    case S_IFIFO: return "a FIFO";
    case S_IFSOCK: return "a socket";
    case S_IFCHR: return "a character device";
    case S_IFBLK: return "a block device";
    default: return "not a regular file";
  }
}

Result<Fd> open_private_dir(const std::string& path, bool create) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::path p(path.empty() ? "." : path);
  if (p.is_relative()) {
    fs::path cwd = fs::current_path(ec);
    if (ec) return make_error(Errc::io, fmt::format("cannot resolve {}: {}", path, ec.message()));
    p = cwd / p;
  }
  p = p.lexically_normal();
  if (!p.has_filename() && p != p.root_path()) p = p.parent_path();  // "dir/" names dir
  // The part that exists, with its links resolved (an administrator's /var/run -> /run); the
  // rest is created below it.
  std::vector<std::string> missing;
  fs::path existing = p;
  char resolved[PATH_MAX];
  while (::realpath(existing.c_str(), resolved) == nullptr) {
    const int e = errno;
    if (e != ENOENT || !create || existing == existing.root_path())
      return make_error(Errc::io, fmt::format("cannot resolve {}: {}", existing.string(), errno_text(e)));
    missing.push_back(existing.filename().string());
    existing = existing.parent_path();
  }
  // Down from "/", one directory at a time, each checked as it is held open.
  fs::path real(resolved);
  std::vector<std::string> parts;
  for (const auto& c : real.relative_path()) parts.push_back(c.string());
  for (auto it = missing.rbegin(); it != missing.rend(); ++it) parts.push_back(*it);
  const std::size_t existing_parts = parts.size() - missing.size();
  OBJSPY_ASSIGN(Fd dir, open_dir_at(AT_FDCWD, "/", "/"));
  OBJSPY_TRY(check_dir(dir.get(), "/", parts.empty()));
  std::string shown;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    shown += "/" + parts[i];
    if (i >= existing_parts && ::mkdirat(dir.get(), parts[i].c_str(), 0700) != 0 && errno != EEXIST)
      return make_error(Errc::io, fmt::format("cannot create {}: {}", shown, errno_text(errno)));
    OBJSPY_ASSIGN(Fd next, open_dir_at(dir.get(), parts[i], shown));
    OBJSPY_TRY(check_dir(next.get(), shown, i + 1 == parts.size()));
    dir = std::move(next);
  }
  return dir;
}

Result<std::string> read_regular(int fd, const std::string& shown, std::size_t cap) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) return make_error(Errc::io, fmt::format("cannot read {}: {}", shown, errno_text(errno)));
  if (!S_ISREG(st.st_mode)) return make_error(Errc::io, fmt::format("refusing {}: it is {}, not a regular file", shown, file_kind(st.st_mode)));
  const auto too_big = [&] {
    return make_error(Errc::io, fmt::format("refusing {}: it is larger than {} MiB, the most objspy reads of a file", shown, cap >> 20));
  };
  if (static_cast<std::uint64_t>(st.st_size) > cap) return too_big();
  // Opened non-blocking so that a FIFO could not hang the open; a regular file reads as usual.
  const int flags = ::fcntl(fd, F_GETFL);
  if (flags >= 0) ::fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
  std::string out;
  out.resize(static_cast<std::size_t>(st.st_size) + 1);  // one more: a file that grew since fstat is seen
  std::size_t used = 0;
  for (;;) {
    if (used == out.size()) {
      if (used > cap) return too_big();
      out.resize(std::min(cap + 1, std::max<std::size_t>(out.size() * 2, 4096)));
    }
    const ssize_t n = ::read(fd, out.data() + used, out.size() - used);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return make_error(Errc::io, fmt::format("cannot read {}: {}", shown, errno_text(errno)));
    if (n == 0) break;
    used += static_cast<std::size_t>(n);
  }
  if (used > cap) return too_big();
  out.resize(used);
  return out;
}

Result<std::string> read_input_file(const std::string& path, std::size_t cap) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC));
  if (fd.get() < 0) return make_error(Errc::io, fmt::format("cannot read {}: {}", path, errno_text(errno)));
  return read_regular(fd.get(), path, cap);
}

Result<Fd> open_input_file(const std::string& path) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC));
  if (fd.get() < 0) return make_error(Errc::io, fmt::format("cannot read {}: {}", path, errno_text(errno)));
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return make_error(Errc::io, fmt::format("cannot read {}: {}", path, errno_text(errno)));
  if (!S_ISREG(st.st_mode)) return make_error(Errc::io, fmt::format("refusing {}: it is {}, not a regular file", path, file_kind(st.st_mode)));
  const int flags = ::fcntl(fd.get(), F_GETFL);
  if (flags >= 0) ::fcntl(fd.get(), F_SETFL, flags & ~O_NONBLOCK);
  return fd;
}

namespace {

// Opens `path` for writing as open_for_append and open_for_writing describe; `append` or
// truncate (only once the file is known to be a regular file with one link).
Result<std::FILE*> open_checked(const std::string& path, bool append) {
  // O_NONBLOCK: opening a FIFO with no reader fails at once (ENXIO) instead of waiting for one.
  Fd fd(::open(path.c_str(), O_WRONLY | (append ? O_APPEND : 0) | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0666));
  if (fd.get() < 0) {
    const int e = errno;
    if (e == ELOOP)
      return make_error(Errc::io, fmt::format("refusing {}: it is a symbolic link, and objspy does not write through links (name the file itself)", path));
    if (e == ENXIO) return make_error(Errc::io, fmt::format("refusing {}: it is a FIFO or socket, and objspy writes only regular files (- is stdout)", path));
    return make_error(Errc::io, fmt::format("cannot open {} for writing: {}", path, errno_text(e)));
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return make_error(Errc::io, fmt::format("cannot open {} for writing: {}", path, errno_text(errno)));
  // The null device too: `-o /dev/null` keeps only the closing suspects table. No one but
  // root can make a device node, and a link to one is refused above.
  const bool null_device = S_ISCHR(st.st_mode) && major(st.st_rdev) == 1 && minor(st.st_rdev) == 3;
  if (!S_ISREG(st.st_mode) && !null_device)
    return make_error(Errc::io, fmt::format("refusing {}: it is {}, and objspy writes only regular files (- is stdout)", path, file_kind(st.st_mode)));
  if (st.st_nlink > 1)
    return make_error(Errc::io, fmt::format("refusing {}: it has {} hard links, and objspy does not write through links", path, st.st_nlink));
  const int flags = ::fcntl(fd.get(), F_GETFL);
  if (flags < 0 || ::fcntl(fd.get(), F_SETFL, flags & ~O_NONBLOCK) != 0)
    return make_error(Errc::io, fmt::format("cannot open {} for writing: {}", path, errno_text(errno)));
  if (!append && S_ISREG(st.st_mode) && ::ftruncate(fd.get(), 0) != 0)
    return make_error(Errc::io, fmt::format("cannot open {} for writing: {}", path, errno_text(errno)));
  std::FILE* f = ::fdopen(fd.get(), append ? "a" : "w");
  if (!f) return make_error(Errc::io, fmt::format("cannot open {} for writing: {}", path, errno_text(errno)));
  fd.release();  // the FILE owns it now
  return f;
}

}  // namespace

Result<std::FILE*> open_for_append(const std::string& path) { return open_checked(path, true); }

Result<std::FILE*> open_for_writing(const std::string& path) { return open_checked(path, false); }

}  // namespace objspy::cli
