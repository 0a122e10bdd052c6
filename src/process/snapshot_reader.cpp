#include "objspy/process/snapshot_reader.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

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
    : live_(o.live_), base_(o.base_), size_(o.size_), used_(o.used_), segs_(std::move(o.segs_)), planned_(std::move(o.planned_)) {
  o.base_ = nullptr;
  o.size_ = 0;
}

SnapshotReader::~SnapshotReader() {
  if (base_) ::munmap(base_, size_);
}

namespace {

constexpr std::uint64_t kPresent = 1ULL << 63, kSwapped = 1ULL << 62, kPfnMask = (1ULL << 55) - 1;

// The pagemap entry of one page of this process.
std::uint64_t own_pagemap(const void* p, long page) {
  std::uint64_t e = 0;
  const int fd = ::open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  if (::pread(fd, &e, 8, static_cast<off_t>(reinterpret_cast<std::uintptr_t>(p) / static_cast<std::uintptr_t>(page) * 8)) != 8) e = 0;
  ::close(fd);
  return e;
}

// The page frames of the kernel's zero pages (the 4 KiB one, and the huge one where THP maps
// it): memory that was only ever read is mapped to them, and holds nothing to copy. A target
// can map gigabytes and have them read (objspy's own probe of pool headers reads them). Frame
// numbers are shown to CAP_SYS_ADMIN only; without it, {0, 0}: nothing is recognised.
struct ZeroFrames {
  std::uint64_t small = 0, huge = 0;  // huge: the first of 512 frames
};

const ZeroFrames& zero_frames(long page) {
  static const ZeroFrames z = [page] {
    ZeroFrames out;
    const std::size_t huge = 2u << 20;
    void* p = ::mmap(nullptr, 2 * huge, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) return out;
    auto* small = static_cast<volatile const char*>(p);
    (void)*small;  // faults in the zero page
    std::uint64_t e = own_pagemap(p, page);
    if (e & kPresent) out.small = e & kPfnMask;
    auto* aligned = reinterpret_cast<char*>((reinterpret_cast<std::uintptr_t>(p) + huge - 1) & ~(std::uintptr_t{huge} - 1));
    if (aligned + huge <= static_cast<char*>(p) + 2 * huge && aligned != p) {
      ::madvise(aligned, huge, MADV_HUGEPAGE);
      (void)*static_cast<volatile const char*>(aligned);
      e = own_pagemap(aligned, page);
      if ((e & kPresent) && (e & kPfnMask) != out.small) out.huge = e & kPfnMask;
    }
    ::munmap(p, 2 * huge);
    return out;
  }();
  return z;
}

}  // namespace

std::vector<SnapshotReader::Range> SnapshotReader::resident(pid_t pid, const std::vector<const Mapping*>& maps, std::uint64_t* bytes) {
  std::vector<Range> out;
  *bytes = 0;
  auto whole = [&] {
    out.clear();
    *bytes = 0;
    for (const Mapping* m : maps) {
      out.push_back({m->start, m->end});
      *bytes += m->end - m->start;
    }
    return out;
  };
  const long page = ::sysconf(_SC_PAGESIZE);
  if (page <= 0) return whole();
  // Reading the page map costs 8 bytes per page of address space, touched or not: a process
  // with a huge sparse reservation (an ASan build's shadow, terabytes) would cost minutes,
  // before and during the hold. Past 64 GiB of address space the mappings count whole, which
  // is past the copy budget: the census is then taken while holding, bounded by its deadline.
  constexpr std::uint64_t kMaxPagemapSpan = 64ULL << 30;
  std::uint64_t span = 0;
  for (const Mapping* m : maps) span += m->end - m->start;
  if (span > kMaxPagemapSpan) return whole();
  const int fd = ::open(fmt::format("/proc/{}/pagemap", pid).c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return whole();
  const ZeroFrames& zero = zero_frames(page);
  auto holds_data = [&](std::uint64_t e) {
    if (e & kSwapped) return true;
    if (!(e & kPresent)) return false;
    const std::uint64_t pfn = e & kPfnMask;
    if (pfn == 0) return true;  // frame numbers hidden: every present page counts
    return pfn != zero.small && !(zero.huge && pfn >= zero.huge && pfn < zero.huge + 512);
  };
  std::vector<std::uint64_t> entries(1 << 16);  // 256 MiB of address space per read
  bool ok = true;
  for (const Mapping* m : maps) {
    const std::uint64_t first = m->start / static_cast<std::uint64_t>(page), last = m->end / static_cast<std::uint64_t>(page);
    for (std::uint64_t p = first; p < last && ok;) {
      const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(entries.size(), last - p));
      const ssize_t got = ::pread(fd, entries.data(), n * 8, static_cast<off_t>(p * 8));
      if (got <= 0 || got % 8) { ok = false; break; }
      const std::size_t k = static_cast<std::size_t>(got) / 8;
      for (std::size_t i = 0; i < k; ++i) {
        if (!holds_data(entries[i])) continue;
        const std::uint64_t a = (p + i) * static_cast<std::uint64_t>(page);
        if (!out.empty() && out.back().end == a) out.back().end += static_cast<std::uint64_t>(page);
        else out.push_back({a, a + static_cast<std::uint64_t>(page)});
        *bytes += static_cast<std::uint64_t>(page);
      }
      p += k;
    }
    if (!ok) break;
  }
  ::close(fd);
  if (!ok) return whole();
  return out;
}

