// The census over synthetic heaps built to each layout: exact counts, both name forms,
// frozen objects apart, and every kind of torn list reported rather than crashing.
#include <doctest/doctest.h>

#include "fake_python.hpp"
#include "objspy/census/sampler.hpp"
#include "objspy/python/gc_state.hpp"

using objspy::NameForm;
using objspy::PyVersion;

namespace {

objspy::Layout layout_for(int minor, int micro = 0) {
  auto l = objspy::builtin_layout(PyVersion{3, minor, micro});
  REQUIRE(l.ok());
  return *l;
}

std::map<std::string, std::uint64_t> counts(const objspy::Census& c, NameForm f) {
  std::map<std::string, std::uint64_t> m;
  for (const auto& r : objspy::most_common(c, f)) m[r.name] = r.count;
  return m;
}

objspy::Result<objspy::Census> census(fake::Heap& h, objspy::CensusMethod m = objspy::CensusMethod::walk) {
  h.finish();
  return objspy::take_census(h.mem, h.mem, &h.map, h.layout, h.runtime, false, m);
}

const objspy::CensusMethod kMethods[] = {objspy::CensusMethod::walk, objspy::CensusMethod::scan};

}  // namespace

TEST_CASE("exact census on every layout, both name forms, both methods") {
  struct V { int minor, micro; };
  for (auto method : kMethods)
  for (V v : {V{8, 18}, V{9, 18}, V{10, 13}, V{11, 7}, V{12, 1}, V{13, 0}, V{14, 2}, V{14, 10}, V{15, 2}}) {
    CAPTURE(method == objspy::CensusMethod::scan);
    CAPTURE(v.minor);
    CAPTURE(v.micro);
    fake::Heap h(layout_for(v.minor, v.micro));
    auto list_t = h.static_type("list");
    auto deque_t = h.static_type("collections.deque");
    auto foo_t = h.heap_type("Foo", "app.models");
    auto nomod_t = h.heap_type("NoMod", "<None>");
    auto empty_t = h.heap_type("EmptyMod", "");
    auto missing_t = h.heap_type("Missing", "-");
    for (int i = 0; i < 5; ++i) h.add_object(list_t, i % 3);
    for (int i = 0; i < 3; ++i) h.add_object(deque_t, 2);
    for (int i = 0; i < 7; ++i) h.add_object(foo_t, 1);
    h.add_object(nomod_t, 0);
    h.add_object(empty_t, 0);
    h.add_object(missing_t, 2);
    for (int i = 0; i < 4; ++i) h.add_object(foo_t, 3);  // frozen
    auto c = census(h, method);
    REQUIRE(c.ok());
    CHECK(c->walk.complete);
    CHECK(c->walk.method == (method == objspy::CensusMethod::scan ? "scan" : "walk"));
    CHECK(c->total == 18);
    CHECK(c->frozen == 4);
    CHECK(c->generations[0] == 4);
    CHECK(c->generations[1] == 9);
    CHECK(c->generations[2] == 5);
    auto s = counts(*c, NameForm::short_name);
    CHECK(s == std::map<std::string, std::uint64_t>{{"list", 5}, {"deque", 3}, {"Foo", 7}, {"NoMod", 1}, {"EmptyMod", 1}, {"Missing", 1}});
    auto q = counts(*c, NameForm::qualified);
    CHECK(q == std::map<std::string, std::uint64_t>{
                   {"builtins.list", 5}, {"collections.deque", 3}, {"app.models.Foo", 7}, {"NoMod", 1}, {"EmptyMod", 1}, {"Missing", 1}});
  }
}

TEST_CASE("Debian 3.13: generations at +20 are found through generation0") {
  fake::Heap h(layout_for(13, 18));
  h.set_generations_at(20);
  auto t = h.static_type("dict");
  for (int i = 0; i < 9; ++i) h.add_object(t, i % 3);
  auto c = census(h);
  REQUIRE(c.ok());
  CHECK(c->total == 9);
  CHECK(c->walk.complete);
}

