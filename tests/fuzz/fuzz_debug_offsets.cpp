// _Py_DebugOffsets read from the target: validation must reject lies, never crash.
// First byte picks the minor version (13, 14, 15, or an unknown one).
#include <cstdint>
#include <span>

#include "objspy/python/debug_offsets.hpp"
#include "objspy/python/layout.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  int minor = 12 + data[0] % 5;
  auto block = std::as_bytes(std::span(data + 1, size - 1));
  auto d = objspy::parse_debug_offsets(block, minor);
  if (d.ok()) {
    auto base = objspy::builtin_layout(objspy::PyVersion{3, minor, 10});
    if (base.ok()) (void)objspy::apply_debug_offsets(*base, *d);
  }
  return 0;
}
