// A synthetic CPython heap built to a Layout in SyntheticMemory: runtime, interpreter, GC
// state, types (static and heap), str and dict objects, and GC lists. Unit tests and fuzzers
// walk it like a real process, with no privileges and no Python.
#pragma once
#include <map>
#include <string>
#include <vector>

#include "objspy/process/maps.hpp"
#include "objspy/process/synthetic_memory.hpp"
#include "objspy/python/layout.hpp"

namespace fake {

using objspy::RemoteAddr;

class Heap {
 public:
  static constexpr std::uint64_t kBase = 0x10000000;
  static constexpr std::uint64_t kSize = 8 << 20;

  explicit Heap(objspy::Layout l);
  // Where the GC generations really start, relative to the GC state (Debian 3.13: 20).
  void set_generations_at(std::uint64_t off);

  RemoteAddr alloc(std::uint64_t size);  // 16-aligned, zeroed
  RemoteAddr static_type(const std::string& tp_name, std::uint64_t extra_flags = objspy::kTpFlagsHaveGc);
  // module "" or "-" : "-" means no __module__ key at all.
  RemoteAddr heap_type(const std::string& name, const std::string& module);
  RemoteAddr str(const std::string& ascii);
  RemoteAddr dict(const std::vector<std::pair<RemoteAddr, RemoteAddr>>& items);
  // A GC object of `type` appended to list `gen` (0-2, 3 = permanent). Returns its PyGC_Head.
  RemoteAddr add_object(RemoteAddr type, int gen);
  // Another interpreter with empty GC lists of its own (3.9+; 3.8 shares the runtime's), not
  // linked anywhere: the test writes the interpreter list it wants after finish().
  struct Interp {
    RemoteAddr addr;
    std::array<RemoteAddr, 4> heads;  // 0-2 generations, 3 permanent
  };
  Interp add_interpreter();
  // A GC object of `type` appended to the list whose sentinel is `head`.
  RemoteAddr add_object_to(RemoteAddr head, RemoteAddr type);
  void finish();  // writes runtime/interpreter pointers
  std::uint64_t used() const { return next_ - kBase; }

  objspy::SyntheticMemory mem;
  objspy::MemoryMap map;
  objspy::Layout layout;
  RemoteAddr runtime, interp, gc_state, type_type, str_type, dict_type, none_obj;
  std::array<RemoteAddr, 4> heads;  // 0-2 generations, 3 permanent

 private:
  void link(RemoteAddr head, RemoteAddr node);
  std::uint64_t next_ = kBase;
};

}  // namespace fake
