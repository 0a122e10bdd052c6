#include "objspy/graph/heap_census.hpp"

#include <array>
#include <string>

#include "objspy/core/load.hpp"
#include "objspy/python/pool_scan.hpp"

namespace objspy {

Result<HeapObjects> discover_heap(const std::vector<ScanCounts::Object>& gc, MemoryReader& mem, const Layout& l, ReferentReader& refs,
                                  TypeValidator& types, std::size_t max_objects, CensusBudget* budget) {
  HeapObjects h;
  FlatMap seen;  // address -> 1
  h.all.reserve(gc.size() * 2);
  for (const auto& o : gc) {
    if (seen.find(o.addr) != FlatMap::kNone) continue;
    seen.put(o.addr, 1);
    h.all.push_back(o);
  }
  h.gc = h.all.size();
  // Types an object is known to have: those of the GC-tracked objects, and of objects found
  // as container items, dict keys and values, attributes. A word of a fixed part is only
  // taken for an object of one of these types: raw words (a function pointer, a count) that
  // happen to point at memory whose second word looks like a type are not objects.
  FlatMap trusted;
  for (const auto& o : h.all)
    if (trusted.find(o.type) == FlatMap::kNone) trusted.put(o.type, 1);
  std::vector<Referent> rs;
  std::array<std::byte, 8> w{};
  std::array<std::byte, 16> hw{};  // an object's reference count and type
  auto known = [&](std::uint64_t a) { return seen.find(a) != FlatMap::kNone; };
  auto any_word = [](std::uint64_t) { return true; };  // fixed parts: every word, checked below
  // Words of fixed parts whose type was not trusted when they were met: looked at again once
  // the rest is done, so that what is found does not depend on the order objects are visited.
  std::vector<std::uint64_t> later;
  FlatMap deferred;
  // Builtin types a fixed part often points at (a function's code, a code object's names and
  // bytes): trusted by name when the type is static, so that whether they are found does not
  // depend on one of them happening to sit in a container too.
  FlatMap builtin;  // type -> 1 trusted, 2 not
  auto is_builtin = [&](std::uint64_t type) {
    if (std::uint32_t v = builtin.find(type); v != FlatMap::kNone) return v == 1;
    bool ok = false;
    if (type && !(type & 7) && mem.read(RemoteAddr(type + l.tp_flags), w).ok() && !(load64(w.data()) & kTpFlagsHeapType)) {
      static const char* const kNames[] = {"code", "bytes", "str", "int", "float", "tuple", "frozenset", "bool", "NoneType", "complex"};
      const std::string name = refs.static_type_name(type);
      for (const char* n : kNames) ok = ok || name == n;
      if (ok) {
        auto v = types.valid(RemoteAddr(type));
        ok = v.ok() && *v;
      }
    }
    if (builtin.size() < (1u << 16)) builtin.put(type, ok ? 1 : 2);
    return ok;
  };
  auto add = [&](std::uint64_t a, std::uint64_t type) {
    seen.put(a, 1);
    h.all.push_back({a, type});
  };
  std::size_t i = 0;
  for (int round = 0; round < 16; ++round) {
    for (; i < h.all.size(); ++i) {
      if ((i & 4095) == 0 && budget && budget->expired()) {
        h.cut = true;
        return h;
      }
      const ScanCounts::Object o = h.all[i];
      rs.clear();
      OBJSPY_TRY(refs.referents(o.addr, o.type, any_word, rs));
      for (const Referent& r : rs) {
        if (r.kind == EdgeKind::attr_dict && h.owner.find(r.addr) == FlatMap::kNone) h.owner.put(r.addr, static_cast<std::uint32_t>(i));
        if (r.kind != EdgeKind::klass) {
          const std::uint32_t was = h.holder.find(r.addr);
          if (was == FlatMap::kNone) h.holder.put(r.addr, static_cast<std::uint32_t>(i));
          else if (was != i && was != HeapObjects::kMany) h.holder.put(r.addr, HeapObjects::kMany);
        }
        // Type edges name GC types, which are known. A word of a fixed part (a function's
        // code, a code object's names) is taken for an object only when it is aligned and
        // points at an object of a type already met as a referent of a known kind.
        if (r.kind == EdgeKind::klass || known(r.addr) || (r.addr & 7)) continue;
        if (h.all.size() >= max_objects) {
          h.cut = true;
          continue;
        }
        // A live object: a plausible reference count and type (a freed block's first word
        // is pymalloc's free-list link, or 0).
        if (!mem.read(RemoteAddr(r.addr), hw).ok() || !plausible_object(load64(hw.data()), load64(hw.data() + 8), l)) continue;
        const std::uint64_t type = load64(hw.data() + 8);
        if (r.kind == EdgeKind::field) {
          if (trusted.find(type) != FlatMap::kNone || is_builtin(type)) add(r.addr, type);
          else if (deferred.find(r.addr) == FlatMap::kNone && later.size() < max_objects) {
            deferred.put(r.addr, 1);
            later.push_back(r.addr);
          }
          continue;
        }
        auto ok = types.valid(RemoteAddr(type));
        if (!ok.ok()) return ok.take_error();
        if (!*ok) continue;
        if (trusted.find(type) == FlatMap::kNone && trusted.size() < (1u << 20)) trusted.put(type, 1);
        add(r.addr, type);
      }
    }
    // The deferred words, with every type met so far.
    const std::size_t before = h.all.size();
    std::vector<std::uint64_t> still;
    for (std::uint64_t a : later) {
      if (known(a)) continue;
      if (!mem.read(RemoteAddr(a), hw).ok() || !plausible_object(load64(hw.data()), load64(hw.data() + 8), l)) continue;
      const std::uint64_t type = load64(hw.data() + 8);
      if ((trusted.find(type) != FlatMap::kNone || is_builtin(type)) && h.all.size() < max_objects) add(a, type);
      else still.push_back(a);
    }
    later.swap(still);
    if (h.all.size() == before) break;
  }
  return h;
}

}  // namespace objspy
