#include <doctest/doctest.h>

#include <cstring>
#include <tuple>
#include <vector>

#include "objspy/python/debug_offsets.hpp"
#include "objspy/python/layout.hpp"

namespace {

// A 3.14 block with the values Debian's 3.14.10 publishes.
std::vector<std::byte> block314() {
  std::vector<std::byte> b(objspy::debug_offsets_block_size(14));
  auto put = [&](std::size_t off, std::uint64_t v) { std::memcpy(b.data() + off, &v, 8); };
  std::memcpy(b.data(), "xdebugpy", 8);
  put(8, 0x030E0AF0);
  put(24, 316616); put(40, 808);
  put(48, 225864); put(64, 7272); put(88, 7408); put(104, 7672);
  put(400, 16); put(408, 8);
  put(416, 416); put(424, 24); put(440, 168);
  put(616, 64); put(624, 32); put(632, 16); put(640, 40);
  put(528, 48); put(536, 32); put(544, 40);
  put(648, 264); put(656, 192);
  put(472, 40); put(480, 24); put(488, 16);  // list_object
  put(448, 40); put(456, 32);                // tuple_object
  put(496, 200); put(512, 40); put(520, 32); // set_object: size, table, mask
  return b;
}

// A 3.15 block with the values Debian's 3.15.2 publishes (read from its .PyRuntime section).
std::vector<std::byte> block315() {
  std::vector<std::byte> b(objspy::debug_offsets_block_size(15));
  auto put = [&](std::size_t off, std::uint64_t v) { std::memcpy(b.data() + off, &v, 8); };
  std::memcpy(b.data(), "xdebugpy", 8);
  put(8, 51315440); put(24, 346568); put(40, 936); put(48, 226240); put(64, 7264); put(88, 7400); put(104, 7576);
  put(464, 16); put(472, 8); put(480, 424); put(488, 24); put(504, 168);
  put(712, 64); put(720, 32); put(728, 16); put(736, 40);
  put(624, 48); put(632, 32); put(640, 40);
  put(752, 176); put(760, 112);
  put(568, 40); put(576, 24); put(584, 16);
  put(776, 1120); put(784, 104);  // gc.generation_stats_size, gc.generation_stats
  put(544, 40); put(552, 32);                 // tuple_object
  put(592, 200); put(608, 40); put(616, 32);  // set_object
  put(512, 32); put(528, 944); put(536, 888); // type_object.tp_basicsize, heap_type_object
  return b;
}

void put(std::vector<std::byte>& b, std::size_t off, std::uint64_t v) { std::memcpy(b.data() + off, &v, 8); }

// The 3.14.10 table overlaid with block `b` (which must decode).
objspy::Result<objspy::Layout> overlay314(const std::vector<std::byte>& b) {
  auto d = objspy::parse_debug_offsets(b, 14);
  REQUIRE(d.ok());
  return objspy::apply_debug_offsets(*objspy::builtin_layout(objspy::PyVersion{3, 14, 10}), *d);
}

}  // namespace

TEST_CASE("a valid 3.14 block decodes and overlays the table") {
  auto d = objspy::parse_debug_offsets(block314(), 14);
  REQUIRE(d.ok());
  CHECK(d->interp_gc == 7408);
  auto l = objspy::apply_debug_offsets(*objspy::builtin_layout(objspy::PyVersion{3, 14, 10}), *d);
  REQUIRE(l.ok());
  CHECK(l->interp_gc == 7408);
  CHECK(l->gc.kind == objspy::GcKind::generational);
  CHECK(l->source.find("_Py_DebugOffsets") != std::string::npos);
}

TEST_CASE("gc.size 240 selects the 3.14.0-3.14.4 incremental layout") {
  auto b = block314();
  put(b, 648, 240);
  auto l = overlay314(b);
  REQUIRE(l.ok());
  CHECK(l->gc.kind == objspy::GcKind::incremental);
  CHECK_FALSE(l->gc.generation0.has_value());
}

