// Which program image a process runs. The kernel keeps the PID and the start time across
// execve (a gunicorn or uWSGI reload is the same process with a new image), so an exec shows
// only in what it rebuilds: the executable, and the 16 random bytes (AT_RANDOM) it writes on
// the new stack for the C library. Those bytes change at every exec, also when the same
// program is exec'd again and with address randomisation off.
#pragma once
#include <sys/types.h>

#include <array>
#include <cstdint>
#include <optional>
#include <utility>

#include "objspy/core/result.hpp"
#include "objspy/process/reader.hpp"

namespace objspy {

struct ImageIdentity {
  std::uint64_t start_time = 0;  // with the PID: the process
  std::optional<std::pair<std::uint64_t, std::uint64_t>> exe;  // st_dev, st_ino of /proc/PID/exe
  std::uint64_t at_random_addr = 0;  // 0: not known
  std::optional<std::array<std::uint8_t, 16>> at_random;  // what was read there
};

enum class ImageChange {
  same,           // nothing says the image changed
  exec,           // same process, new image (exec in place)
  other_process,  // the PID now belongs to another process: the one attached has exited
};

// Err: no_such_process (gone or a zombie), target_exited, permission_denied. What cannot be read (an
// unreadable exe link, a failed read of the random bytes) is left unknown, not an error.
Result<ImageIdentity> read_image_identity(pid_t pid, MemoryReader& mem);
// `before` read at attach, `now` later. Unknown facts compare as unchanged, except random
// bytes readable before and not now: their stack is gone, which only an exec does.
ImageChange compare_images(const ImageIdentity& before, const ImageIdentity& now);

}  // namespace objspy
