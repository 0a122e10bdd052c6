#include "objspy/elf/memory_elf.hpp"

#include <elf.h>

#include <algorithm>
#include <cstring>

#include <fmt/format.h>

namespace objspy {
namespace {

constexpr std::uint64_t kPage = 4096;
// Bounds on what a hostile image may claim. Real ones: libpython has ~10 program headers,
// ~35 dynamic entries, a few thousand symbols and chains of a few entries.
constexpr std::uint16_t kMaxPhdrs = 256;
constexpr std::uint64_t kMaxPhoff = 1 << 20;
constexpr std::uint64_t kMaxImage = std::uint64_t{1} << 34;  // 16 GiB of address space
constexpr std::uint64_t kMaxNotes = 64 * 1024;
constexpr std::size_t kMaxBuildId = 64;
constexpr std::size_t kMaxDynamic = 4096;
constexpr std::uint32_t kMaxBuckets = 1u << 24;
constexpr std::uint32_t kMaxBloomWords = 1u << 24;
constexpr std::uint32_t kMaxChain = 1u << 16;
constexpr std::size_t kMaxSoname = 256;

std::uint64_t align_up(std::uint64_t v, std::uint64_t a) { return (v + a - 1) / a * a; }

template <class T>
std::span<std::byte> bytes_of(T& v) {
  return std::as_writable_bytes(std::span<T, 1>(&v, 1));
}

// The GNU build id from the notes of one PT_NOTE segment (already read); empty if none.
std::vector<std::byte> build_id_in(std::span<const std::byte> notes, std::uint64_t align) {
  std::size_t at = 0;
  while (notes.size() - at >= 12) {  // bounded: every step advances by at least 12 bytes
    std::uint32_t hdr[3];
    std::memcpy(hdr, notes.data() + at, sizeof hdr);
    const std::uint64_t namesz = hdr[0], descsz = hdr[1], type = hdr[2];
    const std::uint64_t name_at = at + 12;
    const std::uint64_t desc_at = name_at + align_up(namesz, align);
    const std::uint64_t next = desc_at + align_up(descsz, align);
    if (namesz > notes.size() || descsz > notes.size() || next > notes.size()) break;
    if (type == NT_GNU_BUILD_ID && namesz == 4 && std::memcmp(notes.data() + name_at, "GNU", 4) == 0) {
      if (descsz == 0 || descsz > kMaxBuildId) break;
      return {notes.begin() + static_cast<std::ptrdiff_t>(desc_at), notes.begin() + static_cast<std::ptrdiff_t>(desc_at + descsz)};
    }
    at = static_cast<std::size_t>(next);
  }
  return {};
}

}  // namespace

std::uint32_t elf_gnu_hash(std::string_view name) {
  std::uint32_t h = 5381;
  for (unsigned char c : name) h = h * 33 + c;
  return h;
}

std::uint32_t elf_sysv_hash(std::string_view name) {
  std::uint32_t h = 0;
  for (unsigned char c : name) {
    h = (h << 4) + c;
    std::uint32_t g = h & 0xf0000000u;
    if (g) h ^= g >> 24;
    h &= ~g;
  }
  return h;
}

bool MemoryElf::inside(std::uint64_t a, std::uint64_t len) const {
  const std::uint64_t start = bias_ + lo_, end = bias_ + hi_;
  return a >= start && a <= end && len <= end - a;
}

Status MemoryElf::read(MemoryReader& mem, std::uint64_t a, std::span<std::byte> out, std::string_view what) const {
  if (!inside(a, out.size()))
    return make_error(Errc::corrupt_target, fmt::format("{}: its {} at {:#x} lies outside its loaded image", name_, what, a));
  auto r = mem.read(RemoteAddr(a), out);
  if (!r.ok() && r.error().code == Errc::bad_address)
    return make_error(Errc::corrupt_target, fmt::format("{}: its {} at {:#x} is not readable in memory", name_, what, a));
  return r;
}

Result<RemoteAddr> MemoryElf::dyn_pointer(const char* tag, std::uint64_t v) const {
  if (inside(v, 1)) return RemoteAddr(v);  // relocated by the loader (glibc)
  if (v >= lo_ && v < hi_) return RemoteAddr(v + bias_);  // link-time (musl, a read-only .dynamic)
  return make_error(Errc::corrupt_target, fmt::format("{}: {} {:#x} points outside its loaded image", name_, tag, v));
}

Result<MemoryElf> MemoryElf::open(MemoryReader& mem, const MemoryMap& map, const Mapping& first) {
  MemoryElf e;
  e.name_ = first.path.empty() ? fmt::format("the image at {:#x}", first.start) : first.path;
  Elf64_Ehdr eh{};
  if (!map.readable(RemoteAddr(first.start), sizeof eh))
    return make_error(Errc::not_python, fmt::format("{}: its first page is not readable in memory", e.name_));
  OBJSPY_TRY(mem.read(RemoteAddr(first.start), bytes_of(eh)));
  if (std::memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0)
    return make_error(Errc::not_python, fmt::format("{}: no ELF header at {:#x} in memory", e.name_, first.start));
  if (eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_machine != EM_X86_64)
    return make_error(Errc::unsupported_version, fmt::format("{} is not an x86-64 ELF image (objspy reads 64-bit x86 targets)", e.name_));
  e.exec_ = eh.e_type == ET_EXEC;
  if (eh.e_phentsize != sizeof(Elf64_Phdr) || eh.e_phnum == 0 || eh.e_phnum > kMaxPhdrs || eh.e_phoff > kMaxPhoff)
    return make_error(Errc::corrupt_target, fmt::format("{}: implausible program headers in memory ({} of {} bytes at offset {:#x})", e.name_,
                                                        eh.e_phnum, eh.e_phentsize, eh.e_phoff));
  // The program headers sit in the first page(s), which the first PT_LOAD maps from offset 0.
  std::vector<Elf64_Phdr> ph(eh.e_phnum);
  const std::uint64_t ph_at = first.start + eh.e_phoff;
  if (!map.readable(RemoteAddr(ph_at), ph.size() * sizeof(Elf64_Phdr)))
    return make_error(Errc::corrupt_target, fmt::format("{}: its program headers at {:#x} are not readable in memory", e.name_, ph_at));
  OBJSPY_TRY(mem.read(RemoteAddr(ph_at), std::as_writable_bytes(std::span(ph))));

  bool have_first = false, have_load = false;
  for (const auto& p : ph) {
    e.segments_.push_back(Segment{p.p_type, p.p_vaddr, p.p_memsz, p.p_filesz, p.p_align});
    if (p.p_type != PT_LOAD) continue;
    if (p.p_vaddr + p.p_memsz < p.p_vaddr) return make_error(Errc::corrupt_target, fmt::format("{}: a PT_LOAD wraps around", e.name_));
    const std::uint64_t lo = p.p_vaddr & ~(kPage - 1), hi = p.p_vaddr + p.p_memsz;
    e.lo_ = have_load ? std::min(e.lo_, lo) : lo;
    e.hi_ = have_load ? std::max(e.hi_, hi) : hi;
    have_load = true;
    if (!have_first && p.p_offset < kPage) {
      if (lo > first.start) return make_error(Errc::corrupt_target, fmt::format("{}: its first PT_LOAD does not fit where it is mapped", e.name_));
      e.bias_ = first.start - lo;
      have_first = true;
    }
  }
  if (!have_first) return make_error(Errc::corrupt_target, fmt::format("{}: no PT_LOAD maps its ELF header", e.name_));
  if (e.hi_ - e.lo_ > kMaxImage || e.bias_ + e.hi_ < e.bias_)
    return make_error(Errc::corrupt_target, fmt::format("{}: its PT_LOAD segments span an implausible {:#x} bytes", e.name_, e.hi_ - e.lo_));

  // The build id is optional: an image without one, or whose note is not in memory, has none.
  for (const auto& s : e.segments_) {
    if (s.type != PT_NOTE || s.filesz < 12 || s.filesz > kMaxNotes) continue;
    const std::uint64_t at = e.bias_ + s.vaddr;
    if (!e.inside(at, s.filesz) || !map.readable(RemoteAddr(at), s.filesz)) continue;
    std::vector<std::byte> notes(s.filesz);
    if (!mem.read(RemoteAddr(at), notes).ok()) continue;
    e.build_id_ = build_id_in(notes, s.align == 8 ? 8 : 4);
    if (!e.build_id_.empty()) break;
  }
  return e;
}

Result<std::optional<RemoteAddr>> MemoryElf::symbol_at(MemoryReader& mem, RemoteAddr symtab, RemoteAddr strtab, std::uint64_t strsz,
                                                       std::uint64_t index, std::string_view name) const {
  if (index > kMaxImage / sizeof(Elf64_Sym))
    return make_error(Errc::corrupt_target, fmt::format("{}: symbol index {} is implausible", name_, index));
  Elf64_Sym sym{};
  OBJSPY_TRY(read(mem, symtab.value() + index * sizeof sym, bytes_of(sym), "dynamic symbol"));
  if (sym.st_name >= strsz || name.size() + 1 > strsz - sym.st_name) return std::optional<RemoteAddr>{};
  std::vector<std::byte> got(name.size() + 1);
  OBJSPY_TRY(read(mem, strtab.value() + sym.st_name, got, "symbol name"));
  if (std::memcmp(got.data(), name.data(), name.size()) != 0 || got.back() != std::byte{0}) return std::optional<RemoteAddr>{};
  if (sym.st_shndx == SHN_UNDEF || sym.st_value == 0) return std::optional<RemoteAddr>{};  // an import, not a definition
  // Symbol values are never relocated in memory: they are link-time addresses.
  const std::uint64_t addr = sym.st_value + bias_;
  if (!inside(addr, std::max<std::uint64_t>(sym.st_size, 1)))
    return make_error(Errc::corrupt_target, fmt::format("{}: symbol {} at {:#x} lies outside its loaded image", name_, name, addr));
  return std::optional<RemoteAddr>(RemoteAddr(addr));
}

Result<MemorySymbols> MemoryElf::dynamic_symbols(MemoryReader& mem, std::span<const std::string_view> wanted) const {
  auto dyn_seg = std::find_if(segments_.begin(), segments_.end(), [](const Segment& s) { return s.type == PT_DYNAMIC; });
  if (dyn_seg == segments_.end())
    return make_error(Errc::not_python, fmt::format("{}: no PT_DYNAMIC, so no dynamic symbols to read in memory", name_));
  const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(dyn_seg->memsz / sizeof(Elf64_Dyn), kMaxDynamic));
  std::vector<Elf64_Dyn> dyn(n);
  OBJSPY_TRY(read(mem, bias_ + dyn_seg->vaddr, std::as_writable_bytes(std::span(dyn)), "dynamic section"));

