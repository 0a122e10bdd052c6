// The layout tables. Offsets verified with gdb `ptype /o` against DWARF of: pyenv 3.8.18,
// 3.9.18, 3.10.13, 3.11.7, 3.12.1, 3.13.0 (shared libpython); Debian 3.11.2 and its Py_DEBUG
// build python3.11d; Debian sid 3.13.18, 3.14.10, 3.15.2 and their Py_DEBUG builds.
// tests/integration checks them at run time against every interpreter found on the machine.
#include "objspy/python/layout.hpp"

#include <fmt/format.h>

namespace objspy {
namespace {

// struct _gc_runtime_state, classic generational layout (3.8-3.13): 240 bytes,
// generations at 24/48/72, generation0 pointer at 96, permanent at 104, collecting at 200.
// Debian's 3.13 packages lower the alignment of PyGC_Head (gh-127545 patch), which moves the
// generations to 20/44/68; locate.cpp follows the generation0 pointer to find them.
// The gc module's figures: enabled 12, debug 16, generation_stats[3] at 128 (24 bytes each:
// collections, collected, uncollectable), garbage 208, callbacks 216 (DWARF of every build
// listed at the top; Debian's 3.13 differs only in the generations).
GcLayout classic_gc() {
  GcLayout g;
  g.kind = GcKind::generational;
  g.size = 240;
  g.heads = {24, 48, 72};
  g.permanent = 104;
  g.generation0 = 96;
  g.collecting = 200;
  g.enabled = 12;
  g.debug = 16;
  g.stats = 128;
  g.garbage = 208;
  g.callbacks = 216;
  return g;
}

// 3.15's struct gc_stats behind the pointer (DWARF of Debian's 3.15.2 and 3.15.2d): 1120
// bytes; young.items[11] at 0 with its index at 704, old[0].items[3] at 712 / 904, old[1] at
// 912 / 1104, update_seq at 1112; records of 64 bytes (ts_start, ts_stop, collections 16,
// collected 24, uncollectable 32, candidates 40, duration 48, heap_size 56). gc_get_stats()
// returns the record at each ring's index (verified in its machine code).
GcStatsRing ring_315() {
  GcStatsRing r;
  r.size = 1120;
  r.record_size = 64;
  r.items = {0, 712, 912};
  r.slots = {11, 3, 3};
  r.index = {704, 904, 1104};
  r.update_seq = 1112;
  return r;
}

}  // namespace

bool minor_supported(const PyVersion& v) { return v.major == 3 && v.minor >= kMinMinor && v.minor <= kMaxMinor; }

bool has_debug_offsets(const PyVersion& v) { return v.major == 3 && v.minor >= 13; }

Result<Layout> builtin_layout(const PyVersion& v) {
  if (!minor_supported(v))
    return make_error(Errc::unsupported_version,
                      fmt::format("Python {} is not supported: objspy reads CPython 3.{} to 3.{}", v.str(), kMinMinor, kMaxMinor));
  Layout l;
  l.version = v;
  l.source = "built-in table";
  const bool pre312 = v.minor < 12;
  l.str.ascii_size = pre312 ? 48 : 40;         // 3.12 dropped wstr
  l.str.compact_size = pre312 ? 72 : 56;
  if (v.minor < 11) l.dict_keys_object = DictKeysLayout{false, 8, 32, 40};  // dk_size, dk_nentries, indices
  l.list.ob_item = 24;  // PyListObject.ob_item, 3.8-3.15 (DWARF; _Py_DebugOffsets.list_object from 3.13)
  l.long_has_lv_tag = v.minor >= 12;
  l.gc = classic_gc();
  // Pools grew to 16 KiB with the radix tree (3.10, bpo-37448); 4 KiB (one page) before.
  l.pymalloc.pool_size = v.minor < 10 ? 4096 : 16384;
  if (v.minor >= 14) l.refcnt_mask = 0x0000FFFFFFFFFFFFULL;  // ob_refcnt u32, ob_overflow u16, ob_flags u16
  switch (v.minor) {
    case 8:
      l.rt_interpreters_head = 32;
      l.rt_gc = 344;  // 3.8 keeps one GC state in _PyRuntime
      l.interp_next = 0;
      l.interp_sysdict = 72;
      l.interp_size_hint = 2720;
      l.ht_name = 848;
      break;
    case 9:
      l.rt_interpreters_head = 32;
      l.interp_next = 0;
      l.interp_gc = 616;
      l.interp_sysdict = 872;
      l.interp_size_hint = 5656;
      l.ht_name = 840;
      break;
    case 10:
      l.rt_interpreters_head = 32;
      l.interp_next = 0;
      l.interp_gc = 616;
      l.interp_sysdict = 872;
      l.interp_size_hint = 8192;
      l.ht_name = 848;
      break;
    case 11:
      l.rt_interpreters_head = 40;
      l.interp_next = 0;
      l.interp_gc = 648;
      l.interp_sysdict = 904;
      l.interp_size_hint = 8192;
      l.ht_name = 848;
      break;
    case 12:
      l.rt_interpreters_head = 40;
      l.interp_next = 0;
      l.interp_gc = 112;
      l.interp_sysdict = 352;
      l.interp_size_hint = 8192;
      l.ht_name = 856;
      break;
    case 13:
      // Interpreter offsets come from _Py_DebugOffsets; these are 3.13.0's, for validation.
      l.rt_interpreters_head = 632;
      l.interp_next = 7264;
      l.interp_gc = 7400;
      l.interp_sysdict = 7640;
      l.interp_size_hint = 16384;
      l.ht_name = 856;
      break;
    case 14:
      l.rt_interpreters_head = 808;
      l.interp_next = 7272;
      l.interp_gc = 7408;
      l.interp_sysdict = 7672;
      l.interp_size_hint = 16384;
      l.ht_name = 856;
      if (v.exact() && v.micro < 5) {
        // 3.14.0-3.14.4 shipped the incremental collector (reverted in 3.14.5): young, old[0],
        // old[1], permanent; no generation0 pointer. From CPython's 3.14.0 source (no binary
        // of those releases to verify against; the gc.size check guards it).
        l.gc.kind = GcKind::incremental;
        l.gc.size = 240;
        l.gc.heads = {24, 48, 72};
        l.gc.permanent = 96;
        l.gc.generation0.reset();
        l.gc.collecting = 192;
        // enabled 12, debug 16 as before; generation_stats[3] at 120, garbage 200, callbacks
        // 208, visited_space 232 (the incremental gc.c: gc.get_count() is young.count,
        // old[visited_space].count, old[visited_space ^ 1].count).
        l.gc.stats = 120;
        l.gc.garbage = 200;
        l.gc.callbacks = 208;
        l.gc.visited_space = 232;
        l.gc.oldest_threshold_zero = true;  // its gc_get_threshold_impl returns 0 for old[1]
      } else {
        // 3.14.5+: generational again, ABI-compatible struct with fields appended (264 bytes).
        l.gc.size = 264;
        l.gc.heads = {24, 48, 72};
        l.gc.permanent = 96;
        l.gc.generation0 = 256;
        l.gc.collecting = 192;
        // DWARF of 3.14.10 and 3.14.10d: generation_stats[3] at 120, garbage 200, callbacks 208.
        l.gc.stats = 120;
        l.gc.garbage = 200;
        l.gc.callbacks = 208;
      }
      break;
    case 15:
      l.rt_interpreters_head = 936;
      l.interp_next = 7264;
      l.interp_gc = 7400;
      l.interp_sysdict = 7576;
      l.interp_size_hint = 16384;
      l.ht_name = 864;
      // 3.15: trashcan fields left the GC state (176 bytes).
      l.gc.size = 176;
      l.gc.heads = {8, 32, 56};
      l.gc.permanent = 80;
      l.gc.generation0 = 168;
      l.gc.collecting = 112;
      // enabled 0, debug 4; generation_stats a pointer at 104 (also published in
      // _Py_DebugOffsets.gc.generation_stats), garbage 128, callbacks 136.
      l.gc.enabled = 0;
      l.gc.debug = 4;
      l.gc.stats_kind = GcStatsKind::ring_pointer;
      l.gc.stats = 104;
      l.gc.ring = ring_315();
      l.gc.garbage = 128;
      l.gc.callbacks = 136;
      break;
    default:
      break;
  }
  // Referents: where instances keep their attributes (cpython-internals.md §5.4).
  ReferentLayout& r = l.refs;
  r.managed = v.minor < 11 ? ManagedDict::none : v.minor == 11 ? ManagedDict::split_3_11 : v.minor == 12 ? ManagedDict::tagged_3_12 : ManagedDict::inline_3_13;
  // PyCodeObject's object fields, from DWARF (3.8.18-3.13.0 pyenv, 3.14d/3.15d sid).
  if (v.minor <= 10)
    r.code_fields = {{48, "co_code"}, {56, "co_consts"}, {64, "co_names"}, {72, "co_varnames"}, {80, "co_freevars"},
                     {88, "co_cellvars"}, {104, "co_filename"}, {112, "co_name"}, {120, v.minor == 10 ? "co_linetable" : "co_lnotab"}};
  else
    r.code_fields = {{24, "co_consts"}, {32, "co_names"}, {40, "co_exceptiontable"}, {96, "co_localsplusnames"}, {104, "co_localspluskinds"},
                     {112, "co_filename"}, {120, "co_name"}, {128, "co_qualname"}, {136, "co_linetable"}};
  if (v.minor == 11) r.code_fields.push_back({152, "_co_code"});
  if (v.minor >= 13) {
    r.inline_values_flag = 1u << 2;
    r.values_array = 8;
    r.values_valid = 3;
  }
  // sys.getsizeof: docs/getsizeof.md, each figure from DWARF of the builds listed at the top.
  SizeofLayout& z = l.sizes;
  z.preheader_flags = v.minor < 11 ? 0 : v.minor == 11 ? (1u << 4) : (1u << 3) | (1u << 4);
  if (v.minor < 11) { z.keys_size = 40; z.keys_usable = 24; }
  if (v.minor >= 14) z.tuple_items = 32;
  static constexpr std::uint64_t kHeapTypeSize[] = {880, 880, 888, 904, 920, 928, 936, 944};
  static constexpr std::uint64_t kCachedKeys[] = {872, 864, 872, 872, 880, 880, 880, 888};
  z.heap_type_size = kHeapTypeSize[v.minor - 8];
  z.ht_cached_keys = kCachedKeys[v.minor - 8];
  z.frame_slots = v.minor < 11 ? FrameSlots::cells_and_frees : v.minor == 11 ? FrameSlots::nlocalsplus_stacksize : FrameSlots::framesize;
  z.int_min_one_digit = v.minor >= 11;  // Py_MAX(Py_ABS(Py_SIZE(self)), 1) from 3.11
  z.str_ready_bit = v.minor < 12;       // PEP 623 removed it with wstr
  if (v.minor < 11) {
    z.frame_code = 32;
    z.frame_base = v.minor < 10 ? 368 : 360;
  } else {
    z.frame_code = 24;  // f_frame
    z.iframe_code = v.minor == 11 ? 32 : 0;
    // offsetof(PyFrameObject, _f_frame_data) + offsetof(_PyInterpreterFrame, localsplus)
    static constexpr std::uint64_t kFrameBase[] = {120, 120, 136, 152, 152};
    z.frame_base = kFrameBase[v.minor - 11];
    z.gen_sizeof = true;
    // offsetof(PyGenObject, gi_iframe) + offsetof(_PyInterpreterFrame, localsplus)
    z.gen_base = v.minor == 11 ? 152 : v.minor < 14 ? 144 : 152;
    z.gen_code = v.minor == 11 ? 16 : 72;  // gi_code; gi_iframe.f_code / f_executable
    if (v.minor == 11) {
      z.co_stacksize = 68;
      z.co_nlocalsplus = 76;
    } else {
      z.co_framesize = 76;
      z.frame_specials = v.minor < 14 ? 9 : 10;  // (sizeof(_PyInterpreterFrame) - 1) / 8
    }
  }
  z.unicode_size = pre312 ? 80 : 64;
  z.utf8_length = pre312 ? 48 : 40;
  z.utf8 = pre312 ? 56 : 48;
  z.data_any = pre312 ? 72 : 56;
  if (pre312) { z.wstr = 40; z.wstr_length = 64; }
  z.bytearray_backed = v.minor >= 15;
  // pymalloc's state (cpython-internals.md §7.1, DWARF of the release builds listed at the top).
  l.obmalloc.arena_size = v.minor < 10 ? (256u << 10) : (1u << 20);
  if (v.minor == 12) l.obmalloc.interp_state = 3960;
  if (v.minor >= 13) l.obmalloc.interp_state_ptr = v.minor == 13 ? 10800 : v.minor == 14 ? 10904 : 10880;
  // interpreters.main follows interpreters.head in every version 3.8-3.15.
  l.rt_interpreters_main = l.rt_interpreters_head + 8;
  return l;
}

Result<Layout> apply_debug_offsets(Layout l, const DebugOffsets& d) {
  if (d.free_threaded)
    return make_error(Errc::unsupported_version,
                      fmt::format("Python {} is a free-threaded build (no GC lists; objects live in mimalloc heaps), which objspy does not read yet",
                                  l.version.str()));
  if (d.pyobject_size != 16 || d.ob_type != l.ob_type)
    return make_error(Errc::corrupt_target, fmt::format("unexpected PyObject layout in _Py_DebugOffsets (size {}, ob_type {})", d.pyobject_size, d.ob_type));
  l.source = "_Py_DebugOffsets + built-in table";
  l.from_debug_offsets = true;
  l.rt_interpreters_head = d.interpreters_head;
  l.rt_interpreters_main = d.interpreters_head + 8;  // not published; adjacent in 3.13-3.15
  l.interp_next = d.interp_next;
  l.interp_gc = d.interp_gc;
  l.interp_sysdict = d.interp_sysdict;
  l.interp_size_hint = d.interp_size;
  l.tp_name = d.tp_name;
  l.tp_flags = d.tp_flags;
  l.str.length = d.unicode_length;
  l.str.state = d.unicode_state;
  l.str.ascii_size = d.ascii_size;
  l.dict_keys = d.ma_keys;
  l.dict_values = d.ma_values;
  if (d.list_ob_size != l.ob_size)
    return make_error(Errc::corrupt_target, fmt::format("unexpected list layout in _Py_DebugOffsets (ob_size at {})", d.list_ob_size));
  l.list.ob_item = d.list_ob_item;
  // What sys.getsizeof reads, where the target publishes it (python/sizes.cpp). Optional: a
  // block that leaves them out (or a section parse_debug_offsets found inconsistent) keeps
  // the table's values; only sizes depend on them, not the census.
  if (d.tuple_size) {
    l.sizes.tuple_items = d.tuple_ob_item;
    l.sizes_from_debug_offsets = 1;
    if (d.set_size) {
      l.sizes.set_table = d.set_table;
      l.sizes.set_mask = d.set_mask;
      l.sizes_from_debug_offsets = 2;
      if (d.heap_type_size) {
        l.sizes.tp_basicsize = d.tp_basicsize;
        l.sizes.heap_type_size = d.heap_type_size;
        l.sizes.ht_cached_keys = d.ht_cached_keys;
        l.sizes_from_debug_offsets = 3;
      }
    }
  }
  // The GC state's size tells the incremental (240) and reverted (264) 3.14 layouts apart
  // even where the micro version would not.
  if (l.version.minor == 14 && (d.gc_size == 240 || d.gc_size == 264)) {
    PyVersion pick = l.version;
    pick.micro = d.gc_size == 240 ? 0 : 5;
    l.gc = builtin_layout(pick)->gc;
  }
  if (d.gc_size != l.gc.size)
    return make_error(Errc::unsupported_version,
                      fmt::format("Python {}: GC state is {} bytes, objspy knows a {}-byte layout for this version", l.version.str(), d.gc_size, l.gc.size));
  if (d.gc_collecting != l.gc.collecting)
    return make_error(Errc::unsupported_version,
                      fmt::format("Python {}: gc.collecting at {}, objspy expects {}", l.version.str(), d.gc_collecting, l.gc.collecting));
  // 3.15+: the target says where its statistics pointer is and how big what it points to is.
  // A size objspy does not know is a ring geometry it cannot read: statistics are left out,
  // the census goes on.
  if (d.gc_generation_stats_size && l.gc.stats_kind == GcStatsKind::ring_pointer) {
    l.gc.stats = d.gc_generation_stats;
    l.gc_stats_from_debug_offsets = true;
    if (d.gc_generation_stats_size != l.gc.ring.size) {
      l.gc.stats_kind = GcStatsKind::unknown;
      l.gc.stats_note = fmt::format("the target's struct gc_stats is {} bytes; objspy reads the {}-byte layout of Python 3.{}",
                                    d.gc_generation_stats_size, l.gc.ring.size, l.version.minor);
    }
  }
  return l;
}

std::vector<LayoutField> describe_layout(const Layout& l) {
  // Which fields apply_debug_offsets takes from the target: keep the two in step.
  const std::string table = "built-in table";
  const std::string target = l.from_debug_offsets ? "_Py_DebugOffsets" : table;
  const std::string checked = l.from_debug_offsets ? "built-in table, checked against _Py_DebugOffsets" : table;
  std::vector<LayoutField> f;
  auto add = [&](std::string name, std::uint64_t value, const std::string& source) { f.push_back({std::move(name), value, source}); };
  add("_PyRuntimeState.interpreters.head", l.rt_interpreters_head, target);
  add("_PyRuntimeState.interpreters.main", l.rt_interpreters_main, l.from_debug_offsets ? "interpreters.head + 8" : table);
  if (l.rt_gc) add("_PyRuntimeState.gc", *l.rt_gc, table);
  add("PyInterpreterState.next", l.interp_next, target);
  add("PyInterpreterState.gc", l.interp_gc, target);
  add("PyInterpreterState.sysdict", l.interp_sysdict, target);
  add("sizeof(PyGC_Head)", l.gc_head_size, table);
  add("PyObject.ob_type", l.ob_type, checked);
  add("PyVarObject.ob_size", l.ob_size, checked);
  add("PyTypeObject.tp_name", l.tp_name, target);
  add("PyTypeObject.tp_flags", l.tp_flags, target);
  add("PyTypeObject.tp_dict", l.tp_dict, table);
  add("PyHeapTypeObject.ht_name", l.ht_name, table);
  add("PyASCIIObject.length", l.str.length, target);
  add("PyASCIIObject.state", l.str.state, target);
  add("sizeof(PyASCIIObject)", l.str.ascii_size, target);
  add("sizeof(PyCompactUnicodeObject)", l.str.compact_size, table);
  add("PyDictObject.ma_keys", l.dict_keys, target);
  add("PyDictObject.ma_values", l.dict_values, target);
  add("PyListObject.ob_item", l.list.ob_item, target);
  add("sizeof(struct _gc_runtime_state)", l.gc.size, checked);
  for (std::size_t g = 0; g < l.gc.heads.size(); ++g) add(fmt::format("GC list head {}", g), l.gc.heads[g], table);
  add("_gc_runtime_state.permanent_generation", l.gc.permanent, table);
  if (l.gc.generation0) add("_gc_runtime_state.generation0", *l.gc.generation0, table);
  add("_gc_runtime_state.collecting", l.gc.collecting, checked);
  add("_gc_runtime_state.enabled", l.gc.enabled, table);
  add("_gc_runtime_state.garbage", l.gc.garbage, table);
  add("_gc_runtime_state.callbacks", l.gc.callbacks, table);
  add("_gc_runtime_state.generation_stats", l.gc.stats,
      l.gc_stats_from_debug_offsets ? "_Py_DebugOffsets" : table);
  add("pymalloc pool size", l.pymalloc.pool_size, table);
  // What sys.getsizeof reads (python/sizes.cpp) and pymalloc's state (python/allocator.cpp).
  const SizeofLayout& z = l.sizes;
  // 1: tuple items from the target (3.13+); 2: and the set's table (3.14+); 3: and the type's (3.15+).
  auto from = [&](int level) { return l.sizes_from_debug_offsets >= level ? std::string("_Py_DebugOffsets") : table; };
  add("PyTypeObject.tp_basicsize", z.tp_basicsize, from(3));
  add("PyTypeObject.tp_itemsize", z.tp_itemsize, table);
  add("PyTypeObject.tp_mro", z.tp_mro, table);
  add("PyTupleObject.ob_item", z.tuple_items, from(1));
  add("PyListObject.allocated", z.list_allocated, table);
  add("PySetObject.table", z.set_table, from(2));
  add("PySetObject.mask", z.set_mask, from(2));
  add("sizeof(PyDictKeysObject)", z.keys_size, table);
  add("sizeof(PyHeapTypeObject)", z.heap_type_size, from(3));
  add("PyHeapTypeObject.ht_cached_keys", z.ht_cached_keys, from(3));
  add("frame.__sizeof__ fixed part", z.frame_base, table);
  if (z.gen_sizeof) add("generator.__sizeof__ fixed part", z.gen_base, table);
  if (l.obmalloc.interp_state) add("PyInterpreterState.obmalloc (embedded)", *l.obmalloc.interp_state, table);
  if (l.obmalloc.interp_state_ptr) add("PyInterpreterState.obmalloc (pointer)", *l.obmalloc.interp_state_ptr, table);
  add("pymalloc arena size", l.obmalloc.arena_size, table);
  return f;
}

}  // namespace objspy
