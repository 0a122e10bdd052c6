// objspy heap: guppy3's hpy().heap() from outside. Every object the GC-tracked ones reach
// (heap_census.hpp), by type, an instance's __dict__ counted as "dict of X" under its owner's
// class, with count and size (sys.getsizeof) and their shares, largest first.
#include <algorithm>
#include <array>
#include <cstdio>
#include <map>
#include <unordered_map>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "objspy/cli/commands.hpp"
#include "objspy/cli/dump_parts.hpp"
#include "objspy/cli/image_target.hpp"
#include "objspy/core/escape.hpp"
#include "objspy/core/load.hpp"
#include "objspy/graph/dominators.hpp"
#include "objspy/graph/heap_census.hpp"
#include "objspy/python/sizes.hpp"
#include "objspy/python/type_names.hpp"

namespace objspy::cli {
namespace {

struct Row {
  std::string kind;
  std::uint64_t count = 0, bytes = 0;
};

// Each object's own size (sys.getsizeof): per type for fixed-size types; from the words the
// formula needs (one read) for lists, sets, tuples, ints, deques; else through the meter one
// object at a time (dicts, str, frames), read as the difference it makes to one counter.
Result<std::vector<std::uint64_t>> own_sizes(const ObjectGraph& g, SizeMeter& meter, MemoryReader& mem) {
  std::vector<std::uint64_t> out(g.size(), 0);
  TypeCounter c(1u << 16);
  std::array<std::byte, 32> w{};
  for (std::size_t i = 0; i < g.size(); ++i) {
    OBJSPY_ASSIGN(const TypeSizing* s, meter.sizing(g.type[i]));
    if (!s->per_object()) {
      out[i] = s->base();
      continue;
    }
    if (mem.read(RemoteAddr(g.addr[i] + 16), w).ok()) {
      const BodyWords bw{load64(w.data()), load64(w.data() + 16), load64(w.data() + 24)};
      if (auto b = meter.from_words(*s, g.addr[i], bw)) {
        out[i] = *b;
        continue;
      }
    }
    const std::uint64_t before = c.bytes_of(g.type[i]);
    c.add(g.type[i]);
    OBJSPY_TRY(meter.object(g.addr[i], g.type[i], nullptr, c));
    OBJSPY_TRY(meter.finish(c, nullptr));
    out[i] = c.bytes_of(g.type[i]) - before;
  }
  return out;
}

struct Retainer {
  std::uint64_t addr, type, size, retained;
};

}  // namespace

Status run_heap(const HeapOptions& o) {
  OBJSPY_ASSIGN(auto img, open_image(o.target, o.copy_budget));
  const Layout& l = img->target.layout;
  CensusLimits limits;
  limits.timeout_s = o.target.census_timeout_s;
  CensusBudget budget(limits);
  std::vector<std::string> warnings = img->warnings;
  OBJSPY_ASSIGN(auto gc, gc_objects(*img, budget, warnings));
  ReferentReader refs(*img->mem, l);
  TypeValidator types(*img->mem, &img->map, l, limits.max_types + 4096, false);
  OBJSPY_ASSIGN(HeapObjects h, discover_heap(gc, *img->mem, l, refs, types, o.max_objects, &budget));
  if (h.cut) warnings.push_back(fmt::format("the search stopped at {} objects (--max-objects or the deadline): the rest are not counted", h.all.size()));

  // Sizes: one meter for everything but the instance dicts, one per owner class for those.
  SizeLimits sl;
  sl.max_types = limits.max_types;
  TypeCounter counts(limits.max_types);
  SizeMeter meter(*img->mem, l, sl, img->mem, &budget);
  std::unordered_map<std::uint64_t, std::vector<std::uint64_t>> owned;  // owner type -> its dicts
  // A dict is "dict of X" when it is the __dict__ of an X, or when its one referrer is an
  // instance of a class X (a cache an object keeps: self.cache = {}).
  ObjectReader probe(*img->mem, l);
  std::unordered_map<std::uint64_t, bool> dict_types, instance_types;
  auto is_dict_type = [&](std::uint64_t t) {
    auto [it, fresh] = dict_types.try_emplace(t, false);
    if (fresh) {
      auto f = probe.type_flags(RemoteAddr(t));
      it->second = f.ok() && (*f & kTpFlagsDictSubclass);
    }
    return it->second;
  };
  auto is_instance_type = [&](std::uint64_t t) {  // a class statement's class, not a metaclass
    auto [it, fresh] = instance_types.try_emplace(t, false);
    if (fresh) {
      auto f = probe.type_flags(RemoteAddr(t));
      it->second = f.ok() && (*f & kTpFlagsHeapType) && !(*f & (kTpFlagsTypeSubclass | kTpFlagsDictSubclass | kTpFlagsListSubclass));
    }
    return it->second;
  };
  for (const auto& obj : h.all) {
    std::uint32_t k = h.owner.find(obj.addr);
    if (k == FlatMap::kNone && is_dict_type(obj.type)) {
      const std::uint32_t only = h.holder.find(obj.addr);
      if (only != FlatMap::kNone && only != HeapObjects::kMany && is_instance_type(h.all[only].type)) k = only;
    }
    if (k != FlatMap::kNone && owned.size() < 10000) {
      owned[h.all[k].type].push_back(obj.addr);
      continue;
    }
    counts.add(obj.type);
    OBJSPY_TRY(meter.object(obj.addr, obj.type, nullptr, counts));
  }
  OBJSPY_TRY(meter.finish(counts, &budget));
  ObjectReader objs(*img->mem, l);
  TypeNamer namer(objs, &budget);
  auto name = [&](std::uint64_t t) {
    auto n = namer.name(RemoteAddr(t));
    if (!n.ok()) return fmt::format("<unreadable type {:#x}>", t);
    return o.qualified ? n->qualified : n->name;
  };
  std::map<std::string, Row> rows;
  counts.for_each_bytes([&](std::uint64_t t, std::uint64_t n, std::uint64_t b) {
    Row& r = rows[name(t)];
    r.kind = name(t);
    r.count += n;
    r.bytes += b;
  });
  for (const auto& [owner, dicts] : owned) {
    TypeCounter c(16);
    SizeMeter m(*img->mem, l, sl, img->mem, &budget);
    for (std::uint64_t d : dicts) {
      auto t = objs.type_of(RemoteAddr(d));
      if (!t.ok()) continue;
      c.add(t->value());
      OBJSPY_TRY(m.object(d, t->value(), nullptr, c));
    }
    OBJSPY_TRY(m.finish(c, &budget));
    const std::string kind = "dict of " + name(owner);
    Row& r = rows[kind];
    r.kind = kind;
    c.for_each_bytes([&](std::uint64_t, std::uint64_t n, std::uint64_t b) {
      r.count += n;
      r.bytes += b;
    });
  }
  // --retained: the dominator tree over every object found.
  std::vector<Retainer> top_objects;
  std::vector<std::pair<std::string, std::uint64_t>> top_types;
  if (o.retained) {
    OBJSPY_ASSIGN(ObjectGraph g, build_graph(h.all, refs, GraphLimits{}, &budget));
    if (g.edges_cut) warnings.push_back("the graph's budget ran out: retained sizes are upper bounds");
    SizeMeter m(*img->mem, l, sl, img->mem, &budget);
    OBJSPY_ASSIGN(auto own, own_sizes(g, m, *img->mem));
    const Dominators d = dominators(g, own);
    std::vector<std::uint32_t> idx(g.size());
    for (std::uint32_t i = 0; i < g.size(); ++i) idx[i] = i;
    const std::size_t k = std::min<std::size_t>(o.limit ? o.limit : g.size(), g.size());
    std::partial_sort(idx.begin(), idx.begin() + static_cast<std::ptrdiff_t>(k), idx.end(),
                      [&](std::uint32_t a, std::uint32_t b) { return d.retained[a] > d.retained[b]; });
    for (std::size_t i = 0; i < k; ++i) top_objects.push_back({g.addr[idx[i]], g.type[idx[i]], own[idx[i]], d.retained[idx[i]]});
    // Per type: the instances no other instance of the type dominates, summed (a dominator
    // tree walk counting, per type, the instances on the path).
    std::vector<std::vector<std::uint32_t>> kids(g.size());
    std::vector<std::uint32_t> tops;
    for (std::uint32_t v = 0; v < g.size(); ++v) (d.idom[v] == Dominators::kRoot ? tops : kids[d.idom[v]]).push_back(v);
    std::unordered_map<std::uint64_t, std::uint32_t> active;
    std::unordered_map<std::uint64_t, std::uint64_t> by_type;
    std::vector<std::pair<std::uint32_t, bool>> stack;
    for (std::uint32_t t : tops) stack.push_back({t, false});
    while (!stack.empty()) {
      auto [v, leaving] = stack.back();
      stack.pop_back();
      if (leaving) {
        --active[g.type[v]];
        continue;
      }
      if (active[g.type[v]]++ == 0) by_type[g.type[v]] += d.retained[v];
      stack.push_back({v, true});
      for (std::uint32_t c : kids[v]) stack.push_back({c, false});
    }
    for (const auto& [t, b] : by_type) top_types.push_back({name(t), b});
    std::sort(top_types.begin(), top_types.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
    if (o.limit && top_types.size() > o.limit) top_types.resize(o.limit);
  }

  std::vector<Row> ranked;
  std::uint64_t total = 0, total_bytes = 0;
  for (auto& [k, r] : rows) {
    total += r.count;
    total_bytes += r.bytes;
    ranked.push_back(r);
  }
  std::sort(ranked.begin(), ranked.end(), [](const Row& a, const Row& b) { return a.bytes != b.bytes ? a.bytes > b.bytes : a.count > b.count; });
  const std::size_t shown = o.limit ? std::min(o.limit, ranked.size()) : ranked.size();
  auto share = [](std::uint64_t part, std::uint64_t all) { return all ? static_cast<double>(part) / static_cast<double>(all) : 0.0; };

  std::string out;
  if (o.json) {
    nlohmann::json j;
    j["pid"] = img->pid;
    j["objects"] = total;
    j["bytes"] = total_bytes;
    j["gc_objects"] = h.gc;
    j["held_ms"] = img->held_ms >= 0 ? nlohmann::json(img->held_ms) : nlohmann::json(nullptr);
    nlohmann::json rj = nlohmann::json::array();
    std::uint64_t cum = 0;
    for (std::size_t i = 0; i < shown; ++i) {
      cum += ranked[i].bytes;
      rj.push_back({{"kind", sanitize_utf8(ranked[i].kind)},
                    {"count", ranked[i].count},
                    {"count_share", share(ranked[i].count, total)},
                    {"bytes", ranked[i].bytes},
                    {"bytes_share", share(ranked[i].bytes, total_bytes)},
                    {"cumulative_share", share(cum, total_bytes)}});
    }
    j["rows"] = rj;
    if (o.retained) {
      nlohmann::json ro = nlohmann::json::array(), rt = nlohmann::json::array();
      for (const auto& r : top_objects)
        ro.push_back({{"address", fmt::format("{:#x}", r.addr)}, {"kind", sanitize_utf8(name(r.type))}, {"size", r.size}, {"retained", r.retained}});
      for (const auto& [t, b] : top_types) rt.push_back({{"kind", sanitize_utf8(t)}, {"retained", b}});
      j["retained"] = {{"objects", ro}, {"types", rt}};
    }
    j["warnings"] = warnings;
    out = j.dump(2, ' ', true) + "\n";
  } else {
    out += fmt::format("Partition of a set of {} objects. Total size = {} bytes.\n", total, total_bytes);
    out += " Index  Count   %      Size   % Cumulative  % Kind (class / dict of class)\n";
    std::uint64_t cum = 0;
    for (std::size_t i = 0; i < shown; ++i) {
      cum += ranked[i].bytes;
      out += fmt::format("{:>6} {:>6} {:>3} {:>9} {:>3} {:>10} {:>3} {}\n", i, ranked[i].count,
                         static_cast<int>(100 * share(ranked[i].count, total)), ranked[i].bytes, static_cast<int>(100 * share(ranked[i].bytes, total_bytes)),
                         cum, static_cast<int>(100 * share(cum, total_bytes)), escape_for_terminal(ranked[i].kind));
    }
    if (shown < ranked.size()) out += fmt::format("<{} more rows. Type e.g. '--limit 0' to view all.>\n", ranked.size() - shown);
    if (o.retained) {
      out += "\nRetained size (what would be freed with it), largest first:\n";
      out += "   Retained       Size  Address             Kind\n";
      for (const auto& r : top_objects)
        out += fmt::format("{:>11} {:>10}  {:#018x}  {}\n", r.retained, r.size, r.addr, escape_for_terminal(name(r.type)));
      out += "\nRetained by all instances of a kind (those no other instance of it holds):\n";
      for (const auto& [t, b] : top_types) out += fmt::format("{:>11}  {}\n", b, escape_for_terminal(t));
    }
  }
  std::fwrite(out.data(), 1, out.size(), stdout);
  for (const auto& w : warnings) note("warning: " + w);
  if (!o.quiet)
    note(fmt::format("{} objects: {} GC-tracked, {} found through them{}", total, h.gc, h.all.size() - h.gc,
                     img->held_ms >= 0 ? fmt::format("; process {} held {:.1f} ms", img->pid, img->held_ms) : ""));
  return {};
}

}  // namespace objspy::cli
