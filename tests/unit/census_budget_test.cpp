// Every census budget over synthetic heaps (python/budget.hpp): each one that runs out ends
// that part of the census, is named in walk.limits, and makes the census incomplete; what a
// hostile heap costs stays bounded (reads, entries, bytes), with both methods.
#include <doctest/doctest.h>

#include <chrono>
#include <thread>

#include "fake_python.hpp"
#include "objspy/census/sampler.hpp"
#include "objspy/python/budget.hpp"
#include "objspy/python/gc_state.hpp"
#include "objspy/python/gc_walk.hpp"
#include "objspy/python/objects.hpp"

using objspy::CensusBudget;
using objspy::CensusLimits;
using objspy::CensusMethod;
using objspy::RemoteAddr;

namespace {

objspy::Layout layout_for(int minor, int micro) {
  auto l = objspy::builtin_layout(objspy::PyVersion{3, minor, micro});
  REQUIRE(l.ok());
  return *l;
}

const CensusMethod kMethods[] = {CensusMethod::walk, CensusMethod::scan};

objspy::Result<objspy::Census> census(fake::Heap& h, CensusMethod m, CensusBudget& b) {
  return objspy::take_census(h.mem, h.mem, &h.map, h.layout, h.runtime, false, m, &b);
}

bool has_limit(const objspy::Census& c, std::string_view words) {
  for (const auto& l : c.walk.limits)
    if (l.find(words) != std::string::npos) return true;
  return false;
}

// The interpreter list head -> list[0] -> list[1] -> ..., main named in the runtime.
void link_interpreters(fake::Heap& h, const std::vector<RemoteAddr>& list, RemoteAddr main) {
  h.mem.put_u64(h.runtime + h.layout.rt_interpreters_head, list.front().value());
  h.mem.put_u64(h.runtime + h.layout.rt_interpreters_main, main.value());
  for (std::size_t i = 0; i < list.size(); ++i)
    h.mem.put_u64(list[i] + h.layout.interp_next, i + 1 < list.size() ? list[i + 1].value() : 0);
}

std::uint64_t count_of(const objspy::Census& c, const std::string& name) {
  std::uint64_t n = 0;
  for (const auto& t : c.types)
    if (t.name == name) n += t.count;
  return n;
}

// Reads that take `delay` each: a census that would take seconds.
class SlowReader final : public objspy::MemoryReader {
 public:
  SlowReader(objspy::MemoryReader& m, std::chrono::microseconds delay) : m_(m), delay_(delay) {}
  objspy::Status read(RemoteAddr a, std::span<std::byte> out) override {
    std::this_thread::sleep_for(delay_);
    return m_.read(a, out);
  }

 private:
  objspy::MemoryReader& m_;
  std::chrono::microseconds delay_;
};

}  // namespace

TEST_CASE("a type counter holds at most max_types types; the rest is counted apart") {
  objspy::TypeCounter t(3);
  for (std::uint64_t k = 1; k <= 10; ++k) t.add(k * 16, k);
  CHECK(t.size() == 3);
  CHECK(t.full());
  CHECK(t.total() == 55);
  CHECK(t.other() == 55 - (1 + 2 + 3));
  CHECK(t.bump(16));
  CHECK_FALSE(t.bump(160));
  CHECK(t.total() == 56);
}

TEST_CASE("interpreters past the limit are not read; the main one always is") {
  for (auto method : kMethods) {
    CAPTURE(method == CensusMethod::scan);
    fake::Heap h(layout_for(12, 1));
    auto t = h.static_type("list");
    h.add_object(t, 2);
    std::vector<RemoteAddr> list;
    for (int i = 0; i < 9; ++i) {
      auto in = h.add_interpreter();
      h.add_object_to(in.heads[0], t);
      list.push_back(in.addr);
    }
    list.push_back(h.interp);  // CPython's order: newest first, the main one last
    h.finish();
    link_interpreters(h, list, h.interp);
    CensusLimits lim;
    lim.max_interpreters = 4;
    CensusBudget b(lim);
    auto c = census(h, method, b);
    REQUIRE(c.ok());
    REQUIRE(c->interpreters.size() == 4);
    CHECK(c->interpreters[0].index == 0);
    CHECK(c->interpreters[0].objects == 1);
    CHECK(c->total == 4);
    CHECK_FALSE(c->walk.complete);
    CHECK(c->walk.torn);
    CHECK(has_limit(*c, "more than 4 interpreters"));

    auto all = objspy::find_interpreters(h.mem, &h.map, h.layout, h.runtime, 100);
    REQUIRE(all.ok());
    CHECK_FALSE(all->truncated);
    CHECK(all->gc_states.size() == 10);
  }
}

