// The collector's figures (gc.isenabled(), gc.get_threshold(), gc.get_count(), gc.get_stats(),
// gc.garbage, gc.callbacks) read from synthetic GC states of every layout, hostile ones
// included; and the offsets of the layout tables pinned to what DWARF says.
#include <doctest/doctest.h>

#include <cstring>

#include "fake_python.hpp"
#include "objspy/census/collector_stat.hpp"
#include "objspy/census/sampler.hpp"
#include "objspy/output/prometheus.hpp"
#include "objspy/output/render.hpp"
#include "objspy/python/collector.hpp"
#include "objspy/python/debug_offsets.hpp"
#include "objspy/python/gc_state.hpp"

using objspy::PyVersion;
using objspy::RemoteAddr;

namespace {

objspy::Layout layout_for(int minor, int micro) {
  auto l = objspy::builtin_layout(PyVersion{3, minor, micro});
  REQUIRE(l.ok());
  return *l;
}

struct Figures {
  std::int32_t enabled = 0, debug = 32;
  std::int32_t thresholds[3] = {1234, 17, 9};
  std::int32_t counts[3] = {19, 2, 1};
  std::int64_t stats[3][3] = {{9, 24, 0}, {1, 0, 3}, {2, 15, 1}};  // collections, collected, uncollectable
};

// Writes `f` into the main interpreter's GC state the way CPython keeps it.
void write_figures(fake::Heap& h, const Figures& f) {
  const auto& g = h.layout.gc;
  h.mem.put_u32(h.gc_state + g.enabled, static_cast<std::uint32_t>(f.enabled));
  h.mem.put_u32(h.gc_state + g.debug, static_cast<std::uint32_t>(f.debug));
  for (std::size_t i = 0; i < 3; ++i) {
    h.mem.put_u32(h.heads[i] + 16, static_cast<std::uint32_t>(f.thresholds[i]));
    h.mem.put_u32(h.heads[i] + 20, static_cast<std::uint32_t>(f.counts[i]));
  }
  if (g.stats_kind == objspy::GcStatsKind::inline_array) {
    for (std::size_t i = 0; i < 3; ++i)
      for (std::size_t k = 0; k < 3; ++k) h.mem.put_u64(h.gc_state + g.stats + i * 24 + k * 8, static_cast<std::uint64_t>(f.stats[i][k]));
  } else {
    // 3.15: the newest record of each ring is the cumulative one gc.get_stats() returns;
    // older records hold smaller totals.
    RemoteAddr b = h.stats_block(h.gc_state);
    const std::uint64_t items[3] = {0, 712, 912}, index[3] = {704, 904, 1104};
    const std::uint8_t newest[3] = {7, 2, 0};
    for (std::size_t i = 0; i < 3; ++i) {
      RemoteAddr old = b + items[i] + ((newest[i] + 1) % 3) * 64;
      h.mem.put_u64(old + 16, 1);
      RemoteAddr rec = b + items[i] + newest[i] * 64;
      for (std::size_t k = 0; k < 3; ++k) h.mem.put_u64(rec + 16 + k * 8, static_cast<std::uint64_t>(f.stats[i][k]));
      h.mem.put_u64(rec + 40, 100 + i);  // candidates
      double d = 0.25 * static_cast<double>(i + 1);
      std::uint64_t bits;
      std::memcpy(&bits, &d, 8);
      h.mem.put_u64(rec + 48, bits);
      h.mem.put_bytes(b + index[i], std::string(1, static_cast<char>(newest[i])));
    }
    h.mem.put_u32(b + 1112, 24);  // update_seq: even, no collection writing
  }
}

objspy::Result<objspy::Census> census(fake::Heap& h) {
  h.finish();
  return objspy::take_census(h.mem, h.mem, &h.map, h.layout, h.runtime, false, objspy::CensusMethod::walk);
}

objspy::Result<objspy::CollectorFigures> figures(fake::Heap& h, objspy::CollectorLimits lim = {}) {
  h.finish();
  auto interps = objspy::find_interpreters(h.mem, &h.map, h.layout, h.runtime);
  REQUIRE(interps.ok());
  return objspy::read_collector(h.mem, h.layout, interps->gc_states.at(0), lim);
}

bool has_note(const std::vector<std::string>& notes, const std::string& part) {
  for (const auto& n : notes)
    if (n.find(part) != std::string::npos) return true;
  return false;
}

}  // namespace

