#include "objspy/process/snapshot_reader.hpp"

#include <sys/mman.h>

#include <algorithm>
#include <cstring>

#include <fmt/format.h>

namespace objspy {

std::vector<const Mapping*> SnapshotReader::plan(const MemoryMap& map, std::uint64_t* bytes) {
  std::vector<const Mapping*> out;
  *bytes = 0;
  for (const auto& m : map.mappings()) {
    // Private writable memory: anonymous (arenas, malloc), the brk heap, and the data of
    // mapped files (static types, the runtime state). Never shared memory (another process's
    // data, device memory) and never the stack.
    if (!m.readable || !m.writable || m.shared || m.path == "[stack]") continue;
    if (!m.path.empty() && m.path[0] == '[' && !m.anonymous_private()) continue;  // [vvar] and the like
    out.push_back(&m);
    *bytes += m.end - m.start;
  }
  return out;
}

Result<SnapshotReader> SnapshotReader::reserve(MemoryReader& live, std::uint64_t bytes) {
  std::size_t size = std::max<std::size_t>(static_cast<std::size_t>(bytes), 4096);
  // Faulted in now (MAP_POPULATE), before any thread of the target is held.
  void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
  if (p == MAP_FAILED)
    return make_error(Errc::io, fmt::format("cannot reserve {} MiB for the copy of the target's memory", size >> 20));
  return SnapshotReader(live, static_cast<std::byte*>(p), size);
}

SnapshotReader::SnapshotReader(SnapshotReader&& o) noexcept
    : live_(o.live_), base_(o.base_), size_(o.size_), used_(o.used_), segs_(std::move(o.segs_)) {
  o.base_ = nullptr;
  o.size_ = 0;
}

SnapshotReader::~SnapshotReader() {
  if (base_) ::munmap(base_, size_);
}

Result<bool> SnapshotReader::copy(const std::vector<const Mapping*>& maps) {
  segs_.clear();
  used_ = 0;
  std::uint64_t need = 0;
  for (const Mapping* m : maps) need += m->end - m->start;
  if (need > size_) return false;
  constexpr std::size_t kChunk = 8 << 20;
  for (const Mapping* m : maps) {
    std::byte* dst = base_ + used_;
    std::uint64_t a = m->start;
    while (a < m->end) {
      std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(kChunk, m->end - a));
      auto got = live_.read_some(RemoteAddr(a), std::span<std::byte>(dst + (a - m->start), n));
      if (!got.ok()) {
        if (got.error().code != Errc::bad_address) return got.take_error();
        break;  // the rest of this mapping is unreadable (unmapped meanwhile): copy what was read
      }
      a += *got;
    }
    if (a > m->start) segs_.push_back({m->start, a, dst});
    used_ += a - m->start;
  }
  return true;
}

const SnapshotReader::Segment* SnapshotReader::find(std::uint64_t a, std::size_t len) const {
  auto fits = [&](const Segment& s) { return a >= s.start && a + len <= s.end && a + len >= a; };
  if (last_ < segs_.size() && fits(segs_[last_])) return &segs_[last_];
  auto it = std::upper_bound(segs_.begin(), segs_.end(), a, [](std::uint64_t v, const Segment& s) { return v < s.start; });
  if (it == segs_.begin()) return nullptr;
  --it;
  if (!fits(*it)) return nullptr;
  last_ = static_cast<std::size_t>(it - segs_.begin());
  return &*it;
}

Status SnapshotReader::read(RemoteAddr addr, std::span<std::byte> out) {
  if (out.empty()) return {};
  if (const Segment* s = find(addr.value(), out.size())) {
    std::memcpy(out.data(), s->data + (addr.value() - s->start), out.size());
    return {};
  }
  return live_.read(addr, out);  // read-only data, or memory the copy does not hold
}

const std::byte* SnapshotReader::peek(RemoteAddr addr, std::size_t len) {
  const Segment* s = find(addr.value(), len);
  return s ? s->data + (addr.value() - s->start) : nullptr;
}

}  // namespace objspy
