#include "objspy/process/reader.hpp"

#include <cstring>

namespace objspy {

Result<std::string> MemoryReader::c_string(RemoteAddr a, std::size_t max_len, bool* truncated) {
  std::string out;
  *truncated = false;
  // Short strings end in the first 64 bytes; a long one is read a page at a time (a hostile
  // target's names of kilobytes cost a few reads each, not one per 64 bytes). Never across a
  // page boundary, so that a string ending just before unmapped memory is still readable.
  constexpr std::size_t kFirst = 64, kPage = 4096;
  std::byte buf[kPage];
  for (std::size_t step = kFirst; out.size() < max_len; step = kPage) {
    std::size_t n = step - (a.value() % step);
    OBJSPY_TRY(read(a, std::span<std::byte>(buf, n)));
    const auto* p = reinterpret_cast<const char*>(buf);
    const void* nul = std::memchr(p, 0, n);
    const std::size_t len = nul ? static_cast<std::size_t>(static_cast<const char*>(nul) - p) : n;
    if (out.size() + len > max_len) {
      out.append(p, max_len - out.size());
      *truncated = true;
      return out;
    }
    out.append(p, len);
    if (nul) return out;
    a = a + n;
  }
  *truncated = true;
  return out;
}

}  // namespace objspy
