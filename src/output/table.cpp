#include <algorithm>

#include <fmt/format.h>

#include "objspy/core/escape.hpp"
#include "objspy/output/render.hpp"

namespace objspy {

std::string render_table(const Census& c, const RenderOptions& o) {
  auto rows = most_common(c, o.names, o.limit, o.sort);
  std::vector<std::string> shown;
  shown.reserve(rows.size());
  std::size_t width = 0;
  for (const auto& r : rows) {
    shown.push_back(escape_for_terminal(r.name, kNameColumns));
    width = std::max(width, display_width(shown.back()));
  }
  std::string out;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    out += shown[i];
    out.append(width - display_width(shown[i]), ' ');
    // objgraph's "name count", then bytes (sys.getsizeof summed; the summary line says which are estimates).
    if (c.measured_bytes) out += fmt::format(" {} {}\n", rows[i].count, rows[i].bytes);
    else out += fmt::format(" {}\n", rows[i].count);
  }
  return out;
}

namespace {
std::string mib(std::uint64_t bytes) { return fmt::format("{:.1f} MiB", static_cast<double>(bytes) / (1024.0 * 1024.0)); }
}  // namespace

std::string render_allocator_line(const AllocatorStat& a) {
  if (!a.read) return "not read: " + a.note;
  std::string s = fmt::format("{} arena{} ({}): {} in blocks in use, {} free in used pools, {} unused pool{}; arenas by use (<25/<50/<75/>=75%) "
                              "{}/{}/{}/{}",
                              a.arenas, a.arenas == 1 ? "" : "s", mib(a.arena_bytes()), mib(a.allocated_bytes), mib(a.available_bytes), a.unused_pools,
                              a.unused_pools == 1 ? "" : "s", a.arenas_by_use[0], a.arenas_by_use[1], a.arenas_by_use[2], a.arenas_by_use[3]);
  if (!a.note.empty()) s += "; " + a.note;
  return s;
}

std::string render_explained_line(const MemoryExplained& e) {
  if (!e.rss_bytes) return "";
  std::string s = fmt::format("of RSS {}:", mib(*e.rss_bytes));
  if (e.gc_object_bytes) s += fmt::format(" GC-tracked objects {} ({:.0f}%, sys.getsizeof)", mib(*e.gc_object_bytes), e.gc_object_share.value_or(0) * 100);
  if (e.arena_bytes) s += fmt::format("{} pymalloc arenas {} ({:.0f}%)", e.gc_object_bytes ? "," : "", mib(*e.arena_bytes), e.arena_share.value_or(0) * 100);
  if (!e.gc_object_bytes && !e.arena_bytes) s += " nothing measured";
  return s;
}

std::string render_summary(const Census& c) {
  std::string s = fmt::format("pid {}: Python {}{}, {} objects in {} interpreter{} (generations {}/{}/{}), {} frozen; ", c.pid, c.python_version,
                              c.debug_build ? " (debug build)" : "", c.total, c.interpreters.size(), c.interpreters.size() == 1 ? "" : "s",
                              c.generations[0], c.generations[1], c.generations[2], c.frozen);
  const char* retried = c.walk.retried ? ", after a retry" : "";
  if (c.walk.complete) s += "complete";
  else if (!c.walk.limits.empty()) s += fmt::format("INCOMPLETE (stopped at {} limit{} of the census budget)", c.walk.limits.size(), c.walk.limits.size() == 1 ? "" : "s");
  else if (c.walk.method == "walk") s += fmt::format("INCOMPLETE ({} broken links{})", c.walk.broken_links, retried);
  else if (c.walk.torn) s += fmt::format("INCOMPLETE (a collection ran through it{})", retried);
  else s += fmt::format("within {} objects (coverage {:.2f}%, {} links re-read{})", c.walk.uncertain, coverage(c.walk, c.total) * 100, c.walk.recovered, retried);
  s += fmt::format(", {:.1f} ms", c.duration_ms);
  if (c.measured_bytes) {
    s += fmt::format("; {} bytes (sys.getsizeof)", c.bytes);
    std::size_t estimated = 0;
    for (const auto& t : c.types) estimated += t.bytes_estimated && t.count ? 1 : 0;
    if (estimated) s += fmt::format(", estimated for {} type{} whose __sizeof__ objspy cannot run", estimated, estimated == 1 ? "" : "s");
  }
  if (c.pause_ms >= 0) s += fmt::format(", target paused {:.1f} ms", c.pause_ms);
  return s;
}

}  // namespace objspy

namespace objspy {
namespace {

std::string triple(const std::optional<std::array<std::int64_t, 3>>& v) {
  return v ? fmt::format("{}/{}/{}", (*v)[0], (*v)[1], (*v)[2]) : std::string("n/a");
}

}  // namespace

std::vector<std::string> render_gc_summary(const Census& c) {
  constexpr std::size_t kMaxLines = 8;
  std::vector<std::string> out;
  for (const auto& is : c.interpreters) {
    if (out.size() == kMaxLines) {
      out.push_back(fmt::format("gc: {} more interpreters (--format json has them all)", c.interpreters.size() - kMaxLines));
      break;
    }
    const CollectorStat& g = is.gc;
    std::string s = c.interpreters.size() == 1 ? "gc: " : fmt::format("gc, interpreter {}: ", is.index);
    s += !g.enabled ? "n/a" : *g.enabled ? "enabled" : "DISABLED";
    s += fmt::format(", thresholds {}, counts {}", triple(g.thresholds), triple(g.counts));
    if (g.stats) {
      const auto& st = *g.stats;
      s += fmt::format(", collections {}/{}/{}, collected {}, uncollectable {}", st[0].collections, st[1].collections, st[2].collections,
                       st[0].collected + st[1].collected + st[2].collected, st[0].uncollectable + st[1].uncollectable + st[2].uncollectable);
    } else {
      s += ", collections n/a";
    }
    s += g.garbage ? fmt::format(", gc.garbage {}", *g.garbage) : std::string(", gc.garbage n/a");
    s += fmt::format(", frozen {}", is.frozen);
    if (g.collecting) s += ", a collection was running";
    out.push_back(std::move(s));
  }
  return out;
}

}  // namespace objspy
