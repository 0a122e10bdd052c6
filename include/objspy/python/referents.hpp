// The referents of an object read from outside: what gc.get_referents(o) gives (the type's
// tp_traverse), for the types that hold most of a heap's references, and a conservative scan
// of the fixed part for every other type (a word there that is the address of a known object
// is a reference, marked as such). Dict keys and values (combined and split tables, 3.11+
// managed dicts and instance values), list, tuple, set and frozenset items, modules, types
// (__dict__, __mro__, __bases__, __base__), weak references (their referent is weak: left out).
//
// Everything read is untrusted: counts are bounded, and an object whose memory does not read
// as its type says gives the referents read so far.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "objspy/core/flat_map.hpp"
#include "objspy/core/result.hpp"
#include "objspy/process/reader.hpp"
#include "objspy/python/layout.hpp"
#include "objspy/python/objects.hpp"

namespace objspy {

// How a referent is held, for printing the step: `aux` is the index, the key object, the
// attribute's name (a str object) or the byte offset, by kind.
enum class EdgeKind : std::uint8_t {
  item,         // list/tuple item [aux]
  dict_key,     // a dict's key object (aux: unused)
  dict_value,   // a dict's value under key aux (an object)
  set_item,     // a set's element
  attr_dict,    // the instance's __dict__
  attr_value,   // an instance attribute kept outside a dict (3.11+ values): name aux (a str)
  module_dict,  // module.__dict__
  type_dict, type_mro, type_bases, type_base,
  field,        // a word of the fixed part at offset aux (conservative)
  code_field,   // a code object's field (aux: index in ReferentLayout::code_fields)
  callback,     // a weak reference's callback
  klass,        // an instance's heap type (3.9+ subtype_traverse visits it)
};

struct Referent {
  std::uint64_t addr;
  EdgeKind kind;
  std::uint64_t aux = 0;
};

struct ReferentLimits {
  std::uint64_t max_items = 1u << 24;  // items read of one container
  std::uint64_t max_fixed = 4096;      // bytes of a fixed part scanned conservatively
  std::size_t max_types = 100000;      // types described; past it, objects of new types give no referents
};

class ReferentReader {
 public:
  ReferentReader(MemoryReader& mem, const Layout& l, ReferentLimits lim = {}) : mem_(mem), l_(l), objs_(mem, l), lim_(lim) {}

  // Appends the referents of `obj` (of type `type`) to `out`. `is_object(a)` says whether an
  // address is a known object: the conservative scan keeps only those words. Err only for
  // conditions that end the analysis (the target's memory is gone).
  template <class IsObject>
  Status referents(std::uint64_t obj, std::uint64_t type, const IsObject& is_object, std::vector<Referent>& out) {
    fixed_.clear();
    OBJSPY_TRY(known(obj, type, out));
    for (const Referent& r : fixed_)
      if (r.addr && r.addr != obj && is_object(r.addr)) out.push_back(r);
    return {};
  }

  // The step `r` as Python spells it after its holder: "[3]", "['pending']", ".__dict__",
  // ".name", "+0x18", ...
  std::string label(const Referent& r);
  // type(o).__name__ of a static type, "" when unreadable (for describing types).
  std::string static_type_name(std::uint64_t type);
  std::uint64_t containers_cut() const { return cut_; }
  std::uint64_t types_skipped() const { return types_skipped_; }

 private:
  enum class Kind : std::uint8_t { other, tuple, list, dict, set, module, type, weakref, code, deque };
  struct TypeInfo {
    Kind kind = Kind::other;
    std::uint64_t flags = 0, basicsize = 0, dictoffset = 0, weaklistoffset = 0;
    std::uint64_t scan_from = 16;    // the fixed part scanned conservatively: [scan_from, basicsize)
    std::uint64_t cached_keys = 0;   // heap types, 3.11+: the shared keys of instance values
    bool readable = false;
  };
  Result<const TypeInfo*> info(std::uint64_t type);
  Status known(std::uint64_t obj, std::uint64_t type, std::vector<Referent>& out);
  Status pointers(std::uint64_t at, std::uint64_t n, EdgeKind kind, std::vector<Referent>& out);
  Status dict_items(std::uint64_t dict, std::vector<Referent>& out);
  Status values_items(std::uint64_t values, std::uint64_t keys, std::uint64_t n, EdgeKind kind, std::vector<Referent>& out);
  Status instance_attrs(std::uint64_t obj, const TypeInfo& t, std::vector<Referent>& out);
  Status fixed_part(std::uint64_t obj, std::uint64_t from, std::uint64_t to, const TypeInfo& t, std::vector<Referent>& out);
  struct Entries {
    std::uint64_t at = 0, n = 0, size = 24, key = 8, value = 16;
  };
  Result<Entries> entries_of(std::uint64_t keys);
  std::uint64_t bounded(std::uint64_t n);

  MemoryReader& mem_;
  const Layout& l_;
  ObjectReader objs_;
  ReferentLimits lim_;
  FlatMap index_;  // type -> types_ index
  std::vector<TypeInfo> types_;
  std::vector<Referent> fixed_;  // words of fixed parts: kept when is_object() says so
  std::vector<std::byte> buf_, names_;  // reads of at most kChunk entries at a time
  std::uint64_t cut_ = 0, types_skipped_ = 0;
};

}  // namespace objspy
