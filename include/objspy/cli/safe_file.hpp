// Local files as a careful root daemon handles them. objspy often runs as root against another
// user's process, in directories other local users may write: it never writes through a link
// planted at a name it uses, never blocks on a FIFO or a device put where a file should be,
// and never reads more than a fixed size. Every refusal is an io error (exit 12) saying why.
#pragma once
#include <cstddef>
#include <cstdio>
#include <optional>
#include <string>
#include <utility>

#include "objspy/core/result.hpp"

namespace objspy::cli {

// The most objspy reads of a file the user names (diff, suspects inputs): about five days of
// `record` at 30 s with a hundred types. Memory stays bounded by a small multiple of it
// (series.hpp reads without a DOM): about 0.6 GiB for 64 MiB of distinct names, the worst.
inline constexpr std::size_t kMaxInputBytes = std::size_t{64} << 20;
// The most objspy reads of a --growth state, which root reads unattended (cron): one census,
// a few hundred KiB for a service with thousands of types.
inline constexpr std::size_t kMaxStateBytes = std::size_t{16} << 20;

// An owned file descriptor.
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  Fd(Fd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  Fd& operator=(Fd&& o) noexcept;
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd();
  int get() const { return fd_; }
  int release() { return std::exchange(fd_, -1); }

 private:
  int fd_ = -1;
};

// A directory objspy keeps files in (the --growth state): it must be owned by root or by
// objspy's effective user and writable by no one else (a sticky bit does not help: another
// user could still create a name there first); every directory above it must be owned by root
// or that user and writable by others only when sticky (/tmp), so that no one else can swap
// it. Symbolic links in the part that exists are resolved first; directories that do not
// exist are created with mode 0700 when `create`. The result is opened O_PATH, for *at calls,
// so the checked directory is the one used. Err: io.
Result<Fd> open_private_dir(const std::string& path, bool create);

// The content of the regular file open at `fd` (opened O_NONBLOCK: a FIFO cannot block it),
// at most `cap` bytes; a FIFO, device, socket or directory, or a larger file, is an error
// naming `shown`. Err: io.
Result<std::string> read_regular(int fd, const std::string& shown, std::size_t cap = kMaxInputBytes);

// A file the user named to read (diff, suspects inputs): links are followed (reading only),
// but only a regular file of at most `cap` bytes is read. Err: io.
Result<std::string> read_input_file(const std::string& path, std::size_t cap = kMaxInputBytes);

// A file the user named to read as a stream (suspects input, of any length): links are
// followed (reading only), but only a regular file is opened; a FIFO cannot block the open.
// Err: io.
Result<Fd> open_input_file(const std::string& path);

// Opens `path` to append to it (record -o), creating it if absent: never through a symbolic
// link at that name, only a regular file with no other hard link (or /dev/null). Err: io.
Result<std::FILE*> open_for_append(const std::string& path);
// The same checks, then the file is emptied (report -o, record --report).
Result<std::FILE*> open_for_writing(const std::string& path);

// "a FIFO", "a symbolic link", ... for a stat mode, in messages.
const char* file_kind(unsigned mode);

}  // namespace objspy::cli
