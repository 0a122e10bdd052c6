// The census from the heap as laid out (pool_scan), made exact by the links.
//
// A possible head counts as an object when a GC list link confirms it: A.next == B and
// B.prev == A, read from the scan, with list heads and objects outside pymalloc pools (types,
// big objects, a PYTHONMALLOC=malloc heap) reached by following links from confirmed nodes.
// Raw data that looks like an object has no confirmed link and is left out, so an idle target
// gets the exact gc.get_objects() census. On a busy target the scan sees each pool at a
// different instant: links that do not agree are re-read from the target (the node, or the
// whole pool a new object landed in) for a few bounded rounds; what still disagrees is the
// census's uncertainty. Which list each object is in (generation, permanent, interpreter) is
// found by following the short lists through the local table.
#pragma once
#include <array>
#include <string>
#include <vector>

#include "objspy/core/result.hpp"
#include "objspy/process/maps.hpp"
#include "objspy/process/reader.hpp"
#include "objspy/python/budget.hpp"
#include "objspy/python/gc_state.hpp"
#include "objspy/python/gc_walk.hpp"
#include "objspy/python/layout.hpp"
#include "objspy/python/pool_scan.hpp"
#include "objspy/python/sizes.hpp"

namespace objspy {

struct ScanLimits {
  PoolScanLimits pools;
  int refresh_rounds = 4;                     // rounds of re-reading what disagrees
  std::size_t max_refresh_reads = 1 << 18;    // nodes and pools re-read, all rounds
  std::size_t max_external = 4u << 20;        // objects outside pools, followed in batches (~140 MiB of nodes)
  bool collect_objects = false;               // also list every object counted (ScanCounts::objects)
};

struct ScanCounts {
  TypeCounter live, frozen;                   // validated types only
  struct PerState {
    std::array<std::uint64_t, 3> generations{};
    std::uint64_t frozen = 0;
  };
  std::vector<PerState> per_state;            // parallel to Interpreters::gc_states
  std::uint64_t uncertain = 0;                // objects with one confirmed link of two
  std::uint64_t recovered = 0;                // links that agreed after a re-read
  std::uint64_t rejected = 0;                 // possible heads no link confirmed (raw data, freed objects)
  std::uint64_t external = 0;                 // objects found by following links out of pools
  bool over_budget = false;                   // the scan stopped at a limit: use the walk instead
  bool stopped = false;                       // the census's deadline passed: the counts are partial
  std::vector<std::string> warnings;
  PoolScanStats pools;
  // With ScanLimits::collect_objects: every object counted (live and frozen), its address
  // (the PyObject, after PyGC_Head) and its type, in no particular order.
  struct Object {
    std::uint64_t addr, type;
  };
  std::vector<Object> objects;
};

// `bulk` reads the pools (a live process or a held copy); `fresh` answers re-reads and the
// objects outside pools (the same reader when the copy is all there is); `near` (optional, a
// cache in front of the target) answers chains of objects outside pools one at a time, where
// the next one is usually next to the last (consecutive large allocations). `budget`
// (optional) gives the deadline and the bound on distinct types counted. `meter` (optional)
// sizes every object counted (sys.getsizeof); the caller finishes it.
Result<ScanCounts> census_by_scan(MemoryReader& bulk, MemoryReader& fresh, const MemoryMap& map, const Layout& l,
                                  const Interpreters& interps, TypeValidator& types, const ScanLimits& lim = {},
                                  MemoryReader* near = nullptr, CensusBudget* budget = nullptr, SizeMeter* meter = nullptr);

}  // namespace objspy
