// A read cache with a fixed memory budget in front of any reader. The GC lists follow
// allocation order, so a walk touches the same chunks over and over: reading large aligned
// chunks once turns a million dependent 16-byte reads into a few thousand syscalls.
#pragma once
#include <memory>
#include <unordered_map>
#include <vector>

#include "objspy/process/maps.hpp"
#include "objspy/process/reader.hpp"

namespace objspy {

struct CacheStats {
  std::uint64_t hits = 0;
  std::uint64_t fetches = 0;        // chunk reads from the backing reader
  std::uint64_t bytes_fetched = 0;
  std::uint64_t evictions = 0;
};

class CachedReader final : public MemoryReader {
 public:
  static constexpr std::size_t kDefaultChunk = 64 * 1024;
  static constexpr std::size_t kDefaultBudget = 16 * 1024 * 1024;

  // `map` (optional) keeps chunk reads inside one mapping and rejects unmapped addresses
  // without a syscall.
  CachedReader(MemoryReader& backing, const MemoryMap* map, std::size_t budget = kDefaultBudget,
               std::size_t chunk = kDefaultChunk);
  ~CachedReader() override;
  CachedReader(const CachedReader&) = delete;
  CachedReader& operator=(const CachedReader&) = delete;

  Status read(RemoteAddr addr, std::span<std::byte> out) override;
  const std::byte* peek(RemoteAddr addr, std::size_t len) override;
  const CacheStats& stats() const { return stats_; }
  std::size_t budget() const { return slots_.size() * chunk_; }

 private:
  struct Slot {
    std::uint64_t index = ~0ULL;  // chunk number (addr / chunk_)
    std::size_t valid = 0;        // bytes of the chunk that were readable
    std::size_t valid_from = 0;   // first readable byte (chunks clamped to a mapping's start)
    std::byte* data = nullptr;  // into storage_
  };
  Result<const Slot*> chunk(std::uint64_t index);
  Result<const Slot*> fetch_unmapped(Slot& s, std::uint64_t index);

  MemoryReader& backing_;
  const MemoryMap* map_;
  std::size_t chunk_;
  int shift_;
  std::vector<Slot> slots_;
  // One block for all slots, allocated once and not zeroed: a fresh census touches each
  // page once, so faults and zeroing were a quarter of a small census's time.
  std::byte* storage_ = nullptr;
  std::size_t storage_size_ = 0;
  std::unordered_map<std::uint64_t, std::uint32_t> where_;
  std::size_t next_victim_ = 0;
  const Slot* last_ = nullptr;
  CacheStats stats_;
};

}  // namespace objspy
