#include "objspy/process/reader.hpp"

namespace objspy {

Result<std::string> MemoryReader::c_string(RemoteAddr a, std::size_t max_len, bool* truncated) {
  std::string out;
  *truncated = false;
  constexpr std::size_t kStep = 64;
  std::byte buf[kStep];
  while (out.size() < max_len) {
    // Read up to the next 64-byte boundary so that a string ending just before unmapped
    // memory is still readable.
    std::size_t n = kStep - (a.value() % kStep);
    OBJSPY_TRY(read(a, std::span<std::byte>(buf, n)));
    for (std::size_t i = 0; i < n; ++i) {
      if (buf[i] == std::byte{0}) return out;
      if (out.size() == max_len) { *truncated = true; return out; }
      out.push_back(static_cast<char>(buf[i]));
    }
    a = a + n;
  }
  *truncated = true;
  return out;
}

}  // namespace objspy