TEST_CASE("the collector's figures on every layout, as the gc module gives them") {
  struct V { int minor, micro; };
  for (V v : {V{8, 18}, V{9, 18}, V{10, 13}, V{11, 7}, V{12, 1}, V{13, 0}, V{13, 18}, V{14, 10}, V{15, 2}}) {
    CAPTURE(v.minor);
    CAPTURE(v.micro);
    fake::Heap h(layout_for(v.minor, v.micro));
    if (v.micro == 18 && v.minor == 13) h.set_generations_at(20);  // Debian's 3.13
    write_figures(h, Figures{});
    auto node = h.heap_type("Node", "app");
    auto plain = h.static_type("Plain", 0);  // not a GC type: anything can be appended to gc.garbage
    std::vector<RemoteAddr> items;
    for (int i = 0; i < 5; ++i) items.push_back(h.add_object(node, 2) + 16);
    for (int i = 0; i < 2; ++i) {
      RemoteAddr o = h.alloc(32);
      h.mem.put_u64(o + h.layout.ob_type, plain.value());
      items.push_back(o);
    }
    h.mem.put_u64(h.gc_state + h.layout.gc.garbage, h.list(items).value());
    h.mem.put_u64(h.gc_state + h.layout.gc.callbacks, h.list({h.none_obj}).value());
    h.add_object(node, 3);  // frozen
    auto c = census(h);
    REQUIRE(c.ok());
    REQUIRE(c->interpreters.size() == 1);
    const auto& g = c->interpreters[0].gc;
    CHECK(g.notes.empty());
    CHECK(g.enabled == std::optional<bool>(false));
    CHECK(g.debug == std::optional<std::int64_t>(32));
    CHECK(g.thresholds == std::optional<std::array<std::int64_t, 3>>({1234, 17, 9}));
    CHECK(g.counts == std::optional<std::array<std::int64_t, 3>>({19, 2, 1}));
    REQUIRE(g.stats);
    for (std::size_t i = 0; i < 3; ++i) {
      Figures f;
      CHECK((*g.stats)[i].collections == f.stats[i][0]);
      CHECK((*g.stats)[i].collected == f.stats[i][1]);
      CHECK((*g.stats)[i].uncollectable == f.stats[i][2]);
      CHECK((*g.stats)[i].candidates.has_value() == (v.minor >= 15));
      if (v.minor >= 15) CHECK(*(*g.stats)[i].duration == 0.25 * static_cast<double>(i + 1));
    }
    CHECK_FALSE(g.collecting);
    CHECK(g.garbage == std::optional<std::uint64_t>(7));
    REQUIRE(g.garbage_types.size() == 2);
    CHECK(g.garbage_types[0].name == "Node");
    CHECK(g.garbage_types[0].qualified == "app.Node");
    CHECK(g.garbage_types[0].count == 5);
    CHECK(g.garbage_types[1].name == "Plain");
    CHECK(g.garbage_types[1].count == 2);
    CHECK(g.garbage_unreadable == 0);
    CHECK_FALSE(g.garbage_truncated);
    CHECK(g.callbacks == std::optional<std::uint64_t>(1));
    CHECK(c->interpreters[0].frozen == 1);
    // Both findings are warnings of the census; DEBUG_SAVEALL (32) is named as the cause.
    REQUIRE(c->walk.warnings.size() == 2);
    CHECK(c->walk.warnings[0].find("the garbage collector is disabled") != std::string::npos);
    CHECK(c->walk.warnings[1].find("gc.garbage holds 7 objects (5 Node, 2 Plain)") != std::string::npos);
    CHECK(c->walk.warnings[1].find("DEBUG_SAVEALL") != std::string::npos);
  }
}

