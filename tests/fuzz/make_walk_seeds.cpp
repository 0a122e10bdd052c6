// Writes seed inputs for fuzz_walk: a small synthetic heap per layout, as the fuzzer maps
// it (byte 0 picks the layout, the rest is memory starting at _PyRuntime).
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
    for (int k = 0; k < 6; ++k) h.add_object(k % 2 ? list_t : foo_t, k % 4);
    h.finish();
    std::vector<std::byte> mem(h.used());
    (void)h.mem.read(h.runtime, mem);
    std::ofstream out(std::string(argv[1]) + "/heap-3." + std::to_string(minors[i]) + ".bin", std::ios::binary);
    char sel = static_cast<char>(i);
    out.write(&sel, 1);
    out.write(reinterpret_cast<const char*>(mem.data()), static_cast<std::streamsize>(mem.size()));
  }
  return 0;
}
