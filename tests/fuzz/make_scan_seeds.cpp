// Writes seed inputs for fuzz_scan: per layout, a synthetic heap with objects in pymalloc
// pools (head offsets 0, 16, 32), freed blocks, objects outside pools, in the form
// fuzz_scan reads (see there): layout byte, heap length, heap, then one record per pool.
#include <cstdio>
#include <fstream>
#include <vector>

#include "../unit/fake_python.hpp"

int main(int argc, char** argv) {
  if (argc != 2) return 2;
  const int minors[] = {8, 9, 10, 11, 12, 13, 14, 15};
  for (int i = 0; i < 8; ++i) {
    auto l = objspy::builtin_layout(objspy::PyVersion{3, minors[i], 10});
    fake::Heap h(*l);
    auto list_t = h.static_type("list");
    auto foo_t = h.heap_type("Foo", "app");
    std::vector<fake::Heap::Pool> pools = {h.new_pool(3), h.new_pool(5), h.new_pool(7)};
    const std::uint32_t offs[] = {0, 16, 32};
    for (std::uint32_t k = 0; k < 12; ++k) {
      auto t = k % 2 ? list_t : foo_t;
      h.add_pooled_object_to(h.heads[k % 4], t, pools[k % 3], k / 3, offs[k % 3]);
      if (k % 4 == 0) h.add_object(t, (k / 4) % 4);
    }
    h.unlink(h.block(pools[0], 1));  // freed: a free-list block with a stale object
    h.free_block(pools[0], 1);
    h.finish();
    std::vector<std::byte> heap(h.used());
    (void)h.mem.read(h.runtime, heap);
    std::ofstream out(std::string(argv[1]) + "/pools-3." + std::to_string(minors[i]) + ".bin", std::ios::binary);
    char sel = static_cast<char>(i);
    out.write(&sel, 1);
    auto n = static_cast<std::uint32_t>(heap.size());
    out.write(reinterpret_cast<const char*>(&n), 4);
    out.write(reinterpret_cast<const char*>(heap.data()), static_cast<std::streamsize>(heap.size()));
    for (const auto& p : pools) {
      // Up to the end of the last block carved; the rest of the pool is zero anyway.
      auto len = static_cast<std::uint16_t>(h.block(p, h.carved(p)).value() - p.base.value());
      std::vector<std::byte> b(len);
      (void)h.mem.read(p.base, b);
      out.write(reinterpret_cast<const char*>(&len), 2);
      out.write(reinterpret_cast<const char*>(b.data()), len);
    }
  }
  return 0;
}
