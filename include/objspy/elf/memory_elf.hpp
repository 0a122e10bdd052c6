// An ELF image read where the target has it mapped, not from a file. The loader keeps the ELF
// header, the program headers, the dynamic section and the dynamic symbol table of every
// loaded object in memory, so this works when the file on disk was replaced by an upgrade and
// /proc/PID/map_files is refused (it needs CAP_SYS_ADMIN). Everything read is untrusted: every
// count, size and address is bounded by the image's own mappings.
#pragma once
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "objspy/core/result.hpp"
#include "objspy/process/maps.hpp"
#include "objspy/process/reader.hpp"

namespace objspy {

struct MemorySymbols {
  std::string soname;                                          // DT_SONAME, empty if none
  std::map<std::string, RemoteAddr, std::less<>> addresses;    // the wanted, defined symbols found
};

class MemoryElf {
 public:
  // The ELF header and program headers at `first` (the mapping of file offset 0), and the GNU
  // build id if a PT_NOTE in memory holds one. Err: not_python (no ELF header there),
  // unsupported_version (not x86-64), corrupt_target (headers that do not fit the mappings).
  static Result<MemoryElf> open(MemoryReader& mem, const MemoryMap& map, const Mapping& first);

  std::uint64_t load_bias() const { return bias_; }
  bool is_executable() const { return exec_; }
  // NT_GNU_BUILD_ID's bytes; empty when the image has none in memory.
  const std::vector<std::byte>& build_id() const { return build_id_; }

  // DT_SONAME and the absolute addresses of the `wanted` symbols that the dynamic symbol
  // table defines, looked up through DT_GNU_HASH (else DT_HASH). A wanted name it does not
  // define is simply absent. Err: not_python (no dynamic section or hash table: says which),
  // corrupt_target (tables outside the image, or bounds exceeded).
  Result<MemorySymbols> dynamic_symbols(MemoryReader& mem, std::span<const std::string_view> wanted) const;

 private:
  struct Segment {
    std::uint32_t type = 0;
    std::uint64_t vaddr = 0, memsz = 0, filesz = 0, align = 0;
  };
  MemoryElf() = default;
  // The absolute address of a dynamic-section pointer: glibc's loader rewrites most DT_*
  // pointers of a loaded object to absolute addresses, other loaders leave them link-time;
  // the image's extent tells which one a value is. Err when it is neither.
  Result<RemoteAddr> dyn_pointer(const char* tag, std::uint64_t v) const;
  // Whether [a, a+len) lies inside the loaded image.
  bool inside(std::uint64_t a, std::uint64_t len) const;
  Status read(MemoryReader& mem, std::uint64_t a, std::span<std::byte> out, std::string_view what) const;
  Result<std::optional<RemoteAddr>> symbol_at(MemoryReader& mem, RemoteAddr symtab, RemoteAddr strtab, std::uint64_t strsz,
                                              std::uint64_t index, std::string_view name) const;

  std::string name_;  // the mapped path, for messages
  std::uint64_t bias_ = 0;
  std::uint64_t lo_ = 0, hi_ = 0;  // link-time extent of the PT_LOAD segments
  bool exec_ = false;
  std::vector<Segment> segments_;
  std::vector<std::byte> build_id_;
};

// The GNU and SysV ELF hash functions (exposed for tests).
std::uint32_t elf_gnu_hash(std::string_view name);
std::uint32_t elf_sysv_hash(std::string_view name);

}  // namespace objspy
