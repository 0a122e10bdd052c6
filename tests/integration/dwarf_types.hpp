// Struct and member layouts out of one DWARF file with libdw, for the test that checks objspy's
// hand-typed layout tables against the real builds (dwarf_layout_test.cpp).
#pragma once
#include <dwarf.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwelf.h>
#include <fcntl.h>
#include <libelf.h>
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include <fmt/format.h>

namespace itest {

// The struct, union and typedef names of one DWARF file, indexed in one pass over its units
// (and over its DWZ file's, if it has one); queries after that only walk the members of the
// types asked about.
class DwarfTypes {
 public:
  // `wanted`: the typedef and tag names type() will be asked for. `sysroot` prefixes an
  // absolute .gnu_debugaltlink path (a file in a chroot names its DWZ file as the chroot sees it).
  DwarfTypes(const std::string& path, const std::string& sysroot, const std::set<std::string>& wanted) {
    fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd_ < 0) {
      error_ = fmt::format("cannot open {}", path);
      return;
    }
    dw_ = dwarf_begin(fd_, DWARF_C_READ);
    if (!dw_) {
      error_ = fmt::format("{} has no DWARF ({})", path, dwarf_errmsg(-1));
      return;
    }
    const char* alt_name = nullptr;
    const void* alt_id = nullptr;
    ssize_t has_alt = dwelf_dwarf_gnu_debugaltlink(dw_, &alt_name, &alt_id);
    if (has_alt < 0) {
      error_ = fmt::format("{}: malformed .gnu_debugaltlink", path);
      return;
    }
    if (has_alt > 0) {
      std::string alt = alt_name[0] == '/' ? sysroot + alt_name : std::filesystem::path(path).parent_path().string() + "/" + alt_name;
      alt_fd_ = ::open(alt.c_str(), O_RDONLY | O_CLOEXEC);
      if (alt_fd_ >= 0) alt_dw_ = dwarf_begin(alt_fd_, DWARF_C_READ);
      if (!alt_dw_) {
        error_ = fmt::format("{} keeps its types in the DWZ file {}, which is missing or unreadable", path, alt);
        alt_missing_ = true;
        return;
      }
      dwarf_setalt(dw_, alt_dw_);
    }
    index(dw_, wanted);
    if (alt_dw_) index(alt_dw_, wanted);
  }
  ~DwarfTypes() {
    if (dw_) dwarf_end(dw_);
    if (alt_dw_) dwarf_end(alt_dw_);
    if (fd_ >= 0) ::close(fd_);
    if (alt_fd_ >= 0) ::close(alt_fd_);
  }
  DwarfTypes(const DwarfTypes&) = delete;
  DwarfTypes& operator=(const DwarfTypes&) = delete;

  const std::string& error() const { return error_; }  // empty when the file was indexed
  bool alt_missing() const { return alt_missing_; }

  // The struct or union defined under typedef or tag `name` (typedef chains and qualifiers
  // followed, a declaration replaced by its definition); nullopt when the file has none.
  // Definitions of different sizes under one name are ambiguous: nullopt, and `why` says so.
  std::optional<Dwarf_Die> type(const std::string& name, std::string* why) const {
    auto it = wanted_.find(name);
    if (it == wanted_.end()) return std::nullopt;
    std::optional<Dwarf_Die> first;
    std::set<std::uint64_t> sizes;
    for (Dwarf_Die d : it->second) {
      auto t = aggregate(d);
      if (!t) continue;
      if (!first) first = t;
      if (auto s = size_of(*t)) sizes.insert(*s);
    }
    if (sizes.size() > 1) {
      *why = fmt::format("{} is defined with {} different sizes:", name, sizes.size());
      for (auto s : sizes) *why += fmt::format(" {}", s);
      return std::nullopt;
    }
    return first;
  }

  // sizeof the type (DW_AT_byte_size; a flexible array member adds nothing, as in C).
  static std::optional<std::uint64_t> size_of(Dwarf_Die t) {
    Dwarf_Word s = 0;
    if (dwarf_aggregate_size(&t, &s) != 0) return std::nullopt;
    return s;
  }

  // offsetof(t, a.b.c), summed through the member types; the members of an anonymous struct
  // or union member are found as the outer type's.
  std::optional<std::uint64_t> offset(Dwarf_Die t, const std::string& path) const {
    std::uint64_t total = 0;
    std::optional<Member> m;
    if (!walk(t, path, &total, &m)) return std::nullopt;
    return total;
  }

  // The type of member a.b.c, typedefs and qualifiers peeled.
  std::optional<Dwarf_Die> member_type(Dwarf_Die t, const std::string& path) const {
    std::uint64_t total = 0;
    std::optional<Member> m;
    Dwarf_Die peeled;
    if (!walk(t, path, &total, &m) || dwarf_peel_type(&m->type, &peeled) != 0) return std::nullopt;
    return peeled;
  }

