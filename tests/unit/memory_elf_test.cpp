// Symbols read from an ELF image in memory: a tiny synthetic image (both kinds of dynamic
// pointers, both hash tables, hostile variants), real libpython files laid out as the loader
// lays them out, and this test's own libc as the loader left it.
#include <dlfcn.h>
#include <elf.h>
#include <glob.h>
#include <unistd.h>

#include <doctest/doctest.h>

#include <array>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "objspy/elf/elf_file.hpp"
#include "objspy/elf/memory_elf.hpp"
#include "objspy/process/live_reader.hpp"
#include "objspy/process/proc.hpp"
#include "objspy/process/synthetic_memory.hpp"
#include "objspy/python/locate.hpp"

using objspy::MemoryElf;
using objspy::RemoteAddr;

namespace {

constexpr std::array<std::string_view, 2> kWanted = {"_PyRuntime", "Py_Version"};

// Offsets inside the synthetic image.
constexpr std::uint64_t kBase = 0x7f1200000000;
constexpr std::uint64_t kSize = 0x4000;
constexpr std::uint64_t kPhdrs = 0x40, kNote = 0x200, kDynamic = 0x1000, kGnuHash = 0x1400, kSysvHash = 0x1800,
                        kSymtab = 0x2000, kStrtab = 0x2800, kRuntime = 0x3000, kPyVersion = 0x3100;
constexpr std::array<std::uint8_t, 20> kBuildId = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20};

struct Image {
  objspy::SyntheticMemory mem;
  objspy::MemoryMap map;
  objspy::Mapping first;
  std::vector<Elf64_Dyn> dyn;
  template <class T>
  void put(std::uint64_t off, const T& v) { mem.write(RemoteAddr(kBase + off), &v, sizeof v); }
  void put_dynamic() {
    for (std::size_t i = 0; i < dyn.size(); ++i) put(kDynamic + i * sizeof(Elf64_Dyn), dyn[i]);
  }
};

struct Options {
  bool absolute = true;  // DT_* pointers as glibc leaves them (relocated), or link-time
  bool gnu_hash = true;
  bool sysv_hash = true;
  bool note = true;
};

