// The copy --pause takes under the hold: what it copies, and reads from it afterwards.
#include <doctest/doctest.h>

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

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

// A target can map gigabytes it never touches (or has only had read): resident() leaves such
// pages out, and the copy reads them as the zeros they held, without asking the target.
TEST_CASE("pages the copy leaves out of a copied mapping read as zeros; other memory from the target") {
  SyntheticMemory live;
  live.map(RemoteAddr(0x10000), 0x4000);
  live.map(RemoteAddr(0x20000), 0x1000);
  live.put_u64(RemoteAddr(0x10ff8), 5);
  live.put_u64(RemoteAddr(0x11000), 6);  // in a page left out of the copy
  live.put_u64(RemoteAddr(0x20000), 7);  // read-only data, not planned
  MemoryMap map({Mapping{0x10000, 0x14000, true, true, false, 0, 0, "", false, false},
                 Mapping{0x20000, 0x21000, true, false, false, 0, 7, "/lib/x.so", false, false}});
  std::uint64_t bytes = 0;
  auto plan = SnapshotReader::plan(map, &bytes);
  auto snap = SnapshotReader::reserve(live, 0x2000);
  REQUIRE(snap.ok());
  // Pages 0 and 2 copied; 1 and 3 were never touched by the target.
  auto fits = snap->copy(plan, {{0x10000, 0x11000}, {0x12000, 0x13000}});
  REQUIRE(fits.ok());
  REQUIRE(*fits);
  CHECK(snap->bytes_copied() == 0x2000);
  const auto reads0 = live.reads();
  auto gap = snap->u64(RemoteAddr(0x11000));
  REQUIRE(gap.ok());
  CHECK(*gap == 0);
  // A read across the copy and the gap: copied bytes, then zeros.
  std::uint64_t two[2] = {1, 1};
  REQUIRE(snap->read(RemoteAddr(0x10ff8), std::as_writable_bytes(std::span(two))).ok());
  CHECK(two[0] == 5);
  CHECK(two[1] == 0);
  CHECK(live.reads() == reads0);  // none of it asked of the target
  auto ro = snap->u64(RemoteAddr(0x20000));
  REQUIRE(ro.ok());
  CHECK(*ro == 7);
}

TEST_CASE("resident: only pages a process wrote count, not ones it never touched or only read") {
  const std::size_t page = 4096, n = 4096;  // 16 MiB
  void* p = ::mmap(nullptr, n * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  REQUIRE(p != MAP_FAILED);
  auto* b = static_cast<volatile char*>(p);
  b[5 * page] = 1;          // written: holds data
  b[6 * page + 100] = 2;
  for (std::size_t k = 100; k < 110; ++k) (void)b[k * page];  // only read: the zero page
  const auto start = reinterpret_cast<std::uint64_t>(p);
  Mapping m{start, start + n * page, true, true, false, 0, 0, "", false, false};
  std::uint64_t bytes = 0;
  auto ranges = SnapshotReader::resident(::getpid(), {&m}, &bytes);
  // Frame numbers (which tell the zero page) are shown to CAP_SYS_ADMIN only: without them the
  // pages only read count too.
  CHECK(bytes >= 2 * page);
  CHECK(bytes <= 12 * page);
  std::uint64_t entry = 0;
  const int fd = ::open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    (void)::pread(fd, &entry, 8, static_cast<off_t>((start / page + 5) * 8));
    ::close(fd);
  }
  if (entry & ((1ULL << 55) - 1)) {  // frame numbers visible

    CHECK(bytes == 2 * page);
    REQUIRE(ranges.size() == 1);
    CHECK(ranges[0].start == start + 5 * page);
    CHECK(ranges[0].end == start + 7 * page);
  }
  ::munmap(p, n * page);
}
