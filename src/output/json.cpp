#include <algorithm>
#include <map>

#include "objspy/core/escape.hpp"
#include "objspy/output/render.hpp"

namespace objspy {

namespace {

template <class T>
nlohmann::json or_null(const std::optional<T>& v) {
  return v ? nlohmann::json(*v) : nlohmann::json(nullptr);
}

// interpreters[i].gc: the gc module's figures, null where they could not be had (see notes).
nlohmann::json collector_to_json(const InterpreterStat& is, NameForm names) {
  using nlohmann::json;
  const CollectorStat& g = is.gc;
  json stats = nullptr;
  if (g.stats) {
    stats = json::array();
    for (const auto& st : *g.stats) {
      json e = {{"collections", st.collections}, {"collected", st.collected}, {"uncollectable", st.uncollectable}};
      if (st.candidates) e["candidates"] = *st.candidates;
      if (st.duration) e["duration"] = *st.duration;
      stats.push_back(e);
    }
  }
  // Summed by name in the census's name form, count descending, then name.
  std::map<std::string, std::uint64_t> by_name;
  for (const auto& t : g.garbage_types) by_name[names == NameForm::qualified ? t.qualified : t.name] += t.count;
  std::vector<std::pair<std::string, std::uint64_t>> rows(by_name.begin(), by_name.end());
  std::stable_sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
  json types = json::array();
  for (const auto& [name, count] : rows) types.push_back({{"name", sanitize_utf8(name)}, {"count", count}});
  json notes = json::array();
  for (const auto& n : g.notes) notes.push_back(sanitize_utf8(n));
  return {{"enabled", or_null(g.enabled)},
          {"debug", or_null(g.debug)},
          {"thresholds", or_null(g.thresholds)},
          {"counts", or_null(g.counts)},
          {"stats", stats},
          {"collecting", g.collecting},
          {"garbage", or_null(g.garbage)},
          {"garbage_types", types},
          {"garbage_types_other", g.garbage_types_other},
          {"garbage_unreadable", g.garbage_unreadable},
          {"garbage_truncated", g.garbage_truncated},
          {"callbacks", or_null(g.callbacks)},
          {"frozen", is.frozen},
          {"notes", notes}};
}

}  // namespace

nlohmann::json allocator_to_json(const AllocatorStat& a) {
  using nlohmann::json;
  if (!a.read) return {{"pymalloc", false}, {"note", sanitize_utf8(a.note)}};
  json classes = json::array();
  for (const auto& c : a.classes)
    classes.push_back({{"class", c.index}, {"size", c.size}, {"pools", c.pools}, {"blocks", c.blocks}, {"available_blocks", c.available}});
  return {{"pymalloc", true},
          {"arena_size", a.arena_size},
          {"pool_size", a.pool_size},
          {"arenas", a.arenas},
          {"arenas_allocated_total", a.arenas_allocated_total},
          {"arenas_highwater", a.arenas_highwater},
          {"arena_bytes", a.arena_bytes()},
          {"allocated_bytes", a.allocated_bytes},
          {"available_bytes", a.available_bytes},
          {"unused_pools", a.unused_pools},
          {"pool_header_bytes", a.pool_header_bytes},
          {"quantization_bytes", a.quantization_bytes},
          {"alignment_bytes", a.alignment_bytes},
          {"arenas_by_use", a.arenas_by_use},
          {"classes", classes},
          {"note", a.note.empty() ? json(nullptr) : json(sanitize_utf8(a.note))}};
}

nlohmann::json explained_to_json(const MemoryExplained& e) {
  using nlohmann::json;
  auto opt = [](const auto& v) { return v ? json(*v) : json(nullptr); };
  return {{"rss_bytes", opt(e.rss_bytes)},
          {"gc_objects_bytes", opt(e.gc_object_bytes)},
          {"gc_objects_share", opt(e.gc_object_share)},
          {"pymalloc_arena_bytes", opt(e.arena_bytes)},
          {"pymalloc_block_bytes", opt(e.arena_block_bytes)},
          {"pymalloc_arena_share", opt(e.arena_share)}};
}

nlohmann::json census_to_json(const Census& c, const RenderOptions& o) {
  using nlohmann::json;
  json j;
  j["objspy_version"] = OBJSPY_VERSION_STRING;
  j["pid"] = c.pid;
  j["timestamp"] = c.timestamp;
  j["python"] = {{"version", c.python_version},
                 {"hexversion", c.python_hexversion},
                 {"debug_build", c.debug_build},
                 {"binary", sanitize_utf8(c.python_binary)},
                 {"layout_source", c.layout_source}};
  j["name_form"] = o.names == NameForm::qualified ? "qualified" : "short";
  j["total_objects"] = c.total;
  j["generations"] = c.generations;
  j["frozen"] = c.frozen;
  json interps = json::array();
  for (const auto& i : c.interpreters)
    interps.push_back(
        {{"index", i.index}, {"objects", i.objects}, {"generations", i.generations}, {"frozen", i.frozen}, {"gc", collector_to_json(i, o.names)}});
  j["interpreters"] = interps;
  auto rows = most_common(c, o.names, 0, o.sort);
  j["types_total"] = rows.size();
  if (o.limit && rows.size() > o.limit) rows.resize(o.limit);
  json types = json::array();
  for (const auto& r : rows) {
    json t = {{"name", sanitize_utf8(r.name)}, {"count", r.count}};
    if (c.measured_bytes) t["bytes"] = r.bytes;
    if (r.bytes_estimated) t["bytes_estimated"] = true;
    types.push_back(std::move(t));
  }
  j["types"] = types;
  // sum(sys.getsizeof(o)) over gc.get_objects(); null when --no-bytes.
  j["total_bytes"] = c.measured_bytes ? json(c.bytes) : json(nullptr);
  j["bytes_unmeasured"] = c.bytes_unmeasured;
  json warnings = json::array();
  for (const auto& w : c.walk.warnings) warnings.push_back(sanitize_utf8(w));
  json limits = json::array();
  for (const auto& w : c.walk.limits) limits.push_back(sanitize_utf8(w));
  j["walk"] = {{"complete", c.walk.complete},
               {"method", c.walk.method},
               {"objects_reached", c.walk.objects_reached},
               {"broken_links", c.walk.broken_links},
               {"uncertain", c.walk.uncertain},
               {"coverage", coverage(c.walk, c.total)},
               {"recovered", c.walk.recovered},
               {"torn", c.walk.torn},
               {"retried", c.walk.retried},
               {"limits", limits},
               {"warnings", warnings}};
  j["duration_ms"] = c.duration_ms;
  j["pause_ms"] = c.pause_ms >= 0 ? json(c.pause_ms) : json(nullptr);
  j["memory"] = c.memory ? json({{"rss_bytes", c.memory->rss_bytes},
                                 {"pss_bytes", c.memory->pss_bytes},
                                 {"anonymous_bytes", c.memory->anonymous_bytes},
                                 {"swap_bytes", c.memory->swap_bytes}})
                         : json(nullptr);
  j["allocator"] = c.allocator ? allocator_to_json(*c.allocator) : json(nullptr);
  j["explained"] = explained_to_json(explain_memory(c));
  j["bytes_read"] = c.bytes_read;
  j["read_calls"] = c.read_calls;
  return j;
}

std::string render_growth_json(const Census& c, const RenderOptions& o, const std::vector<Change>& rows, const Snapshot* previous,
                               bool pretty, SortBy by) {
  using nlohmann::json;
  json j = census_to_json(c, o);
  json arr = json::array();
  const char* measure = by == SortBy::bytes ? "bytes" : "count";
  for (const auto& g : rows) arr.push_back({{"name", sanitize_utf8(g.name)}, {measure, g.after}, {"delta", g.delta()}});
  j["growth"] = arr;
  j["growth_measure"] = measure;
  j["growth_since"] = previous ? json(previous->timestamp) : json(nullptr);
  return j.dump(pretty ? 2 : -1, ' ', true) + "\n";
}

nlohmann::json suspects_to_json(const std::vector<Suspect>& rows, const RankedOver& over) {
  using nlohmann::json;
  json j = {{"samples", over.samples}, {"skipped", over.skipped}, {"hours", over.hours}, {"max_types", over.max_types}};
  // Not a type: what was summed because there were more types than max_types, never ranked.
  j["other"] = over.folded ? json({{"types", over.other_types}, {"objects", over.other_objects}}) : json(nullptr);
  auto arr = json::array();
  for (const auto& s : rows)
    arr.push_back({{"name", sanitize_utf8(s.name)}, {"first", s.first}, {"last", s.last}, {"per_hour", s.per_hour}, {"fit", s.r2},
                   {"rising", s.rising}, {"falling", s.falling}, {"share", s.share}, {"score", s.score}, {"confidence", s.confidence}});
  j["suspects"] = arr;
  return j;
}

std::string render_json(const Census& c, const RenderOptions& o, bool pretty) {
  // ensure_ascii: non-ASCII names become \uXXXX, so no byte of a name reaches a terminal raw.
  return census_to_json(c, o).dump(pretty ? 2 : -1, ' ', true) + "\n";
}

}  // namespace objspy
