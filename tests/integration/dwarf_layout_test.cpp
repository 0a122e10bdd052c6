// The hand-typed layout tables (src/python/layout.cpp) against the DWARF of the real builds on
// this machine: every offset and size a census and sys.getsizeof() arithmetic read from the
// table equals offsetof/sizeof of the C structs the interpreter was compiled with. The
// builds: pyenv's shared libpython 3.8-3.13 (DWARF inside), Debian's /usr/bin/python3.11 and
// the sid chroot's python3.13-3.15 (release builds; DWARF in the -dbg packages' files under
// /usr/lib/debug/.build-id, found by the binary's build ID). One pass over each file's units,
// no interpreter is run.
#include <doctest/doctest.h>

#include <dwarf.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwelf.h>
#include <fcntl.h>
#include <libelf.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include <fmt/format.h>

#include "objspy/python/layout.hpp"
#include "objspy/python/version.hpp"
#include "dwarf_types.hpp"
#include "support.hpp"

namespace fs = std::filesystem;

namespace {

using itest::DwarfTypes;

// Every typedef and tag name the comparison asks for (DwarfTypes indexes only these by name).
const std::set<std::string>& wanted_names() {
  static const std::set<std::string> names = {
      "PyObject", "_object", "PyVarObject", "PyTypeObject", "_typeobject", "PyHeapTypeObject", "_heaptypeobject",
      "PyTupleObject", "PyListObject", "PySetObject", "PyDictObject", "PyDictKeysObject", "_dictkeysobject",
      "PyLongObject", "_longobject", "PyFrameObject", "_frame", "_PyInterpreterFrame", "PyGenObject", "_PyGenObject",
      "PyCodeObject", "dequeobject", "PyODictObject", "_odictobject", "PyASCIIObject",
      "PyCompactUnicodeObject", "PyUnicodeObject", "PyInterpreterState", "_is", "_obmalloc_state", "arena_object"};
  return names;
}

struct Found {
  Dwarf_Die die;
  std::string name;  // as the DWARF names it, for messages
};

// One build's table against its DWARF, fact by fact; what differs is kept, not thrown.
class Comparison {
 public:
  Comparison(const DwarfTypes& dw, std::string version) : dw_(dw), version_(std::move(version)) {}

  // The struct under the first of `names` the DWARF defines. None: a problem, unless the
  // struct may be left out of this file (`optional`: then noted as unchecked).
  std::optional<Found> type(std::initializer_list<const char*> names, bool optional = false) {
    std::string why;
    for (const char* n : names) {
      std::string w;
      if (auto t = dw_.type(n, &w)) return Found{*t, n};
      if (!w.empty()) why = w;
    }
    std::string all;
    for (const char* n : names) all += (all.empty() ? "" : " / ") + std::string(n);
    if (!why.empty()) problems.push_back(fmt::format("{}: {}", version_, why));
    else if (!optional) problems.push_back(fmt::format("{}: {} not defined in the DWARF", version_, all));
    else absent.push_back(all);
    return std::nullopt;
  }

  void check(const std::string& field, std::uint64_t table, std::optional<std::uint64_t> dwarf, const std::string& source) {
    ++facts;
    if (!dwarf) problems.push_back(fmt::format("{} {}: table {}, DWARF has no {}", version_, field, table, source));
    else if (*dwarf != table) problems.push_back(fmt::format("{} {}: table {}, DWARF {} ({})", version_, field, table, *dwarf, source));
  }
  // A field the table has for some versions only: present exactly when the DWARF has it.
  void check_optional(const std::string& field, std::optional<std::uint64_t> table, std::optional<std::uint64_t> dwarf,
                      const std::string& source) {
    if (table) return check(field, *table, dwarf, source);
    ++facts;
    if (dwarf) problems.push_back(fmt::format("{} {}: table none, DWARF {} ({})", version_, field, *dwarf, source));
  }
  void offset(const std::string& field, std::uint64_t table, const Found& t, const std::string& path) {
    check(field, table, dw_.offset(t.die, path), fmt::format("offsetof({}, {})", t.name, path));
  }
  void size(const std::string& field, std::uint64_t table, const Found& t) {
    check(field, table, DwarfTypes::size_of(t.die), fmt::format("sizeof({})", t.name));
  }
  std::optional<std::uint64_t> off(const Found& t, const std::string& path) const { return dw_.offset(t.die, path); }

