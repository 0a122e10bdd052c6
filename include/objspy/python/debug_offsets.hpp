// _Py_DebugOffsets (3.13+): offsets the running interpreter publishes about itself, at the
// start of _PyRuntime. Read from the target, so validated as untrusted input before use.
#pragma once
#include <cstdint>
#include <span>
#include <string>

#include "objspy/core/result.hpp"

namespace objspy {

struct DebugOffsets {
  std::uint64_t version = 0;
  std::uint64_t free_threaded = 0;
  std::uint64_t runtime_size = 0, interpreters_head = 0;
  std::uint64_t interp_size = 0, interp_next = 0, interp_gc = 0, interp_sysdict = 0;
  std::uint64_t pyobject_size = 0, ob_type = 0;
  std::uint64_t type_size = 0, tp_name = 0, tp_flags = 0;
  std::uint64_t unicode_size = 0, unicode_state = 0, unicode_length = 0, ascii_size = 0;
  std::uint64_t gc_size = 0, gc_collecting = 0;
  std::uint64_t dict_size = 0, ma_keys = 0, ma_values = 0;
  std::uint64_t list_size = 0, list_ob_item = 0, list_ob_size = 0;
  // 3.15+ (0 before): where the pointer to struct gc_stats is in the GC state, and its size.
  std::uint64_t gc_generation_stats = 0, gc_generation_stats_size = 0;
  // What sys.getsizeof reads, where published (0: not in this version's block): tuple items
  // (3.13+), set table and mask (3.14+), tp_basicsize and the heap type's size and cached keys
  // (3.15+).
  std::uint64_t tuple_size = 0, tuple_ob_item = 0;
  std::uint64_t set_size = 0, set_table = 0, set_mask = 0;
  std::uint64_t tp_basicsize = 0, heap_type_size = 0, ht_cached_keys = 0;
};

inline constexpr char kDebugCookie[8] = {'x', 'd', 'e', 'b', 'u', 'g', 'p', 'y'};

// Bytes of the block that must be read for `minor` (0 if objspy does not know that block shape).
std::size_t debug_offsets_block_size(int minor);

// Decode the block of a 3.<minor> interpreter and validate it the way CPython's own remote
// reader does since gh-148178: every section size bounded, every offset plus the width of the
// field inside its section. Err: corrupt_target with the first field that fails.
Result<DebugOffsets> parse_debug_offsets(std::span<const std::byte> block, int minor);

}  // namespace objspy
