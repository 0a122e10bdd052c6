#include "objspy/python/referents.hpp"

#include <algorithm>
#include <array>
#include <cstring>
#include <string_view>

#include <fmt/format.h>

#include "objspy/core/load.hpp"

namespace objspy {
namespace {

constexpr std::uint64_t kHeapType = 1ULL << 9;
constexpr std::uint64_t kTupleSubclass = 1ULL << 26;
constexpr std::uint64_t kListSubclass = 1ULL << 25;
constexpr std::uint64_t kDictSubclass = 1ULL << 29;
constexpr std::uint64_t kTypeSubclass = 1ULL << 31;
constexpr std::uint64_t kChunk = 1u << 16;  // pointers per read

bool plausible_size(std::uint64_t n) { return n < (1ULL << 40); }

}  // namespace

std::uint64_t ReferentReader::bounded(std::uint64_t n) {
  if (n > lim_.max_items) {
    ++cut_;
    return lim_.max_items;
  }
  return n;
}

std::string ReferentReader::static_type_name(std::uint64_t type) {
  auto p = mem_.ptr(RemoteAddr(type + l_.tp_name));
  if (!p.ok() || p->null()) return {};
  bool cut = false;
  auto s = mem_.c_string(*p, 128, &cut);
  return s.ok() ? *s : std::string();
}

Result<const ReferentReader::TypeInfo*> ReferentReader::info(std::uint64_t type) {
  if (std::uint32_t i = index_.find(type); i != FlatMap::kNone) return &types_[i];
  if (types_.size() >= lim_.max_types) {
    ++types_skipped_;
    static const TypeInfo none;
    return &none;
  }
  TypeInfo t;
  const ReferentLayout& r = l_.refs;
  std::array<std::byte, 8> w{};
  auto word = [&](std::uint64_t at) -> std::optional<std::uint64_t> {
    if (!mem_.read(RemoteAddr(at), w).ok()) return std::nullopt;
    return load64(w.data());
  };
  auto flags = word(type + l_.tp_flags), basic = word(type + l_.sizes.tp_basicsize), dictoff = word(type + r.tp_dictoffset),
       weakoff = word(type + r.tp_weaklistoffset);
  if (flags && basic && dictoff && weakoff && *basic >= 16 && *basic < (1u << 20)) {
    t.readable = true;
    t.flags = *flags;
    t.basicsize = *basic;
    t.dictoffset = (*dictoff > 0 && *dictoff < *basic) ? *dictoff : 0;
    t.weaklistoffset = (*weakoff > 0 && *weakoff < *basic) ? *weakoff : 0;
    if (t.flags & kTupleSubclass) t.kind = Kind::tuple;
    else if (t.flags & kListSubclass) t.kind = Kind::list;
    else if (t.flags & kDictSubclass) t.kind = Kind::dict;
    else if (t.flags & kTypeSubclass) t.kind = Kind::type;
    // The first static type up the bases names the kind the flags do not tell, and where
    // the fields a subclass adds begin.
    std::uint64_t b = type;
    for (int depth = 0; depth < 64 && b; ++depth) {
      auto bf = depth == 0 ? flags : word(b + l_.tp_flags);
      if (!bf) break;
      // collections.deque is a heap type from 3.12 (its module's types come from specs): a
      // dotted C name no class statement gives.
      if ((*bf & kHeapType) && t.kind == Kind::other && static_type_name(b) == "collections.deque") {
        t.kind = Kind::deque;
        if (auto bb = word(b + l_.sizes.tp_basicsize); bb && *bb <= t.basicsize) t.scan_from = *bb;
      }
      if (!(*bf & kHeapType)) {
        const std::string name = static_type_name(b);
        if (t.kind == Kind::other) {
          if (name == "set" || name == "frozenset") t.kind = Kind::set;
          else if (name == "module") t.kind = Kind::module;
          else if (name == "code") t.kind = Kind::code;
          else if (name == "collections.deque") t.kind = Kind::deque;
          else if (name == "weakref" || name == "weakref.ReferenceType" || name == "weakproxy" || name == "weakcallableproxy" ||
                   name == "weakref.ProxyType" || name == "weakref.CallableProxyType")
            t.kind = Kind::weakref;
        }
        if (depth > 0 && name != "object") {
          if (auto bb = word(b + l_.sizes.tp_basicsize); bb && *bb <= t.basicsize) t.scan_from = std::max<std::uint64_t>(16, *bb);
        }
        break;
      }
      auto next = word(b + r.tp_base);
      if (!next) break;
      b = *next;
    }
    // A static type's own fields are known by kind; other static types are scanned whole,
    // but for the builtins that hold no object: a compact str is shorter than str's
    // tp_basicsize (sizeof(PyUnicodeObject)), and a scan to it would read the next block.
    if (!(t.flags & kHeapType)) {
      if (t.kind != Kind::other) t.scan_from = t.basicsize;
      else {
        static const char* const kLeaves[] = {"str", "bytes", "int", "float", "complex", "bool", "NoneType", "bytearray"};
        const std::string name = static_type_name(type);
        for (const char* leaf : kLeaves)
          if (name == leaf) t.scan_from = t.basicsize;
      }
    }
    if ((t.flags & kHeapType) && r.managed != ManagedDict::none && l_.sizes.ht_cached_keys)
      t.cached_keys = word(type + l_.sizes.ht_cached_keys).value_or(0);
  }
  if (types_.size() >= (1u << 31)) return &types_.back();
  types_.push_back(t);
  index_.put(type, static_cast<std::uint32_t>(types_.size() - 1));
  return &types_.back();
}

Status ReferentReader::pointers(std::uint64_t at, std::uint64_t n, EdgeKind kind, std::vector<Referent>& out) {
  n = bounded(n);
  for (std::uint64_t i = 0; i < n; i += kChunk) {
    const std::uint64_t k = std::min(kChunk, n - i);
    buf_.resize(k * 8);
    if (!mem_.read(RemoteAddr(at + i * 8), buf_).ok()) return {};
    for (std::uint64_t j = 0; j < k; ++j)
      if (std::uint64_t p = load64(buf_.data() + j * 8)) out.push_back({p, kind, i + j});
  }
  return {};
}

Result<ReferentReader::Entries> ReferentReader::entries_of(std::uint64_t keys) {
  Entries e;
  if (!keys) return e;
  const DictKeysLayout& kl = l_.dict_keys_object;
  std::array<std::byte, 8> w{};
  if (!mem_.read(RemoteAddr(keys + kl.nentries), w).ok()) return e;
  const std::uint64_t nentries = load64(w.data());
  if (!mem_.read(RemoteAddr(keys + kl.size), w).ok()) return e;
  const std::uint64_t size_word = load64(w.data());
  std::uint64_t index_bytes = 0;
  if (kl.log2_sizes) {
    const unsigned log2_index_bytes = (size_word >> 8) & 0xFF, kind = (size_word >> 16) & 0xFF;
    if (log2_index_bytes > 40 || kind > 2) return e;
    index_bytes = 1ULL << log2_index_bytes;
    if (kind != 0) {
      e.size = 16;
      e.key = 0;
      e.value = 8;
    }
  } else {
    const std::uint64_t size = size_word;
    if (size == 0 || size > (1ULL << 32) || (size & (size - 1))) return e;
    index_bytes = size * (size <= 0xff ? 1 : size <= 0xffff ? 2 : size <= 0xffffffffULL ? 4 : 8);
  }
  if (!plausible_size(nentries)) return e;
  e.at = keys + kl.indices + index_bytes;
  e.n = bounded(nentries);
  return e;
}

Status ReferentReader::dict_items(std::uint64_t dict, std::vector<Referent>& out) {
  std::array<std::byte, 16> w{};
  if (!mem_.read(RemoteAddr(dict + l_.dict_keys), std::span(w).first(8)).ok()) return {};
  if (!mem_.read(RemoteAddr(dict + l_.dict_values), std::span(w).last(8)).ok()) return {};
  const std::uint64_t keys = load64(w.data()), values = load64(w.data() + 8);
  OBJSPY_ASSIGN(Entries e, entries_of(keys));
  if (values) return values_items(values, keys, e.n, EdgeKind::dict_value, out);  // a split table: the values are its referents
  for (std::uint64_t i = 0; i < e.n; i += kChunk) {
    const std::uint64_t k = std::min(kChunk, e.n - i);
    buf_.resize(k * e.size);
    if (!mem_.read(RemoteAddr(e.at + i * e.size), buf_).ok()) return {};
    for (std::uint64_t j = 0; j < k; ++j) {
      const std::byte* p = buf_.data() + j * e.size;
      const std::uint64_t key = load64(p + e.key), value = load64(p + e.value);
      if (!key) continue;  // a deleted entry
      out.push_back({key, EdgeKind::dict_key, 0});
      if (value) out.push_back({value, EdgeKind::dict_value, key});
    }
  }
  return {};
}

// n values of a split table or of an instance's values, named by the keys object's entries.
Status ReferentReader::values_items(std::uint64_t values, std::uint64_t keys, std::uint64_t n, EdgeKind kind, std::vector<Referent>& out) {
  OBJSPY_ASSIGN(Entries e, entries_of(keys));
  n = std::min(bounded(n), e.n);
  for (std::uint64_t i = 0; i < n; i += kChunk) {
    const std::uint64_t k = std::min(kChunk, n - i);
    names_.resize(k * e.size);
    const bool named = mem_.read(RemoteAddr(e.at + i * e.size), names_).ok();
    buf_.resize(k * 8);
    if (!mem_.read(RemoteAddr(values + l_.refs.values_array + i * 8), buf_).ok()) return {};
    for (std::uint64_t j = 0; j < k; ++j)
      if (std::uint64_t v = load64(buf_.data() + j * 8)) out.push_back({v, kind, named ? load64(names_.data() + j * e.size + e.key) : 0});
  }
  return {};
}

// Attributes kept outside the fixed part: 3.11+ managed dicts and values (cpython-internals.md
// §5.4), as subtype_traverse visits them.
Status ReferentReader::instance_attrs(std::uint64_t obj, const TypeInfo& t, std::vector<Referent>& out) {
  const ReferentLayout& r = l_.refs;
  if (r.managed == ManagedDict::none || !(t.flags & r.managed_dict_flag)) return {};
  std::array<std::byte, 16> w{};
  auto entries = [&]() -> std::uint64_t {
    if (!t.cached_keys) return 0;
    auto e = entries_of(t.cached_keys);
    return e.ok() ? e->n : 0;
  };
  switch (r.managed) {
    case ManagedDict::split_3_11: {
      if (!mem_.read(RemoteAddr(obj - 32), w).ok()) return {};
      const std::uint64_t values = load64(w.data()), dict = load64(w.data() + 8);
      if (values) return values_items(values, t.cached_keys, entries(), EdgeKind::attr_value, out);
      if (dict) out.push_back({dict, EdgeKind::attr_dict, 0});
      return {};
    }
    case ManagedDict::tagged_3_12: {
      if (!mem_.read(RemoteAddr(obj - 24), std::span(w).first(8)).ok()) return {};
      const std::uint64_t v = load64(w.data());
      if (v & 1) return values_items(v + 1, t.cached_keys, entries(), EdgeKind::attr_value, out);
      if (v) out.push_back({v, EdgeKind::attr_dict, 0});
      return {};
    }
    case ManagedDict::inline_3_13: {
      if (r.inline_values_flag && (t.flags & r.inline_values_flag)) {
        const std::uint64_t values = obj + t.basicsize;
        if (mem_.read(RemoteAddr(values), std::span(w).first(8)).ok() && std::to_integer<unsigned>(w[r.values_valid]) != 0) {
          const std::uint64_t capacity = std::to_integer<unsigned>(w[0]);
          return values_items(values, t.cached_keys, std::min(capacity, entries()), EdgeKind::attr_value, out);
        }
      }
      if (!mem_.read(RemoteAddr(obj - 24), std::span(w).first(8)).ok()) return {};
      if (const std::uint64_t dict = load64(w.data())) out.push_back({dict, EdgeKind::attr_dict, 0});
      return {};
    }
    case ManagedDict::none: break;
  }
  return {};
}

Status ReferentReader::fixed_part(std::uint64_t obj, std::uint64_t from, std::uint64_t to, const TypeInfo& t, std::vector<Referent>& out) {
  to = std::min(to, from + lim_.max_fixed);
  if (to <= from) return {};
  buf_.resize(to - from);
  if (!mem_.read(RemoteAddr(obj + from), buf_).ok()) return {};
  for (std::uint64_t off = from; off + 8 <= to; off += 8) {
    if (off == t.weaklistoffset) continue;  // the weak references to it: not held by it
    const std::uint64_t v = load64(buf_.data() + (off - from));
    if (off == t.dictoffset) {
      if (v) out.push_back({v, EdgeKind::attr_dict, off});  // the instance's __dict__ by its type: a reference whatever is known of it
      continue;
    }
    fixed_.push_back({v, EdgeKind::field, off});
  }
  return {};
}

Status ReferentReader::known(std::uint64_t obj, std::uint64_t type, std::vector<Referent>& out) {
  OBJSPY_ASSIGN(const TypeInfo* tp, info(type));
  const TypeInfo& t = *tp;
  if (!t.readable) return {};
  std::array<std::byte, 8> w{};
  auto word = [&](std::uint64_t at) -> std::uint64_t { return mem_.read(RemoteAddr(at), w).ok() ? load64(w.data()) : 0; };
  switch (t.kind) {
    case Kind::tuple: {
      const std::uint64_t n = word(obj + l_.ob_size);
      if (plausible_size(n)) OBJSPY_TRY(pointers(obj + l_.sizes.tuple_items, n, EdgeKind::item, out));
      break;
    }
    case Kind::list: {
      const std::uint64_t n = word(obj + l_.ob_size), items = word(obj + l_.list.ob_item);
      if (items && plausible_size(n)) OBJSPY_TRY(pointers(items, n, EdgeKind::item, out));
      break;
    }
    case Kind::dict: OBJSPY_TRY(dict_items(obj, out)); break;
    case Kind::set: {
      const std::uint64_t mask = word(obj + l_.sizes.set_mask), table = word(obj + l_.sizes.set_table);
      if (!table || !plausible_size(mask)) break;
      const std::uint64_t n = bounded(mask + 1);
      const std::uint64_t es = l_.sizes.set_entry;
      for (std::uint64_t i = 0; i < n; i += kChunk) {
        const std::uint64_t k = std::min(kChunk, n - i);
        buf_.resize(k * es);
        if (!mem_.read(RemoteAddr(table + i * es), buf_).ok()) break;
        for (std::uint64_t j = 0; j < k; ++j)
          if (std::uint64_t key = load64(buf_.data() + j * es)) out.push_back({key, EdgeKind::set_item, 0});
      }
      break;
    }
    case Kind::module:
      if (std::uint64_t d = word(obj + l_.refs.md_dict)) out.push_back({d, EdgeKind::module_dict, 0});
      break;
    case Kind::type:
      if (std::uint64_t d = word(obj + l_.tp_dict)) out.push_back({d, EdgeKind::type_dict, 0});
      if (std::uint64_t d = word(obj + l_.sizes.tp_mro)) out.push_back({d, EdgeKind::type_mro, 0});
      if (std::uint64_t d = word(obj + l_.refs.tp_bases)) out.push_back({d, EdgeKind::type_bases, 0});
      if (std::uint64_t d = word(obj + l_.refs.tp_base)) out.push_back({d, EdgeKind::type_base, 0});
      return {};  // the rest of a type object is the interpreter's, not references it traverses
    case Kind::weakref:
      // wr_object (+16) is the weak reference itself: not a reference that keeps it alive.
      if (std::uint64_t cb = word(obj + 24)) out.push_back({cb, EdgeKind::callback, 0});
      break;
    case Kind::code:
      for (std::size_t k = 0; k < l_.refs.code_fields.size(); ++k)
        if (std::uint64_t f = word(obj + l_.refs.code_fields[k].offset)) out.push_back({f, EdgeKind::code_field, k});
      return {};
    case Kind::deque: {
      const std::uint64_t n = bounded(word(obj + l_.ob_size)), blocklen = l_.sizes.deque_blocklen;
      std::uint64_t block = word(obj + l_.refs.deque_leftblock), index = word(obj + l_.sizes.deque_leftindex);
      if (!plausible_size(n) || index >= blocklen || !blocklen) break;
      buf_.resize((blocklen + 2) * 8);
      for (std::uint64_t i = 0; i < n && block;) {
        if (!mem_.read(RemoteAddr(block), buf_).ok()) break;
        for (; index < blocklen && i < n; ++index, ++i)
          if (std::uint64_t p = load64(buf_.data() + 8 + index * 8)) out.push_back({p, EdgeKind::item, i});
        block = load64(buf_.data() + 8 + blocklen * 8);  // rightlink
        index = 0;
      }
      break;
    }
    case Kind::other: break;
  }
  if (t.flags & kHeapType) {
    if (l_.version.minor >= 9) out.push_back({type, EdgeKind::klass, 0});
    OBJSPY_TRY(instance_attrs(obj, t, out));
  }
  if (t.kind != Kind::module) OBJSPY_TRY(fixed_part(obj, t.scan_from, t.basicsize, t, out));
  return {};
}

std::string ReferentReader::label(const Referent& r) {
  auto text = [&](std::uint64_t s) -> std::optional<std::string> {
    bool cut = false;
    auto t = objs_.str(RemoteAddr(s), 60, &cut);
    if (!t.ok()) return std::nullopt;
    return *t + (cut ? "..." : "");
  };
  switch (r.kind) {
    case EdgeKind::item: return fmt::format("[{}]", r.aux);
    case EdgeKind::dict_key: return "(key)";
    case EdgeKind::dict_value:
      if (auto t = text(r.aux)) return fmt::format("['{}']", *t);
      if (auto kt = objs_.type_of(RemoteAddr(r.aux)); kt.ok()) return fmt::format("[<{} key at {:#x}>]", static_type_name(kt->value()), r.aux);
      return fmt::format("[<key at {:#x}>]", r.aux);
    case EdgeKind::set_item: return "{item}";
    case EdgeKind::attr_dict: return ".__dict__";
    case EdgeKind::attr_value:
      if (auto t = text(r.aux)) return "." + *t;
      return ".<attribute>";
    case EdgeKind::module_dict: return ".__dict__";
    case EdgeKind::type_dict: return ".__dict__";
    case EdgeKind::type_mro: return ".__mro__";
    case EdgeKind::type_bases: return ".__bases__";
    case EdgeKind::type_base: return ".__base__";
    case EdgeKind::field: return fmt::format(".<+{:#x}>", r.aux);
    case EdgeKind::code_field: return r.aux < l_.refs.code_fields.size() ? fmt::format(".{}", l_.refs.code_fields[r.aux].name) : ".<code field>";
    case EdgeKind::callback: return ".__callback__";
    case EdgeKind::klass: return ".__class__";
  }
  return "?";
}

}  // namespace objspy
