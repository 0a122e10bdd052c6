// The scan's table of possible objects, looked up by address: which node, pooled or not, or
// which list head a link names. Private to the scan (gc_scan.cpp).
#pragma once
#include <cstdint>
#include <limits>
#include <vector>

#include "objspy/core/flat_map.hpp"
#include "objspy/core/huge_alloc.hpp"
#include "objspy/python/pool_scan.hpp"

namespace objspy::scan {

inline constexpr std::uint64_t kMask = ~std::uint64_t{3};  // low bits of both links are flags
inline constexpr std::uint32_t kNone = std::numeric_limits<std::uint32_t>::max();

// Per-node flags.
// kNoBody: read outside a pool (its header only): a size that needs its words reads them later.
enum : std::uint8_t { kDead = 1, kIn = 2, kOut = 4, kTouched = 8, kNoBody = 16 };
using Bytes = std::vector<std::uint8_t, HugeAllocator<std::uint8_t>>;

// Link targets: a node index (>= 0) or one of these.
inline constexpr std::int64_t kUnknown = -1;  // outside every scanned pool and not yet followed
inline constexpr std::int64_t kNoHead = -2;   // inside a scanned pool where no possible head is
constexpr std::int64_t sentinel_code(std::size_t s) { return -3 - static_cast<std::int64_t>(s); }
constexpr bool is_sentinel(std::int64_t r) { return r <= -3; }
constexpr std::size_t sentinel_index(std::int64_t r) { return static_cast<std::size_t>(-3 - r); }

// The nodes of objects outside pools, by address. A slot holds only the node's index (the
// address is in the candidate table): 4 bytes a slot, where a map from address would take 12,
// for a heap with millions of objects outside pools (PYTHONMALLOC=malloc).
class NodeIndex {
 public:
  explicit NodeIndex(const HeadCandidates::Words& addr) : addr_(addr) { slots_.assign(64, kNone); }
  std::uint32_t find(std::uint64_t a) const;
  void put(std::uint32_t v);  // `v` is the node at an address not in the index yet

 private:
  std::size_t slot(std::uint64_t a) const { return static_cast<std::size_t>((a * 0x9E3779B97F4A7C15ULL) >> 20) & (slots_.size() - 1); }
  void place(std::uint32_t v);
  void grow();
  const HeadCandidates::Words& addr_;
  std::vector<std::uint32_t> slots_;
  std::size_t used_ = 0;
};

// Address -> node: pools by dense tables over runs of nearby pools (arenas sit together),
// found by a binary search over a few runs, pools first read after the scan in a hash; list
// heads by a sorted table; objects outside pools by a NodeIndex. Nodes flagged kDead (a
// re-read pool's old heads) are never found once mark_dead() was called.
class NodeDirectory {
 public:
  NodeDirectory(const HeadCandidates& c, const Bytes& flags, std::vector<std::uint64_t> sentinels, int pool_shift);

  std::int64_t resolve(std::uint64_t a) const;
  std::uint32_t pool_index(std::uint64_t a) const;  // index in c.pools, or kNone
  const std::vector<std::uint64_t>& sentinels() const { return sent_; }

  void add_pool(std::uint64_t base, std::uint32_t index) { extra_pools_.put((base >> shift_) + 1, index); }
  void add_external(std::uint32_t node) { ext_.put(node); }
  bool has_external(std::uint64_t a) const { return ext_.find(a) != kNone; }
  void mark_dead() { any_dead_ = true; }

 private:
  std::int64_t in_pool(const ScannedPool& sp, std::uint64_t a) const;

  const HeadCandidates& c_;
  const Bytes& flags_;
  std::vector<std::uint64_t> sent_;  // sorted
  int shift_;
  bool any_dead_ = false;
  struct Run {
    std::uint64_t first, end;  // pool numbers [first, end)
    std::size_t offset;        // into dense_
  };
  std::vector<Run> runs_;
  std::vector<std::uint32_t> dense_;
  FlatMap extra_pools_;  // (pool number + 1) -> index in c.pools
  NodeIndex ext_;
};

}  // namespace objspy::scan