// A shared object with symbols: 0 null, 1 malloc (an import), 2 _PyRuntime, 3 Py_Version,
// 4 other; SONAME libpython3.12.so.1.0; one bucket holding symbols 2-4 in both hash tables.
Image make_image(Options o = {}) {
  Image im;
  im.mem.map(RemoteAddr(kBase), kSize);
  im.first = objspy::Mapping{kBase, kBase + kSize, true, false, false, 0, 42, "/opt/py/libpython3.12.so.1.0", false, false, 0xfe, 1};
  im.map = objspy::MemoryMap({im.first});

  Elf64_Ehdr eh{};
  std::memcpy(eh.e_ident, ELFMAG, SELFMAG);
  eh.e_ident[EI_CLASS] = ELFCLASS64;
  eh.e_ident[EI_DATA] = ELFDATA2LSB;
  eh.e_type = ET_DYN;
  eh.e_machine = EM_X86_64;
  eh.e_phoff = kPhdrs;
  eh.e_phentsize = sizeof(Elf64_Phdr);
  eh.e_phnum = 3;
  im.put(0, eh);
  Elf64_Phdr load{PT_LOAD, PF_R | PF_W, 0, 0, 0, kSize, kSize, 0x1000};
  Elf64_Phdr dynamic{PT_DYNAMIC, PF_R | PF_W, kDynamic, kDynamic, kDynamic, 16 * sizeof(Elf64_Dyn), 16 * sizeof(Elf64_Dyn), 8};
  Elf64_Phdr note{PT_NOTE, PF_R, kNote, kNote, kNote, 36, 36, 4};
  im.put(kPhdrs, load);
  im.put(kPhdrs + sizeof(Elf64_Phdr), dynamic);
  im.put(kPhdrs + 2 * sizeof(Elf64_Phdr), o.note ? note : Elf64_Phdr{PT_NULL, 0, 0, 0, 0, 0, 0, 0});
  std::uint32_t nh[3] = {4, 20, NT_GNU_BUILD_ID};
  im.put(kNote, nh);
  im.mem.write(RemoteAddr(kBase + kNote + 12), "GNU", 4);
  im.put(kNote + 16, kBuildId);

  const std::string strtab = std::string("\0malloc\0_PyRuntime\0Py_Version\0other\0libpython3.12.so.1.0\0", 57);
  im.mem.write(RemoteAddr(kBase + kStrtab), strtab.data(), strtab.size());
  auto name_at = [&](const char* n) { return static_cast<std::uint32_t>(strtab.find(std::string(n) + '\0', 1)); };
  auto sym = [&](const char* n, std::uint64_t value, std::uint64_t size, std::uint16_t shndx) {
    return Elf64_Sym{name_at(n), static_cast<unsigned char>(ELF64_ST_INFO(STB_GLOBAL, STT_OBJECT)), 0, shndx, value, size};
  };
  const std::array<Elf64_Sym, 5> syms = {Elf64_Sym{}, sym("malloc", 0, 0, SHN_UNDEF), sym("_PyRuntime", kRuntime, 0x100, 20),
                                         sym("Py_Version", kPyVersion, 8, 16), sym("other", 0x3200, 8, 16)};
  for (std::size_t i = 0; i < syms.size(); ++i) im.put(kSymtab + i * sizeof(Elf64_Sym), syms[i]);

  // GNU hash: 1 bucket, symoffset 2, one bloom word (all bits set), chain 2..4.
  std::uint32_t gh[4] = {1, 2, 1, 0};
  im.put(kGnuHash, gh);
  im.put(kGnuHash + 16, ~std::uint64_t{0});
  im.put(kGnuHash + 24, std::uint32_t{2});
  const char* hashed[3] = {"_PyRuntime", "Py_Version", "other"};
  for (std::uint32_t i = 0; i < 3; ++i) {
    std::uint32_t h = objspy::elf_gnu_hash(hashed[i]) & ~1u;
    if (i == 2) h |= 1;
    im.put(kGnuHash + 28 + i * 4, h);
  }
  // SysV hash: 1 bucket, 5 chains: 4 -> 3 -> 2 -> 1 -> end.
  std::uint32_t sh[2 + 1 + 5] = {1, 5, 4, 0, 0, 1, 2, 3};
  im.put(kSysvHash, sh);

  const std::uint64_t b = o.absolute ? kBase : 0;
  im.dyn = {{DT_SONAME, {name_at("libpython3.12.so.1.0")}}, {DT_SYMTAB, {b + kSymtab}}, {DT_STRTAB, {b + kStrtab}},
            {DT_STRSZ, {strtab.size()}}, {DT_SYMENT, {sizeof(Elf64_Sym)}}};
  if (o.gnu_hash) im.dyn.push_back({DT_GNU_HASH, {b + kGnuHash}});
  if (o.sysv_hash) im.dyn.push_back({DT_HASH, {b + kSysvHash}});
  im.dyn.push_back({DT_NULL, {0}});
  im.put_dynamic();
  return im;
}

void check_found(Image& im) {
  auto e = MemoryElf::open(im.mem, im.map, im.first);
  REQUIRE_MESSAGE(e.ok(), e.error().message);
  CHECK(e->load_bias() == kBase);
  CHECK_FALSE(e->is_executable());
  auto s = e->dynamic_symbols(im.mem, kWanted);
  REQUIRE_MESSAGE(s.ok(), s.error().message);
  CHECK(s->soname == "libpython3.12.so.1.0");
  REQUIRE(s->addresses.count("_PyRuntime") == 1);
  REQUIRE(s->addresses.count("Py_Version") == 1);
  CHECK(s->addresses.at("_PyRuntime") == RemoteAddr(kBase + kRuntime));
  CHECK(s->addresses.at("Py_Version") == RemoteAddr(kBase + kPyVersion));
}

// The error from looking the wanted symbols up in a (damaged) image; "" when it succeeds.
std::string lookup_error(Image& im) {
  auto e = MemoryElf::open(im.mem, im.map, im.first);
  if (!e.ok()) return e.error().message;
  auto s = e->dynamic_symbols(im.mem, kWanted);
  return s.ok() ? "" : s.error().message;
}

std::vector<char> slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

}  // namespace