  const DwarfTypes& dw() const { return dw_; }

  std::vector<std::string> problems;
  std::vector<std::string> absent;  // optional structs this DWARF does not have, unchecked
  int facts = 0;

 private:
  const DwarfTypes& dw_;
  std::string version_;
};

std::optional<std::uint64_t> plus(std::optional<std::uint64_t> a, std::optional<std::uint64_t> b) {
  if (!a || !b) return std::nullopt;
  return *a + *b;
}

// Everything the table says that this DWARF can confirm (docs/getsizeof.md,
// cpython-internals.md §7 for what each field means in which version).
void compare(Comparison& c, const objspy::Layout& l) {
  const int minor = l.version.minor;
  const objspy::SizeofLayout& z = l.sizes;

  // Objects in general.
  if (auto t = c.type({"PyObject", "_object"})) c.offset("ob_type", l.ob_type, *t, "ob_type");
  if (auto t = c.type({"PyVarObject"})) c.offset("ob_size", l.ob_size, *t, "ob_size");
  if (auto t = c.type({"PyLongObject", "_longobject"})) c.offset("long_digits", l.long_digits, *t, minor < 12 ? "ob_digit" : "long_value.ob_digit");

  // type
  if (auto t = c.type({"PyTypeObject", "_typeobject"})) {
    c.offset("sizes.tp_basicsize", z.tp_basicsize, *t, "tp_basicsize");
    c.offset("sizes.tp_itemsize", z.tp_itemsize, *t, "tp_itemsize");
    c.offset("sizes.tp_mro", z.tp_mro, *t, "tp_mro");
    c.offset("tp_name", l.tp_name, *t, "tp_name");
    c.offset("tp_flags", l.tp_flags, *t, "tp_flags");
    c.offset("tp_dict", l.tp_dict, *t, "tp_dict");
    c.offset("refs.tp_base", l.refs.tp_base, *t, "tp_base");
    c.offset("refs.tp_weaklistoffset", l.refs.tp_weaklistoffset, *t, "tp_weaklistoffset");
    c.offset("refs.tp_dictoffset", l.refs.tp_dictoffset, *t, "tp_dictoffset");
    c.offset("refs.tp_bases", l.refs.tp_bases, *t, "tp_bases");
  }
  // PyModuleObject is a typedef of an anonymous struct in some versions, and _dictvalues is
  // not in every build's DWARF: both optional here; the refs test reads them on every build.
  if (auto t = c.type({"PyModuleObject"}, true)) c.offset("refs.md_dict", l.refs.md_dict, *t, "md_dict");
  if (auto t = c.type({"PyCodeObject"}))
    for (const auto& f : l.refs.code_fields) c.offset(std::string("refs.code.") + f.name, f.offset, *t, f.name);
  if (minor >= 11)
    if (auto t = c.type({"_dictvalues", "PyDictValues"}, true)) c.offset("refs.values_array", l.refs.values_array, *t, "values");
  if (minor >= 13)
    if (auto t = c.type({"_dictvalues", "PyDictValues"}, true)) c.offset("refs.values_valid", l.refs.values_valid, *t, "valid");
  if (auto t = c.type({"PyHeapTypeObject", "_heaptypeobject"})) {
    c.size("sizes.heap_type_size", z.heap_type_size, *t);
    c.offset("sizes.ht_cached_keys", z.ht_cached_keys, *t, "ht_cached_keys");
    c.offset("ht_name", l.ht_name, *t, "ht_name");
  }

  // Containers.
  if (auto t = c.type({"PyTupleObject"})) c.offset("sizes.tuple_items", z.tuple_items, *t, "ob_item");
  if (auto t = c.type({"PyListObject"})) {
    c.offset("sizes.list_allocated", z.list_allocated, *t, "allocated");
    c.offset("list.ob_item", l.list.ob_item, *t, "ob_item");
  }
  if (auto t = c.type({"PySetObject"})) {
    c.offset("sizes.set_mask", z.set_mask, *t, "mask");
    c.offset("sizes.set_table", z.set_table, *t, "table");
    c.offset("sizes.set_smalltable", z.set_smalltable, *t, "smalltable");
    c.check("sizes.set_entry", z.set_entry, c.dw().pointee_size(t->die, "table"), "sizeof(*PySetObject.table)");
  }
  if (auto t = c.type({"PyDictObject"})) {
    c.offset("dict_keys", l.dict_keys, *t, "ma_keys");
    c.offset("dict_values", l.dict_values, *t, "ma_values");
    c.offset("sizes.dict_used", z.dict_used, *t, "ma_used");
  }
  if (auto t = c.type({"PyDictKeysObject", "_dictkeysobject"})) {
    // sizeof leaves out the flexible dk_indices[] (3.8-3.10: 40; 3.11+: 32), where it starts.
    c.size("sizes.keys_size", z.keys_size, *t);
    c.offset("sizes.keys_size", z.keys_size, *t, "dk_indices");
    c.offset("sizes.keys_usable", z.keys_usable, *t, "dk_usable");
    c.offset("dict_keys_object.size", l.dict_keys_object.size, *t, minor < 11 ? "dk_size" : "dk_log2_size");
    c.offset("dict_keys_object.nentries", l.dict_keys_object.nentries, *t, "dk_nentries");
    c.offset("dict_keys_object.indices", l.dict_keys_object.indices, *t, "dk_indices");
  }
  // Modules/_collectionsmodule.c: in these builds' DWARF when _collections is built in.
  if (auto t = c.type({"dequeobject"}, /*optional=*/true)) {
    c.offset("sizes.deque_leftindex", z.deque_leftindex, *t, "leftindex");
    c.offset("refs.deque_leftblock", l.refs.deque_leftblock, *t, "leftblock");
    // By the pointer's type: other modules have a `block` typedef of their own.
    c.check("sizes.deque_block", z.deque_block, c.dw().pointee_size(t->die, "leftblock"), "sizeof(block) (*dequeobject.leftblock)");
  }
  if (auto t = c.type({"PyODictObject", "_odictobject"})) {
    c.offset("sizes.odict_first", z.odict_first, *t, "od_first");
    c.offset("sizes.odict_fast_nodes_size", z.odict_fast_nodes_size, *t, "od_fast_nodes_size");
    c.check("sizes.odict_node", z.odict_node, c.dw().pointee_size(t->die, "od_first"), "sizeof(_ODictNode) (*od_first)");
  }

  // str
  if (auto t = c.type({"PyASCIIObject"})) {
    c.offset("str.length", l.str.length, *t, "length");
    c.offset("str.state", l.str.state, *t, "state");
    c.size("str.ascii_size", l.str.ascii_size, *t);
  }
  if (auto t = c.type({"PyCompactUnicodeObject"})) c.size("str.compact_size", l.str.compact_size, *t);
  if (auto t = c.type({"PyUnicodeObject"})) {
    c.size("sizes.unicode_size", z.unicode_size, *t);
    c.offset("sizes.utf8_length", z.utf8_length, *t, "_base.utf8_length");
    c.offset("sizes.utf8", z.utf8, *t, "_base.utf8");
    c.offset("sizes.data_any", z.data_any, *t, "data.any");
    if (minor <= 11) {
      c.offset("sizes.wstr", z.wstr, *t, "_base._base.wstr");
      c.offset("sizes.wstr_length", z.wstr_length, *t, "_base.wstr_length");
    }
  }

  // Frames, generators, code. (A struct a version does not have is not looked for.)
  std::optional<Found> iframe = minor >= 11 ? c.type({"_PyInterpreterFrame"}) : std::nullopt;
  const char* iframe_code = minor <= 12 ? "f_code" : "f_executable";
  if (auto t = c.type({"PyFrameObject", "_frame"})) {
    if (minor < 11) {
      c.offset("sizes.frame_code", z.frame_code, *t, "f_code");
      c.size("sizes.frame_base", z.frame_base, *t);
    } else if (iframe) {
      c.offset("sizes.frame_code", z.frame_code, *t, "f_frame");
      c.check("sizes.frame_base", z.frame_base, plus(c.off(*t, "_f_frame_data"), c.off(*iframe, "localsplus")),
              fmt::format("offsetof({}, _f_frame_data) + offsetof(_PyInterpreterFrame, localsplus)", t->name));
    }
  }
  if (iframe) {
    c.offset("sizes.iframe_code", z.iframe_code, *iframe, iframe_code);
    if (minor >= 12) {
      auto size = DwarfTypes::size_of(iframe->die);
      c.check("sizes.frame_specials", z.frame_specials, size ? std::optional<std::uint64_t>((*size - 1) / 8) : std::nullopt,
              "(sizeof(_PyInterpreterFrame) - 1) / 8");
    }
    if (auto g = c.type({"PyGenObject", "_PyGenObject"})) {
      c.check("sizes.gen_base", z.gen_base, plus(c.off(*g, "gi_iframe"), c.off(*iframe, "localsplus")),
              fmt::format("offsetof({}, gi_iframe) + offsetof(_PyInterpreterFrame, localsplus)", g->name));
      if (minor == 11)
        c.offset("sizes.gen_code", z.gen_code, *g, "gi_code");
      else
        c.check("sizes.gen_code", z.gen_code, plus(c.off(*g, "gi_iframe"), c.off(*iframe, iframe_code)),
                fmt::format("offsetof({}, gi_iframe) + offsetof(_PyInterpreterFrame, {})", g->name, iframe_code));
    }
  }
  if (auto t = c.type({"PyCodeObject"})) {
    if (minor < 11) {
      c.offset("sizes.co_nlocals", z.co_nlocals, *t, "co_nlocals");
      c.offset("sizes.co_stacksize", z.co_stacksize, *t, "co_stacksize");
      c.offset("sizes.co_freevars", z.co_freevars, *t, "co_freevars");
      c.offset("sizes.co_cellvars", z.co_cellvars, *t, "co_cellvars");
    } else if (minor == 11) {
      c.offset("sizes.co_stacksize", z.co_stacksize, *t, "co_stacksize");
      c.offset("sizes.co_nlocalsplus", z.co_nlocalsplus, *t, "co_nlocalsplus");
    } else {
      c.offset("sizes.co_framesize", z.co_framesize, *t, "co_framesize");
    }
  }

  // pymalloc: 3.8-3.11 file-static globals (no struct); 3.12 the state inside the
  // interpreter; 3.13+ a pointer to it there.
  if (auto t = c.type({"PyInterpreterState", "_is"})) {
    auto at = c.off(*t, "obmalloc");
    const bool pointer = at && c.dw().is_pointer(t->die, "obmalloc");
    c.check_optional("obmalloc.interp_state", l.obmalloc.interp_state, pointer ? std::nullopt : at,
                     fmt::format("offsetof({}, obmalloc), an embedded struct _obmalloc_state", t->name));
    c.check_optional("obmalloc.interp_state_ptr", l.obmalloc.interp_state_ptr, pointer ? at : std::nullopt,
                     fmt::format("offsetof({}, obmalloc), a pointer", t->name));
  }
  if (auto t = minor >= 12 ? c.type({"_obmalloc_state"}) : std::nullopt) {
    c.offset("obmalloc.arenas", l.obmalloc.arenas, *t, "mgmt.arenas");
    c.offset("obmalloc.maxarenas", l.obmalloc.maxarenas, *t, "mgmt.maxarenas");
    c.offset("obmalloc.narenas_current", l.obmalloc.narenas_current, *t, "mgmt.narenas_currently_allocated");
    c.offset("obmalloc.ntimes_allocated", l.obmalloc.ntimes_allocated, *t, "mgmt.ntimes_arena_allocated");
    c.offset("obmalloc.highwater", l.obmalloc.highwater, *t, "mgmt.narenas_highwater");
  }
  if (auto t = c.type({"arena_object"})) {
    c.size("obmalloc.arena_object_size", l.obmalloc.arena_object_size, *t);
    c.offset("obmalloc.arena_pool_address", l.obmalloc.arena_pool_address, *t, "pool_address");
    c.offset("obmalloc.arena_nfreepools", l.obmalloc.arena_nfreepools, *t, "nfreepools");
  }
}

// A build to check, or why it cannot be.
struct Build {
  std::string what;     // the name OBJSPY_ALLOW_MISSING knows it by ("pyenv 3.8", "sid python3.14")
  std::string label;    // summary row
  std::string dwarf;    // the file with its DWARF
  std::string sysroot;  // the root it lives in ("" or the chroot)
  objspy::PyVersion version;
};

struct Missing {
  std::string what, why;
};

std::string pyenv_root() {
  if (const char* r = std::getenv("PYENV_ROOT")) return r;
  if (const char* h = std::getenv("HOME")) return std::string(h) + "/.pyenv";
  return "/root/.pyenv";
}

std::string sid_root() {
  if (const char* r = std::getenv("OBJSPY_SID_CHROOT")) return r;
  return "/var/cache/objspy/sid-chroot";
}

// The build ID note of an ELF file, in hex; "" when it has none.
std::string build_id(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return "";
  std::string hex;
  elf_version(EV_CURRENT);
  if (Elf* e = elf_begin(fd, ELF_C_READ_MMAP, nullptr)) {
    const void* id = nullptr;
    ssize_t n = dwelf_elf_gnu_build_id(e, &id);
    for (ssize_t k = 0; k < n; ++k) hex += fmt::format("{:02x}", static_cast<const unsigned char*>(id)[k]);
    elf_end(e);
  }
  ::close(fd);
  return hex;
}

// The micro version of Debian's python3.X-minimal package installed under `root`, from
// dpkg's status file ("Version: 3.14.10-1"); -1 when not installed there.
int debian_micro(const std::string& root, int minor) {
  std::ifstream in(root + "/var/lib/dpkg/status");
  const std::string package = fmt::format("Package: python3.{}-minimal", minor);
  bool in_stanza = false;
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("Package: ", 0) == 0) in_stanza = line == package;
    int major = 0, mi = 0, micro = 0;
    if (in_stanza && std::sscanf(line.c_str(), "Version: %d.%d.%d", &major, &mi, &micro) == 3 && major == 3 && mi == minor) return micro;
  }
  return -1;
}

