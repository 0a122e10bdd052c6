// Core files: what write_core writes, CoreFile and CoreReader read back; and cores that lie.
#include <doctest/doctest.h>

#include <elf.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <vector>

#include "objspy/process/core_file.hpp"
#include "objspy/process/core_writer.hpp"

using namespace objspy;

namespace {

struct Memfd {
  int fd = memfd_create("objspy-core-test", 0);
  ~Memfd() { close(fd); }
  std::string path() const { return "/proc/self/fd/" + std::to_string(fd); }
  std::vector<std::byte> bytes() const {
    std::vector<std::byte> out(static_cast<std::size_t>(lseek(fd, 0, SEEK_END)));
    REQUIRE(pread(fd, out.data(), out.size(), 0) == static_cast<ssize_t>(out.size()));
    return out;
  }
  void replace(const std::vector<std::byte>& b) const {
    REQUIRE(ftruncate(fd, 0) == 0);
    REQUIRE(pwrite(fd, b.data(), b.size(), 0) == static_cast<ssize_t>(b.size()));
  }
};

std::vector<std::byte> text(const char* s) {
  const auto* b = reinterpret_cast<const std::byte*>(s);
  return {b, b + std::strlen(s)};
}

// An anonymous segment of 4 pages with bytes in its first and third, and a file mapping the
// core leaves out.
struct Sample {
  std::vector<std::byte> hello = text("hello, core");
  std::vector<std::byte> marks = std::vector<std::byte>(4096, std::byte{0xAB});
  CoreImage img;
  Sample() {
    img.process.pid = 4242;
    img.process.command = "python3";
    img.process.arguments = "python3 app.py";
    img.process.threads = {4242, 4243, 4250};
    CoreImage::Segment a{0x10000, 0x4000, PF_R | PF_W, 0x4000, {{0x10000, hello}, {0x12000, marks}}};
    CoreImage::Segment b{0x20000, 0x2000, PF_R, 0, {}};
    img.segments = {a, b};
    img.files = {{0x20000, 0x22000, 0x3000, "/nonexistent/objspy-test/libfoo.so"}};
  }
};

}  // namespace

TEST_CASE("write_core then CoreFile: process, threads, segments, files and bytes come back") {
  Sample s;
  Memfd f;
  REQUIRE(write_core(f.fd, s.img).ok());
  auto core = CoreFile::open(f.path());
  REQUIRE(core.ok());
  const CoreFile& c = **core;
  CHECK(c.process().pid == 4242);
  CHECK(c.process().command == "python3");
  CHECK(c.process().arguments == "python3 app.py");
  CHECK(c.process().threads == std::vector<pid_t>{4242, 4243, 4250});
  REQUIRE(c.segments().size() == 2);
  CHECK(c.segments()[0].file == -1);
  CHECK(c.segments()[1].file == 0);
  CHECK(c.segments()[1].file_offset == 0x3000);
  REQUIRE(c.files().size() == 1);
  REQUIRE(c.map().mappings().size() == 2);
  CHECK(c.map().mappings()[0].anonymous_private());
  CHECK(c.map().mappings()[1].file_backed());
  CHECK(c.map().mappings()[1].path == "/nonexistent/objspy-test/libfoo.so");
  CHECK(c.truncated_segments() == 0);

  CoreReader mem(c);
  std::vector<std::byte> got(s.hello.size());
  REQUIRE(mem.read(RemoteAddr(0x10000), got).ok());
  CHECK(got == s.hello);
  std::vector<std::byte> hole(16, std::byte{1});
  REQUIRE(mem.read(RemoteAddr(0x11000), hole).ok());  // a page the target had as zeros
  CHECK(hole == std::vector<std::byte>(16));
  std::vector<std::byte> mark(8);
  REQUIRE(mem.read(RemoteAddr(0x12ff8), mark).ok());
  CHECK(mark == std::vector<std::byte>(8, std::byte{0xAB}));
  // Past the segment, and into the file the core left out (no such file to verify): absent.
  std::vector<std::byte> across(32);
  CHECK(mem.read(RemoteAddr(0x13ff0), across).error().code == Errc::bad_address);
  CHECK(mem.read(RemoteAddr(0x20000), mark).error().code == Errc::bad_address);
  CHECK(!mem.problems().empty());
  CHECK(mem.verified_file(0).empty());
}

TEST_CASE("CoreFile: a core cut short reads what it still holds, the rest as absent") {
  Sample s;
  Memfd f;
  REQUIRE(write_core(f.fd, s.img).ok());
  auto b = f.bytes();
  // The first segment's bytes start at a page boundary after the notes; keep its first page.
  auto full = CoreFile::open(f.path());
  REQUIRE(full.ok());
  const std::uint64_t seg_at = (*full)->segments()[0].offset;
  b.resize(seg_at + 4096);
  f.replace(b);
  auto core = CoreFile::open(f.path());
  REQUIRE(core.ok());
  CHECK((*core)->truncated_segments() == 1);
  CoreReader mem(**core);
  std::vector<std::byte> got(s.hello.size());
  REQUIRE(mem.read(RemoteAddr(0x10000), got).ok());
  CHECK(got == s.hello);
  std::vector<std::byte> mark(8);
  CHECK(mem.read(RemoteAddr(0x12000), mark).error().code == Errc::bad_address);
}

TEST_CASE("CoreFile: files that are not cores, and cores whose notes or segments lie, are bad_core") {
  Memfd f;
  f.replace(text("not an ELF file at all"));
  CHECK(CoreFile::open(f.path()).error().code == Errc::bad_core);

  Sample s;
  REQUIRE(write_core(f.fd, s.img).ok());
  const auto good = f.bytes();
  // NT_FILE claiming 2^40 files: its count is the 8 bytes before the page size 4096 that
  // follow the note's "CORE\0" name.
  {
    auto b = good;
    bool patched = false;
    for (std::size_t i = 0; i + 16 <= b.size(); ++i) {
      std::uint64_t count = 0, page = 0;
      std::memcpy(&count, &b[i], 8);
      std::memcpy(&page, &b[i + 8], 8);
      if (count == 1 && page == 4096) {
        const std::uint64_t lie = 1ULL << 40;
        std::memcpy(&b[i], &lie, 8);
        patched = true;
        break;
      }
    }
    REQUIRE(patched);
    f.replace(b);
    auto r = CoreFile::open(f.path());
    REQUIRE(!r.ok());
    CHECK(r.error().code == Errc::bad_core);
    CHECK(r.error().message.find("NT_FILE") != std::string::npos);
  }
  // Overlapping segments.
  {
    Sample o;
    o.img.segments[1].vaddr = 0x12000;
    o.img.files.clear();
    Memfd g;
    REQUIRE(write_core(g.fd, o.img).ok());
    auto r = CoreFile::open(g.path());
    REQUIRE(!r.ok());
    CHECK(r.error().code == Errc::bad_core);
    CHECK(r.error().message.find("overlap") != std::string::npos);
  }
  // An ELF file that is not a core: this test binary.
  auto exe = CoreFile::open("/proc/self/exe");
  REQUIRE(!exe.ok());
  CHECK(exe.error().code == Errc::bad_core);
  CHECK(exe.error().message.find("not a core") != std::string::npos);
}