  // sizeof(*t.a.b.c), for a pointer member.
  std::optional<std::uint64_t> pointee_size(Dwarf_Die t, const std::string& path) const {
    auto p = member_type(t, path);
    Dwarf_Attribute a;
    Dwarf_Die to;
    if (!p || dwarf_tag(&*p) != DW_TAG_pointer_type || !dwarf_attr(&*p, DW_AT_type, &a) || !dwarf_formref_die(&a, &to))
      return std::nullopt;
    auto agg = aggregate(to);
    return agg ? size_of(*agg) : std::nullopt;
  }

  bool is_pointer(Dwarf_Die t, const std::string& path) const {
    auto p = member_type(t, path);
    return p && dwarf_tag(&*p) == DW_TAG_pointer_type;
  }

 private:
  struct Member {
    std::uint64_t offset = 0;
    Dwarf_Die type{};
  };

  // Top-level structs, unions and typedefs of every unit (C puts its types there).
  void index(Dwarf* dw, const std::set<std::string>& wanted) {
    Dwarf_CU* cu = nullptr;
    Dwarf_Die cudie, subdie, d;
    Dwarf_Half version = 0;
    std::uint8_t unit_type = 0;
    while (dwarf_get_units(dw, cu, &cu, &version, &unit_type, &cudie, &subdie) == 0) {
      if (dwarf_child(&cudie, &d) != 0) continue;
      do {
        int tag = dwarf_tag(&d);
        if (tag != DW_TAG_structure_type && tag != DW_TAG_union_type && tag != DW_TAG_typedef) continue;
        const char* n = dwarf_diename(&d);
        if (!n) continue;
        if (tag != DW_TAG_typedef && !dwarf_hasattr(&d, DW_AT_declaration)) tags_.emplace(n, d);
        if (wanted.count(n)) wanted_[n].push_back(d);
      } while (dwarf_siblingof(&d, &d) == 0);
    }
  }

  // A declaration (struct _is; in a unit that only uses pointers to it) as its definition.
  std::optional<Dwarf_Die> resolve(Dwarf_Die t) const {
    if (!dwarf_hasattr(&t, DW_AT_declaration)) return t;
    const char* n = dwarf_diename(&t);
    if (!n) return std::nullopt;
    auto it = tags_.find(n);
    if (it == tags_.end()) return std::nullopt;
    return it->second;
  }

  // `d` (a typedef, qualified type, struct or union) as a defined struct or union.
  std::optional<Dwarf_Die> aggregate(Dwarf_Die d) const {
    Dwarf_Die peeled;
    if (dwarf_peel_type(&d, &peeled) != 0) return std::nullopt;
    int tag = dwarf_tag(&peeled);
    if (tag != DW_TAG_structure_type && tag != DW_TAG_union_type) return std::nullopt;
    return resolve(peeled);
  }

  std::optional<Member> member(Dwarf_Die t, const std::string& name) const {
    Dwarf_Die c;
    if (dwarf_child(&t, &c) != 0) return std::nullopt;
    do {
      if (dwarf_tag(&c) != DW_TAG_member) continue;
      Member m;
      Dwarf_Attribute a;
      if (dwarf_attr(&c, DW_AT_data_member_location, &a)) {  // absent in a union: offset 0
        Dwarf_Word off = 0;
        if (dwarf_formudata(&a, &off) != 0) continue;  // a location expression: not C
        m.offset = off;
      }
      if (!dwarf_attr(&c, DW_AT_type, &a) || !dwarf_formref_die(&a, &m.type)) continue;
      const char* n = dwarf_diename(&c);
      if (n && name == n) return m;
      if (!n)
        if (auto inner = aggregate(m.type))
          if (auto found = member(*inner, name)) {
            found->offset += m.offset;
            return found;
          }
    } while (dwarf_siblingof(&c, &c) == 0);
    return std::nullopt;
  }

  // Follow a.b.c from t: the offsets summed into `total`, the last member in `last`.
  bool walk(Dwarf_Die t, const std::string& path, std::uint64_t* total, std::optional<Member>* last) const {
    for (std::size_t b = 0;;) {
      std::size_t e = path.find('.', b);
      if (e == std::string::npos) e = path.size();
      *last = member(t, path.substr(b, e - b));
      if (!*last) return false;
      *total += (*last)->offset;
      if (e == path.size()) return true;
      auto next = aggregate((*last)->type);
      if (!next) return false;
      t = *next;
      b = e + 1;
    }
  }

  int fd_ = -1, alt_fd_ = -1;
  Dwarf* dw_ = nullptr;
  Dwarf* alt_dw_ = nullptr;
  std::string error_;
  bool alt_missing_ = false;
  std::unordered_map<std::string, Dwarf_Die> tags_;                 // first definition of each tag
  std::unordered_map<std::string, std::vector<Dwarf_Die>> wanted_;  // every DIE of each wanted name
};

}  // namespace itest
