// Little-endian words out of a byte buffer copied from the target (no alignment assumed).
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>

namespace objspy {

inline std::uint64_t load64(const std::byte* p) {
  std::uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}
inline std::uint32_t load32(const std::byte* p) {
  std::uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

}  // namespace objspy
