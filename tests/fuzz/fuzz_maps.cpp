// /proc/PID/maps text from a hostile or odd system: parse must never crash.
#include <cstdint>
#include <string_view>

#include "objspy/process/maps.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto m = objspy::MemoryMap::parse(std::string_view(reinterpret_cast<const char*>(data), size));
  if (m.ok()) {
    (void)m->writable_bytes();
    for (const auto& x : m->mappings()) (void)m->find(objspy::RemoteAddr(x.start), 8);
  }
  return 0;
}