TEST_CASE("hash functions match the ELF specifications") {
  CHECK(objspy::elf_gnu_hash("") == 5381);
  CHECK(objspy::elf_gnu_hash("printf") == 0x156b2bb8);
  CHECK(objspy::elf_sysv_hash("printf") == 0x077905a6);
  CHECK(objspy::elf_sysv_hash("") == 0);
}

TEST_CASE("in-memory ELF: symbols, soname and build id through either hash table and either pointer form") {
  for (bool absolute : {true, false}) {
    for (int tables = 0; tables < 3; ++tables) {
      Options o;
      o.absolute = absolute;
      o.gnu_hash = tables != 1;   // 0: both, 1: DT_HASH only, 2: DT_GNU_HASH only
      o.sysv_hash = tables != 2;
      CAPTURE(absolute);
      CAPTURE(tables);
      Image im = make_image(o);
      check_found(im);
    }
  }
  Image im = make_image();
  auto e = MemoryElf::open(im.mem, im.map, im.first);
  REQUIRE(e.ok());
  REQUIRE(e->build_id().size() == kBuildId.size());
  CHECK(std::memcmp(e->build_id().data(), kBuildId.data(), kBuildId.size()) == 0);
  Image bare = make_image({.note = false});
  auto e2 = MemoryElf::open(bare.mem, bare.map, bare.first);
  REQUIRE(e2.ok());
  CHECK(e2->build_id().empty());
}

TEST_CASE("in-memory ELF: imports and absent names are not found") {
  Image im = make_image();
  auto e = MemoryElf::open(im.mem, im.map, im.first);
  REQUIRE(e.ok());
  const std::array<std::string_view, 3> names = {"malloc", "nothing_here", "Py_Versio"};
  auto s = e->dynamic_symbols(im.mem, names);
  REQUIRE(s.ok());
  CHECK(s->addresses.empty());
}

TEST_CASE("in-memory ELF: what is missing is said, and hostile values are bounded") {
  SUBCASE("no ELF header") {
    Image im = make_image();
    im.put(0, std::uint32_t{0});
    auto e = MemoryElf::open(im.mem, im.map, im.first);
    REQUIRE_FALSE(e.ok());
    CHECK(e.error().code == objspy::Errc::not_python);
  }
  SUBCASE("no hash table") {
    Image im = make_image({.gnu_hash = false, .sysv_hash = false});
    CHECK(lookup_error(im).find("neither DT_GNU_HASH nor DT_HASH") != std::string::npos);
  }
  SUBCASE("no DT_SYMTAB") {
    Image im = make_image();
    im.dyn[1].d_tag = DT_DEBUG;
    im.put_dynamic();
    CHECK(lookup_error(im).find("no DT_SYMTAB") != std::string::npos);
  }
  SUBCASE("a pointer outside the image") {
    Image im = make_image();
    im.dyn[1].d_un.d_ptr = 0x10000000;
    im.put_dynamic();
    CHECK(lookup_error(im).find("DT_SYMTAB 0x10000000 points outside") != std::string::npos);
  }
  SUBCASE("no DT_NULL") {
    Image im = make_image();
    for (std::size_t i = 0; i < 16; ++i) im.put(kDynamic + i * sizeof(Elf64_Dyn), Elf64_Dyn{DT_DEBUG, {0}});
    CHECK(lookup_error(im).find("no DT_NULL") != std::string::npos);
  }
  SUBCASE("string table larger than the image") {
    Image im = make_image();
    im.dyn[3].d_un.d_val = 1ull << 40;
    im.put_dynamic();
    CHECK(lookup_error(im).find("DT_STRSZ") != std::string::npos);
  }
  SUBCASE("huge program header count") {
    Image im = make_image();
    im.put(offsetof(Elf64_Ehdr, e_phnum), std::uint16_t{0xffff});
    CHECK(lookup_error(im).find("implausible program headers") != std::string::npos);
  }
  SUBCASE("huge GNU hash bucket count") {
    Image im = make_image({.sysv_hash = false});
    im.put(kGnuHash, std::uint32_t{0xffffffff});
    CHECK(lookup_error(im).find("implausible GNU hash table") != std::string::npos);
  }
  SUBCASE("a GNU hash chain that never ends stops at the image's end") {
    Image im = make_image({.sysv_hash = false});
    // Even values (no end-of-chain bit) from the chain to the end of the image.
    for (std::uint64_t off = kGnuHash + 28; off + 4 <= kSize; off += 4) im.put(off, std::uint32_t{2});
    CHECK(lookup_error(im).find("GNU hash chain at") != std::string::npos);
  }
  SUBCASE("a SysV hash chain that loops is bounded") {
    Image im = make_image({.gnu_hash = false});
    im.put(kSysvHash + 12 + 4 * 4, std::uint32_t{4});  // chain[4] = 4
    const std::array<std::string_view, 1> absent = {"absent"};
    auto e = MemoryElf::open(im.mem, im.map, im.first);
    REQUIRE(e.ok());
    auto s = e->dynamic_symbols(im.mem, absent);
    REQUIRE_FALSE(s.ok());
    CHECK(s.error().message.find("longer than its table") != std::string::npos);
  }
  SUBCASE("a symbol placed outside the image") {
    Image im = make_image();
    im.put(kSymtab + 2 * sizeof(Elf64_Sym) + offsetof(Elf64_Sym, st_value), std::uint64_t{0x100000});
    CHECK(lookup_error(im).find("_PyRuntime at") != std::string::npos);
  }
  SUBCASE("a wrong DT_SYMENT") {
    Image im = make_image();
    im.dyn[4].d_un.d_val = 16;
    im.put_dynamic();
    CHECK(lookup_error(im).find("DT_SYMENT") != std::string::npos);
  }
}