  std::optional<std::uint64_t> symtab, strtab, strsz, syment, gnu_hash, sysv_hash, soname;
  bool ended = false;
  for (const auto& d : dyn) {
    switch (d.d_tag) {
      case DT_SYMTAB: symtab = d.d_un.d_ptr; break;
      case DT_STRTAB: strtab = d.d_un.d_ptr; break;
      case DT_STRSZ: strsz = d.d_un.d_val; break;
      case DT_SYMENT: syment = d.d_un.d_val; break;
      case DT_GNU_HASH: gnu_hash = d.d_un.d_ptr; break;
      case DT_HASH: sysv_hash = d.d_un.d_ptr; break;
      case DT_SONAME: soname = d.d_un.d_val; break;
      default: break;
    }
    if (d.d_tag == DT_NULL) { ended = true; break; }
  }
  if (!ended) return make_error(Errc::corrupt_target, fmt::format("{}: its dynamic section in memory has no DT_NULL within {} entries", name_, n));
  if (!symtab) return make_error(Errc::not_python, fmt::format("{}: its dynamic section in memory has no DT_SYMTAB", name_));
  if (!strtab) return make_error(Errc::not_python, fmt::format("{}: its dynamic section in memory has no DT_STRTAB", name_));
  if (!strsz) return make_error(Errc::not_python, fmt::format("{}: its dynamic section in memory has no DT_STRSZ", name_));
  if (!gnu_hash && !sysv_hash)
    return make_error(Errc::not_python, fmt::format("{}: its dynamic section in memory has neither DT_GNU_HASH nor DT_HASH", name_));
  if (syment && *syment != sizeof(Elf64_Sym))
    return make_error(Errc::corrupt_target, fmt::format("{}: DT_SYMENT is {}, not {}", name_, *syment, sizeof(Elf64_Sym)));
  OBJSPY_ASSIGN(RemoteAddr sym_at, dyn_pointer("DT_SYMTAB", *symtab));
  OBJSPY_ASSIGN(RemoteAddr str_at, dyn_pointer("DT_STRTAB", *strtab));
  if (!inside(str_at.value(), *strsz))
    return make_error(Errc::corrupt_target, fmt::format("{}: DT_STRSZ {:#x} runs past its loaded image", name_, *strsz));