TEST_CASE("lying offsets are rejected, each with the field named") {
  struct Case { std::size_t off; std::uint64_t value; const char* field; };
  for (Case c : {Case{0, 0x4141414141414141ULL, "cookie"}, Case{8, 0x030D00F0, "version"}, Case{24, 1ULL << 40, "runtime_state.size"},
                 Case{40, 400000, "interpreters_head"}, Case{88, 225860, "interpreter_state.gc"}, Case{408, 16, "pyobject.ob_type"},
                 Case{424, 1ULL << 62, "tp_name"}, Case{648, 0, "gc.size"}, Case{656, 5000, "gc.collecting"}, Case{16, 7, "free_threaded"},
                 Case{472, 0, "list_object.size"}, Case{480, 36, "list_object.ob_item"}, Case{488, 1ULL << 63, "list_object.ob_size"}}) {
    CAPTURE(c.field);
    auto b = block314();
    put(b, c.off, c.value);
    auto d = objspy::parse_debug_offsets(b, 14);
    REQUIRE_FALSE(d.ok());
    CHECK(d.error().code == objspy::Errc::corrupt_target);
    if (std::string(c.field) != "cookie") CHECK(d.error().message.find(c.field) != std::string::npos);
  }
}

TEST_CASE("free-threaded builds are refused as unsupported, not misread") {
  auto b = block314();
  put(b, 16, 1);
  auto l = overlay314(b);
  REQUIRE_FALSE(l.ok());
  CHECK(l.error().code == objspy::Errc::unsupported_version);
  CHECK(l.error().message.find("free-threaded") != std::string::npos);
}

TEST_CASE("short blocks and unknown minors") {
  auto b = block314();
  b.resize(100);
  CHECK_FALSE(objspy::parse_debug_offsets(b, 14).ok());
  CHECK(objspy::debug_offsets_block_size(16) == 0);
  CHECK(objspy::parse_debug_offsets(block314(), 16).error().code == objspy::Errc::unsupported_version);
}

TEST_CASE("3.15: the statistics pointer comes from the block; a ring of another size is left unread") {
  auto d = objspy::parse_debug_offsets(block315(), 15);
  REQUIRE(d.ok());
  CHECK(d->gc_generation_stats == 104);
  CHECK(d->gc_generation_stats_size == 1120);
  CHECK(d->list_ob_item == 24);
  auto base = *objspy::builtin_layout(objspy::PyVersion{3, 15, 2});
  auto l = objspy::apply_debug_offsets(base, *d);
  REQUIRE(l.ok());
  CHECK(l->gc.stats_kind == objspy::GcStatsKind::ring_pointer);
  CHECK(l->gc.stats == 104);
  auto b = block315();
  put(b, 776, 1112);  // an earlier 3.15 build's struct gc_stats, without update_seq
  d = objspy::parse_debug_offsets(b, 15);
  REQUIRE(d.ok());
  l = objspy::apply_debug_offsets(base, *d);
  REQUIRE(l.ok());  // the census goes on without the statistics
  CHECK(l->gc.stats_kind == objspy::GcStatsKind::unknown);
  CHECK(l->gc.stats_note.find("1112 bytes") != std::string::npos);
  for (auto [off, value, field] : {std::tuple{776, 0ULL, "gc.generation_stats_size"}, std::tuple{776, 1ULL << 30, "gc.generation_stats_size"},
                                   std::tuple{784, 172ULL, "gc.generation_stats"}}) {
    CAPTURE(field);
    auto bad = block315();
    put(bad, static_cast<std::size_t>(off), value);
    auto r = objspy::parse_debug_offsets(bad, 15);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().message.find(field) != std::string::npos);
  }
}

TEST_CASE("a list whose ob_size is not PyVarObject's is refused") {
  auto b = block314();
  put(b, 488, 24);
  auto d = objspy::parse_debug_offsets(b, 14);
  REQUIRE(d.ok());
  auto l = objspy::apply_debug_offsets(*objspy::builtin_layout(objspy::PyVersion{3, 14, 10}), *d);
  REQUIRE_FALSE(l.ok());
  CHECK(l.error().code == objspy::Errc::corrupt_target);
}

