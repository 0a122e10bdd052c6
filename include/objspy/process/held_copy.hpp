// The object-holding memory of a live process copied while its threads are held, for
// analyses of a still image (snapshot, refs, heap): room for the copy is made before the hold
// (as much as the process has resident in those mappings, with a margin), the hold lasts the
// memory map, the page map and the copy, and the process runs again before anything else.
#pragma once
#include <sys/types.h>

#include <optional>
#include <vector>

#include "objspy/core/result.hpp"
#include "objspy/process/maps.hpp"
#include "objspy/process/snapshot_reader.hpp"

namespace objspy {

struct HeldCopy {
  std::optional<SnapshotReader> copy;  // empty: the memory to copy passes the budget (not held)
  MemoryMap map;                       // as read while held (or, without a copy, unheld)
  std::vector<pid_t> threads;          // while held
  std::uint64_t need = 0;              // bytes the copy takes (estimated before the hold)
  double held_ms = -1;
};

// `live` reads the process (what the copy reads outside the copied mappings). Err: as
// ProcessPause::freeze; pause_timeout when a stop signal came during the freeze; usage when
// the process grew past the room made for it while held.
Result<HeldCopy> copy_while_held(pid_t pid, MemoryReader& live, std::uint64_t budget, int pause_timeout_ms);

}  // namespace objspy