TEST_CASE("a fresh collector: enabled, defaults, empty gc.garbage, no warning") {
  for (int minor : {8, 12, 13, 14, 15}) {
    CAPTURE(minor);
    fake::Heap h(layout_for(minor, minor == 14 ? 10 : 2));
    auto c = census(h);
    REQUIRE(c.ok());
    const auto& g = c->interpreters.at(0).gc;
    CHECK(g.enabled == std::optional<bool>(true));
    CHECK((*g.thresholds)[0] == (minor >= 13 ? 2000 : 700));
    CHECK(g.garbage == std::optional<std::uint64_t>(0));
    CHECK(g.callbacks == std::optional<std::uint64_t>(0));
    CHECK(c->walk.warnings.empty());
    auto lines = objspy::render_gc_summary(*c);
    REQUIRE(lines.size() == 1);
    CHECK(lines[0].rfind("gc: enabled, thresholds ", 0) == 0);
  }
}

TEST_CASE("3.14.0-3.14.4: counts by visited space, and the oldest threshold is 0 as gc.get_threshold() says") {
  fake::Heap h(layout_for(14, 2));
  write_figures(h, Figures{});
  SUBCASE("visited space 0") {
    h.mem.put_u32(h.gc_state + 232, 0);
    auto f = figures(h);
    REQUIRE(f.ok());
    CHECK(f->counts == std::optional<std::array<std::int64_t, 3>>({19, 2, 1}));
    CHECK(f->thresholds == std::optional<std::array<std::int64_t, 3>>({1234, 17, 0}));
  }
  SUBCASE("visited space 1 lists old[1] first") {
    h.mem.put_u32(h.gc_state + 232, 1);
    auto f = figures(h);
    REQUIRE(f.ok());
    CHECK(f->counts == std::optional<std::array<std::int64_t, 3>>({19, 1, 2}));
  }
  SUBCASE("a visited space that is neither: no counts, a note") {
    h.mem.put_u32(h.gc_state + 232, 7);
    auto f = figures(h);
    REQUIRE(f.ok());
    CHECK_FALSE(f->counts);
    CHECK(f->thresholds);
    CHECK(has_note(f->notes, "visited_space is 7"));
  }
}

TEST_CASE("3.15 statistics: the sequence lock, the ring indices, a missing block") {
  fake::Heap h(layout_for(15, 2));
  write_figures(h, Figures{});
  RemoteAddr b = h.stats_block(h.gc_state);
  SUBCASE("a collection writing (odd update_seq): left out, not guessed") {
    h.mem.put_u32(b + 1112, 25);
    auto f = figures(h);
    REQUIRE(f.ok());
    CHECK_FALSE(f->stats);
    CHECK(has_note(f->notes, "kept updating"));
    CHECK(f->thresholds);  // the rest is still there
  }
  SUBCASE("an index past its ring") {
    h.mem.put_bytes(b + 904, std::string(1, '\x03'));
    auto f = figures(h);
    REQUIRE(f.ok());
    CHECK_FALSE(f->stats);
    CHECK(has_note(f->notes, "generation 1 names record 3 of 3"));
  }
  SUBCASE("no statistics block yet") {
    h.mem.put_u64(h.gc_state + 104, 0);
    auto f = figures(h);
    REQUIRE(f.ok());
    CHECK_FALSE(f->stats);
    CHECK(has_note(f->notes, "not allocated yet"));
  }
  SUBCASE("a block in memory the target does not have") {
    h.mem.put_u64(h.gc_state + 104, 0x7f0000000000);
    auto f = figures(h);
    REQUIRE(f.ok());
    CHECK_FALSE(f->stats);
    CHECK(has_note(f->notes, "cannot be read"));
  }
}