// A Debian binary's DWARF: /usr/lib/debug/.build-id/xx/yyyy.debug under `root`.
void debian_build(const std::string& root, const std::string& exe, const std::string& what, const std::string& label,
                  const std::string& dbg_package, int minor, std::vector<Build>& found, std::vector<Missing>& missing) {
  std::string id = build_id(root + exe);
  if (id.size() < 3) {
    missing.push_back({what + " DWARF", fmt::format("{}{} has no build ID note to find its debug file by", root, exe)});
    return;
  }
  std::string debug = fmt::format("{}/usr/lib/debug/.build-id/{}/{}.debug", root, id.substr(0, 2), id.substr(2));
  if (access(debug.c_str(), R_OK) != 0) {
    missing.push_back({what + " DWARF", fmt::format("{} missing (apt-get install {}{})", debug, dbg_package, root.empty() ? "" : " in the chroot")});
    return;
  }
  found.push_back({what, label, debug, root, objspy::PyVersion{3, minor, debian_micro(root, minor)}});
}

std::vector<Build> find_builds(std::vector<Missing>& missing) {
  std::vector<Build> found;
  // pyenv: shared libpython with its DWARF inside; the micro version from the directory.
  const std::string versions = pyenv_root() + "/versions";
  std::map<std::string, std::string> dirs;
  std::error_code ec;
  if (fs::is_directory(versions, ec))
    for (const auto& e : fs::directory_iterator(versions, ec)) dirs[e.path().filename().string()] = e.path().string();
  for (int minor = 8; minor <= 13; ++minor) {
    bool got = false;
    for (const auto& [name, dir] : dirs) {
      int major = 0, mi = 0, micro = 0;
      if (std::sscanf(name.c_str(), "%d.%d.%d", &major, &mi, &micro) != 3 || major != 3 || mi != minor) continue;
      std::string lib = fmt::format("{}/lib/libpython3.{}.so.1.0", dir, minor);
      if (access(lib.c_str(), R_OK) != 0) continue;
      found.push_back({fmt::format("pyenv 3.{}", minor), "pyenv " + name + " (DWARF)", lib, "", objspy::PyVersion{3, minor, micro}});
      got = true;
    }
    if (!got)
      missing.push_back({fmt::format("pyenv 3.{}", minor),
                         fmt::format("no {}/3.{}.*/lib/libpython3.{}.so.1.0 (tools/setup.sh --chroot installs it)", versions, minor, minor)});
  }
  // Debian bookworm's python3.11, its DWARF from python3.11-dbg.
  if (access("/usr/bin/python3.11", R_OK) == 0)
    debian_build("", "/usr/bin/python3.11", "debian python3.11", "debian python3.11 (DWARF)", "python3.11-dbg", 11, found, missing);
  else
    missing.push_back({"debian python3.11", "/usr/bin/python3.11 missing (apt-get install python3.11)"});
  // Debian sid in the chroot: the release builds 3.13-3.15, their DWARF from python3.X-dbg.
  const std::string sid = sid_root();
  for (int minor = 13; minor <= 15; ++minor) {
    std::string exe = fmt::format("/usr/bin/python3.{}", minor);
    std::string what = fmt::format("sid python3.{}", minor);
    if (!fs::is_directory(sid + "/usr/bin", ec))
      missing.push_back({what, "no sid chroot at " + sid + " (tools/setup.sh --chroot builds it)"});
    else if (access((sid + exe).c_str(), R_OK) != 0)
      missing.push_back({what, exe + " missing in the chroot (tools/setup.sh --chroot)"});
    else
      debian_build(sid, exe, what, what + " (DWARF)", fmt::format("python3.{}-dbg", minor), minor, found, missing);
  }
  return found;
}

}  // namespace