TEST_CASE("a collection that never ends is waited for once, not once per interpreter") {
  fake::Heap h(layout_for(12, 1));
  auto t = h.static_type("list");
  h.add_object(t, 0);
  std::vector<RemoteAddr> list;
  for (int i = 0; i < 40; ++i) {
    auto in = h.add_interpreter();
    h.mem.put_u32(in.addr + h.layout.interp_gc + h.layout.gc.collecting, 1);
    list.push_back(in.addr);
  }
  list.push_back(h.interp);
  h.finish();
  link_interpreters(h, list, h.interp);
  CensusLimits lim;
  lim.collection_wait_ms = 100;
  CensusBudget b(lim);
  auto t0 = std::chrono::steady_clock::now();
  auto c = census(h, CensusMethod::walk, b);
  double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  REQUIRE(c.ok());
  CHECK(s < 1.0);  // 40 waits of 100 ms each were 4 s
  CHECK(c->walk.torn);
  std::size_t warned = 0;
  for (const auto& w : c->walk.warnings) warned += w.find("garbage collection was running") != std::string::npos;
  CHECK(warned == 40);
  CHECK(c->walk.limits.empty());  // a collection is not a budget
}

TEST_CASE("walk: lists that share one long chain cost one bound for the census, not one per list") {
  fake::Heap h(layout_for(12, 1));
  auto t = h.static_type("list");
  // A chain of K nodes ending at the main interpreter's oldest generation, where every list of
  // 8 interpreters starts: 32 lists of K nodes each.
  constexpr std::uint64_t K = 3000;
  std::vector<RemoteAddr> nodes;
  for (std::uint64_t i = 0; i < K; ++i) nodes.push_back(h.alloc(48));
  for (std::uint64_t i = 0; i < K; ++i) {
    h.mem.put_u64(nodes[i], i + 1 < K ? nodes[i + 1].value() : h.heads[2].value());
    h.mem.put_u64(nodes[i] + 8, i ? nodes[i - 1].value() : h.heads[2].value());
    h.mem.put_u64(nodes[i] + 16, 1);
    h.mem.put_u64(nodes[i] + 24, t.value());
  }
  std::vector<RemoteAddr> list;
  std::vector<std::array<RemoteAddr, 4>> heads{h.heads};
  for (int i = 0; i < 7; ++i) {
    auto in = h.add_interpreter();
    list.push_back(in.addr);
    heads.push_back(in.heads);
  }
  list.push_back(h.interp);
  h.finish();
  link_interpreters(h, list, h.interp);
  for (const auto& hs : heads)
    for (RemoteAddr head : hs) {
      h.mem.put_u64(head, nodes[0].value());
      h.mem.put_u64(head + 8, nodes[K - 1].value());
    }
  CensusLimits lim;
  lim.max_steps = 2 * K;
  CensusBudget b(lim);
  auto c = census(h, CensusMethod::walk, b);
  REQUIRE(c.ok());
  CHECK(b.steps == 2 * K);
  CHECK(c->walk.objects_reached == 2 * K);
  CHECK_FALSE(c->walk.complete);
  CHECK(has_limit(*c, "bound of 6000 objects over all lists"));

  // The default bound: the writable memory / 32 (8 MiB here: 263,168), for all 32 lists.
  CensusBudget d;
  auto reads0 = h.mem.reads();
  auto c2 = census(h, CensusMethod::walk, d);
  REQUIRE(c2.ok());
  CHECK(d.steps == 32 * K);  // under the bound (263,168): every list walked to its end
  CHECK(c2->walk.objects_reached == 32 * K);
  CHECK(h.mem.reads() - reads0 < 2 * d.steps + 10000);
}

