#include "objspy/python/pool_scan.hpp"

#include <algorithm>
#include <array>
#include <bitset>
#include <atomic>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <optional>
#include <system_error>
#include <thread>

#include "objspy/core/load.hpp"

namespace objspy {
namespace {

// Where a PyGC_Head can start inside a pymalloc block: at the block (GC object), 16 bytes in
// (3.11+ pre-header for a managed dict/weakref, or a debug allocator's 16-byte prefix), or 32
// bytes in (both). Which one a block holds is decided by the links, not here.
constexpr std::array<std::uint64_t, 3> kHeadOffsets = {0, 16, 32};

class Classifier {
 public:
  Classifier(const Layout& l, const MemoryMap& map, const std::vector<std::uint64_t>& sentinels)
      : l_(l), sentinels_(sentinels) {
    if (!map.mappings().empty()) {
      lo_ = map.mappings().front().start;
      hi_ = map.mappings().back().end;
    }
  }

  // Whether the four words at a possible head look like PyGC_Head + PyObject header: both
  // links 16-aligned pointers (or list heads), a plausible reference count, an aligned type
  // pointer. Cheap tests only; most raw data fails the reference count (pointers are >= 2^44
  // on x86-64 Linux, counts are small) or the alignment.
  bool plausible(std::uint64_t n, std::uint64_t p, std::uint64_t rc, std::uint64_t t) const {
    if (!plausible_object(rc, t, l_) || t < lo_ || t >= hi_) return false;
    return link_ok(n) && link_ok(p);
  }

