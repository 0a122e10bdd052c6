// ELF symbols and sections of the python binary or libpython, with libelf.
#pragma once
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "objspy/core/result.hpp"

namespace objspy {

struct ElfSymbol {
  std::uint64_t value = 0;  // st_value: a link-time virtual address
  std::uint64_t size = 0;
};

struct ElfSection {
  std::uint64_t addr = 0;
  std::uint64_t size = 0;
  std::uint64_t offset = 0;
};

class ElfFile {
 public:
  // Opens and indexes the file. Err: io (cannot open), not_python (not an ELF file).
  static Result<ElfFile> open(const std::string& path);
  ElfFile(ElfFile&&) noexcept;
  ElfFile& operator=(ElfFile&&) noexcept;
  ~ElfFile();

  // Looks in .dynsym first (kept by strip), then .symtab.
  std::optional<ElfSymbol> symbol(std::string_view name) const;
  std::optional<ElfSection> section(std::string_view name) const;
  // The page-aligned p_vaddr of the PT_LOAD that maps file offset 0: subtract it from where
  // that mapping starts in the process to get the load bias (0 for ET_EXEC executables).
  std::uint64_t first_load_vaddr() const { return first_load_vaddr_; }
  bool is_executable() const { return exec_; }
  const std::string& soname() const { return soname_; }
  // NT_GNU_BUILD_ID's bytes; empty when the file has none.
  const std::vector<std::byte>& build_id() const { return build_id_; }

 private:
  ElfFile() = default;
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::map<std::string, ElfSymbol, std::less<>> symbols_;  // only the names objspy asks for
  std::map<std::string, ElfSection, std::less<>> sections_;
  std::uint64_t first_load_vaddr_ = 0;
  bool exec_ = false;
  std::string soname_;
  std::vector<std::byte> build_id_;
};

}  // namespace objspy