TEST_CASE("types past max_types are counted as <other types>; the walk keeps the total") {
  for (auto method : kMethods) {
    CAPTURE(method == CensusMethod::scan);
    fake::Heap h(layout_for(13, 0));
    for (int i = 0; i < 30; ++i) {
      auto t = h.static_type("T" + std::to_string(i));
      for (int k = 0; k < 2; ++k) h.add_object(t, 2);
    }
    h.finish();
    CensusLimits lim;
    lim.max_types = 10;
    CensusBudget b(lim);
    auto c = census(h, method, b);
    REQUIRE(c.ok());
    CHECK(c->types.size() <= 11);
    CHECK_FALSE(c->walk.complete);
    CHECK(has_limit(*c, "more than 10 distinct types"));
    if (method == CensusMethod::walk) {
      CHECK(c->total == 60);
      CHECK(count_of(*c, objspy::kOtherTypes) == 40);
    } else {
      CHECK(c->total <= 60);  // the scan stops following links out of pools there
    }
  }
}

TEST_CASE("type objects that share a name make one entry; the bytes of names are bounded") {
  fake::Heap h(layout_for(11, 7));
  for (int i = 0; i < 200; ++i) h.add_object(h.static_type("mod.Same"), 1);
  std::string long_name(3000, 'x');
  for (int i = 0; i < 20; ++i) h.add_object(h.static_type(long_name + std::to_string(i)), 1);
  h.finish();
  CensusLimits lim;
  lim.max_name_bytes = 30000;
  CensusBudget b(lim);
  auto c = census(h, CensusMethod::walk, b);
  REQUIRE(c.ok());
  CHECK(c->total == 220);
  CHECK(count_of(*c, "Same") == 200);
  std::size_t same_entries = 0;
  std::uint64_t bytes = 0;
  for (const auto& t : c->types) {
    same_entries += t.name == "Same";
    bytes += t.name.size() + t.qualified.size();
  }
  CHECK(same_entries == 1);
  CHECK(bytes <= 30000 + 2 * std::string(objspy::kOtherTypes).size());
  CHECK(count_of(*c, objspy::kOtherTypes) > 0);
  CHECK(b.name_bytes <= 30000);
  CHECK(has_limit(*c, "names passed 30000 bytes"));
}

namespace {

// A dict of `n` entries with str keys "k" (one str object for all), "__module__" at `module_at`
// (none if past the end), in the layout of 3.11+.
RemoteAddr big_dict(fake::Heap& h, std::uint64_t n, std::uint64_t module_at, RemoteAddr module) {
  RemoteAddr d = h.alloc(48);
  h.mem.put_u64(d + h.layout.ob_type, h.dict_type.value());
  RemoteAddr keys = h.alloc(40 + 16 * n);
  h.mem.put_u64(keys + 8, 3 | (3 << 8) | (1 << 16));  // 8 index bytes, unicode keys
  h.mem.put_u64(keys + 24, n);
  RemoteAddr entries = keys + 40;
  RemoteAddr k = h.str("k"), m = h.str("__module__");
  for (std::uint64_t i = 0; i < n; ++i) {
    h.mem.put_u64(entries + i * 16, (i == module_at ? m : k).value());
    h.mem.put_u64(entries + i * 16 + 8, (i == module_at ? module : h.none_obj).value());
  }
  h.mem.put_u64(d + h.layout.dict_keys, keys.value());
  return d;
}

}  // namespace

