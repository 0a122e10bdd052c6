#include "objspy/process/cached_reader.hpp"

#include <algorithm>
#include <bit>

#include <sys/mman.h>

#include <fmt/format.h>

namespace objspy {

CachedReader::CachedReader(MemoryReader& backing, const MemoryMap* map, std::size_t budget, std::size_t chunk)
    : backing_(backing), map_(map), chunk_(std::bit_ceil(std::max<std::size_t>(chunk, 4096))) {
  shift_ = std::countr_zero(chunk_);
  std::size_t n = std::max<std::size_t>(budget / chunk_, 4);
  slots_.resize(n);
  where_.reserve(n * 2);
  storage_size_ = n * chunk_;
  void* p = ::mmap(nullptr, storage_size_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) throw std::bad_alloc();

  ::madvise(p, storage_size_, MADV_HUGEPAGE);  // fewer faults where THP is enabled; harmless elsewhere
  storage_ = static_cast<std::byte*>(p);
  for (std::size_t i = 0; i < n; ++i) slots_[i].data = storage_ + i * chunk_;
}

CachedReader::~CachedReader() { ::munmap(storage_, storage_size_); }

Result<const CachedReader::Slot*> CachedReader::chunk(std::uint64_t index) {
  if (last_ && last_->index == index) { ++stats_.hits; return last_; }
  if (auto it = where_.find(index); it != where_.end()) {
    ++stats_.hits;
    last_ = &slots_[it->second];
    return last_;
  }
  // FIFO replacement: the walk moves forward through memory, so the oldest chunk is almost
  // always the least useful one.
  std::uint32_t victim = static_cast<std::uint32_t>(next_victim_);
  next_victim_ = (next_victim_ + 1) % slots_.size();
  Slot& s = slots_[victim];
  if (s.index != ~0ULL) { where_.erase(s.index); ++stats_.evictions; }
  s.index = ~0ULL;

  std::uint64_t start = index << shift_;
  std::uint64_t end = start + chunk_;
  std::uint64_t from = start;
  if (map_) {
    // Cache the first readable run inside the chunk, across adjacent mappings (a library's
    // .data and .bss, or neighbouring arenas, are separate mappings back to back).
    const Mapping* m = map_->find(RemoteAddr(start));
    if (!m) {
      m = nullptr;
      for (const auto& mm : map_->mappings())
        if (mm.readable && mm.start > start && mm.start < end) { m = &mm; break; }
      // Not in the map read before this census: memory the target mapped since (a growing
      // heap maps new arenas all the time). The kernel is asked; the chunk is cached if it
      // is there.
      if (!m) return fetch_unmapped(s, index);
      from = m->start;
    }
    std::uint64_t run_end = m->end;
    while (run_end < end) {
      const Mapping* next = map_->find(RemoteAddr(run_end));
      if (!next) break;
      run_end = next->end;
    }
    end = std::min(end, run_end);
  }
  auto got = backing_.read_some(RemoteAddr(from), std::span<std::byte>(s.data + (from - start), end - from));
  if (!got.ok()) return got.take_error();
  std::size_t n = *got;
  ++stats_.fetches;
  stats_.bytes_fetched += n;
  s.index = index;
  s.valid_from = static_cast<std::size_t>(from - start);
  s.valid = s.valid_from + n;
  where_[index] = victim;
  last_ = &s;
  return last_;
}

Result<const CachedReader::Slot*> CachedReader::fetch_unmapped(Slot& s, std::uint64_t index) {  std::uint64_t start = index << shift_;
  auto got = backing_.read_some(RemoteAddr(start), std::span<std::byte>(s.data, chunk_));
  if (!got.ok()) return got.take_error();
  ++stats_.fetches;
  stats_.bytes_fetched += *got;
  s.index = index;
  s.valid_from = 0;
  s.valid = *got;
  where_[index] = static_cast<std::uint32_t>(&s - slots_.data());
  last_ = &s;
  return last_;
}

const std::byte* CachedReader::peek(RemoteAddr addr, std::size_t len) {
  std::uint64_t a = addr.value();
  std::size_t off = static_cast<std::size_t>(a & (chunk_ - 1));
  if (off + len > chunk_) return nullptr;
  auto s = chunk(a >> shift_);
  if (!s.ok() || off < (*s)->valid_from || off + len > (*s)->valid) return nullptr;
  return (*s)->data + off;
}

Status CachedReader::read(RemoteAddr addr, std::span<std::byte> out) {
  std::uint64_t a = addr.value();
  std::size_t done = 0;
  while (done < out.size()) {
    std::uint64_t index = (a + done) >> shift_;
    OBJSPY_ASSIGN(const Slot* s, chunk(index));
    std::size_t off = static_cast<std::size_t>((a + done) & (chunk_ - 1));
    if (off < s->valid_from || off >= s->valid) {
      // Outside the cached run (a chunk with a hole in it): read directly, uncached.
      std::size_t n = std::min(out.size() - done, chunk_ - off);
      OBJSPY_TRY(backing_.read(RemoteAddr(a + done), out.subspan(done, n)));
      done += n;
      continue;
    }
    std::size_t n = std::min(out.size() - done, s->valid - off);
    std::memcpy(out.data() + done, s->data + off, n);
    done += n;
  }
  return {};
}

}  // namespace objspy
