// Interpreters are listed main first, then the others in creation order, whatever the order
// of _PyRuntime.interpreters (newest first, and the main one not necessarily last).
#include <doctest/doctest.h>

#include "fake_python.hpp"
#include "objspy/census/sampler.hpp"
#include "objspy/python/gc_state.hpp"

namespace {

objspy::Layout layout_for(int minor, int micro) {
  auto l = objspy::builtin_layout(objspy::PyVersion{3, minor, micro});
  REQUIRE(l.ok());
  return *l;
}

// The list head -> first -> second -> third (each `next` to the following one, the last NULL).
void link_interpreters(fake::Heap& h, std::vector<objspy::RemoteAddr> list, objspy::RemoteAddr main) {
  h.mem.put_u64(h.runtime + h.layout.rt_interpreters_head, list.front().value());
  h.mem.put_u64(h.runtime + h.layout.rt_interpreters_main, main.value());
  for (std::size_t i = 0; i < list.size(); ++i)
    h.mem.put_u64(list[i] + h.layout.interp_next, i + 1 < list.size() ? list[i + 1].value() : 0);
}

}  // namespace

TEST_CASE("three interpreters are listed main first, then in creation order") {
  for (auto [minor, micro] : {std::pair{9, 18}, std::pair{12, 1}, std::pair{14, 10}}) {
    CAPTURE(minor);
    fake::Heap h(layout_for(minor, micro));
    auto t = h.static_type("list");
    // Distinct sizes tell the interpreters apart in the census: main 3, a 5, b 7.
    for (int i = 0; i < 3; ++i) h.add_object(t, 2);
    auto a = h.add_interpreter();  // created second
    auto b = h.add_interpreter();  // created third
    for (int i = 0; i < 5; ++i) h.add_object_to(a.heads[0], t);
    for (int i = 0; i < 7; ++i) h.add_object_to(b.heads[1], t);
    h.finish();
    struct Case {
      const char* what;
      std::vector<objspy::RemoteAddr> list;  // as _PyRuntime.interpreters links them
    };
    for (const Case& c : {Case{"newest first, main last (CPython's own order)", {b.addr, a.addr, h.interp}},
                          Case{"main in the middle", {b.addr, h.interp, a.addr}},
                          Case{"main at the head", {h.interp, b.addr, a.addr}},
                          Case{"main in the middle, older one first", {a.addr, h.interp, b.addr}}}) {
      CAPTURE(c.what);
      link_interpreters(h, c.list, h.interp);
      auto interps = objspy::find_interpreters(h.mem, &h.map, h.layout, h.runtime);
      REQUIRE(interps.ok());
      CHECK(interps->main == h.interp);
      auto census = objspy::take_census(h.mem, h.mem, &h.map, h.layout, h.runtime);
      REQUIRE(census.ok());
      REQUIRE(census->interpreters.size() == 3);
      // Creation order is the reverse of the list, with the main one taken out to the front.
      std::vector<std::uint64_t> want_objects;
      for (auto it = c.list.rbegin(); it != c.list.rend(); ++it) {
        if (*it != h.interp) want_objects.push_back(*it == a.addr ? 5 : 7);
      }
      want_objects.insert(want_objects.begin(), 3);
      for (std::size_t i = 0; i < 3; ++i) {
        CAPTURE(i);
        CHECK(census->interpreters[i].index == static_cast<std::int64_t>(i));
        CHECK(census->interpreters[i].objects == want_objects[i]);
      }
      CHECK(census->total == 15);
    }
  }
}

TEST_CASE("3.8: one GC state shared by every interpreter is the main one's") {
  fake::Heap h(layout_for(8, 18));
  auto t = h.static_type("dict");
  for (int i = 0; i < 4; ++i) h.add_object(t, 0);
  auto a = h.add_interpreter();
  auto b = h.add_interpreter();
  h.finish();
  link_interpreters(h, {b.addr, a.addr, h.interp}, h.interp);
  auto census = objspy::take_census(h.mem, h.mem, &h.map, h.layout, h.runtime);
  REQUIRE(census.ok());
  REQUIRE(census->interpreters.size() == 1);
  CHECK(census->interpreters[0].index == 0);
  CHECK(census->interpreters[0].objects == 4);
}
