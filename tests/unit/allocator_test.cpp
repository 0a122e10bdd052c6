// pymalloc's figures over synthetic memory laid out as 3.12 keeps them (the state inside the
// interpreter): per-class pools, blocks and free blocks, arena totals and use bands as
// sys._debugmallocstats() computes them, and a state that does not add up refused with a note.
// (Equality with the target's own printed statistics: tests/integration/allocator_test.cpp.)
#include <doctest/doctest.h>

#include "objspy/process/synthetic_memory.hpp"
#include "objspy/python/allocator.hpp"

using objspy::RemoteAddr;

namespace {

struct FakeAllocator {
  objspy::SyntheticMemory mem;
  objspy::Layout l = *objspy::builtin_layout(objspy::PyVersion{3, 12, 1});
  RemoteAddr interp{0x100000};
  RemoteAddr state = interp + *l.obmalloc.interp_state;
  RemoteAddr table{0x800000};
  static constexpr std::uint64_t kArenas = 0x10000000;
  std::uint32_t slots = 0;

  FakeAllocator() {
    mem.map(interp, 0x80000);
    mem.map(table, 0x10000);
    mem.put_u64(state + l.obmalloc.arenas, table.value());
  }
  // An arena in slot `slot` at `base` (1 MiB), pools carved up to `carved`; returns its base.
  RemoteAddr arena(std::uint32_t slot, std::uint64_t base, std::uint32_t carved, std::uint32_t nfree) {
    mem.map(RemoteAddr(base), l.obmalloc.arena_size);
    RemoteAddr e = table + slot * l.obmalloc.arena_object_size;
    mem.put_u64(e, base);
    mem.put_u64(e + l.obmalloc.arena_pool_address, base + carved * l.pymalloc.pool_size);
    mem.put_u32(e + l.obmalloc.arena_nfreepools, nfree);
    slots = std::max(slots, slot + 1);
    return RemoteAddr(base);
  }
  void pool(RemoteAddr p, std::uint32_t count, std::uint32_t szidx) {
    mem.put_u32(p, count);
    mem.put_u32(p + 36, szidx);
  }
  void finish(std::uint64_t current, std::uint64_t total, std::uint64_t highwater) {
    mem.put_u32(state + l.obmalloc.maxarenas, slots);
    mem.put_u64(state + l.obmalloc.narenas_current, current);
    mem.put_u64(state + l.obmalloc.ntimes_allocated, total);
    mem.put_u64(state + l.obmalloc.highwater, highwater);
  }
};

}  // namespace

TEST_CASE("pymalloc's figures from its arena table and pool headers, as sys._debugmallocstats() adds them up") {
  FakeAllocator f;
  const std::uint64_t ps = f.l.pymalloc.pool_size;
  // Arena 0: pool-aligned, 3 pools carved: 100 blocks of 32 bytes, an empty pool, 10 of 512.
  RemoteAddr a0 = f.arena(0, FakeAllocator::kArenas, 3, 62);
  f.pool(a0, 100, 1);
  f.pool(a0 + ps, 0, 1);
  f.pool(a0 + 2 * ps, 10, 31);
  // Slot 1 unused; arena 2 not pool-aligned (one pool lost to alignment), 1 pool carved, full.
  RemoteAddr a2 = f.arena(2, FakeAllocator::kArenas + 0x200000 + 4096, 0, 62);
  RemoteAddr first = RemoteAddr(((a2.value() + ps - 1) / ps) * ps);
  f.mem.put_u64(f.table + 2 * 48 + 8, first.value() + ps);
  const std::uint32_t full = static_cast<std::uint32_t>((ps - 48) / 16);
  f.pool(first, full, 0);
  f.finish(2, 5, 3);
  auto a = objspy::read_allocator(f.mem, f.l, nullptr, f.interp);
  REQUIRE(a.ok());
  REQUIRE(a->read);
  CHECK(a->arenas == 2);
  CHECK(a->arenas_allocated_total == 5);
  CHECK(a->arenas_highwater == 3);
  CHECK(a->unused_pools == 124);
  CHECK(a->alignment_bytes == ps);
  REQUIRE(a->classes.size() == 3);
  CHECK(a->classes[0].index == 0);
  CHECK(a->classes[0].blocks == full);
  CHECK(a->classes[0].available == 0);
  CHECK(a->classes[1].index == 1);
  CHECK(a->classes[1].pools == 1);
  CHECK(a->classes[1].blocks == 100);
  CHECK(a->classes[1].available == (ps - 48) / 32 - 100);
  CHECK(a->classes[2].size == 512);
  CHECK(a->allocated_bytes == full * 16 + 100 * 32 + 10 * 512);
  CHECK(a->pool_header_bytes == 3 * 48);
  CHECK(a->quantization_bytes == ((ps - 48) % 16) + ((ps - 48) % 32) + ((ps - 48) % 512));
  // Arena 0 holds 8 KiB of a MiB (the lowest band), arena 2 one full pool (also under 25%).
  CHECK(a->arenas_by_use == std::array<std::uint64_t, 4>{2, 0, 0, 0});
}

TEST_CASE("a pymalloc state that does not add up, or holds nothing, is not read, and says why") {
  SUBCASE("more arenas now than slots") {
    FakeAllocator f;
    f.arena(0, FakeAllocator::kArenas, 1, 63);
    f.finish(5, 5, 5);
    auto a = objspy::read_allocator(f.mem, f.l, nullptr, f.interp);
    REQUIRE(a.ok());
    CHECK_FALSE(a->read);
    CHECK(a->note.find("does not add up") != std::string::npos);
  }
  SUBCASE("no arena table (PYTHONMALLOC=malloc)") {
    FakeAllocator f;
    f.mem.put_u64(f.state + f.l.obmalloc.arenas, 0);
    f.finish(0, 0, 0);
    auto a = objspy::read_allocator(f.mem, f.l, nullptr, f.interp);
    REQUIRE(a.ok());
    CHECK_FALSE(a->read);
    CHECK(a->note.find("malloc") != std::string::npos);
  }
  SUBCASE("a table entry whose pools are past its arena, and pool headers that lie") {
    FakeAllocator f;
    RemoteAddr a0 = f.arena(0, FakeAllocator::kArenas, 2, 0);
    f.pool(a0, 5, 40);                               // no such size class
    f.pool(a0 + f.l.pymalloc.pool_size, 100000, 2);  // more blocks than fit
    f.mem.put_u64(f.table + 48, FakeAllocator::kArenas + 0x400000);  // slot 1: pools to 1 GiB away
    f.mem.put_u64(f.table + 48 + 8, FakeAllocator::kArenas + 0x40000000);
    f.slots = 2;
    f.finish(2, 2, 2);
    auto a = objspy::read_allocator(f.mem, f.l, nullptr, f.interp);
    REQUIRE(a.ok());
    REQUIRE(a->read);
    CHECK(a->classes.empty());
    CHECK(a->note.find("2 pool headers") != std::string::npos);
  }
  SUBCASE("3.8-3.11 without the symbols of its static variables") {
    objspy::SyntheticMemory mem;
    auto l = *objspy::builtin_layout(objspy::PyVersion{3, 11, 2});
    auto a = objspy::read_allocator(mem, l, nullptr, RemoteAddr(0x1000));
    REQUIRE(a.ok());
    CHECK_FALSE(a->read);
    CHECK(a->note.find("debug symbols") != std::string::npos);
  }
}
