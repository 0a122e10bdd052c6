// Reading the heap the way pymalloc lays it out: find the used pools of the object-holding
// mappings, read them in address order with few large reads, and take from every allocated
// block the words that would be a PyGC_Head and the start of a PyObject at each place a GC
// object can start. What is a real object is decided later from the links (gc_scan), so
// nothing here trusts the target: a block that only looks like an object is harmless.
#pragma once
#include <chrono>
#include <cstdint>
#include <vector>

#include "objspy/core/huge_alloc.hpp"
#include "objspy/core/result.hpp"
#include "objspy/process/maps.hpp"
#include "objspy/process/reader.hpp"
#include "objspy/python/layout.hpp"

namespace objspy {

// A used pool that was read: its candidates are heads[first, first + count).
struct ScannedPool {
  std::uint64_t base = 0;
  std::uint32_t block_size = 0;
  std::uint32_t first = 0;
  std::uint32_t count = 0;
  std::uint32_t blocks = 0;  // blocks below nextoffset: where in [first, first+count) an address is, roughly
};

// Possible GC heads in address order, with the words read at each: the links (flag bits
// cleared) and the ob_type word.
struct HeadCandidates {
  using Words = std::vector<std::uint64_t, HugeAllocator<std::uint64_t>>;
  Words addr, next, prev, type;
  // With `with_body`: the object's words at +16, +32 and +40 (what sys.getsizeof of a list,
  // tuple, set, dict or deque reads), three per candidate.
  bool with_body = false;
  Words body;
  std::vector<ScannedPool> pools;  // in address order
  std::size_t size() const { return addr.size(); }
  void push(std::uint64_t a, std::uint64_t n, std::uint64_t p, std::uint64_t t, const std::uint64_t* b = nullptr) {
    addr.push_back(a);
    next.push_back(n);
    prev.push_back(p);
    type.push_back(t);
    if (with_body) {
      static constexpr std::uint64_t kNone[3] = {0, 0, 0};
      if (!b) b = kNone;
      body.insert(body.end(), b, b + 3);
    }
  }
};

struct PoolScanStats {
  std::uint64_t regions = 0;
  std::uint64_t pools_probed = 0;
  std::uint64_t pools_used = 0;
  std::uint64_t blocks = 0;       // allocated blocks examined
  std::uint64_t bytes_scanned = 0;
  bool over_budget = false;       // more candidates than max_candidates: the scan stopped
  bool regions_capped = false;    // more object-holding memory than max_region_bytes
  bool timed_out = false;         // the deadline passed: pools not read yet were left out
};

struct PoolScanLimits {
  std::size_t max_candidates = 8u << 20;       // ~260 MiB of candidate words at 32 B each (~450 MiB with bodies)
  std::uint64_t max_region_bytes = 64ULL << 30;  // probing beyond this much memory stops
  std::size_t read_bytes = 1 << 20;            // largest single read of consecutive pools
  std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max();
};

// The mappings pymalloc arenas can be in (anonymous private memory), with their bounds.
std::vector<const Mapping*> object_regions(const MemoryMap& map);

// Scan every used pool in `map`'s object regions through `mem`. `sentinels` (sorted) are the
// addresses of the list heads: links may point there although they are only 4-aligned
// (Debian 3.13). Errors only for what ends the census (target exited, permission).
Result<PoolScanStats> scan_pools(MemoryReader& mem, const MemoryMap& map, const Layout& l, const PoolScanLimits& lim,
                                 const std::vector<std::uint64_t>& sentinels, HeadCandidates& out);

// Whether an object header's words can be a live object's: a reference count in the bits the
// layout says hold it, above 0 and far below a pointer (2^44 and up on x86-64 Linux), and an
// 8-aligned type pointer. The one test for a head read in a pool, followed or re-read.
inline bool plausible_object(std::uint64_t refcnt, std::uint64_t type, const Layout& l) {
  refcnt &= l.refcnt_mask;
  return refcnt != 0 && refcnt < (1ULL << 40) && type != 0 && (type & 7) == 0;
}

// The pieces scan_pools is made of, exposed for unit tests.
struct PoolHeader {
  std::uint32_t count = 0;
  std::uint64_t freeblock = 0;
  std::uint32_t szidx = 0;
  std::uint32_t nextoffset = 0;
  std::uint32_t maxnextoffset = 0;
  std::uint32_t block_size = 0;
  std::uint32_t used_blocks = 0;  // blocks below nextoffset (allocated or on the free list)
};
// A pool header that pymalloc could have written (every field consistent), or false.
bool parse_pool_header(const std::byte* p, std::uint64_t base, const PymallocLayout& pm, PoolHeader* out);
// Classify the blocks of one pool read into `bytes` (pool_size of them), appending to `out`.
void scan_one_pool(const std::byte* bytes, std::uint64_t base, const PoolHeader& h, const Layout& l, const MemoryMap& map,
                   const std::vector<std::uint64_t>& sentinels, HeadCandidates& out);

}  // namespace objspy
