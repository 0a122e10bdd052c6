// The census: the one data model every renderer reads. Built once per sample.
#pragma once
#include <sys/types.h>

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace objspy {

struct TypeStat {
  std::uint64_t type_addr = 0;
  std::string name;        // type(o).__name__, raw bytes from the target
  std::string qualified;   // module + "." + name, or name
  std::uint64_t count = 0; // in the lists gc.get_objects() returns
  std::uint64_t frozen = 0;// in the permanent generation (gc.freeze())
  // sum(sys.getsizeof(o)) over the `count` objects (python/sizes.hpp), when the census measured it.
  std::uint64_t bytes = 0;
  // Some objects of this name have a __sizeof__ objspy cannot run (Python code, an unknown
  // extension): object.__sizeof__ stands in for it.
  bool bytes_estimated = false;
  bool truncated = false;
};

// One element of gc.get_stats().
struct GcGenerationStat {
  std::int64_t collections = 0, collected = 0, uncollectable = 0;
  std::optional<std::int64_t> candidates;  // 3.15+
  std::optional<double> duration;          // 3.15+, seconds
};

struct GarbageType {
  std::string name;       // as TypeStat
  std::string qualified;
  std::uint64_t count = 0;
};

// What the gc module says about one interpreter's collector, read while the target runs: a
// snapshot, each figure as the target held it at one moment of the census. A figure that the
// version or the target's memory cannot give is nullopt, and `notes` say why.
struct CollectorStat {
  std::optional<bool> enabled;                            // gc.isenabled()
  std::optional<std::int64_t> debug;                      // gc.get_debug()
  std::optional<std::array<std::int64_t, 3>> thresholds;  // gc.get_threshold()
  std::optional<std::array<std::int64_t, 3>> counts;      // gc.get_count()
  std::optional<std::array<GcGenerationStat, 3>> stats;   // gc.get_stats()
  bool collecting = false;                                // a collection was running
  std::optional<std::uint64_t> garbage;                   // len(gc.garbage)
  std::vector<GarbageType> garbage_types;                 // type(o) of the items examined, count descending
  std::uint64_t garbage_types_other = 0;                  // examined items of types past the named ones
  std::uint64_t garbage_unreadable = 0;                   // examined items with no valid type
  bool garbage_truncated = false;                         // longer than objspy examines
  std::optional<std::uint64_t> callbacks;                 // len(gc.callbacks)
  std::vector<std::string> notes;                         // raw text: escape before printing
};

struct InterpreterStat {
  std::int64_t index = 0;  // 0: the main interpreter (listed first); others in creation order
  std::uint64_t objects = 0;
  std::array<std::uint64_t, 3> generations{};
  std::uint64_t frozen = 0;  // also gc.get_freeze_count(): the length of the permanent generation
  CollectorStat gc;
};

struct WalkStatus {
  // "complete" means the census is exact as far as objspy can tell: `uncertain` is 0 and no
  // list was abandoned. A census of a busy target is usually not complete but accurate: its
  // `uncertain` estimate bounds how many objects it may have missed or counted twice.
  bool complete = true;
  std::string method = "walk";        // "scan": the heap read in address order; "walk": lists followed
  std::uint64_t objects_reached = 0;
  std::uint64_t broken_links = 0;
  std::uint64_t uncertain = 0;        // estimate of objects possibly missed or miscounted
  std::uint64_t recovered = 0;        // links repaired by re-reading the target
  bool torn = false;                  // a list was abandoned or a collection overlapped: partial
  bool retried = false;
  // The census budgets that ran out (deadline, interpreters, steps, types, name bytes, dict
  // entries; python/budget.hpp), each in words: the census stopped early there, a partial count.
  std::vector<std::string> limits;
  std::vector<std::string> warnings;  // raw text: escape before printing
};

// Whether a census can stand for the target's heap: exact, or not torn and uncertain about no
// more than `tolerance` of its objects (a scan of a busy target).
inline bool accurate(const WalkStatus& w, std::uint64_t total, double tolerance) {
  if (w.complete) return true;
  return !w.torn && static_cast<double>(w.uncertain) <= tolerance * static_cast<double>(total);
}

// Share of the census that is certain: 1.0 for an exact census.
inline double coverage(const WalkStatus& w, std::uint64_t total) {
  return total + w.uncertain == 0 ? 1.0 : static_cast<double>(total) / static_cast<double>(total + w.uncertain);
}

// The target's memory as the kernel accounts it (/proc/PID/smaps_rollup, Linux 4.14+), read
// next to each census: what `memory_profiler.memory_usage()` gives, and more. PSS shares each
// page among the processes mapping it; anonymous is the heap (pymalloc's arenas, malloc).
struct ProcessMemory {
  std::uint64_t rss_bytes = 0;
  std::uint64_t pss_bytes = 0;
  std::uint64_t anonymous_bytes = 0;
  std::uint64_t swap_bytes = 0;
};

// pymalloc, the allocator of every object up to 512 bytes, as sys._debugmallocstats() reports
// it: per size class the pools in use, blocks in use and blocks free in them; the arenas
// (pymalloc's mmap'd chunks) and what their bytes hold. Read from the target's own allocator
// state next to a census (python/allocator.hpp).
struct SizeClassStat {
  std::uint32_t index = 0;      // size class: blocks of (index + 1) * 16 bytes
  std::uint32_t size = 0;
  std::uint64_t pools = 0;      // pools of this class with a block in use
  std::uint64_t blocks = 0;     // blocks in use
  std::uint64_t available = 0;  // free blocks in those pools
};
struct AllocatorStat {
  bool read = false;               // false: see `note` (not pymalloc, state not found, ...)
  std::string note;                // raw text: escape before printing
  std::uint64_t arena_size = 0, pool_size = 0;
  std::uint64_t arenas = 0;                  // # arenas allocated current
  std::uint64_t arenas_allocated_total = 0;  // # arenas allocated total
  std::uint64_t arenas_highwater = 0;        // # arenas highwater mark
  std::vector<SizeClassStat> classes;        // classes with a pool in use
  std::uint64_t allocated_bytes = 0;         // # bytes in allocated blocks
  std::uint64_t available_bytes = 0;         // # bytes in available blocks
  std::uint64_t unused_pools = 0;            // empty pools, kept in arenas
  std::uint64_t pool_header_bytes = 0, quantization_bytes = 0, alignment_bytes = 0;
  // Arenas by how much of them live blocks fill: [0, 25%), [25, 50%), [50, 75%), [75, 100%].
  // An arena is returned to the system only when all its pools are empty: the first bucket
  // is memory a few live objects keep from being freed.
  std::array<std::uint64_t, 4> arenas_by_use{};
  std::uint64_t arena_bytes() const { return arenas * arena_size; }
};

struct Census {
  pid_t pid = 0;
  std::string python_version;   // "3.11.7"
  std::uint32_t python_hexversion = 0;
  bool debug_build = false;
  std::string python_binary;    // the file holding _PyRuntime, as the target sees it
  std::string layout_source;
  double timestamp = 0;         // Unix time, seconds
  double duration_ms = 0;
  std::uint64_t bytes_read = 0;
  std::uint64_t read_calls = 0;
  double pause_ms = -1;         // --pause: how long the target was held (-1: not paused)
  std::optional<ProcessMemory> memory;  // read right after the census; none if it could not be
  std::optional<AllocatorStat> allocator;  // pymalloc of the main interpreter, read after the census
  std::uint64_t main_interpreter = 0;      // its PyInterpreterState (for the allocator state)

  // Whether the census measured bytes (sys.getsizeof per object; --no-bytes turns it off).
  bool measured_bytes = false;
  std::uint64_t bytes = 0;             // sum of TypeStat::bytes
  std::uint64_t bytes_unmeasured = 0;  // objects counted at their fixed size: not readable as live
  std::uint64_t total = 0;      // objects gc.get_objects() would return, all interpreters
  std::uint64_t frozen = 0;
  std::array<std::uint64_t, 3> generations{};
  std::vector<InterpreterStat> interpreters;
  std::vector<TypeStat> types;  // one entry per type object
  WalkStatus walk;
};

// How much of the target's resident memory a census accounts for: the GC-tracked objects as
// sys.getsizeof sizes them, and pymalloc's arenas (the objects up to 512 bytes, GC-tracked or
// not, and the free space pymalloc keeps). Each share is of RSS; a figure the census does not
// have is nullopt. The rest of RSS is memory outside Python's objects: malloc'd buffers of C
// extensions, big objects' malloc'd parts, the interpreter's code and data, thread stacks.
struct MemoryExplained {
  std::optional<std::uint64_t> rss_bytes;
  std::optional<std::uint64_t> gc_object_bytes;
  std::optional<double> gc_object_share;
  std::optional<std::uint64_t> arena_bytes;       // pymalloc arenas held (allocated from the system)
  std::optional<std::uint64_t> arena_block_bytes; // ... of which in blocks in use
  std::optional<double> arena_share;
};
MemoryExplained explain_memory(const Census& c);

enum class NameForm { short_name, qualified };

struct NamedCount {
  std::string name;
  std::uint64_t count = 0;
  std::uint64_t bytes = 0;
  bool bytes_estimated = false;
};

enum class SortBy { count, bytes };

// Counts (and bytes) summed by name (two type objects may share a name), sorted by count (or
// bytes) descending, then the other, then name. `limit` 0 means all. Types with no object in
// the lists are left out.
std::vector<NamedCount> most_common(const Census& c, NameForm form, std::size_t limit = 0, SortBy by = SortBy::count);

// The summed view of several processes' censuses (a worker pool): counts, bytes, generations
// and memory added up, types merged by name and module (type objects differ between
// processes). pid 0; python_version the common one or "mixed"; complete only if every census
// is; bytes only if every census measured them; memory only if every census has it.
Census sum_censuses(const std::vector<const Census*>& censuses);

}  // namespace objspy
