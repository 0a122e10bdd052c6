#include "objspy/output/prometheus.hpp"

#include <algorithm>
#include <map>

#include <fmt/format.h>

#include "objspy/census/series.hpp"
#include "objspy/core/escape.hpp"

namespace objspy {
namespace {

constexpr std::string_view kOther = "other";

void header(std::string& out, std::string_view name, std::string_view type, std::string_view help) {
  out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
}

template <class T>
void sample(std::string& out, std::string_view name, T value) {
  out += fmt::format("{} {}\n", name, value);
}

// Per-type counts and bytes by label value. Sanitizing can make two names one label value
// (and a type may be named "other"): they are summed, so no series is ever written twice. The
// types named are the largest by count, the same for both metrics, so that they join.
struct TypeRow {
  std::string label;
  std::uint64_t count = 0, bytes = 0;
};
std::vector<TypeRow> type_series(const std::vector<NamedCount>& counts, const ExporterState& s) {
  std::map<std::string, TypeRow> by_label;
  TypeRow other{std::string(kOther)};
  for (const auto& r : counts) {
    auto label = prometheus_label_value(r.name);
    TypeRow& row = label == kOther ? other : by_label[label];
    row.count += r.count;
    row.bytes += r.bytes;
  }
  std::vector<TypeRow> rows;
  rows.reserve(by_label.size() + 1);
  for (auto& [label, row] : by_label) {
    row.label = label;
    rows.push_back(std::move(row));
  }
  std::stable_sort(rows.begin(), rows.end(), [](const TypeRow& a, const TypeRow& b) { return a.count > b.count; });
  if (s.top_types && rows.size() > s.top_types) {
    for (auto it = rows.begin() + static_cast<std::ptrdiff_t>(s.top_types); it != rows.end(); ++it) {
      other.count += it->count;
      other.bytes += it->bytes;
    }
    rows.resize(s.top_types);
  }
  rows.push_back(std::move(other));  // always present, so the series never appears and vanishes
  return rows;
}

// The collector's figures of every interpreter in the latest census. Counters follow the
// OpenTelemetry semantic conventions for CPython (cpython.gc.collections,
// cpython.gc.collected_objects, cpython.gc.uncollectable_objects, per generation); the state
// is in objspy_gc_* gauges. A figure the census could not read has no sample.
void collector_series(std::string& out, const Census& c) {
  auto each = [&](auto&& write) {
    for (const auto& is : c.interpreters) write(is, fmt::format("interpreter=\"{}\"", is.index));
  };
  auto per_generation = [&](std::string_view name, std::string_view type, std::string_view help, auto&& value) {
    header(out, name, type, help);
    each([&](const InterpreterStat& is, const std::string& interp) {
      for (std::size_t g = 0; g < 3; ++g)
        if (auto v = value(is.gc, g)) out += fmt::format("{}{{{},generation=\"{}\"}} {}\n", name, interp, g, *v);
    });
  };
  auto per_interpreter = [&](std::string_view name, std::string_view help, auto&& value) {
    header(out, name, "gauge", help);
    each([&](const InterpreterStat& is, const std::string& interp) {
      if (auto v = value(is)) out += fmt::format("{}{{{}}} {}\n", name, interp, *v);
    });
  };
  using Opt = std::optional<std::int64_t>;
  auto stat = [](auto field) {
    return [field](const CollectorStat& g, std::size_t gen) -> Opt { return g.stats ? Opt((*g.stats)[gen].*field) : std::nullopt; };
  };
  per_generation("cpython_gc_collections_total", "counter", "Collections of each generation since the interpreter started (gc.get_stats()).",
                 stat(&GcGenerationStat::collections));
  per_generation("cpython_gc_collected_objects_total", "counter", "Objects the collections of each generation freed (gc.get_stats()).",
                 stat(&GcGenerationStat::collected));
  per_generation("cpython_gc_uncollectable_objects_total", "counter",
                 "Objects the collections of each generation found unreachable but could not free (gc.get_stats()).",
                 stat(&GcGenerationStat::uncollectable));
  per_generation("objspy_gc_threshold", "gauge", "Collection threshold of each generation (gc.get_threshold()).",
                 [](const CollectorStat& g, std::size_t gen) -> Opt { return g.thresholds ? Opt((*g.thresholds)[gen]) : std::nullopt; });
  per_generation("objspy_gc_count_since_collection", "gauge",
                 "Each generation's count since it was last collected (gc.get_count()): generation 0 GC objects allocated minus freed, "
                 "the older ones collections of the generation below.",
                 [](const CollectorStat& g, std::size_t gen) -> Opt { return g.counts ? Opt((*g.counts)[gen]) : std::nullopt; });
  per_interpreter("objspy_gc_enabled", "Whether automatic collection is enabled (gc.isenabled()).",
                  [](const InterpreterStat& is) -> Opt { return is.gc.enabled ? Opt(*is.gc.enabled ? 1 : 0) : std::nullopt; });
  per_interpreter("objspy_gc_garbage_objects", "Objects in gc.garbage: uncollectable, or kept by gc.DEBUG_SAVEALL.",
                  [](const InterpreterStat& is) -> Opt { return is.gc.garbage ? Opt(static_cast<std::int64_t>(*is.gc.garbage)) : std::nullopt; });
  per_interpreter("objspy_gc_collecting", "Whether a collection was running when the latest census read the collector.",
                  [](const InterpreterStat& is) -> Opt { return Opt(is.gc.collecting ? 1 : 0); });
}

}  // namespace

std::string prometheus_label_value(std::string_view raw) {
  const std::string utf8 = sanitize_utf8(raw);
  std::string out;
  out.reserve(utf8.size());
  for (std::size_t i = 0; i < utf8.size();) {
    // Valid UTF-8 now: the sequence length is in the lead byte.
    const auto lead = static_cast<unsigned char>(utf8[i]);
    const std::size_t n = lead < 0x80 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4;
    char32_t cp = n == 1 ? lead : lead & (0x7F >> n);
    for (std::size_t k = 1; k < n; ++k) cp = (cp << 6) | (static_cast<unsigned char>(utf8[i + k]) & 0x3F);
    if (cp == '\\') out += "\\\\";
    else if (cp == '"') out += "\\\"";
    else if (cp == '\n') out += "\\n";
    else if (cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp < 0xA0) || is_invisible(cp))
      out += "\xEF\xBF\xBD";  // U+FFFD: no control or invisible character reaches a scraper's screen
    else out.append(utf8, i, n);
    i += n;
  }
  return out;
}

