// A synthetic CPython heap built to a Layout in SyntheticMemory: runtime, interpreter, GC
// state, types (static and heap), str and dict objects, and GC lists. Unit tests and fuzzers
// walk it like a real process, with no privileges and no Python.
#pragma once
#include <array>
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
  // A list object (PyListObject) holding `items`.
  RemoteAddr list(const std::vector<RemoteAddr>& items);
  // A GC state's collector as a fresh interpreter has it: enabled, default thresholds, empty
  // gc.garbage and gc.callbacks, and (3.15) a zeroed statistics block. The constructor does it
  // for the main interpreter's state, add_interpreter() for each new one.
  void init_collector(RemoteAddr gc_state);
  // 3.15: the struct gc_stats a GC state points to.
  RemoteAddr stats_block(RemoteAddr gc_state);
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
  // A GC object of `type` appended to the list whose sentinel is `head`, outside any pool
  // (`size` bytes of the heap, like a big object pymalloc hands to malloc).
  RemoteAddr add_object_to(RemoteAddr head, RemoteAddr type, std::uint64_t size = 48);

  // pymalloc pools: POOL_SIZE-aligned, in an anonymous private mapping of their own (an
  // "arena", made on first use) with a pool_header pymalloc could have written. Every block
  // below nextoffset is allocated or on the pool's free list, as in Objects/obmalloc.c.
  static constexpr std::uint64_t kArenaBase = 0x20000000;
  static constexpr std::uint64_t kArenaPools = 64;
  struct Pool {
    RemoteAddr base;
    std::uint32_t szidx = 0;
    std::uint32_t block_size = 0;  // (szidx + 1) * 16
    std::uint32_t capacity = 0;    // blocks that fit after the header
  };
  // A new pool of size class `szidx`; its header says empty (count 0) until a block is taken.
  Pool new_pool(std::uint32_t szidx);
  RemoteAddr block(const Pool& p, std::uint32_t k) const { return p.base + layout.pymalloc.pool_overhead + std::uint64_t{k} * p.block_size; }
  // Block k allocated (nextoffset moves past it: the block after the highest allocated one is
  // carved and free, as pymalloc does). Header and free list rewritten.
  RemoteAddr take_block(const Pool& p, std::uint32_t k);
  // Block k back on the free list (most recent first): its first word becomes the free-list
  // link, the rest of its stale contents stay. The GC lists are not touched.
  void free_block(const Pool& p, std::uint32_t k);
  // Blocks below nextoffset (allocated or free); blocks from here on were never used.
  std::uint32_t carved(const Pool& p) const;
  // A GC object in block k of `p`, its PyGC_Head `head_off` bytes into the block (0 plain,
  // 16 a 3.11+ pre-header or a debug build's prefix, 32 both), appended to the list at `head`.
  // The bytes before the head look like what CPython puts there. Returns the PyGC_Head.
  RemoteAddr add_pooled_object_to(RemoteAddr head, RemoteAddr type, const Pool& p, std::uint32_t k, std::uint32_t head_off = 0);
  // Takes `node` out of its list, as a deallocation does (its own links stay, stale).
  void unlink(RemoteAddr node);
  void finish();  // writes runtime/interpreter pointers
  std::uint64_t used() const { return next_ - kBase; }

  objspy::SyntheticMemory mem;
  objspy::MemoryMap map;
  objspy::Layout layout;
  RemoteAddr runtime, interp, gc_state, type_type, str_type, dict_type, list_type, none_obj;
  std::array<RemoteAddr, 4> heads;  // 0-2 generations, 3 permanent

 private:
  void link(RemoteAddr head, RemoteAddr node);
  struct PoolState {
    std::vector<bool> allocated;
    std::vector<std::uint32_t> freed;  // freed blocks, most recent first
  };
  void write_pool(const Pool& p);
  std::uint64_t next_ = kBase;
  std::map<std::uint64_t, PoolState> pools_;
};

}  // namespace fake