TEST_CASE("dict lookups read the first and last entries of a big dict, within a budget") {
  fake::Heap h(layout_for(12, 1));
  objspy::ObjectReader objs(h.mem, h.layout);
  RemoteAddr mod = h.str("app");
  SUBCASE("__module__ first, last, in the middle") {
    for (auto [at, found] : {std::pair{0ull, true}, std::pair{9999ull, true}, std::pair{5000ull, false}}) {
      CAPTURE(at);
      RemoteAddr d = big_dict(h, 10000, at, mod);
      objspy::DictScan scan;
      auto reads0 = h.mem.reads();
      auto v = objs.dict_get(d, "__module__", &scan);
      REQUIRE(v.ok());
      CHECK(v->has_value() == found);
      CHECK(scan.cut);
      CHECK(scan.examined <= 4096);
      CHECK(h.mem.reads() - reads0 < 4096 * 8);
    }
  }
  SUBCASE("a small dict is read whole") {
    RemoteAddr d = big_dict(h, 100, 57, mod);
    objspy::DictScan scan;
    auto v = objs.dict_get(d, "__module__", &scan);
    REQUIRE(v.ok());
    CHECK(v->has_value());
    CHECK_FALSE(scan.cut);
  }
  SUBCASE("types that share a big dict: bounded per dict and in all") {
    RemoteAddr shared = big_dict(h, 20000, 10000, mod);
    for (int i = 0; i < 20; ++i) {
      auto t = h.heap_type("H" + std::to_string(i), "-");
      h.mem.put_u64(t + h.layout.tp_dict, shared.value());
      h.add_object(t, 0);
    }
    h.finish();
    CensusLimits lim;
    lim.max_dict_entries_total = 5 * 4096;
    CensusBudget b(lim);
    auto c = census(h, CensusMethod::walk, b);
    REQUIRE(c.ok());
    CHECK(c->total == 20);
    CHECK(b.dict_entries <= lim.max_dict_entries_total);
    CHECK(has_limit(*c, "dict entries examined for __module__"));
    bool told = false;
    for (const auto& w : c->walk.warnings) told = told || w.find("named without their module") != std::string::npos;
    CHECK(told);
  }
}

TEST_CASE("a census past its deadline stops where it is and says so") {
  for (auto method : kMethods) {
    CAPTURE(method == CensusMethod::scan);
    fake::Heap h(layout_for(13, 0));
    auto t = h.static_type("list");
    for (int i = 0; i < 3000; ++i) h.add_object(t, i % 3);
    h.finish();
    SlowReader slow(h.mem, std::chrono::microseconds(300));  // ~1 s for the whole census
    CensusLimits lim;
    lim.timeout_s = 0.2;
    CensusBudget b(lim);
    auto t0 = std::chrono::steady_clock::now();
    auto c = objspy::take_census(slow, slow, &h.map, h.layout, h.runtime, false, method, &b);
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    REQUIRE(c.ok());
    CHECK(s < 0.6);
    CHECK(c->total < 3000);
    CHECK_FALSE(c->walk.complete);
    CHECK(c->walk.torn);
    CHECK(has_limit(*c, "deadline of 0.2 s"));
  }
  SUBCASE("no deadline: the whole census") {
    fake::Heap h(layout_for(13, 0));
    auto t = h.static_type("list");
    for (int i = 0; i < 300; ++i) h.add_object(t, 0);
    h.finish();
    CensusLimits lim;
    lim.timeout_s = 0;
    CensusBudget b(lim);
    auto c = census(h, CensusMethod::walk, b);
    REQUIRE(c.ok());
    CHECK(c->total == 300);
    CHECK(c->walk.complete);
  }
}

TEST_CASE("a long C type name is read a page at a time, up to unmapped memory") {
  fake::Heap h(layout_for(12, 1));
  std::string name(3000, 'n');
  auto t = h.static_type(name);
  h.add_object(t, 0);
  // The same name again, ending 1 byte before the end of the heap's mapping.
  RemoteAddr at(fake::Heap::kBase + fake::Heap::kSize - name.size() - 1);
  h.mem.put_bytes(at, name);
  h.mem.put_bytes(at + name.size(), std::string(1, '\0'));
  auto t2 = h.static_type("x");
  h.mem.put_u64(t2 + h.layout.tp_name, at.value());
  h.add_object(t2, 0);
  h.finish();
  CensusBudget b;
  auto c = census(h, CensusMethod::walk, b);
  REQUIRE(c.ok());
  CHECK(c->walk.complete);
  REQUIRE(c->types.size() == 1);  // one name, one entry
  CHECK(c->types[0].name == name);
  CHECK(c->types[0].count == 2);
}
