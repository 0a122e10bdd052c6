#include "scan_nodes.hpp"

#include <algorithm>

namespace objspy::scan {

std::uint32_t NodeIndex::find(std::uint64_t a) const {
  for (std::size_t i = slot(a);; i = (i + 1) & (slots_.size() - 1)) {
    const std::uint32_t v = slots_[i];
    if (v == kNone || addr_[v] == a) return v;
  }
}

void NodeIndex::put(std::uint32_t v) {
  if ((used_ + 1) * 2 > slots_.size()) grow();
  place(v);
  ++used_;
}

void NodeIndex::place(std::uint32_t v) {
  std::size_t i = slot(addr_[v]);
  while (slots_[i] != kNone) i = (i + 1) & (slots_.size() - 1);
  slots_[i] = v;
}

void NodeIndex::grow() {
  std::vector<std::uint32_t> old(slots_.size() * 2, kNone);
  old.swap(slots_);
  for (std::uint32_t v : old)
    if (v != kNone) place(v);
}

NodeDirectory::NodeDirectory(const HeadCandidates& c, const Bytes& flags, std::vector<std::uint64_t> sentinels, int pool_shift)
    : c_(c), flags_(flags), sent_(std::move(sentinels)), shift_(pool_shift), ext_(c.addr) {
  std::sort(sent_.begin(), sent_.end());
  constexpr std::uint64_t kMaxGap = 64;  // pools: a longer gap starts a new run
  for (std::size_t p = 0; p < c_.pools.size();) {
    const std::uint64_t first = c_.pools[p].base >> shift_;
    std::size_t q = p + 1;
    while (q < c_.pools.size() && (c_.pools[q].base >> shift_) - (c_.pools[q - 1].base >> shift_) <= kMaxGap) ++q;
    const std::uint64_t last = c_.pools[q - 1].base >> shift_;
    runs_.push_back({first, last + 1, dense_.size()});
    dense_.resize(dense_.size() + (last + 1 - first), kNone);
    for (std::size_t k = p; k < q; ++k) dense_[runs_.back().offset + ((c_.pools[k].base >> shift_) - first)] = static_cast<std::uint32_t>(k);
    p = q;
  }
}

std::uint32_t NodeDirectory::pool_index(std::uint64_t a) const {
  const std::uint64_t pn = a >> shift_;
  auto it = std::upper_bound(runs_.begin(), runs_.end(), pn, [](std::uint64_t v, const Run& r) { return v < r.first; });
  if (it != runs_.begin()) {
    --it;
    if (pn < it->end) {
      std::uint32_t p = dense_[it->offset + (pn - it->first)];
      if (p != kNone) return p;
    }
  }
  return extra_pools_.find(pn + 1);
}

// The node at `a` inside pool `sp`, or kNoHead. Candidates are in address order and about
// one per block, so the search starts where the block index says and walks a few entries.
std::int64_t NodeDirectory::in_pool(const ScannedPool& sp, std::uint64_t a) const {
  if (sp.count == 0) return kNoHead;
  std::uint64_t k = (a - sp.base) / sp.block_size;
  std::size_t g = sp.first + static_cast<std::size_t>(std::min<std::uint64_t>(k * sp.count / (sp.blocks + 1), sp.count - 1));
  const std::size_t lo = sp.first, hi = sp.first + sp.count;
  const std::uint64_t* ad = c_.addr.data();
  if (ad[g] < a) {
    while (g + 1 < hi && ad[g] < a) ++g;
  } else {
    while (g > lo && ad[g - 1] >= a) --g;
  }
  if (ad[g] != a || (any_dead_ && (flags_[g] & kDead))) return kNoHead;  // no flag read until something died
  return static_cast<std::int64_t>(g);
}

std::int64_t NodeDirectory::resolve(std::uint64_t a) const {
  if (std::uint32_t p = pool_index(a); p != kNone) return in_pool(c_.pools[p], a);
  if (auto it = std::lower_bound(sent_.begin(), sent_.end(), a); it != sent_.end() && *it == a)
    return sentinel_code(static_cast<std::size_t>(it - sent_.begin()));
  if (std::uint32_t x = ext_.find(a); x != kNone && !(flags_[x] & kDead)) return x;
  return kUnknown;
}

}  // namespace objspy::scan