 private:
  bool link_ok(std::uint64_t w) const {
    if (w < lo_ || w >= hi_) return false;
    if ((w & 15) == 0) return true;
    return std::binary_search(sentinels_.begin(), sentinels_.end(), w);
  }
  const Layout& l_;
  const std::vector<std::uint64_t>& sentinels_;
  std::uint64_t lo_ = 0, hi_ = 0;
};

// Classify the blocks of one pool whose bytes are at `p` (pool_size of them).
void scan_pool(const std::byte* p, std::uint64_t base, const PoolHeader& h, const PymallocLayout& pm, const Classifier& cls,
               HeadCandidates& out, PoolScanStats& st) {
  // Blocks on the pool's free list hold a stale object (and a free-list link in their first
  // word): leave them out. The list lives inside the pool, so it is followed in the copy; its
  // order is random, so the pool's lines are fetched first, all at once (the copy was written
  // on another core), rather than one dependent miss per free block.
  for (std::uint64_t off = 0; off < h.nextoffset; off += 64) __builtin_prefetch(p + off);
  std::bitset<1024> free;
  std::uint64_t f = h.freeblock;
  for (std::uint32_t steps = 0; f && steps < h.used_blocks; ++steps) {
    std::uint64_t off = f - base;
    if (f < base || off < pm.pool_overhead || off >= h.nextoffset || (off - pm.pool_overhead) % h.block_size) break;
    std::size_t k = (off - pm.pool_overhead) / h.block_size;
    if (k >= free.size() || free.test(k)) break;
    free.set(k);
    f = load64(p + off);
  }
  ScannedPool sp;
  sp.base = base;
  sp.block_size = h.block_size;
  sp.blocks = h.used_blocks;
  sp.first = static_cast<std::uint32_t>(out.size());
  for (std::uint32_t k = 0; k < h.used_blocks; ++k) {
    if (k < free.size() && free.test(k)) continue;
    ++st.blocks;
    std::uint64_t boff = pm.pool_overhead + std::uint64_t{k} * h.block_size;
    for (std::uint64_t o : kHeadOffsets) {
      if (o + 32 > h.block_size) break;
      const std::byte* w = p + boff + o;
      std::uint64_t n = load64(w) & ~std::uint64_t{3}, pr = load64(w + 8) & ~std::uint64_t{3};
      std::uint64_t rc = load64(w + 16), t = load64(w + 24);
      if (!cls.plausible(n, pr, rc, t)) continue;
      // The object starts after PyGC_Head (16): its words at +16, +32, +40, when in the pool.
      std::uint64_t body[3] = {0, 0, 0};
      if (out.with_body && boff + o + 64 <= pm.pool_size) {
        body[0] = load64(w + 32);
        body[1] = load64(w + 48);
        body[2] = load64(w + 56);
      }
      out.push(base + boff + o, n, pr, t, body);
    }
  }
  sp.count = static_cast<std::uint32_t>(out.size() - sp.first);
  if (sp.count) out.pools.push_back(sp);
}

}  // namespace

bool parse_pool_header(const std::byte* p, std::uint64_t base, const PymallocLayout& pm, PoolHeader* out) {
  PoolHeader h;
  h.count = load32(p);
  h.freeblock = load64(p + 8);
  h.szidx = load32(p + 36);
  h.nextoffset = load32(p + 40);
  h.maxnextoffset = load32(p + 44);
  if (h.count == 0 || h.szidx >= pm.size_classes) return false;
  h.block_size = static_cast<std::uint32_t>((h.szidx + 1) * pm.alignment);
  // pymalloc sets maxnextoffset = POOL_SIZE - size when it carves the pool, and hands out
  // blocks at POOL_OVERHEAD + k * size: a page that satisfies all of this is a pool.
  if (h.maxnextoffset != pm.pool_size - h.block_size) return false;
  if (h.nextoffset < pm.pool_overhead || h.nextoffset > pm.pool_size || (h.nextoffset - pm.pool_overhead) % h.block_size) return false;
  h.used_blocks = static_cast<std::uint32_t>((h.nextoffset - pm.pool_overhead) / h.block_size);
  if (h.count > h.used_blocks) return false;
  if (h.freeblock && (h.freeblock < base + pm.pool_overhead || h.freeblock >= base + pm.pool_size)) return false;
  *out = h;
  return true;
}

void scan_one_pool(const std::byte* bytes, std::uint64_t base, const PoolHeader& h, const Layout& l, const MemoryMap& map,
                   const std::vector<std::uint64_t>& sentinels, HeadCandidates& out) {
  Classifier cls(l, map, sentinels);
  PoolScanStats st;
  scan_pool(bytes, base, h, l.pymalloc, cls, out, st);
}

std::vector<const Mapping*> object_regions(const MemoryMap& map) {
  std::vector<const Mapping*> out;
  for (const auto& m : map.mappings())
    if (m.anonymous_private()) out.push_back(&m);
  return out;
}

Result<PoolScanStats> scan_pools(MemoryReader& mem, const MemoryMap& map, const Layout& l, const PoolScanLimits& lim,
                                 const std::vector<std::uint64_t>& sentinels, HeadCandidates& out) {
  const PymallocLayout& pm = l.pymalloc;
  PoolScanStats st;
  Classifier cls(l, map, sentinels);

  // 1. Probe: the 48-byte header of every pool-aligned page, many per syscall.
  std::vector<std::uint64_t> used;
  constexpr std::size_t kBatch = 1024;
  std::vector<std::byte> hdr_buf(kBatch * 48);
  std::vector<ReadRequest> reqs;
  reqs.reserve(kBatch);
  auto flush = [&]() -> Status {
    if (reqs.empty()) return {};
    OBJSPY_TRY(mem.read_batch(reqs));
    st.pools_probed += reqs.size();
    for (const auto& r : reqs) {
      PoolHeader h;
      if (r.ok && parse_pool_header(r.out.data(), r.addr.value(), pm, &h)) used.push_back(r.addr.value());
    }
    reqs.clear();
    return {};
  };
  std::uint64_t budget = lim.max_region_bytes;
  auto late = [&] { return std::chrono::steady_clock::now() >= lim.deadline; };
  for (const Mapping* m : object_regions(map)) {
    ++st.regions;
    std::uint64_t a = (m->start + pm.pool_size - 1) & ~(pm.pool_size - 1);
    for (; a + pm.pool_size <= m->end; a += pm.pool_size) {
      if (budget < pm.pool_size) { st.regions_capped = true; break; }
      budget -= pm.pool_size;
      reqs.push_back({RemoteAddr(a), std::span<std::byte>(hdr_buf.data() + reqs.size() * 48, 48)});
      if (reqs.size() == kBatch) {
        OBJSPY_TRY(flush());
        if (late()) { st.timed_out = true; break; }
      }
    }
    if (st.regions_capped || st.timed_out) break;
  }
  OBJSPY_TRY(flush());
  st.pools_used = used.size();
  // Room for the candidates at once: growing four large vectors by doubling costs page faults
  // and copies. Blocks average well over 48 bytes in real heaps.
  {
    std::size_t guess = std::min<std::size_t>(lim.max_candidates + 1, used.size() * (pm.pool_size / 48));
    for (auto* v : {&out.addr, &out.next, &out.prev, &out.type}) v->reserve(v->size() + guess);
    if (out.with_body) out.body.reserve(out.body.size() + 3 * guess);
    out.pools.reserve(out.pools.size() + used.size());
  }

  // 2. Read the used pools in runs of consecutive ones and classify their blocks. A pool whose
  // header no longer checks out was freed or recycled meanwhile: its objects, if any, are found
  // through the links. Reading (time in the kernel) and classifying overlap: this thread reads
  // the next run while a worker classifies the one before, through a few fixed buffers.
  const std::size_t run_bytes = std::max<std::size_t>(lim.read_bytes, pm.pool_size);
  const std::size_t per_read = run_bytes / pm.pool_size;
  struct Run {
    std::size_t i = 0, j = 0, buf = 0;
  };
  constexpr std::size_t kBuffers = 3;
  std::vector<std::byte> bufs(kBuffers * run_bytes);
  std::mutex mu;
  std::condition_variable cv;
  std::deque<Run> ready;
  std::vector<std::size_t> free_bufs = {0, 1, 2};
  bool done = false;
  std::atomic<bool> over{false};
  PoolScanStats wst;  // the worker's figures
  auto classify = [&](const Run& r) {
    const std::byte* base = bufs.data() + r.buf * run_bytes;
    for (std::size_t k = r.i; k < r.j && !over; ++k) {
      const std::byte* p = base + (used[k] - used[r.i]);
      PoolHeader h;
      if (!parse_pool_header(p, used[k], pm, &h)) continue;
      scan_pool(p, used[k], h, pm, cls, out, wst);
      if (out.size() > lim.max_candidates) over = true;
    }
  };
  auto work = [&] {
    for (;;) {
      Run r;
      {
        std::unique_lock lk(mu);
        cv.wait(lk, [&] { return !ready.empty() || done; });
        if (ready.empty()) return;
        r = ready.front();
        ready.pop_front();
      }
      classify(r);
      {
        std::lock_guard lk(mu);
        free_bufs.push_back(r.buf);
      }
      cv.notify_all();
    }
  };
  std::optional<std::thread> worker;
  if (used.size() > per_read) {
    try {
      worker.emplace(work);
    } catch (const std::system_error&) {
      // No thread to be had: classify on this one.
    }
  }
  auto finish = [&] {
    {
      std::lock_guard lk(mu);
      done = true;
    }
    cv.notify_all();
    if (worker) worker->join();
  };
  Status failed;
  for (std::size_t i = 0; i < used.size() && !st.timed_out;) {
    if (late()) {
      st.timed_out = true;
      break;
    }
    std::size_t j = i + 1;
    while (j < used.size() && j - i < per_read && used[j] == used[j - 1] + pm.pool_size) ++j;
    std::size_t b;
    {
      std::unique_lock lk(mu);
      cv.wait(lk, [&] { return !free_bufs.empty(); });
      b = free_bufs.back();
      free_bufs.pop_back();
      if (over) break;
    }
    std::size_t len = (j - i) * pm.pool_size;
    auto rd = mem.read(RemoteAddr(used[i]), std::span<std::byte>(bufs.data() + b * run_bytes, len));
    if (!rd.ok()) {
      {
        std::lock_guard lk(mu);
        free_bufs.push_back(b);
      }
      if (rd.error().code != Errc::bad_address) { failed = rd.take_error(); break; }
      i = j;  // unmapped since the probe
      continue;
    }
    st.bytes_scanned += len;
    if (worker) {
      {
        std::lock_guard lk(mu);
        ready.push_back({i, j, b});
      }
      cv.notify_all();
    } else {
      classify({i, j, b});
      free_bufs.push_back(b);
    }
    i = j;
  }
  finish();
  OBJSPY_TRY(failed);
  st.blocks += wst.blocks;
  st.over_budget = over;
  return st;
}

}  // namespace objspy