TEST_CASE("hostile gc.garbage: bounded, validated, never trusted") {
  auto l = layout_for(12, 1);
  SUBCASE("a list claiming a huge length: the first items are examined, the rest reported as not") {
    fake::Heap h(l);
    auto t = h.static_type("tuple");
    std::vector<RemoteAddr> items;
    for (int i = 0; i < 10; ++i) items.push_back(h.add_object(t, 0) + 16);
    RemoteAddr g = h.list(items);
    h.mem.put_u64(g + l.ob_size, 1ULL << 40);
    h.mem.put_u64(h.gc_state + l.gc.garbage, g.value());
    objspy::CollectorLimits lim;
    lim.max_garbage_items = 8;
    auto f = figures(h, lim);
    REQUIRE(f.ok());
    CHECK(f->garbage == std::optional<std::uint64_t>(1ULL << 40));
    CHECK(f->garbage_examined == 8);
    REQUIRE(f->garbage_by_type.size() == 1);
    CHECK(f->garbage_by_type[0].second == 8);
    SUBCASE("past the mapped items: unreadable, counted") {
      lim.max_garbage_items = 100000;
      auto f2 = figures(h, lim);
      REQUIRE(f2.ok());
      CHECK(f2->garbage_examined == 100000);
      CHECK(f2->garbage_unreadable > 0);
    }
  }
  SUBCASE("items that are not objects") {
    fake::Heap h(l);
    auto t = h.static_type("dict");
    RemoteAddr not_a_type = h.alloc(64);  // its "type" has no metatype
    RemoteAddr bogus = h.alloc(32);
    h.mem.put_u64(bogus + l.ob_type, not_a_type.value());
    std::vector<RemoteAddr> items{h.add_object(t, 0) + 16, RemoteAddr(0), RemoteAddr(0x1003), RemoteAddr(0x7f0000000000), bogus};
    h.mem.put_u64(h.gc_state + l.gc.garbage, h.list(items).value());
    auto f = figures(h);
    REQUIRE(f.ok());
    CHECK(f->garbage == std::optional<std::uint64_t>(5));
    CHECK(f->garbage_unreadable == 4);
    REQUIRE(f->garbage_by_type.size() == 1);
  }
  SUBCASE("gc.garbage is not a list, or not there") {
    fake::Heap h(l);
    h.mem.put_u64(h.gc_state + l.gc.garbage, h.dict({}).value());
    h.mem.put_u64(h.gc_state + l.gc.callbacks, 0x7f0000000000);
    auto f = figures(h);
    REQUIRE(f.ok());
    CHECK_FALSE(f->garbage);
    CHECK(has_note(f->notes, "gc.garbage: the object at"));
    CHECK_FALSE(f->callbacks);
    CHECK(has_note(f->notes, "gc.callbacks: the list at"));
  }
  SUBCASE("a negative length") {
    fake::Heap h(l);
    RemoteAddr g = h.list({});
    h.mem.put_u64(g + l.ob_size, ~0ULL);
    h.mem.put_u64(h.gc_state + l.gc.garbage, g.value());
    auto f = figures(h);
    REQUIRE(f.ok());
    CHECK_FALSE(f->garbage);
    CHECK(has_note(f->notes, "negative length"));
  }
  SUBCASE("an item array pointer that is not one") {
    fake::Heap h(l);
    RemoteAddr g = h.list({h.none_obj});
    h.mem.put_u64(g + l.list.ob_item, 0x1001);
    h.mem.put_u64(h.gc_state + l.gc.garbage, g.value());
    auto f = figures(h);
    REQUIRE(f.ok());
    CHECK(f->garbage == std::optional<std::uint64_t>(1));
    CHECK(f->garbage_unreadable == 1);
  }
}

