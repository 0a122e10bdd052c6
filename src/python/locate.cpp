#include "objspy/python/locate.hpp"

#include <algorithm>
#include <set>
#include <vector>

#include <fmt/format.h>

#include "objspy/elf/elf_file.hpp"
#include "objspy/process/proc.hpp"

namespace objspy {
namespace {

std::string_view base_name(std::string_view p) {
  auto s = p.rfind('/');
  return s == std::string_view::npos ? p : p.substr(s + 1);
}

// One mapping per ELF file (the one at file offset 0), files named like Python first, then
// the rest in map order: an embedding application may carry libpython in any file.
std::vector<const Mapping*> candidate_files(const MemoryMap& map) {
  std::vector<const Mapping*> named, other;
  std::set<std::pair<std::string, std::uint64_t>> seen;
  for (const auto& m : map.mappings()) {
    if (!m.file_backed() || m.offset != 0) continue;
    if (!seen.insert({m.path, m.inode}).second) continue;
    std::string_view b = base_name(m.path);
    bool pythonish = b.find("python") != std::string_view::npos;
    (pythonish ? named : other).push_back(&m);
  }
  // libpython before the executable when both are named python (shared builds).
  std::stable_sort(named.begin(), named.end(), [](const Mapping* a, const Mapping* b) {
    return base_name(a->path).starts_with("lib") > base_name(b->path).starts_with("lib");
  });
  named.insert(named.end(), other.begin(), other.end());
  return named;
}

Result<PyVersion> detect_version(const PythonImage& img, const ElfFile& elf, MemoryReader& mem) {
  std::optional<PyVersion> from_name = version_from_file_name(img.path);
  if (!from_name && !elf.soname().empty()) from_name = version_from_file_name(elf.soname());
  if (img.py_version) {
    // Py_Version (3.11+): PY_VERSION_HEX of the running image.
    OBJSPY_ASSIGN(std::uint64_t hex, mem.u64(*img.py_version));
    PyVersion v = PyVersion::from_hex(hex);
    if (v.major == 3 && v.minor >= 11) return v;
  }
  if (from_name) return *from_name;
  return make_error(Errc::unsupported_version,
                    fmt::format("{} holds _PyRuntime but objspy cannot tell its Python version (no Py_Version symbol, no version in the file name)", img.path));
}

Error unsupported(pid_t pid, const PyVersion& v) {
  return make_error(Errc::unsupported_version, fmt::format("process {} runs Python {}, which objspy does not support (it reads CPython 3.{} to 3.{})",
                                                           pid, v.str(), kMinMinor, kMaxMinor));
}

}  // namespace

Result<PythonTarget> locate_python(pid_t pid, const MemoryMap& map, MemoryReader& mem) {
  std::optional<Error> first_problem;
  std::optional<PyVersion> old_python;  // a Python objspy does not support, seen by file name
  for (const Mapping* m : candidate_files(map)) {
    std::string path = open_mapped_file_path(pid, *m);
    auto elf = ElfFile::open(path);
    if (!elf.ok()) {
      if (elf.error().code == Errc::permission_denied && !first_problem) first_problem = elf.error();
      continue;
    }
    std::optional<std::uint64_t> runtime_vaddr;
    if (auto s = elf->symbol("_PyRuntime")) runtime_vaddr = s->value;
    else if (auto sec = elf->section(".PyRuntime")) runtime_vaddr = sec->addr;  // 3.10+, symbols stripped
    if (!runtime_vaddr) {
      if (auto v = version_from_file_name(m->path); v && !minor_supported(*v)) old_python = v;
      continue;
    }
    PythonImage img;
    img.path = m->path;
    img.opened_from = path;
    img.load_bias = m->start - elf->first_load_vaddr();
    img.runtime = RemoteAddr(img.load_bias + *runtime_vaddr);
    if (auto s = elf->symbol("Py_Version")) img.py_version = RemoteAddr(img.load_bias + s->value);

    OBJSPY_ASSIGN(PyVersion version, detect_version(img, *elf, mem));
    if (!minor_supported(version)) return unsupported(pid, version);  // 3.7 has _PyRuntime too
    OBJSPY_ASSIGN(Layout layout, builtin_layout(version));
    if (has_debug_offsets(version)) {
      std::vector<std::byte> block(debug_offsets_block_size(version.minor));
      OBJSPY_TRY(mem.read(img.runtime, block));
      OBJSPY_ASSIGN(DebugOffsets d, parse_debug_offsets(block, version.minor));
      PyVersion published = PyVersion::from_hex(d.version);
      if (published.hex() != version.hex() && version.exact())
        return make_error(Errc::corrupt_target, fmt::format("Py_Version says {} but _Py_DebugOffsets says {}", version.str(), published.str()));
      layout.version = published;
      OBJSPY_ASSIGN(layout, apply_debug_offsets(std::move(layout), d));
    }
    return PythonTarget{pid, std::move(img), std::move(layout)};
  }
  if (old_python) return unsupported(pid, *old_python);
  if (first_problem) return *first_problem;
  return make_error(Errc::not_python, fmt::format("process {} is not a Python process: no mapped file holds _PyRuntime", pid));
}

}  // namespace objspy