TEST_CASE("describe_layout names where each field came from: the table alone, or the target's _Py_DebugOffsets over it") {
  auto source_of = [](const std::vector<objspy::LayoutField>& fields, const std::string& name) {
    for (const auto& f : fields)
      if (f.name == name) return f.source;
    return std::string("(absent)");
  };
  const auto table = objspy::describe_layout(*objspy::builtin_layout(objspy::PyVersion{3, 12, 1}));
  REQUIRE(table.size() > 20);
  for (const auto& f : table) CHECK(f.source == "built-in table");
  CHECK(source_of(table, "_PyRuntimeState.interpreters.head") == "built-in table");

  auto d = objspy::parse_debug_offsets(block315(), 15);
  REQUIRE(d.ok());
  auto l = objspy::apply_debug_offsets(*objspy::builtin_layout(objspy::PyVersion{3, 15, 2}), *d);
  REQUIRE(l.ok());
  const auto fields = objspy::describe_layout(*l);
  CHECK(source_of(fields, "_PyRuntimeState.interpreters.head") == "_Py_DebugOffsets");
  CHECK(source_of(fields, "PyListObject.ob_item") == "_Py_DebugOffsets");
  CHECK(source_of(fields, "_gc_runtime_state.generation_stats") == "_Py_DebugOffsets");  // 3.15 publishes it
  CHECK(source_of(fields, "GC list head 0") == "built-in table");
  CHECK(source_of(fields, "_gc_runtime_state.collecting") == "built-in table, checked against _Py_DebugOffsets");
  for (const auto& f : fields)
    if (f.name == "PyListObject.ob_item") CHECK(f.value == l->list.ob_item);
}

TEST_CASE("3.15: what sys.getsizeof reads comes from the block where the target publishes it; a section that lies is dropped") {
  auto b = block315();
  put(b, 528, 1000);  // a heap type that says it is 1000 bytes
  put(b, 536, 900);   // with its cached keys at 900
  put(b, 552, 40);    // tuple items at 40
  auto d = objspy::parse_debug_offsets(b, 15);
  REQUIRE(d.ok());
  auto l = objspy::apply_debug_offsets(*objspy::builtin_layout(objspy::PyVersion{3, 15, 2}), *d);
  REQUIRE(l.ok());
  CHECK(l->sizes.heap_type_size == 1000);
  CHECK(l->sizes.ht_cached_keys == 900);
  CHECK(l->sizes.tuple_items == 40);
  CHECK(l->sizes.set_table == 40);
  bool named = false;
  for (const auto& f : objspy::describe_layout(*l))
    if (f.name == "sizeof(PyHeapTypeObject)") named = f.source == "_Py_DebugOffsets" && f.value == 1000;
  CHECK(named);
  // The cached keys past the end of the object: that section is dropped, the table's values
  // stay, the rest of the block is used.
  put(b, 536, 996);
  auto lie = objspy::parse_debug_offsets(b, 15);
  REQUIRE(lie.ok());
  CHECK(lie->heap_type_size == 0);
  auto kept = objspy::apply_debug_offsets(*objspy::builtin_layout(objspy::PyVersion{3, 15, 2}), *lie);
  REQUIRE(kept.ok());
  CHECK(kept->sizes.heap_type_size == 944);
  CHECK(kept->sizes.ht_cached_keys == 888);
  CHECK(kept->sizes.tuple_items == 40);
  CHECK(kept->sizes_from_debug_offsets == 2);
  // A block with none of them (tuple_object.size 0): all from the table, nothing refused.
  put(b, 544, 0);
  auto none = objspy::parse_debug_offsets(b, 15);
  REQUIRE(none.ok());
  auto table = objspy::apply_debug_offsets(*objspy::builtin_layout(objspy::PyVersion{3, 15, 2}), *none);
  REQUIRE(table.ok());
  CHECK(table->sizes.tuple_items == 32);
  CHECK(table->sizes_from_debug_offsets == 0);
}
