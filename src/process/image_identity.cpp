#include "objspy/process/image_identity.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include <fmt/format.h>

#include "objspy/process/proc.hpp"

namespace objspy {
namespace {

constexpr std::uint64_t kAtNull = 0;
constexpr std::uint64_t kAtRandom = 25;

// The AT_RANDOM entry of /proc/PID/auxv (pairs of 64-bit type and value; a few hundred bytes).
std::uint64_t at_random_address(pid_t pid) {
  int fd = ::open(fmt::format("/proc/{}/auxv", pid).c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  std::uint64_t words[512];  // 4 KiB: far more than any kernel writes
  std::size_t got = 0;
  while (got < sizeof words) {
    ssize_t n = ::read(fd, reinterpret_cast<char*>(words) + got, sizeof words - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += static_cast<std::size_t>(n);
  }
  ::close(fd);
  for (std::size_t i = 0; i + 1 < got / 8; i += 2) {
    if (words[i] == kAtNull) break;
    if (words[i] == kAtRandom) return words[i + 1];
  }
  return 0;
}

}  // namespace

Result<ImageIdentity> read_image_identity(pid_t pid, MemoryReader& mem) {
  ImageIdentity id;
  OBJSPY_ASSIGN(ProcessInfo info, inspect_process(pid));
  id.start_time = info.start_time;
  struct stat st {};
  if (::stat(fmt::format("/proc/{}/exe", pid).c_str(), &st) == 0) id.exe = std::pair<std::uint64_t, std::uint64_t>(st.st_dev, st.st_ino);
  id.at_random_addr = at_random_address(pid);
  if (id.at_random_addr) {
    std::array<std::uint8_t, 16> bytes{};
    auto r = mem.read(RemoteAddr(id.at_random_addr), std::as_writable_bytes(std::span(bytes)));
    if (r.ok()) id.at_random = bytes;
    else if (r.error().code != Errc::bad_address) return r.take_error();  // gone, or not ours to read
  }
  return id;
}

ImageChange compare_images(const ImageIdentity& before, const ImageIdentity& now) {
  if (before.start_time != now.start_time) return ImageChange::other_process;
  if (before.exe && now.exe && *before.exe != *now.exe) return ImageChange::exec;
  if (before.at_random) {
    if (now.at_random_addr && now.at_random_addr != before.at_random_addr) return ImageChange::exec;
    if (!now.at_random || *now.at_random != *before.at_random) return ImageChange::exec;
  }
  return ImageChange::same;
}

}  // namespace objspy