TEST_CASE("more distinct garbage types than are named: the rest counted together") {
  fake::Heap h(layout_for(12, 1));
  std::vector<RemoteAddr> items;
  for (std::size_t i = 0; i < objspy::kMaxGarbageTypes + 5; ++i) {
    RemoteAddr t = h.static_type("T" + std::to_string(i));
    items.push_back(h.add_object(t, 0) + 16);
  }
  h.mem.put_u64(h.gc_state + h.layout.gc.garbage, h.list(items).value());
  auto c = census(h);
  REQUIRE(c.ok());
  const auto& g = c->interpreters[0].gc;
  CHECK(g.garbage_types.size() == objspy::kMaxGarbageTypes);
  CHECK(g.garbage_types_other == 5);
}

TEST_CASE("every interpreter has its own collector") {
  fake::Heap h(layout_for(12, 1));
  auto sub = h.add_interpreter();
  h.finish();
  h.mem.put_u64(h.interp + h.layout.interp_next, sub.addr.value());
  RemoteAddr sub_gc = sub.addr + h.layout.interp_gc;
  h.mem.put_u32(sub_gc + h.layout.gc.enabled, 0);
  h.mem.put_u64(sub_gc + h.layout.gc.garbage, h.list({h.none_obj}).value());
  auto c = objspy::take_census(h.mem, h.mem, &h.map, h.layout, h.runtime, false, objspy::CensusMethod::walk);
  REQUIRE(c.ok());
  REQUIRE(c->interpreters.size() == 2);
  CHECK(*c->interpreters[0].gc.enabled);
  CHECK_FALSE(*c->interpreters[1].gc.enabled);
  CHECK(*c->interpreters[1].gc.garbage == 1);
  REQUIRE(c->walk.warnings.size() == 2);
  CHECK(c->walk.warnings[0].rfind("interpreter 1: the garbage collector is disabled", 0) == 0);
  CHECK(c->walk.warnings[1].find("interpreter 1: gc.garbage holds 1 object (1 NoneType)") == 0);
  auto lines = objspy::render_gc_summary(*c);
  REQUIRE(lines.size() == 2);
  CHECK(lines[1].rfind("gc, interpreter 1: DISABLED", 0) == 0);
}

