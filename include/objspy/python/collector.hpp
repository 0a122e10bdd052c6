// The collector's own figures for one interpreter, read from its GC state the way the gc
// module's functions read them: gc.isenabled(), gc.get_debug(), gc.get_threshold(),
// gc.get_count(), gc.get_stats(), len(gc.garbage) and the types of its items, len(gc.callbacks),
// whether a collection is running. The target is not stopped: each figure is a snapshot that
// may race an allocation or a collection in another thread.
#pragma once
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "objspy/core/remote_addr.hpp"
#include "objspy/core/result.hpp"
#include "objspy/process/reader.hpp"
#include "objspy/python/gc_state.hpp"
#include "objspy/python/layout.hpp"

namespace objspy {

// One element of gc.get_stats().
struct GcGenerationFigures {
  std::int64_t collections = 0, collected = 0, uncollectable = 0;
  std::optional<std::int64_t> candidates;  // 3.15+
  std::optional<double> duration;          // 3.15+: seconds, as gc.get_stats() reports it
};

struct CollectorFigures {
  std::optional<bool> enabled;
  std::optional<std::int64_t> debug;
  std::optional<std::array<std::int64_t, 3>> thresholds;
  std::optional<std::array<std::int64_t, 3>> counts;
  std::optional<std::array<GcGenerationFigures, 3>> stats;
  bool collecting = false;
  std::optional<std::uint64_t> garbage;                       // len(gc.garbage)
  std::vector<std::pair<RemoteAddr, std::uint64_t>> garbage_by_type;  // examined items, count descending
  std::uint64_t garbage_examined = 0;                         // items read: min(len, the limit)
  std::uint64_t garbage_unreadable = 0;                       // of those, items without a valid type
  std::optional<std::uint64_t> callbacks;                     // len(gc.callbacks)
  std::vector<std::string> notes;                             // why a figure is missing
};

struct CollectorLimits {
  std::uint64_t max_garbage_items = 100000;  // items of gc.garbage whose type is read
};

// Err only for conditions that end the census (target exited, permission); memory that
// cannot be read or does not hold what it should leaves that figure out, with a note.
Result<CollectorFigures> read_collector(MemoryReader& mem, const Layout& l, const GcState& s, const CollectorLimits& lim = {});

}  // namespace objspy
