// Taking censuses: attach once (find Python, pick the layout), then sample as often as asked.
#pragma once
#include <sys/types.h>

#include <memory>

#include "objspy/census/census.hpp"
#include "objspy/core/result.hpp"
#include "objspy/process/maps.hpp"
#include "objspy/process/proc.hpp"
#include "objspy/process/reader.hpp"
#include "objspy/python/budget.hpp"
#include "objspy/python/locate.hpp"

namespace objspy {

// How a census finds the objects: `scan` reads the pymalloc pools in address order and
// confirms each object by its list links (fast on fragmented heaps, survives a busy target);
// `walk` follows the GC lists node by node (the first release's method).
enum class CensusMethod { scan, walk };

struct SampleOptions {
  CensusMethod method = CensusMethod::scan;
  std::size_t cache_budget = 16 * 1024 * 1024;
  std::size_t cache_chunk = 128 * 1024;  // 16-128 KiB measured within noise; fewest syscalls
  int retries = 1;  // whole-census retries when the lists changed under the walk
  bool pause = false;  // hold the target's threads during the census (exact snapshot)
  // A census whose uncertainty is above this share of its objects is retried (and reported
  // incomplete if it stays so).
  double tolerance = 0.01;
  // --pause copies the target's object-holding memory while it is held, then counts from the
  // copy; past this many bytes it counts while holding instead (a longer hold, no copy).
  std::uint64_t copy_budget = 4ULL << 30;
  int pause_timeout_ms = 200;  // --pause: how long every thread has to stop, per hold
  // What one census may spend (deadline: --census-timeout); a census that runs out of any of
  // it is incomplete, with the reason, and is not retried.
  CensusLimits limits;
  bool measure_bytes = true;  // --no-bytes: counts only (less memory and time; README: Bytes)
};

// The census of a target whose layout is known. `mem` is what the walk reads (usually a
// cache); `fresh` bypasses any cache (for flags that must be re-read). Test memory passes the
// same reader twice. `target_held`: the target is stopped (--pause), so a collection in
// progress cannot finish and is reported without waiting for it.
// `budget` (optional; default limits from now) bounds what the census spends; each limit it
// runs out of is listed in walk.limits and makes the census incomplete and torn.
// `measure_bytes`: size every object as sys.getsizeof does (python/sizes.hpp).
// Err only when no census can be given at all.
Result<Census> take_census(MemoryReader& mem, MemoryReader& fresh, const MemoryMap* map, const Layout& layout, RemoteAddr runtime,
                           bool target_held = false, CensusMethod method = CensusMethod::scan, CensusBudget* budget = nullptr,
                           bool measure_bytes = true);

class Sampler {
 public:
  // Err: no_such_process, not_python, unsupported_version, permission_denied, corrupt_target.
  static Result<std::unique_ptr<Sampler>> attach(pid_t pid, SampleOptions opts = {});
  ~Sampler();
  // One census; retries once if the lists changed under the walk. Err: target_exited, ...
  Result<Census> sample();
  const PythonTarget& target() const { return target_; }
  const ProcessInfo& process() const { return process_; }
  const std::vector<std::string>& notes() const { return notes_; }

 private:
  Sampler() = default;
  Result<Census> census_with_retries();  // sample() without the target's memory
  struct Impl;
  std::unique_ptr<Impl> impl_;
  PythonTarget target_;
  ProcessInfo process_;
  SampleOptions opts_;
  std::vector<std::string> notes_;
};

}  // namespace objspy
