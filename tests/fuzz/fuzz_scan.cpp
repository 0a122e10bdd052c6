// The census by scan over arbitrary memory: a heap (runtime, interpreter, GC lists, types)
// and an arena of pymalloc pools, all made of fuzz bytes. Pool headers, free lists, links
// and types may all lie; the scan must end, report, and never crash or grow without bound.
//
// Input (tests/fuzz/make_scan_seeds.cpp writes seeds in this form):
//   byte 0        layout (as fuzz_walk)
//   bytes 1-4     n, little endian: the heap's length (clamped to what is there)
//   n bytes       the heap, mapped at 0x10000000 ("[heap]") with _PyRuntime at its start
//   then records  u16 length + that many bytes: pool i, mapped at 0x20000000 + i * POOL_SIZE
//                 in one anonymous mapping, the rest of each pool zero (at most 8 pools)
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#include "objspy/census/sampler.hpp"
#include "objspy/process/synthetic_memory.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 5) return 0;
  static const int kMinors[] = {8, 9, 10, 11, 12, 13, 14, 15};
  int minor = kMinors[data[0] % 8];
  auto layout = objspy::builtin_layout(objspy::PyVersion{3, minor, (data[0] & 8) ? 2 : 10});
  if (!layout.ok()) return 0;
  constexpr std::uint64_t kHeap = 0x10000000;   // where tests/unit/fake_python.hpp builds heaps
  constexpr std::uint64_t kArena = 0x20000000;  // and its pools
  constexpr std::size_t kMaxPools = 8;
  const std::uint64_t ps = layout->pymalloc.pool_size;

  std::uint32_t n = 0;
  std::memcpy(&n, data + 1, 4);
  const std::uint8_t* p = data + 5;
  const std::uint8_t* end = data + size;
  std::size_t heap_len = std::min<std::size_t>(n, static_cast<std::size_t>(end - p));

  objspy::SyntheticMemory mem;
  // Small inputs still cover the runtime's fixed offsets: pad with zeros.
  std::size_t heap_mapped = heap_len < 16384 ? 16384 : heap_len;
  mem.map(objspy::RemoteAddr(kHeap), heap_mapped);
  mem.write(objspy::RemoteAddr(kHeap), p, heap_len);
  p += heap_len;

  std::size_t pools = 0;
  std::vector<std::pair<const std::uint8_t*, std::size_t>> recs;
  while (pools < kMaxPools && end - p >= 2) {
    std::uint16_t len = 0;
    std::memcpy(&len, p, 2);
    p += 2;
    std::size_t take = std::min<std::size_t>({len, static_cast<std::size_t>(end - p), ps});
    recs.emplace_back(p, take);
    p += take;
    ++pools;
  }
  std::vector<objspy::Mapping> maps{objspy::Mapping{kHeap, kHeap + heap_mapped, true, true, false, 0, 0, "[heap]", false}};
  if (pools) {
    mem.map(objspy::RemoteAddr(kArena), pools * ps);
    for (std::size_t i = 0; i < recs.size(); ++i) mem.write(objspy::RemoteAddr(kArena + i * ps), recs[i].first, recs[i].second);
    maps.push_back(objspy::Mapping{kArena, kArena + pools * ps, true, true, false, 0, 0, "", false});
  }
  objspy::MemoryMap map(std::move(maps));
  (void)objspy::take_census(mem, mem, &map, *layout, objspy::RemoteAddr(kHeap), false, objspy::CensusMethod::scan);
  return 0;
}