// Real libpython files (and Debian's static python3.11 executable) laid out in synthetic
// memory as the loader maps them, with the dynamic section left at link-time values: the
// symbols found must be the ones libelf finds in the file.
TEST_CASE("in-memory ELF: real Python images give the addresses their files give") {
  std::vector<std::string> files;
  for (const char* pattern : {"/root/.pyenv/versions/3.*/lib/libpython3.*.so.1.0", "/usr/lib/x86_64-linux-gnu/libpython3.*.so.1.0",
                              "/usr/bin/python3.1[0-9]"}) {
    glob_t g{};
    if (::glob(pattern, 0, nullptr, &g) == 0)
      for (std::size_t i = 0; i < g.gl_pathc; ++i) files.emplace_back(g.gl_pathv[i]);
    ::globfree(&g);
  }
  REQUIRE_FALSE(files.empty());
  int checked = 0;
  for (const auto& path : files) {
    CAPTURE(path);
    auto elf = objspy::ElfFile::open(path);
    REQUIRE(elf.ok());
    auto runtime = elf->symbol("_PyRuntime");
    if (!runtime) continue;  // 3.6/3.7 builds, or a dynamically linked python3.X executable
    std::vector<char> bytes = slurp(path);
    Elf64_Ehdr eh;
    std::memcpy(&eh, bytes.data(), sizeof eh);
    const std::uint64_t base = eh.e_type == ET_EXEC ? 0 : 0x7f3400000000;
    std::uint64_t lo = ~std::uint64_t{0}, hi = 0;
    std::vector<Elf64_Phdr> loads;
    for (std::size_t i = 0; i < eh.e_phnum; ++i) {
      Elf64_Phdr p;
      std::memcpy(&p, bytes.data() + eh.e_phoff + i * sizeof p, sizeof p);
      if (p.p_type != PT_LOAD) continue;
      loads.push_back(p);
      lo = std::min<std::uint64_t>(lo, p.p_vaddr & ~0xfffull);
      hi = std::max<std::uint64_t>(hi, (p.p_vaddr + p.p_memsz + 0xfff) & ~0xfffull);
    }
    objspy::SyntheticMemory mem;
    mem.map(RemoteAddr(base + lo), hi - lo);
    std::vector<objspy::Mapping> maps;
    for (const auto& p : loads) {
      mem.write(RemoteAddr(base + p.p_vaddr), bytes.data() + p.p_offset, p.p_filesz);
      maps.push_back(objspy::Mapping{base + (p.p_vaddr & ~0xfffull), base + ((p.p_vaddr + p.p_memsz + 0xfff) & ~0xfffull), true,
                                     (p.p_flags & PF_W) != 0, (p.p_flags & PF_X) != 0, p.p_offset & ~0xfffull, 7, path, false, false, 0xfe, 1});
    }
    objspy::MemoryMap map(maps);
    auto e = MemoryElf::open(mem, map, map.mappings().front());
    REQUIRE_MESSAGE(e.ok(), e.error().message);
    CHECK(e->load_bias() == base);
    CHECK(e->build_id() == elf->build_id());
    auto s = e->dynamic_symbols(mem, kWanted);
    REQUIRE_MESSAGE(s.ok(), s.error().message);
    CHECK(s->soname == elf->soname());
    REQUIRE(s->addresses.count("_PyRuntime") == 1);
    CHECK(s->addresses.at("_PyRuntime").value() == base + runtime->value);
    if (auto v = elf->symbol("Py_Version")) CHECK(s->addresses.at("Py_Version").value() == base + v->value);
    else CHECK(s->addresses.count("Py_Version") == 0);
    ++checked;
  }
  REQUIRE(checked > 0);
  MESSAGE(checked << " Python images checked");
}

