// A small open-addressing hash map from a nonzero u64 key to a u32 value, for hot loops
// (node and pool lookups in the heap scan): flat arrays, linear probing, load at most 1/2.
#pragma once
#include <cstdint>
#include <limits>
#include <vector>

namespace objspy {

// Open addressing, u64 key (never 0) -> u32.
class FlatMap {
 public:
  static constexpr std::uint32_t kNone = std::numeric_limits<std::uint32_t>::max();

  FlatMap() { reset(64); }
  std::uint32_t find(std::uint64_t k) const {
    for (std::size_t i = slot(k);; i = (i + 1) & mask_) {
      if (keys_[i] == k) return vals_[i];
      if (keys_[i] == 0) return kNone;
    }
  }
  std::size_t size() const { return used_; }
  void put(std::uint64_t k, std::uint32_t v) {
    if ((used_ + 1) * 2 > keys_.size()) grow();
    std::size_t i = slot(k);
    while (keys_[i] != 0 && keys_[i] != k) i = (i + 1) & mask_;
    if (keys_[i] == 0) ++used_;
    keys_[i] = k;
    vals_[i] = v;
  }

 private:
  std::size_t slot(std::uint64_t k) const { return static_cast<std::size_t>((k * 0x9E3779B97F4A7C15ULL) >> 20) & mask_; }
  void reset(std::size_t n) {
    keys_.assign(n, 0);
    vals_.assign(n, 0);
    mask_ = n - 1;
    used_ = 0;
  }
  void grow() {
    auto keys = std::move(keys_);
    auto vals = std::move(vals_);
    reset(keys.size() * 2);
    for (std::size_t i = 0; i < keys.size(); ++i)
      if (keys[i]) put(keys[i], vals[i]);
  }
  std::vector<std::uint64_t> keys_;
  std::vector<std::uint32_t> vals_;
  std::size_t mask_ = 0, used_ = 0;
};

}  // namespace objspy
