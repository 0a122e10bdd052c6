#include "objspy/census/collector_stat.hpp"

#include <fmt/format.h>

namespace objspy {

namespace {
constexpr std::int64_t kDebugSaveAll = 1 << 5;  // gc.DEBUG_SAVEALL, 3.8-3.15
}

Result<CollectorStat> collector_stat(const CollectorFigures& f, TypeNamer& namer) {
  CollectorStat s;
  s.enabled = f.enabled;
  s.debug = f.debug;
  s.thresholds = f.thresholds;
  s.counts = f.counts;
  if (f.stats) {
    std::array<GcGenerationStat, 3> st;
    for (std::size_t g = 0; g < 3; ++g)
      st[g] = {(*f.stats)[g].collections, (*f.stats)[g].collected, (*f.stats)[g].uncollectable, (*f.stats)[g].candidates, (*f.stats)[g].duration};
    s.stats = st;
  }
  s.collecting = f.collecting;
  s.garbage = f.garbage;
  s.garbage_unreadable = f.garbage_unreadable;
  s.garbage_truncated = f.garbage && f.garbage_examined < *f.garbage;
  s.callbacks = f.callbacks;
  s.notes = f.notes;
  // Count descending already: the most common types are the ones named.
  for (std::size_t i = 0; i < f.garbage_by_type.size(); ++i) {
    const auto& [type, count] = f.garbage_by_type[i];
    if (i >= kMaxGarbageTypes) {
      s.garbage_types_other += count;
      continue;
    }
    OBJSPY_ASSIGN(TypeName n, namer.name(type));
    GarbageType t{std::move(n.name), std::move(n.qualified), count};
    if (n.truncated) { t.name += "..."; t.qualified += "..."; }
    s.garbage_types.push_back(std::move(t));
  }
  return s;
}

std::vector<std::string> collector_warnings(const InterpreterStat& is) {
  std::vector<std::string> out;
  const CollectorStat& g = is.gc;
  if (g.enabled && !*g.enabled)
    out.push_back(fmt::format("interpreter {}: the garbage collector is disabled (gc.disable()): reference cycles are not collected",
                              is.index));
  if (g.garbage && *g.garbage > 0) {
    std::string kinds;
    for (std::size_t i = 0; i < g.garbage_types.size() && i < 3; ++i)
      kinds += fmt::format("{}{} {}", i ? ", " : " (", g.garbage_types[i].count, g.garbage_types[i].name);
    if (!kinds.empty()) kinds += g.garbage_types.size() > 3 ? ", ...)" : ")";
    const bool saveall = g.debug && (*g.debug & kDebugSaveAll);
    out.push_back(fmt::format("interpreter {}: gc.garbage holds {} object{}{}: {}", is.index, *g.garbage, *g.garbage == 1 ? "" : "s", kinds,
                              saveall ? "gc.DEBUG_SAVEALL is set, so every object the collector frees is kept there"
                                      : "uncollectable cycles, or objects the program put there; nothing frees them"));
  }
  return out;
}

}  // namespace objspy