TEST_CASE("layout tables: the hand-typed offsets and sizes equal the DWARF of every interpreter build on this machine") {
  std::vector<Missing> missing;
  const std::vector<Build> builds = find_builds(missing);
  int checked = 0;
  for (const Build& b : builds) {
    DwarfTypes dw(b.dwarf, b.sysroot, wanted_names());
    if (!dw.error().empty()) {
      missing.push_back({b.what + (dw.alt_missing() ? " DWZ file" : " DWARF"), dw.error()});
      continue;
    }
    auto layout = objspy::builtin_layout(b.version);
    REQUIRE_MESSAGE(layout, b.label << ": no built-in layout for " << b.version.str());
    Comparison c(dw, b.version.str());
    compare(c, *layout);
    std::string message = fmt::format("{} ({}): {} problem(s) in {} layout facts checked against the DWARF:", b.label, b.dwarf,
                                      c.problems.size(), c.facts);
    for (const auto& p : c.problems) message += "\n  " + p;
    CHECK_MESSAGE(c.problems.empty(), message);
    std::string note = c.problems.empty() ? fmt::format("layout table = DWARF ({} facts)", c.facts)
                                          : fmt::format("layout table DIFFERS from DWARF ({} problem(s), {} facts)", c.problems.size(), c.facts);
    for (const auto& a : c.absent) note += "; no " + a + " in the DWARF, unchecked";
    itest::record({b.label, b.version.str(), "-", "-", note});
    ++checked;
  }
  CHECK_MESSAGE(checked > 0, "no interpreter DWARF found to check the layout tables against");
  // Reported after every file found was checked: an allowed absence only says so, the first
  // that is not allowed ends the test (so the allowed ones go first and are all listed).
  std::stable_partition(missing.begin(), missing.end(), [](const Missing& m) { return itest::missing_allowed(m.what); });
  for (const auto& m : missing) itest::missing(m.what, m.why);
}