// The offsets of the layout tables, as `ptype /o struct _gc_runtime_state` (and struct
// gc_stats, PyListObject) prints them from the DWARF of: pyenv 3.8.18, 3.9.18, 3.10.13, 3.11.7,
// 3.12.1, 3.13.0; Debian 3.11.2 and 3.11.2d; Debian sid 3.13.18, 3.14.10, 3.15.2 and their
// debug builds. 3.14.0-3.14.4 from CPython's source (no binary). A change to the tables must
// be checked against DWARF again before this test is changed.
TEST_CASE("layout tables: the collector's offsets are those DWARF gives") {
  struct Want {
    int minor, micro;
    std::uint64_t size, enabled, debug, h0, h1, h2, permanent, stats, collecting, garbage, callbacks;
    std::optional<std::uint64_t> generation0;
  };
  const Want table[] = {
      {8, 18, 240, 12, 16, 24, 48, 72, 104, 128, 200, 208, 216, 96},
      {9, 18, 240, 12, 16, 24, 48, 72, 104, 128, 200, 208, 216, 96},
      {10, 13, 240, 12, 16, 24, 48, 72, 104, 128, 200, 208, 216, 96},
      {11, 2, 240, 12, 16, 24, 48, 72, 104, 128, 200, 208, 216, 96},
      {11, 7, 240, 12, 16, 24, 48, 72, 104, 128, 200, 208, 216, 96},
      {12, 1, 240, 12, 16, 24, 48, 72, 104, 128, 200, 208, 216, 96},
      {13, 0, 240, 12, 16, 24, 48, 72, 104, 128, 200, 208, 216, 96},
      // Debian's 3.13.18 has its generations at 20/44/68: found through generation0, the rest as 3.13.0.
      {13, 18, 240, 12, 16, 24, 48, 72, 104, 128, 200, 208, 216, 96},
      {14, 2, 240, 12, 16, 24, 48, 72, 96, 120, 192, 200, 208, std::nullopt},
      {14, 10, 264, 12, 16, 24, 48, 72, 96, 120, 192, 200, 208, 256},
      {15, 2, 176, 0, 4, 8, 32, 56, 80, 104, 112, 128, 136, 168},
  };
  for (const Want& w : table) {
    CAPTURE(w.minor);
    CAPTURE(w.micro);
    const auto l = layout_for(w.minor, w.micro);
    const auto& g = l.gc;
    CHECK(g.size == w.size);
    CHECK(g.enabled == w.enabled);
    CHECK(g.debug == w.debug);
    CHECK(g.heads == std::array<std::uint64_t, 3>{w.h0, w.h1, w.h2});
    CHECK(g.permanent == w.permanent);
    CHECK(g.stats == w.stats);
    CHECK(g.collecting == w.collecting);
    CHECK(g.garbage == w.garbage);
    CHECK(g.callbacks == w.callbacks);
    CHECK(g.generation0 == w.generation0);
    // struct gc_generation {PyGC_Head head; int threshold; int count;}: 24 bytes everywhere.
    CHECK(g.threshold == 16);
    CHECK(g.count == 20);
    CHECK(g.list_stride == 24);
    CHECK(l.list.ob_item == 24);
    CHECK(l.ob_size == 16);
    CHECK(g.visited_space == (w.minor == 14 && w.micro < 5 ? std::optional<std::uint64_t>(232) : std::nullopt));
    if (w.minor < 15) {
      CHECK(g.stats_kind == objspy::GcStatsKind::inline_array);
      CHECK(g.stats_stride == 24);  // struct gc_generation_stats {collections, collected, uncollectable}
    } else {
      CHECK(g.stats_kind == objspy::GcStatsKind::ring_pointer);
      CHECK(g.ring.size == 1120);
      CHECK(g.ring.record_size == 64);
      CHECK(g.ring.items == std::array<std::uint64_t, 3>{0, 712, 912});
      CHECK(g.ring.slots == std::array<std::uint32_t, 3>{11, 3, 3});
      CHECK(g.ring.index == std::array<std::uint64_t, 3>{704, 904, 1104});
      CHECK(g.ring.update_seq == 1112);
      CHECK(g.ring.collections == 16);
      CHECK(g.ring.collected == 24);
      CHECK(g.ring.uncollectable == 32);
      CHECK(g.ring.candidates == 40);
      CHECK(g.ring.duration == 48);
    }
  }
}

namespace {

objspy::Census rendered_census() {
  objspy::Census c;
  c.pid = 7;
  c.python_version = "3.15.2";
  c.timestamp = 1700000000.5;
  objspy::InterpreterStat is;
  is.frozen = 375;
  auto& g = is.gc;
  g.enabled = false;
  g.debug = 0;
  g.thresholds = std::array<std::int64_t, 3>{1234, 17, 9};
  g.counts = std::array<std::int64_t, 3>{19, 2, 1};
  g.stats = std::array<objspy::GcGenerationStat, 3>{
      objspy::GcGenerationStat{9, 24, 0, 40, 0.5}, objspy::GcGenerationStat{1, 0, 0, 3, 0.25}, objspy::GcGenerationStat{2, 15, 1, 30, 1.5}};
  g.garbage = 5;
  g.garbage_types = {{"Node", "app.Node", 3}, {"Node", "other.Node", 1}, {"list", "builtins.list", 1}};
  g.callbacks = 0;
  c.interpreters.push_back(is);
  return c;
}

}  // namespace

