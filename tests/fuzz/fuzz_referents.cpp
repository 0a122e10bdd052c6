// Referents over arbitrary memory (a hostile target's objects and types): every object of the
// fuzz bytes (each 16-byte-aligned word pair taken as an object with the type its second word
// names) through the referent reader, the object graph, the heap search and the dominator
// tree: they must end within their bounds and never crash. Byte 0 picks the layout.
#include <cstdint>
#include <cstring>

#include "objspy/graph/dominators.hpp"
#include "objspy/graph/heap_census.hpp"
#include "objspy/graph/object_graph.hpp"
#include "objspy/process/synthetic_memory.hpp"
#include "objspy/python/gc_walk.hpp"
#include "objspy/python/referents.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  static const int kMinors[] = {8, 9, 10, 11, 12, 13, 14, 15};
  auto layout = objspy::builtin_layout(objspy::PyVersion{3, kMinors[data[0] % 8], 10});
  if (!layout.ok()) return 0;
  constexpr std::uint64_t kBase = 0x10000000;
  objspy::SyntheticMemory mem;
  const std::size_t n = size - 1, mapped = n < 4096 ? 4096 : n;
  mem.map(objspy::RemoteAddr(kBase), mapped);
  mem.write(objspy::RemoteAddr(kBase), data + 1, n);
  objspy::MemoryMap map({objspy::Mapping{kBase, kBase + mapped, true, true, false, 0, 0, "", false}});
  objspy::ReferentLimits lim;
  lim.max_items = 4096;  // bounds as a real heap's are, smaller: the fuzzer runs many inputs
  objspy::ReferentReader refs(mem, *layout, lim);
  std::vector<objspy::ScanCounts::Object> objects;
  for (std::uint64_t off = 16; off + 16 <= n && objects.size() < 256; off += 16) {
    std::uint64_t type = 0;
    std::memcpy(&type, data + 1 + off + 8, 8);
    if (type >= kBase && type < kBase + mapped) objects.push_back({kBase + off, type});
  }
  objspy::CensusBudget budget;
  auto g = objspy::build_graph(objects, refs, objspy::GraphLimits{1u << 16}, &budget);
  if (g.ok()) {
    std::vector<std::uint64_t> sizes(g->size(), 16);
    (void)objspy::dominators(*g, sizes);
    std::vector<std::uint32_t> targets;
    if (g->size()) targets.push_back(0);
    (void)objspy::shortest_chain(*g, targets, [](std::uint32_t v) { return v % 7 == 3; }, 20);
  }
  objspy::TypeValidator types(mem, &map, *layout, 4096, false);
  (void)objspy::discover_heap(objects, mem, *layout, refs, types, 4096, &budget);
  return 0;
}
