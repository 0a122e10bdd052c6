// The census over arbitrary memory: a runtime, interpreter, GC lists, types and strings all
// made of fuzz bytes. The walk and type naming must end, report, and never crash.
// Byte 0 picks the layout; the rest is mapped at a fixed address with _PyRuntime at its start.
#include <cstdint>

#include "objspy/census/sampler.hpp"
#include "objspy/process/synthetic_memory.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  static const int kMinors[] = {8, 9, 10, 11, 12, 13, 14, 15};
  int minor = kMinors[data[0] % 8];
  auto layout = objspy::builtin_layout(objspy::PyVersion{3, minor, (data[0] & 8) ? 2 : 10});
  if (!layout.ok()) return 0;
  constexpr std::uint64_t kBase = 0x10000000;  // where tests/unit/fake_python.hpp builds heaps (seeds)
  objspy::SyntheticMemory mem;
  std::size_t n = size - 1;
  // Small inputs still cover the runtime's fixed offsets: pad with zeros.
  std::size_t mapped = n < 16384 ? 16384 : n;
  mem.map(objspy::RemoteAddr(kBase), mapped);
  mem.write(objspy::RemoteAddr(kBase), data + 1, n);
  objspy::MemoryMap map({objspy::Mapping{kBase, kBase + mapped, true, true, false, 0, 0, "", false}});
  (void)objspy::take_census(mem, mem, &map, *layout, objspy::RemoteAddr(kBase));
  return 0;
}
