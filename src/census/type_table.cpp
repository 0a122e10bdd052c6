#include "objspy/census/type_table.hpp"

#include <functional>
#include <limits>
#include <optional>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "objspy/core/flat_map.hpp"
#include "objspy/python/type_names.hpp"

namespace objspy {
namespace {

constexpr std::uint32_t kLumped = FlatMap::kNone - 1;  // counted under "<other types>"
constexpr std::size_t kNameWarnings = 10;              // unreadable names told one by one

std::uint64_t name_key(const std::string& name, const std::string& qualified) {
  std::hash<std::string_view> h;
  return h(name) * 0x9E3779B97F4A7C15ULL ^ h(qualified);
}

}  // namespace

Status name_types(Census& c, const TypeCounter& live, const TypeCounter& frozen, ObjectReader& objs, CensusBudget& budget,
                  const SizeMeter* meter) {
  const CensusLimits& lim = budget.limits();
  TypeNamer namer(objs, &budget);
  FlatMap entry_of;  // type address -> index in c.types, or kLumped
  // Entries by name: a million type objects with one name make one entry, and names are kept
  // once. Keyed by a hash of both forms, compared in full.
  std::unordered_multimap<std::uint64_t, std::uint32_t> by_name;
  std::optional<std::size_t> other;
  std::uint64_t unreadable = 0;

  auto place = [&](std::uint64_t type) -> Result<std::uint32_t> {
    if (std::uint32_t e = type ? entry_of.find(type) : FlatMap::kNone; e != FlatMap::kNone) return e;
    std::uint32_t e = kLumped;
    if (budget.naming_expired()) {
      // recorded by naming_expired()
    } else if (c.types.size() >= lim.max_types) {
      budget.hit(CensusBudget::Kind::types, fmt::format("more than {} distinct type names: the objects of the rest are counted as \"{}\"",
                                                        lim.max_types, kOtherTypes));
    } else {
      OBJSPY_ASSIGN(TypeName n, namer.name(RemoteAddr(type)));
      if (n.truncated) { n.name += "..."; n.qualified += "..."; }
      if (!n.readable && ++unreadable <= kNameWarnings) c.walk.warnings.push_back(fmt::format("the name of type {:#x} could not be read", type));
      const std::uint64_t key = name_key(n.name, n.qualified);
      for (auto [it, end] = by_name.equal_range(key); it != end; ++it) {
        const TypeStat& t = c.types[it->second];
        if (t.name == n.name && t.qualified == n.qualified) { e = it->second; break; }
      }
      if (e == kLumped) {
        const std::uint64_t bytes = n.name.size() + n.qualified.size();
        if (budget.name_bytes + bytes > lim.max_name_bytes) {
          budget.hit(CensusBudget::Kind::name_bytes, fmt::format("the type names passed {} bytes: the objects of the types named after that are counted as \"{}\"",
                                                                 lim.max_name_bytes, kOtherTypes));
        } else {
          budget.name_bytes += bytes;
          TypeStat t;
          t.type_addr = type;
          t.name = std::move(n.name);
          t.qualified = std::move(n.qualified);
          t.truncated = n.truncated;
          e = static_cast<std::uint32_t>(c.types.size());
          c.types.push_back(std::move(t));
          by_name.emplace(key, e);
        }
      }
    }
    if (type) entry_of.put(type, e);
    return e;
  };
  auto lumped = [&]() -> TypeStat& {
    if (!other) {
      other = c.types.size();
      TypeStat t;
      t.name = t.qualified = kOtherTypes;
      c.types.push_back(std::move(t));
    }
    return c.types[*other];
  };

  struct Hot {
    std::uint64_t type, count, bytes;
  };
  std::vector<Hot> hot;
  std::vector<std::pair<std::uint64_t, std::uint64_t>> cold;
  live.for_each_bytes([&](std::uint64_t t, std::uint64_t n, std::uint64_t b) { hot.push_back({t, n, b}); });
  frozen.for_each([&](std::uint64_t t, std::uint64_t n) { cold.emplace_back(t, n); });
  for (const Hot& h : hot) {
    OBJSPY_ASSIGN(std::uint32_t e, place(h.type));
    TypeStat& ts = e == kLumped ? lumped() : c.types[e];
    ts.count += h.count;
    ts.bytes += h.bytes;
    if (meter && meter->estimated(h.type)) ts.bytes_estimated = true;
  }
  for (auto [t, n] : cold) {
    OBJSPY_ASSIGN(std::uint32_t e, place(t));
    (e == kLumped ? lumped() : c.types[e]).frozen += n;
  }
  if (live.other() || frozen.other()) {
    budget.hit(CensusBudget::Kind::types, fmt::format("more than {} distinct types: the objects of the rest are counted as \"{}\"",
                                                      lim.max_types, kOtherTypes));
    lumped().count += live.other();
    lumped().bytes += live.other_bytes();
    lumped().frozen += frozen.other();
  }
  if (unreadable > kNameWarnings)
    c.walk.warnings.push_back(fmt::format("the names of {} more types could not be read", unreadable - kNameWarnings));
  if (namer.modules_not_found())
    c.walk.warnings.push_back(fmt::format("{} types are named without their module: their dicts have more than {} entries and __module__ "
                                          "was not among the first and last {}",
                                          namer.modules_not_found(), lim.max_dict_entries, lim.max_dict_entries / 2));
  return {};
}

}  // namespace objspy