// This process's own libc as glibc's loader left it (relocated dynamic section), read through
// the live reader: the address found is the one dlsym gives.
TEST_CASE("in-memory ELF: this process's libc, as the loader left it") {
  auto map = objspy::read_memory_map(::getpid());
  REQUIRE(map.ok());
  const objspy::Mapping* libc = nullptr;
  for (const auto& m : map->mappings())
    if (m.offset == 0 && m.path.find("/libc.so.6") != std::string::npos) { libc = &m; break; }
  REQUIRE(libc != nullptr);
  void* handle = ::dlopen("libc.so.6", RTLD_LAZY | RTLD_NOLOAD);
  REQUIRE(handle != nullptr);
  void* want = ::dlsym(handle, "gnu_get_libc_version");
  ::dlclose(handle);
  REQUIRE(want != nullptr);
  objspy::LiveReader live(::getpid());
  auto e = MemoryElf::open(live, *map, *libc);
  REQUIRE_MESSAGE(e.ok(), e.error().message);
  auto file = objspy::ElfFile::open(libc->path);
  REQUIRE(file.ok());
  CHECK(e->build_id() == file->build_id());
  CHECK_FALSE(e->build_id().empty());
  const std::array<std::string_view, 1> names = {"gnu_get_libc_version"};
  auto s = e->dynamic_symbols(live, names);
  REQUIRE_MESSAGE(s.ok(), s.error().message);
  CHECK(s->soname == "libc.so.6");
  REQUIRE(s->addresses.count("gnu_get_libc_version") == 1);
  CHECK(s->addresses.at("gnu_get_libc_version").value() == reinterpret_cast<std::uint64_t>(want));
}

// locate_python over the synthetic image, for a PID that does not exist: no map_files, no
// file on disk, so the symbols can only come from memory; and when memory lacks them too,
// one line says what each way lacked.
TEST_CASE("locate_python falls back to the image in memory, and says what is missing when it cannot") {
  constexpr pid_t kNoSuchPid = 0x3ffffff0;  // above any pid_max
  SUBCASE("found in memory") {
    Image im = make_image();
    im.put(kPyVersion, std::uint64_t{0x030C01F0});  // 3.12.1 final
    auto t = objspy::locate_python(kNoSuchPid, im.map, im.mem);
    REQUIRE_MESSAGE(t.ok(), t.error().message);
    CHECK(t->image.source == objspy::ImageSource::target_memory);
    CHECK(t->image.runtime == RemoteAddr(kBase + kRuntime));
    CHECK(t->image.load_bias == kBase);
    CHECK(t->layout.version.str() == "3.12.1");
    CHECK(t->image.source_detail.find("/proc/PID/map_files is not there") != std::string::npos);
  }
  SUBCASE("nothing readable: one line naming each way") {
    Image im = make_image({.gnu_hash = false, .sysv_hash = false});
    auto t = objspy::locate_python(kNoSuchPid, im.map, im.mem);
    REQUIRE_FALSE(t.ok());
    const std::string& m = t.error().message;
    CHECK(m.find('\n') == std::string::npos);
    CHECK(m.find("cannot read the symbols of /opt/py/libpython3.12.so.1.0") != std::string::npos);
    CHECK(m.find("map_files") != std::string::npos);
    CHECK(m.find("the file on disk cannot be trusted") != std::string::npos);
    CHECK(m.find("neither DT_GNU_HASH nor DT_HASH") != std::string::npos);
    MESSAGE(m);
  }
}