  MemorySymbols out;
  if (soname && *soname < *strsz) {
    bool truncated = false;
    auto s = mem.c_string(str_at + *soname, static_cast<std::size_t>(std::min<std::uint64_t>(kMaxSoname, *strsz - *soname)), &truncated);
    if (s.ok() && !truncated) out.soname = std::move(*s);
  }

  if (gnu_hash) {
    OBJSPY_ASSIGN(RemoteAddr h_at, dyn_pointer("DT_GNU_HASH", *gnu_hash));
    std::uint32_t hdr[4];
    OBJSPY_TRY(read(mem, h_at.value(), bytes_of(hdr), "GNU hash table"));
    const std::uint32_t nbuckets = hdr[0], symoffset = hdr[1], bloom_words = hdr[2];
    if (nbuckets == 0 || nbuckets > kMaxBuckets || bloom_words > kMaxBloomWords)
      return make_error(Errc::corrupt_target, fmt::format("{}: implausible GNU hash table ({} buckets, {} bloom words)", name_, nbuckets, bloom_words));
    // The bloom filter only speeds up misses; the buckets and chains decide.
    const std::uint64_t buckets = h_at.value() + 16 + std::uint64_t{bloom_words} * 8;
    const std::uint64_t chains = buckets + std::uint64_t{nbuckets} * 4;
    for (std::string_view name : wanted) {
      const std::uint32_t h = elf_gnu_hash(name);
      std::uint32_t first = 0;
      OBJSPY_TRY(read(mem, buckets + std::uint64_t{h % nbuckets} * 4, bytes_of(first), "GNU hash bucket"));
      if (first == 0) continue;
      if (first < symoffset) return make_error(Errc::corrupt_target, fmt::format("{}: a GNU hash bucket points below its first hashed symbol", name_));
      for (std::uint32_t step = 0;; ++step) {
        if (step == kMaxChain) return make_error(Errc::corrupt_target, fmt::format("{}: a GNU hash chain is longer than {}", name_, kMaxChain));
        const std::uint64_t index = std::uint64_t{first} + step;
        std::uint32_t ch = 0;
        OBJSPY_TRY(read(mem, chains + (index - symoffset) * 4, bytes_of(ch), "GNU hash chain"));
        if ((ch | 1) == (h | 1)) {
          OBJSPY_ASSIGN(auto a, symbol_at(mem, sym_at, str_at, *strsz, index, name));
          if (a) { out.addresses.emplace(std::string(name), *a); break; }
        }
        if (ch & 1) break;  // the end of this bucket's chain
      }
    }
    return out;
  }