TEST_CASE("JSON: interpreters[i].gc, garbage types in the census's name form, null for what was not read") {
  auto c = rendered_census();
  objspy::RenderOptions o;
  auto j = objspy::census_to_json(c, o);
  const auto& g = j["interpreters"][0]["gc"];
  CHECK(g["enabled"] == false);
  CHECK(g["thresholds"] == nlohmann::json({1234, 17, 9}));
  CHECK(g["counts"] == nlohmann::json({19, 2, 1}));
  CHECK(g["stats"][2] == nlohmann::json({{"collections", 2}, {"collected", 15}, {"uncollectable", 1}, {"candidates", 30}, {"duration", 1.5}}));
  CHECK(g["garbage"] == 5);
  CHECK(g["garbage_types"] == nlohmann::json::parse(R"([{"name": "Node", "count": 4}, {"name": "list", "count": 1}])"));
  CHECK(g["frozen"] == 375);
  CHECK(g["collecting"] == false);
  o.names = objspy::NameForm::qualified;
  auto q = objspy::census_to_json(c, o)["interpreters"][0]["gc"]["garbage_types"];
  CHECK(q == nlohmann::json::parse(R"([{"name": "app.Node", "count": 3}, {"name": "builtins.list", "count": 1}, {"name": "other.Node", "count": 1}])"));
  // A figure that could not be read is null, with its note.
  c.interpreters[0].gc.stats.reset();
  c.interpreters[0].gc.counts.reset();
  c.interpreters[0].gc.notes = {"gc.get_stats(): the statistics are not allocated yet"};
  auto n = objspy::census_to_json(c, o)["interpreters"][0]["gc"];
  CHECK(n["stats"].is_null());
  CHECK(n["counts"].is_null());
  CHECK(n["notes"].size() == 1);
  auto line = objspy::render_gc_summary(c);
  REQUIRE(line.size() == 1);
  CHECK(line[0] == "gc: DISABLED, thresholds 1234/17/9, counts n/a, collections n/a, gc.garbage 5, frozen 375");
}

TEST_CASE("Prometheus: the OpenTelemetry cpython.gc counters and objspy_gc gauges, per interpreter and generation") {
  auto c = rendered_census();
  objspy::ExporterState s;
  s.up = true;
  auto text = objspy::render_prometheus(nullptr, &c, s);  // from the latest census, trusted or not
  for (const char* want : {"# TYPE cpython_gc_collections_total counter\n",
                           "cpython_gc_collections_total{interpreter=\"0\",generation=\"0\"} 9\n",
                           "cpython_gc_collected_objects_total{interpreter=\"0\",generation=\"2\"} 15\n",
                           "cpython_gc_uncollectable_objects_total{interpreter=\"0\",generation=\"2\"} 1\n",
                           "# TYPE objspy_gc_threshold gauge\n",
                           "objspy_gc_threshold{interpreter=\"0\",generation=\"0\"} 1234\n",
                           "objspy_gc_count_since_collection{interpreter=\"0\",generation=\"1\"} 2\n",
                           "objspy_gc_enabled{interpreter=\"0\"} 0\n",
                           "objspy_gc_garbage_objects{interpreter=\"0\"} 5\n",
                           "objspy_gc_collecting{interpreter=\"0\"} 0\n"})
    CHECK_MESSAGE(text.find(want) != std::string::npos, want);
  // Figures that could not be read have no sample (never a made-up 0).
  c.interpreters[0].gc.stats.reset();
  c.interpreters[0].gc.enabled.reset();
  text = objspy::render_prometheus(nullptr, &c, s);
  CHECK(text.find("cpython_gc_collections_total{") == std::string::npos);
  CHECK(text.find("objspy_gc_enabled{") == std::string::npos);
  CHECK(text.find("objspy_gc_threshold{interpreter=\"0\",generation=\"2\"} 9\n") != std::string::npos);
  // A target that is down has no collector series at all.
  s.up = false;
  CHECK(objspy::render_prometheus(nullptr, &c, s).find("cpython_gc") == std::string::npos);
}
