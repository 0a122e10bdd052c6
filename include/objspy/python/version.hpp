// CPython version numbers, as PY_VERSION_HEX and as people write them.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace objspy {

struct PyVersion {
  int major = 0;
  int minor = 0;
  int micro = -1;      // -1: only major.minor known (yet)
  int level = 0xF;     // 0xA alpha, 0xB beta, 0xC release candidate, 0xF final
  int serial = 0;
  bool debug_build = false;  // Py_DEBUG (python3.Xd)

  static PyVersion from_hex(std::uint64_t hex);
  std::uint32_t hex() const;
  bool exact() const { return micro >= 0; }
  bool at_least(int maj, int min, int mic = 0) const;
  // "3.11.7", "3.14.0rc1", "3.9" (when the micro is unknown)
  std::string str() const;
};

// Major and minor from a file name such as "libpython3.8d.so.1.0", "python3.11", "libpython2.7.so".
std::optional<PyVersion> version_from_file_name(std::string_view name);

}  // namespace objspy
