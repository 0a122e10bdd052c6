#include "objspy/python/allocator.hpp"

#include <algorithm>
#include <cstring>
#include <vector>

#include <fmt/format.h>

#include "objspy/core/load.hpp"
#include "objspy/process/scattered.hpp"

namespace objspy {
namespace {

bool soft(const Error& e) { return e.code == Errc::bad_address || e.code == Errc::corrupt_target; }

}  // namespace

Result<AllocatorStat> read_allocator(MemoryReader& mem, const Layout& l, const PythonImage::AllocatorGlobals* globals, RemoteAddr main_interp,
                                     const AllocatorLimits& lim) {
  const ObmallocLayout& o = l.obmalloc;
  const PymallocLayout& pm = l.pymalloc;
  AllocatorStat a;
  a.arena_size = o.arena_size;
  a.pool_size = pm.pool_size;
  auto note = [&](std::string why) -> Result<AllocatorStat> {
    a.note = std::move(why);
    return a;
  };
  // Where the five figures are.
  RemoteAddr arenas_at, maxarenas_at, current_at, total_at, highwater_at;
  if (o.interp_state || o.interp_state_ptr) {  // 3.12+: in the interpreter
    if (l.version.debug_build)
      return note("pymalloc's state is not read on debug builds (Py_DEBUG changes the interpreter's layout); release builds only");
    RemoteAddr state;
    if (o.interp_state) {
      state = main_interp + *o.interp_state;
    } else if (o.interp_state_ptr) {
      auto p = mem.ptr(main_interp + *o.interp_state_ptr);
      if (!p.ok()) return soft(p.error()) ? note("the interpreter's pointer to pymalloc's state is unreadable") : Result<AllocatorStat>(p.take_error());
      state = *p;
    }
    if (state.null() || !state.aligned(8)) return note("the interpreter has no pymalloc state where objspy expects it");
    arenas_at = state + o.arenas;
    maxarenas_at = state + o.maxarenas;
    current_at = state + o.narenas_current;
    total_at = state + o.ntimes_allocated;
    highwater_at = state + o.highwater;
  } else {
    if (!globals)
      return note("pymalloc keeps its state in static variables that this binary's symbol table does not name (a stripped binary: "
                  "its debug symbols, e.g. Debian's python3.X-dbg, name them)");
    arenas_at = globals->arenas;
    maxarenas_at = globals->maxarenas;
    current_at = globals->narenas_current;
    total_at = globals->ntimes_allocated;
    highwater_at = globals->highwater;
  }
  std::uint64_t arenas = 0, current = 0, total = 0, highwater = 0;
  std::uint32_t maxarenas = 0;
  for (auto [at, out] : {std::pair{arenas_at, &arenas}, {current_at, &current}, {total_at, &total}, {highwater_at, &highwater}}) {
    auto v = mem.u64(at);
    if (!v.ok()) return soft(v.error()) ? note("pymalloc's state is unreadable") : Result<AllocatorStat>(v.take_error());
    *out = *v;
  }
  auto m = mem.u32(maxarenas_at);
  if (!m.ok()) return soft(m.error()) ? note("pymalloc's state is unreadable") : Result<AllocatorStat>(m.take_error());
  maxarenas = *m;
  if (maxarenas == 0 || arenas == 0)
    return note("pymalloc holds no arena: the target allocates with malloc (PYTHONMALLOC=malloc, or a build without pymalloc)");
  // Invariants of obmalloc.c: a slot for every arena allocated now, no more now than ever.
  if (current > maxarenas || highwater < current || total < current || (arenas & 7))
    return note(fmt::format("pymalloc's state does not add up ({} arenas of {} slots, highwater {}, {} ever): not read", current, maxarenas,
                            highwater, total));
  std::uint64_t slots = maxarenas;
  if (slots > lim.max_arenas) {
    a.note = fmt::format("pymalloc has {} arena slots; the first {} were read", slots, lim.max_arenas);
    slots = lim.max_arenas;
  }
  // The arena table, then the header of every pool carved in each arena.
  std::vector<std::byte> table(slots * o.arena_object_size);
  for (std::uint64_t off = 0; off < table.size(); off += 1u << 20) {
    const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(1u << 20, table.size() - off));
    auto st = mem.read(RemoteAddr(arenas + off), std::span(table.data() + off, n));
    if (!st.ok()) return soft(st.error()) ? note("pymalloc's arena table is unreadable") : Result<AllocatorStat>(st.take_error());
  }
  struct PoolRef {
    std::uint64_t addr;
    std::uint32_t arena;
  };
  std::vector<PoolRef> pools;
  std::vector<std::uint64_t> used_bytes;  // per arena read
  std::uint64_t narenas = 0, unused = 0, alignment = 0;
  const std::uint64_t pools_per_arena = o.arena_size / pm.pool_size;
  for (std::uint64_t i = 0; i < slots; ++i) {
    const std::byte* e = table.data() + i * o.arena_object_size;
    std::uint64_t base = load64(e);
    if (!base) continue;
    const std::uint64_t pool_address = load64(e + o.arena_pool_address);
    const std::uint32_t nfree = load32(e + o.arena_nfreepools);
    ++narenas;
    unused += nfree;
    if (base & (pm.pool_size - 1)) {
      alignment += pm.pool_size;
      base = (base & ~(pm.pool_size - 1)) + pm.pool_size;
    }
    // A table entry that is no arena (torn by a concurrent allocation): its pools are not read.
    if (pool_address < base || pool_address - base > pools_per_arena * pm.pool_size) continue;
    if (pools.size() + pools_per_arena > lim.max_pools) {
      if (a.note.empty()) a.note = fmt::format("more than {} pools: the pools of the rest of the arenas were not read", lim.max_pools);
      continue;
    }
    const auto index = static_cast<std::uint32_t>(used_bytes.size());
    used_bytes.push_back(0);
    for (std::uint64_t p = base; p < pool_address; p += pm.pool_size) pools.push_back({p, index});
  }
  std::sort(pools.begin(), pools.end(), [](const PoolRef& x, const PoolRef& y) { return x.addr < y.addr; });
  std::vector<std::uint64_t> addrs;
  addrs.reserve(pools.size());
  for (const auto& p : pools) addrs.push_back(p.addr);
  std::vector<SizeClassStat> classes(pm.size_classes);
  std::uint64_t unreadable = 0;
  OBJSPY_TRY(read_scattered(mem, addrs, pm.pool_overhead, [&](std::size_t k, const std::byte* h) {
    if (!h) { ++unreadable; return; }
    const std::uint32_t count = load32(h), szidx = load32(h + 36);
    if (count == 0) return;  // an empty pool, on the arena's free list
    if (szidx >= pm.size_classes) { ++unreadable; return; }
    const std::uint64_t size = (szidx + 1) * pm.alignment;
    const std::uint64_t capacity = (pm.pool_size - pm.pool_overhead) / size;
    if (count > capacity) { ++unreadable; return; }
    SizeClassStat& c = classes[szidx];
    ++c.pools;
    c.blocks += count;
    c.available += capacity - count;
    used_bytes[pools[k].arena] += count * size;
  }));
  for (std::uint32_t i = 0; i < pm.size_classes; ++i) {
    SizeClassStat& c = classes[i];
    if (!c.pools) continue;
    c.index = i;
    c.size = static_cast<std::uint32_t>((i + 1) * pm.alignment);
    a.allocated_bytes += c.blocks * c.size;
    a.available_bytes += c.available * c.size;
    a.pool_header_bytes += c.pools * pm.pool_overhead;
    a.quantization_bytes += c.pools * ((pm.pool_size - pm.pool_overhead) % c.size);
    a.classes.push_back(c);
  }
  for (std::uint64_t b : used_bytes) a.arenas_by_use[std::min<std::uint64_t>(3, b * 4 / o.arena_size)] += 1;
  a.arenas = narenas;
  a.arenas_allocated_total = total;
  a.arenas_highwater = highwater;
  a.unused_pools = unused;
  a.alignment_bytes = alignment;
  a.read = true;
  if (unreadable)
    a.note += fmt::format("{}{} pool headers were unreadable or inconsistent (the target allocated meanwhile)", a.note.empty() ? "" : "; ", unreadable);
  return a;
}

}  // namespace objspy