TEST_CASE("a GC state away from the table offset is found by its generation0 pointer") {
  auto l = layout_for(11, 7);
  fake::Heap h(l);
  auto t = h.static_type("tuple");
  for (int i = 0; i < 6; ++i) h.add_object(t, 0);
  // Pretend this build has its GC state 64 bytes later than the table says.
  h.layout.interp_gc -= 64;
  auto c = census(h);
  REQUIRE(c.ok());
  CHECK(c->total == 6);
  auto interps = objspy::find_interpreters(h.mem, &h.map, h.layout, h.runtime);
  REQUIRE(interps.ok());
  REQUIRE(interps->notes.size() == 1);
  CHECK(interps->notes[0].find("generation0") != std::string::npos);
}

TEST_CASE("walk: torn lists end the list with a reason, never a crash or a loop") {
  auto l = layout_for(12, 1);
  SUBCASE("link to unmapped memory") {
    fake::Heap h(l);
    auto t = h.static_type("list");
    auto a = h.add_object(t, 0);
    h.add_object(t, 0);
    h.mem.put_u64(a, 0xdead0000);
    auto c = census(h);
    REQUIRE(c.ok());
    CHECK_FALSE(c->walk.complete);
    CHECK(c->total == 1);
    CHECK(c->walk.warnings.at(0).find("leaves mapped memory") != std::string::npos);
  }
  SUBCASE("a loop that never returns to the head") {
    fake::Heap h(l);
    auto t = h.static_type("list");
    auto a = h.add_object(t, 1);
    auto b = h.add_object(t, 1);
    h.add_object(t, 1);
    h.mem.put_u64(b, a.value());  // b -> a -> b -> ...
    auto c = census(h);
    REQUIRE(c.ok());
    CHECK_FALSE(c->walk.complete);
    CHECK(c->walk.warnings.at(0).find("loops") != std::string::npos);
  }
  SUBCASE("a link into another list (a collection spliced it)") {
    fake::Heap h(l);
    auto t = h.static_type("list");
    auto a = h.add_object(t, 0);
    h.add_object(t, 2);
    h.mem.put_u64(a, h.heads[2].value());
    auto c = census(h);
    REQUIRE(c.ok());
    CHECK_FALSE(c->walk.complete);
    CHECK(c->walk.warnings.at(0).find("another list") != std::string::npos);
  }
  SUBCASE("an object whose type is garbage") {
    fake::Heap h(l);
    auto t = h.static_type("list");
    h.add_object(t, 0);
    auto bad = h.add_object(t, 0);
    h.mem.put_u64(bad + 16 + 8, h.str("not a type").value());
    auto c = census(h);
    REQUIRE(c.ok());
    CHECK_FALSE(c->walk.complete);
    CHECK(c->total == 1);
    CHECK(c->walk.warnings.at(0).find("no valid type") != std::string::npos);
  }
  SUBCASE("back links that do not match are counted") {
    fake::Heap h(l);
    auto t = h.static_type("list");
    h.add_object(t, 0);
    auto b = h.add_object(t, 0);
    h.add_object(t, 0);
    h.mem.put_u64(b + 8, 0x10000010);
    auto c = census(h);
    REQUIRE(c.ok());
    CHECK(c->total == 3);
    CHECK(c->walk.broken_links == 1);
    CHECK_FALSE(c->walk.complete);
  }
  SUBCASE("misaligned link") {
    fake::Heap h(l);
    auto t = h.static_type("list");
    auto a = h.add_object(t, 0);
    h.mem.put_u64(a, a.value() + 4 + 16 * 3);  // low flag bits are masked; 4 is not a flag
    auto c = census(h);
    REQUIRE(c.ok());
    CHECK_FALSE(c->walk.complete);
  }
}

TEST_CASE("flag bits in the links are masked (3.14.0-3.14.4 old-space bit, collecting bits)") {
  fake::Heap h(layout_for(14, 2));
  auto t = h.static_type("list");
  auto a = h.add_object(t, 1);
  h.add_object(t, 1);
  std::uint64_t next = 0;
  (void)h.mem.read(a, std::as_writable_bytes(std::span(&next, 1)));
  h.mem.put_u64(a, next | 1);  // old-space bit
  auto c = census(h);
  REQUIRE(c.ok());
  CHECK(c->total == 2);
  CHECK(c->walk.complete);
}

