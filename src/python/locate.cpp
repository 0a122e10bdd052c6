#include "objspy/python/locate.hpp"

#include <algorithm>
#include <functional>
#include <array>
#include <set>
#include <vector>

#include <fmt/format.h>

#include "objspy/elf/elf_file.hpp"
#include "objspy/elf/memory_elf.hpp"
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

Result<PyVersion> detect_version(const PythonImage& img, const std::string& soname, MemoryReader& mem) {
  std::optional<PyVersion> from_name = version_from_file_name(img.path);
  if (!from_name && !soname.empty()) from_name = version_from_file_name(soname);
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

constexpr std::array<std::string_view, 2> kSymbols = {"_PyRuntime", "Py_Version"};

// What one mapped ELF image says, and how objspy read it.
struct ImageRead {
  PythonImage img;              // runtime left null when the image has no _PyRuntime
  bool has_runtime = false;
  std::string soname;
  std::vector<std::byte> build_id;  // for the debug file, when the image lacks pymalloc's symbols
};

// pymalloc's globals (3.8-3.11) in one ELF file, relocated by `bias`; nullopt unless all are there.
std::optional<PythonImage::AllocatorGlobals> allocator_globals(const ElfFile& f, std::uint64_t bias, std::string from) {
  auto a = f.symbol("arenas"), m = f.symbol("maxarenas"), n = f.symbol("narenas_currently_allocated"), t = f.symbol("ntimes_arena_allocated"),
       h = f.symbol("narenas_highwater");
  if (!a || !m || !n || !t || !h) return std::nullopt;
  return PythonImage::AllocatorGlobals{RemoteAddr(bias + a->value), RemoteAddr(bias + m->value), RemoteAddr(bias + n->value),
                                       RemoteAddr(bias + t->value), RemoteAddr(bias + h->value), std::move(from)};
}

// The same from the image's debug file, /usr/lib/debug/.build-id/XX/YYYY.debug as the target
// sees it (then as objspy does), used only when its build id is the image's.
// `roots`: the file systems to look in, as prefixes ("" for objspy's own).
std::optional<PythonImage::AllocatorGlobals> allocator_from_debug_file(const std::vector<std::string>& roots, const std::vector<std::byte>& id,
                                                                       std::uint64_t bias) {
  if (id.size() < 2) return std::nullopt;
  std::string hex;
  for (std::byte b : id) hex += fmt::format("{:02x}", static_cast<unsigned>(b));
  const std::string rel = fmt::format("/usr/lib/debug/.build-id/{}/{}.debug", hex.substr(0, 2), hex.substr(2));
  for (const std::string& root : roots) {
    const std::string path = root + rel;
    auto f = ElfFile::open(path);
    if (!f.ok() || f->build_id() != id) continue;
    if (auto g = allocator_globals(*f, bias, path)) return g;
  }
  return std::nullopt;
}

ImageRead from_file(const ElfFile& elf, const Mapping& m, ImageSource source, std::string opened, std::string detail) {
  ImageRead r;
  r.img.path = m.path;
  r.img.opened_from = std::move(opened);
  r.img.source = source;
  r.img.source_detail = std::move(detail);
  r.img.load_bias = m.start - elf.first_load_vaddr();
  r.soname = elf.soname();
  std::optional<std::uint64_t> runtime_vaddr;
  if (auto s = elf.symbol("_PyRuntime")) runtime_vaddr = s->value;
  else if (auto sec = elf.section(".PyRuntime")) runtime_vaddr = sec->addr;  // 3.10+, symbols stripped
  if (runtime_vaddr) {
    r.has_runtime = true;
    r.img.runtime = RemoteAddr(r.img.load_bias + *runtime_vaddr);
  }
  if (auto s = elf.symbol("Py_Version")) r.img.py_version = RemoteAddr(r.img.load_bias + s->value);
  r.img.allocator = allocator_globals(elf, r.img.load_bias, r.img.opened_from);
  r.build_id = elf.build_id();
  return r;
}

// What the dynamic symbols of an image in the target's (or a core's) memory say.
ImageRead from_memory(const MemoryElf& elf, const MemorySymbols& syms, const Mapping& m, std::string opened, std::string detail) {
  ImageRead r;
  r.img.path = m.path;
  r.img.opened_from = std::move(opened);
  r.img.source = ImageSource::target_memory;
  r.img.source_detail = std::move(detail);
  r.img.load_bias = elf.load_bias();
  r.soname = syms.soname;
  r.build_id = elf.build_id();
  if (auto it = syms.addresses.find("_PyRuntime"); it != syms.addresses.end()) {
    r.has_runtime = true;
    r.img.runtime = it->second;
  }
  if (auto it = syms.addresses.find("Py_Version"); it != syms.addresses.end()) r.img.py_version = it->second;
  return r;
}

// Reads one mapped ELF image by the best means there is: its inode through map_files; the
// file on disk if it is provably the one mapped; else the image in the target's memory.
// nullopt: not an ELF image at all (a locale archive, a cache file). The error names, in one
// line, what was missing along each way.
Result<std::optional<ImageRead>> read_image(pid_t pid, const Mapping& m, const MemoryMap& map, MemoryReader& mem) {
  const std::string mf = map_files_path(pid, m);
  auto elf = ElfFile::open(mf);
  if (elf.ok()) return std::optional(from_file(*elf, m, ImageSource::map_files, mf, "the mapped file itself, through /proc/PID/map_files"));
  if (elf.error().code != Errc::permission_denied && elf.error().code != Errc::io) return std::optional<ImageRead>{};  // not ELF
  const std::string why_mf = elf.error().code == Errc::permission_denied
                                 ? "/proc/PID/map_files is refused without CAP_SYS_ADMIN"
                                 : fmt::format("/proc/PID/map_files is not there ({})", elf.error().message);

  auto in_memory = MemoryElf::open(mem, map, m);
  if (!in_memory.ok()) {
    const Errc c = in_memory.error().code;
    if (c == Errc::target_exited) return in_memory.take_error();
    if (c == Errc::not_python && map.readable(RemoteAddr(m.start), 4)) return std::optional<ImageRead>{};  // readable, and no ELF magic
  }

  std::string why_disk;
  for (const std::string& path : {rooted_path(pid, m), m.path}) {
    if (auto same = same_file_as_mapped(path, m); !same.ok()) {
      if (why_disk.empty()) why_disk = same.error().message;
      continue;
    }
    auto f = ElfFile::open(path);
    if (!f.ok()) {
      if (why_disk.empty()) why_disk = f.error().message;
      continue;
    }
    const bool compared = in_memory.ok() && !in_memory->build_id().empty();
    if (compared && f->build_id() != in_memory->build_id()) {
      if (why_disk.empty()) why_disk = fmt::format("{} has another build id than the image in memory", path);
      continue;
    }
    return std::optional(from_file(*f, m, ImageSource::verified_file, path,
                                   fmt::format("the file on disk, the same as the mapped one by device, inode{}; {}", compared ? " and build id" : "", why_mf)));
  }

  auto fail = [&](const Error& e) {
    return make_error(e.code, fmt::format("cannot read the symbols of {}: {}; the file on disk cannot be trusted ({}); in memory: {}", m.path,
                                          why_mf, why_disk, e.message));
  };
  if (!in_memory.ok()) return fail(in_memory.error());
  auto syms = in_memory->dynamic_symbols(mem, kSymbols);
  if (!syms.ok()) {
    if (syms.error().code == Errc::target_exited) return syms.take_error();
    return fail(syms.error());
  }
  return std::optional(from_memory(*in_memory, *syms, m, fmt::format("memory of process {}", pid),
                                   fmt::format("the ELF image in the target's memory ({}; the file on disk cannot be trusted: {})", why_mf, why_disk)));
}

Error unsupported(const std::string& who, const PyVersion& v) {
  return make_error(Errc::unsupported_version, fmt::format("{} runs Python {}, which objspy does not support (it reads CPython 3.{} to 3.{})",
                                                           who, v.str(), kMinMinor, kMaxMinor));
}

// An image of one mapped file as the target at hand can give it (live process, core file).
using ImageReaderFn = std::function<Result<std::optional<ImageRead>>(const Mapping&)>;

// The one search for the interpreter over any target: `who` names it in messages ("process
// 123", "the process in core.1234"), `debug_roots` are where its debug files may be.
Result<PythonTarget> locate_with(pid_t pid, const std::string& who, const MemoryMap& map, MemoryReader& mem, const ImageReaderFn& read_image_of,
                                 const std::vector<std::string>& debug_roots) {
  std::optional<Error> first_problem;
  std::optional<Error> unreadable_python;  // a file named like Python that no way could read
  std::optional<PyVersion> old_python;     // a Python objspy does not support, seen by file name
  for (const Mapping* m : candidate_files(map)) {
    auto read = read_image_of(*m);
    if (!read.ok()) {
      const Error& e = read.error();
      if (e.code == Errc::target_exited) return read.take_error();
      if (e.code == Errc::permission_denied && !first_problem) first_problem = e;
      if (base_name(m->path).find("python") != std::string_view::npos && !unreadable_python) unreadable_python = e;
      continue;
    }
    if (!*read) continue;
    ImageRead& r = **read;
    if (!r.has_runtime) {
      if (auto v = version_from_file_name(m->path); v && !minor_supported(*v)) old_python = v;
      continue;
    }
    PythonImage img = std::move(r.img);
    OBJSPY_ASSIGN(PyVersion version, detect_version(img, r.soname, mem));
    if (!minor_supported(version)) return unsupported(who, version);  // 3.7 has _PyRuntime too
    OBJSPY_ASSIGN(Layout layout, builtin_layout(version));
    // pymalloc's state in static variables (3.8-3.11): named by the debug file if not by the image.
    if (!layout.obmalloc.interp_state && !layout.obmalloc.interp_state_ptr && !img.allocator)
      img.allocator = allocator_from_debug_file(debug_roots, r.build_id, img.load_bias);
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
  if (old_python) return unsupported(who, *old_python);
  if (unreadable_python) return *unreadable_python;
  if (first_problem) return *first_problem;
  return make_error(Errc::not_python, fmt::format("{} is not a Python process: no mapped file holds _PyRuntime", who));
}

// A mapped image of a core file: the file itself when one verified by build id is at hand
// (CoreReader found it), else what the core holds of the image in memory.
Result<std::optional<ImageRead>> read_core_image(CoreReader& mem, const CoreFile& core, const Mapping& m) {
  std::size_t file = core.files().size();
  for (std::size_t k = 0; k < core.files().size(); ++k)
    if (core.files()[k].path == m.path) file = k;
  if (file < core.files().size()) {
    const std::string path = mem.verified_file(file);
    if (!path.empty()) {
      auto elf = ElfFile::open(path);
      if (!elf.ok()) return std::optional<ImageRead>{};
      return std::optional(from_file(*elf, m, ImageSource::verified_file, path,
                                     fmt::format("the file on disk, the same as the one in {} by build id", core.path())));
    }
  }
  auto in_memory = MemoryElf::open(mem, core.map(), m);
  if (!in_memory.ok()) return std::optional<ImageRead>{};
  auto syms = in_memory->dynamic_symbols(mem, kSymbols);
  if (!syms.ok()) {
    std::string why;
    for (const auto& p : mem.problems())
      if (p.starts_with(m.path)) why = p;
    return make_error(Errc::bad_core, fmt::format("cannot read the symbols of {}: the core holds only part of it, and {}", m.path,
                                                  why.empty() ? "no file on disk is the one mapped" : why));
  }
  return std::optional(from_memory(*in_memory, *syms, m, fmt::format("memory in {}", core.path()), "the ELF image in the core's memory"));
}

}  // namespace

const char* image_source_name(ImageSource s) {
  switch (s) {
    case ImageSource::map_files: return "map_files";
    case ImageSource::verified_file: return "verified file";
    case ImageSource::target_memory: return "target memory";
  }
  return "?";
}

Result<PythonTarget> locate_python(pid_t pid, const MemoryMap& map, MemoryReader& mem) {
  return locate_with(pid, fmt::format("process {}", pid), map, mem, [&](const Mapping& m) { return read_image(pid, m, map, mem); },
                     {fmt::format("/proc/{}/root", pid), ""});
}

Result<PythonTarget> locate_python_in_core(const CoreFile& core, CoreReader& mem) {
  const std::string who = fmt::format("the process in {}", core.path());
  auto t = locate_with(core.process().pid, who, core.map(), mem, [&](const Mapping& m) { return read_core_image(mem, core, m); }, {""});
  if (!t.ok() && t.error().code == Errc::not_python)
    return make_error(Errc::not_python, fmt::format("{} was not a Python process: no mapped file holds _PyRuntime", who));
  return t;
}

}  // namespace objspy