std::string render_prometheus(const Census* counted, const Census* latest, const ExporterState& s) {
  std::string out;
  out.reserve(8192);
  header(out, "objspy_up", "gauge", "Whether the last census of the target succeeded (0: target gone or unreadable, or no census of its new image yet).");
  sample(out, "objspy_up", s.up ? 1 : 0);
  header(out, "objspy_censuses_total", "counter", "Censuses taken, complete or not.");
  sample(out, "objspy_censuses_total", s.censuses);
  header(out, "objspy_census_incomplete_total", "counter", "Censuses that were not exact (an error estimate above 0, or a list abandoned).");
  sample(out, "objspy_census_incomplete_total", s.incomplete);
  header(out, "objspy_census_skipped_total", "counter",
         fmt::format("Incomplete censuses whose counts were not exported (coverage below {:g}, or a partial count).", kMinCoverage));
  sample(out, "objspy_census_skipped_total", s.skipped);
  header(out, "objspy_census_failures_total", "counter", "Census attempts that gave no census.");
  sample(out, "objspy_census_failures_total", s.failures);
  header(out, "objspy_reattaches_total", "counter", "Times the target exec'd in place and its new image was attached.");
  sample(out, "objspy_reattaches_total", s.reattaches);
  if (!s.up || latest == nullptr) return out;

  header(out, "objspy_target_info", "gauge", "The target process and its interpreter.");
  out += fmt::format("objspy_target_info{{pid=\"{}\",python_version=\"{}\",debug_build=\"{}\"}} 1\n", latest->pid,
                     prometheus_label_value(latest->python_version), latest->debug_build ? "true" : "false");
  header(out, "objspy_census_complete", "gauge", "Whether the latest census was exact (no error estimate, no list abandoned).");
  sample(out, "objspy_census_complete", latest->walk.complete ? 1 : 0);
  header(out, "objspy_census_coverage", "gauge",
         "Share of the latest census that is certain: objects / (objects + those possibly missed or miscounted); 1 when exact, 0 for a partial count.");
  // A partial count has no estimate: its coverage is unknown, exported as 0 so that an alert
  // on low coverage fires for it too.
  const bool estimated = latest->walk.complete || latest->walk.uncertain > 0;
  out += fmt::format("objspy_census_coverage {:.6g}\n", estimated ? coverage(latest->walk, latest->total) : 0.0);
  header(out, "objspy_census_duration_seconds", "gauge", "How long the latest census took.");
  out += fmt::format("objspy_census_duration_seconds {:.9g}\n", latest->duration_ms / 1000.0);
  header(out, "objspy_census_read_bytes", "gauge", "Bytes of target memory the latest census read.");
  sample(out, "objspy_census_read_bytes", latest->bytes_read);
  if (latest->memory) {
    header(out, "objspy_target_memory_bytes", "gauge",
           "The target's memory from /proc/PID/smaps_rollup, read with the latest census: kind=\"rss\", \"pss\", \"anonymous\", \"swap\".");
    const auto& m = *latest->memory;
    out += fmt::format("objspy_target_memory_bytes{{kind=\"rss\"}} {}\n", m.rss_bytes);
    out += fmt::format("objspy_target_memory_bytes{{kind=\"pss\"}} {}\n", m.pss_bytes);
    out += fmt::format("objspy_target_memory_bytes{{kind=\"anonymous\"}} {}\n", m.anonymous_bytes);
    out += fmt::format("objspy_target_memory_bytes{{kind=\"swap\"}} {}\n", m.swap_bytes);
  }
  if (latest->allocator && latest->allocator->read) {
    const AllocatorStat& a = *latest->allocator;
    header(out, "objspy_pymalloc_arenas", "gauge", "pymalloc arenas allocated now (sys._debugmallocstats(): # arenas allocated current).");
    sample(out, "objspy_pymalloc_arenas", a.arenas);
    header(out, "objspy_pymalloc_bytes", "gauge",
           "pymalloc's memory: arenas held, bytes in blocks in use, free bytes in used pools, bytes of unused pools.");
    out += fmt::format("objspy_pymalloc_bytes{{kind=\"arenas\"}} {}\n", a.arena_bytes());
    out += fmt::format("objspy_pymalloc_bytes{{kind=\"allocated\"}} {}\n", a.allocated_bytes);
    out += fmt::format("objspy_pymalloc_bytes{{kind=\"available\"}} {}\n", a.available_bytes);
    out += fmt::format("objspy_pymalloc_bytes{{kind=\"unused_pools\"}} {}\n", a.unused_pools * a.pool_size);
    header(out, "objspy_pymalloc_arenas_by_use", "gauge",
           "pymalloc arenas by the share of their bytes in blocks in use: an arena is freed only when empty, so the lowest band is memory a few objects hold.");
    static constexpr const char* kBands[] = {"0-25", "25-50", "50-75", "75-100"};
    for (std::size_t b = 0; b < 4; ++b) out += fmt::format("objspy_pymalloc_arenas_by_use{{use=\"{}\"}} {}\n", kBands[b], a.arenas_by_use[b]);
  }
  header(out, "objspy_census_timestamp_seconds", "gauge", "Unix time of the latest census.");
  out += fmt::format("objspy_census_timestamp_seconds {:.3f}\n", latest->timestamp);
  // The collector's figures are read apart from the object count: a census whose count is not
  // trusted still has them, so they come from the latest census.
  collector_series(out, *latest);
  if (counted == nullptr) return out;  // no trusted census yet: no counts rather than partial ones

  const Census* c = counted;
  header(out, "objspy_counts_timestamp_seconds", "gauge",
         "Unix time of the census the counts below come from: the latest one whose counts are trusted.");
  out += fmt::format("objspy_counts_timestamp_seconds {:.3f}\n", c->timestamp);
  header(out, "objspy_type_objects", "gauge",
         "Objects of each type in the GC lists, as gc.get_objects() counts them: the largest types, the rest summed in type=\"other\".");
  const auto counts = most_common(*c, s.names);
  const auto rows = type_series(counts, s);
  for (const auto& r : rows) out += fmt::format("objspy_type_objects{{type=\"{}\"}} {}\n", r.label, r.count);
  if (c->measured_bytes) {
    header(out, "objspy_type_bytes", "gauge",
           "Bytes of the objects of each type in the GC lists, as sum(sys.getsizeof(o)) gives them: the types of objspy_type_objects.");
    for (const auto& r : rows) out += fmt::format("objspy_type_bytes{{type=\"{}\"}} {}\n", r.label, r.bytes);
    header(out, "objspy_gc_objects_bytes", "gauge", "Bytes of all objects in the GC lists (sum of sys.getsizeof), all interpreters.");
    sample(out, "objspy_gc_objects_bytes", c->bytes);
  }
  header(out, "objspy_types", "gauge", "Distinct type names with objects in the GC lists.");
  sample(out, "objspy_types", counts.size());
  header(out, "objspy_gc_objects", "gauge", "Objects in the GC lists (len(gc.get_objects())), all interpreters.");
  sample(out, "objspy_gc_objects", c->total);
  header(out, "objspy_gc_generation_objects", "gauge", "Objects in each GC generation, all interpreters.");
  for (std::size_t g = 0; g < c->generations.size(); ++g)
    out += fmt::format("objspy_gc_generation_objects{{generation=\"{}\"}} {}\n", g, c->generations[g]);
  header(out, "objspy_gc_frozen_objects", "gauge", "Objects moved to the permanent generation by gc.freeze().");
  sample(out, "objspy_gc_frozen_objects", c->frozen);
  return out;
}

}  // namespace objspy
