// Which __sizeof__ a type's objects take (python/sizes.hpp): the type's MRO searched as
// CPython's _PyType_Lookup searches it, each type's verdict cached.
#include <string_view>
#include <vector>

#include "objspy/core/load.hpp"
#include "objspy/python/objects.hpp"
#include "objspy/python/sizes.hpp"
#include "sizes_internal.hpp"

namespace objspy {
namespace {

using namespace sizes;

constexpr std::uint8_t kNoOwn = 0;        // the type's own dict has no __sizeof__
constexpr std::uint8_t kEstimate = 250;   // one objspy cannot compute
constexpr std::uint8_t kObject = 251;     // object.__sizeof__ (the end of every MRO)
constexpr std::size_t kMaxMro = 256;

// The builtins whose __sizeof__ objspy computes, by tp_name (docs/getsizeof.md §3.1). Matched
// only on static types and on the owner of a method descriptor, never on a class's own name.
std::optional<SizeKind> builtin_kind(std::string_view name, const SizeofLayout& z) {
  struct Entry {
    std::string_view name;
    SizeKind kind;
  };
  static constexpr Entry kTable[] = {
      {"list", SizeKind::list},
      {"dict", SizeKind::dict},
      {"frozendict", SizeKind::dict},  // 3.15
      {"set", SizeKind::set},
      {"frozenset", SizeKind::set},
      {"type", SizeKind::type},
      {"frame", SizeKind::frame},
      {"generator", SizeKind::gen},
      {"coroutine", SizeKind::gen},
      {"async_generator", SizeKind::gen},
      {"int", SizeKind::int_sub},
      {"str", SizeKind::str_sub},
      {"bytearray", SizeKind::bytearray_sub},
      {"collections.OrderedDict", SizeKind::odict},
      {"collections.deque", SizeKind::deque},
      {"_io.BytesIO", SizeKind::bytesio},
      {"_io.BufferedReader", SizeKind::buffered},
      {"_io.BufferedWriter", SizeKind::buffered},
      {"_io.BufferedRandom", SizeKind::buffered},
      {"array.array", SizeKind::array},
      {"_struct.Struct", SizeKind::struct_format},
  };
  for (const Entry& e : kTable) {
    if (e.name != name) continue;
    if (e.kind == SizeKind::gen && !z.gen_sizeof) return std::nullopt;  // 3.8-3.10: no override
    return e.kind;
  }
  return std::nullopt;
}

}  // namespace

bool SizeMeter::estimated(std::uint64_t type) const {
  std::uint32_t i = type ? index_.find(type) : FlatMap::kNone;
  return i == FlatMap::kNone ? unclassified_ : sizings_[i].estimate;
}

// What the dict of type `t` says about __sizeof__: the formula it names, none, or one objspy
// cannot compute. Cached per type: every class's MRO shares its bases.
Result<std::uint8_t> SizeMeter::own_sizeof(std::uint64_t t) {
  if (std::uint32_t v = own_.find(t); v != FlatMap::kNone) return static_cast<std::uint8_t>(v);
  ObjectReader objs(mem_, l_);
  auto remember = [&](std::uint8_t v) {
    if (own_.size() < lim_.max_types) own_.put(t, v);
    return v;
  };
  auto flags = mem_.u64(RemoteAddr(t) + l_.tp_flags);
  if (!flags.ok()) return fatal(flags.error()) ? Result<std::uint8_t>(flags.take_error()) : remember(kEstimate);
  auto type_name = [&](std::uint64_t type) -> Result<std::string> {
    OBJSPY_ASSIGN(RemoteAddr p, mem_.ptr(RemoteAddr(type) + l_.tp_name));
    bool cut = false;
    return mem_.c_string(p, 128, &cut);
  };
  if (!(*flags & kTpFlagsHeapType)) {
    auto name = type_name(t);
    if (!name.ok()) return fatal(name.error()) ? Result<std::uint8_t>(name.take_error()) : remember(kEstimate);
    if (*name == "object") return remember(kObject);
    if (auto k = builtin_kind(*name, l_.sizes)) return remember(static_cast<std::uint8_t>(1 + static_cast<int>(*k)));
  }
  // A heap type, or a static type of an extension (3.12+ builtins have no tp_dict here).
  auto dict = mem_.ptr(RemoteAddr(t) + l_.tp_dict);
  if (!dict.ok()) return fatal(dict.error()) ? Result<std::uint8_t>(dict.take_error()) : remember(kEstimate);
  if (dict->null()) return remember(kNoOwn);
  DictScan scan;
  auto v = objs.dict_get(*dict, "__sizeof__", &scan);
  if (!v.ok()) return fatal(v.error()) ? Result<std::uint8_t>(v.take_error()) : remember(kEstimate);
  if (!*v) return remember(scan.cut ? kEstimate : kNoOwn);
  // A method descriptor of a builtin (list.__sizeof__, or a 3.12+ heap builtin's own, such as
  // collections.deque's): the formula of the type that defines it (PyDescrObject.d_type at
  // 16, 3.8-3.15). Anything else (a Python function) runs code objspy cannot.
  auto vt = objs.type_of(**v);
  if (!vt.ok()) return fatal(vt.error()) ? Result<std::uint8_t>(vt.take_error()) : remember(kEstimate);
  auto vt_name = type_name(vt->value());
  if (!vt_name.ok()) return fatal(vt_name.error()) ? Result<std::uint8_t>(vt_name.take_error()) : remember(kEstimate);
  if (*vt_name != "method_descriptor") return remember(kEstimate);
  auto owner = mem_.ptr(**v + 16);
  if (!owner.ok()) return fatal(owner.error()) ? Result<std::uint8_t>(owner.take_error()) : remember(kEstimate);
  auto owner_name = type_name(owner->value());
  if (!owner_name.ok()) return fatal(owner_name.error()) ? Result<std::uint8_t>(owner_name.take_error()) : remember(kEstimate);
  if (*owner_name == "object") return remember(kObject);
  if (auto k = builtin_kind(*owner_name, l_.sizes)) return remember(static_cast<std::uint8_t>(1 + static_cast<int>(*k)));
  return remember(kEstimate);
}

Status SizeMeter::classify(std::uint64_t type, TypeSizing& s) {
  const SizeofLayout& z = l_.sizes;
  std::byte head[352];
  static_assert(sizeof head >= 344 + 8);
  auto st = mem_.read(RemoteAddr(type), head);
  if (!st.ok()) {
    if (fatal(st.error())) return st;
    s.estimate = true;
    s.pre = l_.gc_head_size;
    return {};
  }
  s.basicsize = load64(head + z.tp_basicsize);
  s.itemsize = load64(head + z.tp_itemsize);
  s.flags = load64(head + l_.tp_flags);
  if (s.basicsize >= kHuge || s.itemsize >= kHuge) { s.basicsize = s.itemsize = 0; s.estimate = true; }
  // getsizeof adds PyGC_Head for GC types only: objects outside the GC lists (str, int, bytes,
  // float, found by objspy heap through their holders) have none.
  s.pre = (s.flags & kTpFlagsHaveGc) ? l_.gc_head_size + ((s.flags & z.preheader_flags) ? 16 : 0) : 0;
  // The MRO, as _PyType_Lookup searches it; a type without one (not ready) is its own.
  std::vector<std::uint64_t> mro;
  std::uint64_t mro_addr = load64(head + z.tp_mro);
  if (mro_addr) {
    auto n = mem_.u64(RemoteAddr(mro_addr) + l_.ob_size);
    if (n.ok() && *n > 0 && *n <= kMaxMro) {
      mro.resize(*n);
      auto rd = mem_.read(RemoteAddr(mro_addr) + z.tuple_items, std::as_writable_bytes(std::span(mro)));
      if (!rd.ok()) {
        if (fatal(rd.error())) return rd;
        mro.clear();
      }
    } else if (!n.ok() && fatal(n.error())) {
      return n.take_error();
    }
  }
  if (mro.empty()) mro.push_back(type);
  std::uint8_t verdict = kObject;
  for (std::uint64_t t : mro) {
    if (!t || (t & 7)) { verdict = kEstimate; break; }
    OBJSPY_ASSIGN(std::uint8_t v, own_sizeof(t));
    if (v == kNoOwn) continue;
    verdict = v;
    break;
  }
  if (verdict == kEstimate) s.estimate = true;
  if (verdict == kEstimate || verdict == kObject) s.kind = s.itemsize > 0 ? SizeKind::var : SizeKind::fixed;
  else s.kind = static_cast<SizeKind>(verdict - 1);
  return {};
}

Result<const TypeSizing*> SizeMeter::sizing(std::uint64_t type) {
  if (std::uint32_t i = type ? index_.find(type) : FlatMap::kNone; i != FlatMap::kNone) return &sizings_[i];
  if (sizings_.size() >= lim_.max_types || (budget_ && budget_->expired())) {
    // Past the bound or the deadline: a fresh classification each time would cost reads per object.
    static const TypeSizing kUnknown{0, SizeKind::fixed, 0, 0, 16, 0, true};
    unclassified_ = true;
    return &kUnknown;
  }
  TypeSizing s;
  s.type = type;
  OBJSPY_TRY(classify(type, s));
  index_.put(type, static_cast<std::uint32_t>(sizings_.size()));
  sizings_.push_back(s);
  return &sizings_.back();
}

}  // namespace objspy