Result<bool> SnapshotReader::copy(const std::vector<const Mapping*>& maps) {
  std::vector<Range> ranges;
  for (const Mapping* m : maps) ranges.push_back({m->start, m->end});
  return copy(maps, ranges);
}

Result<bool> SnapshotReader::copy(const std::vector<const Mapping*>& maps, const std::vector<Range>& ranges) {
  segs_.clear();
  planned_.clear();
  used_ = 0;
  for (const Mapping* m : maps) planned_.push_back({m->start, m->end});
  std::sort(planned_.begin(), planned_.end(), [](const Range& x, const Range& y) { return x.start < y.start; });
  std::uint64_t need = 0;
  for (const Range& r : ranges) need += r.end - r.start;
  if (need > size_) return false;
  constexpr std::size_t kChunk = 8 << 20;
  for (const Range& r : ranges) {
    std::byte* dst = base_ + used_;
    std::uint64_t a = r.start;
    while (a < r.end) {
      std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(kChunk, r.end - a));
      auto got = live_.read_some(RemoteAddr(a), std::span<std::byte>(dst + (a - r.start), n));
      if (!got.ok()) {
        if (got.error().code != Errc::bad_address) return got.take_error();
        break;  // the rest of this range is unreadable (unmapped meanwhile): copy what was read
      }
      a += *got;
    }
    if (a > r.start) segs_.push_back({r.start, a, dst});
    used_ += a - r.start;
  }
  return true;
}

std::vector<SnapshotReader::Piece> SnapshotReader::pieces() const {
  std::vector<Piece> out;
  out.reserve(segs_.size());
  for (const Segment& s : segs_) out.push_back({s.start, std::span<const std::byte>(s.data, s.end - s.start)});
  return out;
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

const SnapshotReader::Range* SnapshotReader::planned_at(std::uint64_t a) const {
  auto it = std::upper_bound(planned_.begin(), planned_.end(), a, [](std::uint64_t v, const Range& r) { return v < r.start; });
  if (it == planned_.begin()) return nullptr;
  --it;
  return a < it->end ? &*it : nullptr;
}

Status SnapshotReader::read(RemoteAddr addr, std::span<std::byte> out) {
  if (out.empty()) return {};
  if (const Segment* s = find(addr.value(), out.size())) {
    std::memcpy(out.data(), s->data + (addr.value() - s->start), out.size());
    return {};
  }
  // Piece by piece: bytes of the copy; pages of the copied mappings that the copy left out
  // (never touched, or only read: zeros while the target was held); the rest from the target.
  const std::uint64_t a = addr.value();
  std::size_t done = 0;
  while (done < out.size()) {
    const std::uint64_t at = a + done;
    const std::size_t left = out.size() - done;
    auto next = std::upper_bound(segs_.begin(), segs_.end(), at, [](std::uint64_t v, const Segment& s) { return v < s.start; });
    if (next != segs_.begin() && at < std::prev(next)->end) {
      const Segment& s = *std::prev(next);
      const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(left, s.end - at));
      std::memcpy(out.data() + done, s.data + (at - s.start), n);
      done += n;
      continue;
    }
    if (const Range* z = planned_at(at)) {
      std::uint64_t end = z->end;
      if (next != segs_.end()) end = std::min(end, next->start);
      const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(left, end - at));
      std::memset(out.data() + done, 0, n);
      done += n;
      continue;
    }
    return live_.read(RemoteAddr(at), out.subspan(done));  // read-only data, or memory mapped since
  }
  return {};
}

const std::byte* SnapshotReader::peek(RemoteAddr addr, std::size_t len) {
  const Segment* s = find(addr.value(), len);
  return s ? s->data + (addr.value() - s->start) : nullptr;
}

}  // namespace objspy
