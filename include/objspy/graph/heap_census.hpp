// Every object of an image, not only the GC-tracked ones: the objects the GC-tracked ones
// refer to (str, bytes, int, float, untracked tuples and dicts, ...), found through their
// referents (referents.hpp), transitively; and which dicts are the __dict__ of an instance
// (guppy3's "dict of X"). An object no GC-tracked object reaches (held only by a running
// frame's locals, or by C code) is not found.
#pragma once
#include <cstdint>
#include <vector>

#include "objspy/core/flat_map.hpp"
#include "objspy/core/result.hpp"
#include "objspy/python/budget.hpp"
#include "objspy/python/gc_scan.hpp"
#include "objspy/python/gc_walk.hpp"
#include "objspy/python/referents.hpp"

namespace objspy {

struct HeapObjects {
  std::vector<ScanCounts::Object> all;  // the GC-tracked objects first (gc of them), then the rest
  std::size_t gc = 0;
  FlatMap owner;                        // a dict -> the index in `all` of the instance whose __dict__ it is
  // Every object referred to -> the index in `all` of its only referrer, or kMany.
  static constexpr std::uint32_t kMany = 0xFFFFFFFE;
  FlatMap holder;
  bool cut = false;                     // max_objects or the deadline stopped the search
};

// Err only when the image cannot be read at all.
Result<HeapObjects> discover_heap(const std::vector<ScanCounts::Object>& gc, MemoryReader& mem, const Layout& l, ReferentReader& refs,
                                  TypeValidator& types, std::size_t max_objects, CensusBudget* budget);

}  // namespace objspy