  OBJSPY_ASSIGN(RemoteAddr h_at, dyn_pointer("DT_HASH", *sysv_hash));
  std::uint32_t hdr[2];
  OBJSPY_TRY(read(mem, h_at.value(), bytes_of(hdr), "SysV hash table"));
  const std::uint32_t nbucket = hdr[0], nchain = hdr[1];
  if (nbucket == 0 || nbucket > kMaxBuckets || nchain > kMaxBuckets)
    return make_error(Errc::corrupt_target, fmt::format("{}: implausible SysV hash table ({} buckets, {} chains)", name_, nbucket, nchain));
  const std::uint64_t buckets = h_at.value() + 8, chains = buckets + std::uint64_t{nbucket} * 4;
  for (std::string_view name : wanted) {
    const std::uint32_t h = elf_sysv_hash(name);
    std::uint32_t index = 0;
    OBJSPY_TRY(read(mem, buckets + std::uint64_t{h % nbucket} * 4, bytes_of(index), "SysV hash bucket"));
    for (std::uint32_t step = 0; index != STN_UNDEF; ++step) {
      if (step == kMaxChain || step > nchain)
        return make_error(Errc::corrupt_target, fmt::format("{}: a SysV hash chain is longer than its table", name_));
      if (index >= nchain) return make_error(Errc::corrupt_target, fmt::format("{}: a SysV hash chain leaves its table", name_));
      OBJSPY_ASSIGN(auto a, symbol_at(mem, sym_at, str_at, *strsz, index, name));
      if (a) { out.addresses.emplace(std::string(name), *a); break; }
      OBJSPY_TRY(read(mem, chains + std::uint64_t{index} * 4, bytes_of(index), "SysV hash chain"));
    }
  }
  return out;
}

}  // namespace objspy
