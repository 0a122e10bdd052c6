// objspy heap: guppy3's hpy().heap() from outside. Every object the GC-tracked ones reach
// (heap_census.hpp), by type, an instance's __dict__ counted as "dict of X" under its owner's
// class, with count and size (sys.getsizeof) and their shares, largest first.
#include <algorithm>
#include <cstdio>
#include <map>
#include <unordered_map>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "objspy/cli/commands.hpp"
#include "objspy/cli/dump_parts.hpp"
#include "objspy/cli/image_target.hpp"
#include "objspy/core/escape.hpp"
#include "objspy/graph/heap_census.hpp"
#include "objspy/python/sizes.hpp"
#include "objspy/python/type_names.hpp"

namespace objspy::cli {
namespace {

struct Row {
  std::string kind;
  std::uint64_t count = 0, bytes = 0;
};

}  // namespace

Status run_heap(const HeapOptions& o) {
  OBJSPY_ASSIGN(auto img, open_image(o.target, o.copy_budget));
  const Layout& l = img->target.layout;
  CensusLimits limits;
  limits.timeout_s = o.target.census_timeout_s;
  CensusBudget budget(limits);
  std::vector<std::string> warnings;
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
  for (const auto& obj : h.all) {
    if (std::uint32_t k = h.owner.find(obj.addr); k != FlatMap::kNone && owned.size() < 10000) {
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
  }
  std::fwrite(out.data(), 1, out.size(), stdout);
  for (const auto& w : warnings) note("warning: " + w);
  if (!o.quiet)
    note(fmt::format("{} objects: {} GC-tracked, {} found through them{}", total, h.gc, h.all.size() - h.gc,
                     img->held_ms >= 0 ? fmt::format("; process {} held {:.1f} ms", img->pid, img->held_ms) : ""));
  return {};
}

}  // namespace objspy::cli
