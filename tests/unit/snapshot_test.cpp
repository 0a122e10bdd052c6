// The copy --pause takes under the hold: what it copies, and reads from it afterwards.
#include <doctest/doctest.h>

#include "objspy/process/snapshot_reader.hpp"
#include "objspy/process/synthetic_memory.hpp"

using objspy::Mapping;
using objspy::MemoryMap;
using objspy::RemoteAddr;
using objspy::SnapshotReader;
using objspy::SyntheticMemory;

TEST_CASE("--pause copies private writable memory, not shared memory, the stack or read-only data") {
  // start, end, r, w, x, offset, inode, path, deleted, shared
  MemoryMap map({Mapping{0x1000, 0x3000, true, true, false, 0, 0, "", false, false},            // anonymous: copied
                 Mapping{0x4000, 0x5000, true, true, false, 0, 0, "[heap]", false, false},      // brk heap: copied
                 Mapping{0x6000, 0x7000, true, true, false, 0, 7, "/usr/lib/libpython3.12.so", false, false},  // .data: copied
                 Mapping{0x8000, 0x9000, true, false, false, 0, 7, "/usr/lib/libpython3.12.so", false, false}, // read-only
                 Mapping{0xa000, 0xb000, true, true, false, 0, 9, "/dev/shm/x", false, true},   // shared: not copied
                 Mapping{0xc000, 0xd000, true, true, false, 0, 0, "[stack]", false, false},     // stack: not copied
                 Mapping{0xe000, 0xf000, true, true, false, 0, 0, "[vvar]", false, false}});    // kernel page: not copied
  std::uint64_t bytes = 0;
  auto plan = SnapshotReader::plan(map, &bytes);
  REQUIRE(plan.size() == 3);
  CHECK(plan[0]->start == 0x1000);
  CHECK(plan[1]->path == "[heap]");
  CHECK(plan[2]->start == 0x6000);
  CHECK(bytes == 0x2000 + 0x1000 + 0x1000);
}

TEST_CASE("reads come from the copy; what it does not hold comes from the target; changes after the copy are not seen") {
  SyntheticMemory live;
  live.map(RemoteAddr(0x1000), 0x2000);
  live.map(RemoteAddr(0x8000), 0x1000);
  live.put_u64(RemoteAddr(0x1010), 42);
  live.put_u64(RemoteAddr(0x8000), 7);
  MemoryMap map({Mapping{0x1000, 0x3000, true, true, false, 0, 0, "", false, false},
                 Mapping{0x8000, 0x9000, true, false, false, 0, 7, "/lib/x.so", false, false}});
  std::uint64_t bytes = 0;
  auto plan = SnapshotReader::plan(map, &bytes);
  auto snap = SnapshotReader::reserve(live, bytes);
  REQUIRE(snap.ok());
  auto fits = snap->copy(plan);
  REQUIRE(fits.ok());
  REQUIRE(*fits);
  CHECK(snap->bytes_copied() == 0x2000);
  live.put_u64(RemoteAddr(0x1010), 99);  // the target runs on after the hold
  auto v = snap->u64(RemoteAddr(0x1010));
  REQUIRE(v.ok());
  CHECK(*v == 42);
  REQUIRE(snap->peek(RemoteAddr(0x1010), 8) != nullptr);
  CHECK(snap->peek(RemoteAddr(0x2ffc), 8) == nullptr);  // past the end of the copy
  auto ro = snap->u64(RemoteAddr(0x8000));              // read-only data: from the target
  REQUIRE(ro.ok());
  CHECK(*ro == 7);
  CHECK_FALSE(snap->u64(RemoteAddr(0x5000)).ok());      // nowhere
}

TEST_CASE("a copy that does not fit the room reserved says so") {
  SyntheticMemory live;
  live.map(RemoteAddr(0x100000), 0x40000);
  MemoryMap map({Mapping{0x100000, 0x140000, true, true, false, 0, 0, "", false, false}});
  std::uint64_t bytes = 0;
  auto plan = SnapshotReader::plan(map, &bytes);
  auto snap = SnapshotReader::reserve(live, 0x10000);
  REQUIRE(snap.ok());
  auto fits = snap->copy(plan);
  REQUIRE(fits.ok());
  CHECK_FALSE(*fits);
}