TEST_CASE("an uninitialised runtime is refused, not walked") {
  fake::Heap h(layout_for(12, 1));
  auto c = objspy::take_census(h.mem, h.mem, &h.map, h.layout, h.runtime);  // no finish(): head is NULL
  REQUIRE_FALSE(c.ok());
  CHECK(c.error().code == objspy::Errc::not_python);
}

TEST_CASE("a broken interpreter list is an error") {
  fake::Heap h(layout_for(12, 1));
  h.finish();
  h.mem.put_u64(h.interp + h.layout.interp_next, h.interp.value());  // points to itself
  auto c = objspy::take_census(h.mem, h.mem, &h.map, h.layout, h.runtime);
  REQUIRE_FALSE(c.ok());
  CHECK(c.error().code == objspy::Errc::corrupt_target);
}

// The scan never abandons a list: what its links confirm is counted, a node with one link of
// two confirmed is counted and uncertain, the rest (raw data, garbage) is left out.
TEST_CASE("scan: torn and hostile lists give a bounded, flagged census") {
  auto l = layout_for(12, 1);
  const auto scan = objspy::CensusMethod::scan;
  SUBCASE("link to unmapped memory: both sides of the break are found") {
    fake::Heap h(l);
    auto t = h.static_type("list");
    auto a = h.add_object(t, 0);
    h.add_object(t, 0);
    h.mem.put_u64(a, 0xdead0000);
    auto c = census(h, scan);
    REQUIRE(c.ok());
    CHECK_FALSE(c->walk.complete);
    CHECK(c->total == 2);
    CHECK(c->walk.uncertain == 2);
  }
  SUBCASE("a loop that never returns to the head") {
    fake::Heap h(l);
    auto t = h.static_type("list");
    auto a = h.add_object(t, 1);
    auto b = h.add_object(t, 1);
    h.add_object(t, 1);
    h.mem.put_u64(b, a.value());  // b -> a -> b -> ...
    auto c = census(h, scan);
    REQUIRE(c.ok());
    CHECK_FALSE(c->walk.complete);
    CHECK(c->total == 3);
    CHECK(c->walk.uncertain == 2);
  }
  SUBCASE("a link into another list") {
    fake::Heap h(l);
    auto t = h.static_type("list");
    auto a = h.add_object(t, 0);
    h.add_object(t, 2);
    h.mem.put_u64(a, h.heads[2].value());
    auto c = census(h, scan);
    REQUIRE(c.ok());
    CHECK_FALSE(c->walk.complete);
    CHECK(c->total == 2);
    CHECK(c->walk.uncertain == 2);  // a's link, and generation 0's tail
  }
  SUBCASE("an object whose type is garbage is left out and flagged") {
    fake::Heap h(l);
    auto t = h.static_type("list");
    h.add_object(t, 0);
    auto bad = h.add_object(t, 0);
    h.mem.put_u64(bad + 16 + 8, h.str("not a type").value());
    auto c = census(h, scan);
    REQUIRE(c.ok());
    CHECK_FALSE(c->walk.complete);
    CHECK(c->total == 1);
    REQUIRE_FALSE(c->walk.warnings.empty());
    CHECK(c->walk.warnings.at(0).find("no valid type") != std::string::npos);
  }
  SUBCASE("a back link that does not match") {
    fake::Heap h(l);
    auto t = h.static_type("list");
    h.add_object(t, 0);
    auto b = h.add_object(t, 0);
    h.add_object(t, 0);
    h.mem.put_u64(b + 8, 0x10000010);
    auto c = census(h, scan);
    REQUIRE(c.ok());
    CHECK(c->total == 3);
    CHECK(c->walk.uncertain == 2);
    CHECK_FALSE(c->walk.complete);
  }
  SUBCASE("a list that points at itself everywhere ends") {
    fake::Heap h(l);
    auto t = h.static_type("list");
    auto a = h.add_object(t, 0);
    h.mem.put_u64(a, a.value());
    h.mem.put_u64(a + 8, a.value());
    auto c = census(h, scan);
    REQUIRE(c.ok());
    CHECK_FALSE(c->walk.complete);
  }
}
