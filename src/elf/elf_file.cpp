#include "objspy/elf/elf_file.hpp"

#include <elfutils/libdwelf.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <gelf.h>
#include <libelf.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>

#include <fmt/format.h>

namespace objspy {
namespace {

// The only symbols objspy reads; indexing just these keeps opening a big libpython cheap.
// The pymalloc globals of 3.8-3.11 (Objects/obmalloc.c statics, .symtab only) are renamed
// "NAME.lto_priv.N" by LTO builds (Debian's): indexed under NAME.
constexpr std::array<std::string_view, 7> kWanted = {"_PyRuntime", "Py_Version", "arenas", "maxarenas",
                                                     "narenas_currently_allocated", "ntimes_arena_allocated", "narenas_highwater"};

std::string_view base_name(std::string_view name) {
  if (auto at = name.find(".lto_priv."); at != std::string_view::npos) return name.substr(0, at);
  return name;
}

bool wanted(std::string_view name) {
  name = base_name(name);
  for (auto w : kWanted)
    if (w == name) return true;
  return false;
}

}  // namespace

struct ElfFile::Impl {
  int fd = -1;
  Elf* elf = nullptr;
  ~Impl() {
    if (elf) elf_end(elf);
    if (fd >= 0) ::close(fd);
  }
};

ElfFile::ElfFile(ElfFile&&) noexcept = default;
ElfFile& ElfFile::operator=(ElfFile&&) noexcept = default;
ElfFile::~ElfFile() = default;

Result<ElfFile> ElfFile::open(const std::string& path) {
  if (elf_version(EV_CURRENT) == EV_NONE) return make_error(Errc::internal, "libelf initialisation failed");
  ElfFile f;
  f.impl_ = std::make_unique<Impl>();
  // O_NONBLOCK: a path a hostile target or core names may be a FIFO, whose open would block.
  f.impl_->fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (f.impl_->fd < 0) {
    int e = errno;
    return make_error(e == EACCES || e == EPERM ? Errc::permission_denied : Errc::io,
                      fmt::format("cannot open {}: {}", path, std::strerror(e)));
  }
  struct stat st {};
  if (::fstat(f.impl_->fd, &st) != 0 || !S_ISREG(st.st_mode)) return make_error(Errc::not_python, fmt::format("{} is not a regular file", path));
  f.impl_->elf = elf_begin(f.impl_->fd, ELF_C_READ_MMAP, nullptr);
  Elf* elf = f.impl_->elf;
  GElf_Ehdr ehdr;
  if (!elf || elf_kind(elf) != ELF_K_ELF || !gelf_getehdr(elf, &ehdr))
    return make_error(Errc::not_python, fmt::format("{} is not an ELF file", path));
  if (ehdr.e_ident[EI_CLASS] != ELFCLASS64 || ehdr.e_machine != EM_X86_64)
    return make_error(Errc::unsupported_version, fmt::format("{} is not an x86-64 ELF file (objspy reads 64-bit x86 targets)", path));
  f.exec_ = ehdr.e_type == ET_EXEC;
  const void* id = nullptr;
  ssize_t id_len = dwelf_elf_gnu_build_id(elf, &id);
  if (id_len > 0 && id_len <= 64) {
    const auto* b = static_cast<const std::byte*>(id);
    f.build_id_.assign(b, b + id_len);
  }

  // Counts in the headers are untrusted (a file in a hostile container): never iterate more
  // entries than the file could hold, and stop at the first one libelf cannot read.
  std::size_t file_size = 0;
  elf_rawfile(elf, &file_size);
  std::size_t nph = 0;
  if (elf_getphdrnum(elf, &nph) != 0) nph = 0;
  nph = std::min(nph, file_size / sizeof(Elf64_Phdr));
  bool have_first = false;
  for (std::size_t i = 0; i < nph; ++i) {
    GElf_Phdr ph;
    if (!gelf_getphdr(elf, static_cast<int>(i), &ph)) break;
    if (ph.p_type == PT_LOAD) {
      if (!have_first && ph.p_offset < 4096) {
        f.first_load_vaddr_ = ph.p_vaddr & ~std::uint64_t{4095};
        have_first = true;
      }
    }
  }

  std::size_t shstrndx = 0;
  if (elf_getshdrstrndx(elf, &shstrndx) != 0) return f;  // no section headers: only phdrs
  for (Elf_Scn* scn = elf_nextscn(elf, nullptr); scn; scn = elf_nextscn(elf, scn)) {
    GElf_Shdr sh;
    if (!gelf_getshdr(scn, &sh)) continue;
    const char* name = elf_strptr(elf, shstrndx, sh.sh_name);
    if (name) f.sections_[name] = ElfSection{sh.sh_addr, sh.sh_size, sh.sh_offset};
    if (sh.sh_type == SHT_DYNAMIC) {
      Elf_Data* d = elf_getdata(scn, nullptr);
      for (std::size_t k = 0; d && sh.sh_entsize && k < std::min<std::size_t>(sh.sh_size, d->d_size) / sh.sh_entsize; ++k) {
        GElf_Dyn dyn;
        if (!gelf_getdyn(d, static_cast<int>(k), &dyn)) break;
        if (dyn.d_tag == DT_SONAME) {
          const char* s = elf_strptr(elf, sh.sh_link, dyn.d_un.d_val);
          if (s) f.soname_ = s;
        }
      }
    }
    if (sh.sh_type != SHT_DYNSYM && sh.sh_type != SHT_SYMTAB) continue;
    Elf_Data* d = elf_getdata(scn, nullptr);
    if (!d || sh.sh_entsize == 0) continue;
    std::size_t count = std::min<std::size_t>(sh.sh_size, d->d_size) / sh.sh_entsize;
    for (std::size_t k = 0; k < count; ++k) {
      GElf_Sym sym;
      if (!gelf_getsym(d, static_cast<int>(k), &sym)) break;
      if (sym.st_shndx == SHN_UNDEF || sym.st_value == 0) continue;
      const char* sname = elf_strptr(elf, sh.sh_link, sym.st_name);
      if (!sname || !wanted(sname)) continue;
      // .dynsym comes first in the file; keep its entry if both tables name the symbol.
      f.symbols_.emplace(std::string(base_name(sname)), ElfSymbol{sym.st_value, sym.st_size});
    }
  }
  return f;
}

std::optional<ElfSymbol> ElfFile::symbol(std::string_view name) const {
  auto it = symbols_.find(name);
  if (it == symbols_.end()) return std::nullopt;
  return it->second;
}

std::optional<ElfSection> ElfFile::section(std::string_view name) const {
  auto it = sections_.find(name);
  if (it == sections_.end()) return std::nullopt;
  return it->second;
}

}  // namespace objspy
