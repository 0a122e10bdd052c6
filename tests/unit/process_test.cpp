#include <doctest/doctest.h>

#include "objspy/process/cached_reader.hpp"
#include "objspy/process/maps.hpp"
#include "objspy/process/synthetic_memory.hpp"

using objspy::RemoteAddr;

TEST_CASE("maps lines parse, including deleted files and anonymous mappings") {
  auto m = objspy::MemoryMap::parse(
      "00400000-0041f000 r--p 00000000 fe:01 1234                               /usr/bin/python3.11\n"
      "7f00c0000000-7f00c0021000 rw-p 00000000 00:00 0 \n"
      "7f5db2600000-7f5db2664000 r-xp 00001000 08:01 99 /opt/my app/libpython3.12.so.1.0 (deleted)\n"
      "7ffd1000-7ffd2000 ---p 00000000 00:00 0                          [stack]\n");
  REQUIRE(m.ok());
  const auto& v = m->mappings();
  REQUIRE(v.size() == 4);
  CHECK(v[0].start == 0x400000);
  CHECK(v[0].path == "/usr/bin/python3.11");
  CHECK(v[0].file_backed());
  CHECK(v[0].dev_major == 0xfe);
  CHECK(v[0].dev_minor == 0x01);
  CHECK(v[0].inode == 1234);
  CHECK(v[3].dev_major == 8);
  CHECK(v[3].dev_minor == 1);
  CHECK(v[1].path == "[stack]");
  CHECK(v[2].path.empty());
  CHECK(v[2].writable);
  CHECK(v[3].path == "/opt/my app/libpython3.12.so.1.0");
  CHECK(v[3].deleted);
  CHECK(v[3].offset == 0x1000);
  CHECK(m->readable(RemoteAddr(0x7f00c0000010), 16));
  CHECK_FALSE(m->readable(RemoteAddr(0x7ffd1000), 8));  // ---p
  CHECK_FALSE(m->readable(RemoteAddr(0x7f00c0020ff8), 16));  // runs past the end
}

TEST_CASE("malformed maps are an error, not silently skipped") {
  for (const char* bad : {"zz-10 r--p 0 0:0 0\n", "10-20 r--p 0 0:0\n", "20-10 r--p 0 0:0 0\n", "10-20 rw 0 0:0 0\n",
                          "10-20 r--p 0 fe01 0\n", "10-20 r--p 0 :01 0\n", "10-20 r--p 0 fe: 0\n", "10-20 r--p 0 zz:01 0\n",
                          "10-20 r--p 0 fe:-1 0\n", "10-20 r--p 0 123456789:01 0\n"}) {
    CAPTURE(bad);
    CHECK_FALSE(objspy::MemoryMap::parse(bad).ok());
  }
}

TEST_CASE("the cache reads chunks once, across chunk and mapping boundaries") {
  objspy::SyntheticMemory mem;
  // Two adjacent mappings and a third after a hole.
  mem.map(RemoteAddr(0x100000), 0x30000);
  mem.map(RemoteAddr(0x140000), 0x1000);
  for (std::uint64_t a = 0x100000; a < 0x130000; a += 8) mem.put_u64(RemoteAddr(a), a);
  mem.put_u64(RemoteAddr(0x140000), 42);
  objspy::MemoryMap map({{0x100000, 0x110000, true, true, false, 0, 0, "", false},
                         {0x110000, 0x130000, true, true, false, 0, 0, "", false},
                         {0x140000, 0x141000, true, true, false, 0, 0, "", false}});
  objspy::CachedReader cache(mem, &map, 4 * 65536, 65536);
  for (std::uint64_t a = 0x100000; a < 0x130000; a += 8) {
    auto v = cache.u64(RemoteAddr(a));
    REQUIRE(v.ok());
    REQUIRE(*v == a);
  }
  CHECK(cache.stats().fetches == 3);  // 0x100000, 0x110000 and 0x120000 chunks
  // A value straddling the two adjacent mappings and a chunk boundary.
  std::uint64_t pair[2];
  REQUIRE(cache.read(RemoteAddr(0x10fff8), std::as_writable_bytes(std::span(pair))).ok());
  CHECK(pair[0] == 0x10fff8);
  CHECK(pair[1] == 0x110000);
  CHECK(*cache.u64(RemoteAddr(0x140000)) == 42);
  auto hole = cache.u64(RemoteAddr(0x135000));
  REQUIRE_FALSE(hole.ok());
  CHECK(hole.error().code == objspy::Errc::bad_address);
}

TEST_CASE("the cache stays within its budget") {
  objspy::SyntheticMemory mem;
  mem.map(RemoteAddr(0x1000000), 64 << 20);
  objspy::MemoryMap map({{0x1000000, 0x1000000 + (64 << 20), true, true, false, 0, 0, "", false}});
  objspy::CachedReader cache(mem, &map, 1 << 20, 64 << 10);
  for (std::uint64_t a = 0x1000000; a < 0x1000000 + (64 << 20); a += 4096) REQUIRE(cache.u64(RemoteAddr(a)).ok());
  CHECK(cache.budget() == (1 << 20));
  CHECK(cache.stats().fetches == 1024);
  CHECK(cache.stats().evictions == 1024 - 16);
}
