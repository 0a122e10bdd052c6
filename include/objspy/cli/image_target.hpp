// A still image of a target for analyses that read every object (refs, heap): a core file, or
// a live process whose object-holding memory is copied while its threads are held (as
// --pause and snapshot do), then read after it runs again.
#pragma once
#include <memory>
#include <optional>

#include "objspy/census/core_census.hpp"
#include "objspy/cli/commands.hpp"
#include "objspy/process/cached_reader.hpp"
#include "objspy/process/live_reader.hpp"
#include "objspy/process/maps.hpp"
#include "objspy/process/snapshot_reader.hpp"
#include "objspy/python/budget.hpp"
#include "objspy/python/gc_scan.hpp"
#include "objspy/python/locate.hpp"

namespace objspy::cli {

struct ImageTarget {
  PythonTarget target;
  MemoryMap map;
  MemoryReader* mem = nullptr;  // the image
  pid_t pid = 0;
  double held_ms = -1;          // a live process: how long it was held
  std::uint64_t copied = 0;     // a live process: bytes copied
  std::unique_ptr<CoreSampler> core;
  std::unique_ptr<CachedReader> core_cache;  // reads of a core file are many and small
  std::unique_ptr<LiveReader> live;
  std::optional<SnapshotReader> copy;
  std::unique_ptr<CachedReader> live_cache;  // no copy (past the budget): the live process
  std::vector<std::string> warnings;
};

// Every GC-tracked object of the image (the census's scan, listing what it counts), with the
// budget's deadline; `warnings` says when the list may be incomplete.
Result<std::vector<ScanCounts::Object>> gc_objects(ImageTarget& img, CensusBudget& budget, std::vector<std::string>& warnings);

// Err: as Sampler::attach or CoreSampler::open; pause_timeout and permission_denied from the
// hold. A process with more memory to copy than `copy_budget` is read live, unheld (a warning
// says so): an idle one gives the same answers, a busy one may not.
Result<std::unique_ptr<ImageTarget>> open_image(const TargetOptions& t, std::uint64_t copy_budget);

}  // namespace objspy::cli
