// An ELF image in a hostile target's memory: headers, dynamic section and hash tables are
// whatever the target wrote there. Reading it must never crash, hang or allocate without bound.
#include <array>
#include <cstdint>
#include <string_view>

#include "objspy/elf/memory_elf.hpp"
#include "objspy/process/synthetic_memory.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  constexpr std::uint64_t kBase = 0x7f0000000000;
  if (size == 0 || size > (1u << 20)) return 0;
  objspy::SyntheticMemory mem;
  mem.map(objspy::RemoteAddr(kBase), size);
  mem.write(objspy::RemoteAddr(kBase), data, size);
  objspy::Mapping first{kBase, kBase + size, true, false, false, 0, 1, "/fuzz/libpython3.12.so.1.0", false, false, 0xfe, 1};
  objspy::MemoryMap map({first});
  auto e = objspy::MemoryElf::open(mem, map, first);
  if (!e.ok()) return 0;
  const std::array<std::string_view, 2> wanted = {"_PyRuntime", "Py_Version"};
  (void)e->dynamic_symbols(mem, wanted);
  return 0;
}
