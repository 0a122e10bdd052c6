#include "objspy/python/debug_offsets.hpp"

#include <cstring>
#include <vector>

#include <fmt/format.h>

namespace objspy {
namespace {

// Where each field sits inside the block, per minor version: the block's shape changes
// between minors (3.13: 584 bytes, 3.14: 760, 3.15: 888; verified with gdb `ptype /o`
// on 3.13.0, 3.13.18, 3.14.10, 3.15.2 release and debug builds).
struct BlockShape {
  std::size_t block_size;
  std::size_t runtime_size, interpreters_head;
  std::size_t interp_size, interp_next, interp_gc, interp_sysdict;
  std::size_t pyobject_size, ob_type;
  std::size_t type_size, tp_name, tp_flags;
  std::size_t unicode_size, unicode_state, unicode_length, ascii_size;
  std::size_t dict_size, ma_keys, ma_values;
  std::size_t gc_size, gc_collecting;
  std::size_t list_size, list_ob_item, list_ob_size;
  std::size_t gc_generation_stats_size, gc_generation_stats;  // 0: not in this version's block
  std::size_t tuple_size, tuple_ob_item;                      // 3.13+
  std::size_t set_size, set_table, set_mask;                  // 3.14+ (0: not published)
  std::size_t tp_basicsize, heap_type_size, ht_cached_keys;   // 3.15+
};

// list_object: 3.13 at 424, 3.14 at 472, 3.15 at 568; gc.generation_stats_size and
// gc.generation_stats exist from 3.15 (776, 784).
// tuple_object at 400 / 448 / 544; set_object at 496 (3.14) / 592 (3.15: table 608, mask 616);
// type_object.tp_basicsize at 512 and heap_type_object at 528 (3.15) (gdb `ptype /o struct
// _Py_DebugOffsets` of sid's 3.13.18, 3.14.10, 3.15.2).
constexpr BlockShape kShape313{584, 24, 40, 48, 64, 80, 96, 352, 360, 368, 376, 392, 536, 544, 552, 560, 448, 456, 464, 568, 576,
                               424, 432, 440, 0, 0, 400, 408, 0, 0, 0, 0, 0, 0};
constexpr BlockShape kShape314{760, 24, 40, 48, 64, 88, 104, 400, 408, 416, 424, 440, 616, 624, 632, 640, 528, 536, 544, 648, 656,
                               472, 480, 488, 0, 0, 448, 456, 496, 512, 520, 0, 0, 0};
constexpr BlockShape kShape315{888, 24, 40, 48, 64, 88, 104, 464, 472, 480, 488, 504, 712, 720, 728, 736, 624, 632, 640, 752, 760,
                               568, 576, 584, 776, 784, 544, 552, 592, 608, 616, 512, 528, 536};

const BlockShape* shape_for(int minor) {
  switch (minor) {
    case 13: return &kShape313;
    case 14: return &kShape314;
    case 15: return &kShape315;
    default: return nullptr;
  }
}

// Largest plausible sizes: a tenfold margin over what 3.13-3.15 use, and small enough that a
// lying size cannot make objspy read or allocate much.
constexpr std::uint64_t kMaxRuntime = 4u << 20, kMaxInterp = 4u << 20, kMaxObject = 4096, kMaxGc = 4096, kMaxGcStats = 64u << 10;

}  // namespace

std::size_t debug_offsets_block_size(int minor) {
  const BlockShape* s = shape_for(minor);
  return s ? s->block_size : 0;
}

Result<DebugOffsets> parse_debug_offsets(std::span<const std::byte> block, int minor) {
  const BlockShape* s = shape_for(minor);
  if (!s) return make_error(Errc::unsupported_version, fmt::format("no _Py_DebugOffsets layout known for 3.{}", minor));
  if (block.size() < s->block_size) return make_error(Errc::corrupt_target, "_Py_DebugOffsets block is short");
  if (std::memcmp(block.data(), kDebugCookie, 8) != 0)
    return make_error(Errc::corrupt_target, "_PyRuntime does not start with the _Py_DebugOffsets cookie \"xdebugpy\"");
  auto at = [&](std::size_t off) {
    std::uint64_t v;
    std::memcpy(&v, block.data() + off, 8);
    return v;
  };
  DebugOffsets d;
  d.version = at(8);
  d.free_threaded = at(16);
  d.runtime_size = at(s->runtime_size);
  d.interpreters_head = at(s->interpreters_head);
  d.interp_size = at(s->interp_size);
  d.interp_next = at(s->interp_next);
  d.interp_gc = at(s->interp_gc);
  d.interp_sysdict = at(s->interp_sysdict);
  d.pyobject_size = at(s->pyobject_size);
  d.ob_type = at(s->ob_type);
  d.type_size = at(s->type_size);
  d.tp_name = at(s->tp_name);
  d.tp_flags = at(s->tp_flags);
  d.unicode_size = at(s->unicode_size);
  d.unicode_state = at(s->unicode_state);
  d.unicode_length = at(s->unicode_length);
  d.ascii_size = at(s->ascii_size);
  d.dict_size = at(s->dict_size);
  d.ma_keys = at(s->ma_keys);
  d.ma_values = at(s->ma_values);
  d.gc_size = at(s->gc_size);
  d.gc_collecting = at(s->gc_collecting);
  d.list_size = at(s->list_size);
  d.list_ob_item = at(s->list_ob_item);
  d.list_ob_size = at(s->list_ob_size);
  if (s->gc_generation_stats) {
    d.gc_generation_stats_size = at(s->gc_generation_stats_size);
    d.gc_generation_stats = at(s->gc_generation_stats);
  }
  d.tuple_size = at(s->tuple_size);
  d.tuple_ob_item = at(s->tuple_ob_item);
  if (s->set_size) {
    d.set_size = at(s->set_size);
    d.set_table = at(s->set_table);
    d.set_mask = at(s->set_mask);
  }
  if (s->tp_basicsize) {
    d.tp_basicsize = at(s->tp_basicsize);
    d.heap_type_size = at(s->heap_type_size);
    d.ht_cached_keys = at(s->ht_cached_keys);
  }

  auto bad = [](std::string_view what, std::uint64_t v) {
    return make_error(Errc::corrupt_target, fmt::format("the target's _Py_DebugOffsets are invalid: {} = {:#x}", what, v));
  };
  if (((d.version >> 24) & 0xFF) != 3 || static_cast<int>((d.version >> 16) & 0xFF) != minor) return bad("version", d.version);
  if (d.free_threaded > 1) return bad("free_threaded", d.free_threaded);
  struct Section { std::string_view name; std::uint64_t size; std::uint64_t max; };
  struct Field { std::string_view name; std::uint64_t off; std::uint64_t width; const Section* in; };
  const Section rt{"runtime_state.size", d.runtime_size, kMaxRuntime};
  const Section is{"interpreter_state.size", d.interp_size, kMaxInterp};
  const Section ob{"pyobject.size", d.pyobject_size, kMaxObject};
  const Section ty{"type_object.size", d.type_size, kMaxObject};
  const Section un{"unicode_object.size", d.unicode_size, kMaxObject};
  const Section di{"dict_object.size", d.dict_size, kMaxObject};
  const Section gc{"gc.size", d.gc_size, kMaxGc};
  const Section li{"list_object.size", d.list_size, kMaxObject};
  for (const Section* sec : {&rt, &is, &ob, &ty, &un, &di, &gc, &li})
    if (sec->size == 0 || sec->size > sec->max) return bad(sec->name, sec->size);
  const Field fields[] = {
      {"runtime_state.interpreters_head", d.interpreters_head, 8, &rt},
      {"interpreter_state.next", d.interp_next, 8, &is},
      {"interpreter_state.gc", d.interp_gc, d.gc_size, &is},
      {"interpreter_state.sysdict", d.interp_sysdict, 8, &is},
      {"pyobject.ob_type", d.ob_type, 8, &ob},
      {"type_object.tp_name", d.tp_name, 8, &ty},
      {"type_object.tp_flags", d.tp_flags, 8, &ty},
      {"unicode_object.state", d.unicode_state, 4, &un},
      {"unicode_object.length", d.unicode_length, 8, &un},
      {"unicode_object.asciiobject_size", d.ascii_size, 0, &un},
      {"dict_object.ma_keys", d.ma_keys, 8, &di},
      {"dict_object.ma_values", d.ma_values, 8, &di},
      {"gc.collecting", d.gc_collecting, 4, &gc},
      {"list_object.ob_item", d.list_ob_item, 8, &li},
      {"list_object.ob_size", d.list_ob_size, 8, &li},
  };
  for (const Field& f : fields)
    if (f.off > f.in->size || f.width > f.in->size - f.off) return bad(f.name, f.off);
  // The sizing fields are optional: sizes only, not the census, depend on them. A section
  // that is missing or inconsistent is dropped (size 0: the table's values stay), with the
  // sections after it.
  auto inside = [](std::uint64_t size, std::uint64_t off, std::uint64_t width) {
    return size != 0 && size <= kMaxObject && off <= size && width <= size - off;
  };
  bool ok = inside(d.tuple_size, d.tuple_ob_item, 0);
  if (!ok) d.tuple_size = 0;
  ok = ok && inside(d.set_size, d.set_table, 8) && inside(d.set_size, d.set_mask, 8);
  if (!ok) d.set_size = 0;
  ok = ok && inside(d.heap_type_size, d.ht_cached_keys, 8) && inside(d.type_size, d.tp_basicsize, 8);
  if (!ok) d.heap_type_size = 0;
  if (s->gc_generation_stats) {
    const Section st{"gc.generation_stats_size", d.gc_generation_stats_size, kMaxGcStats};
    if (st.size == 0 || st.size > st.max) return bad(st.name, st.size);
    const Field f{"gc.generation_stats", d.gc_generation_stats, 8, &gc};
    if (f.off > f.in->size || f.width > f.in->size - f.off) return bad(f.name, f.off);
  }
  return d;
}

}  // namespace objspy
