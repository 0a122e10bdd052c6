// Typed field offsets for one CPython build. layout.cpp is the only place in objspy that
// knows which CPython version has which layout; everything else reads these fields.
#pragma once
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "objspy/core/result.hpp"
#include "objspy/python/debug_offsets.hpp"
#include "objspy/python/version.hpp"

namespace objspy {

enum class GcKind {
  generational,  // 3.8-3.13, 3.14.5+, 3.15: generations[0..2]
  incremental,   // 3.14.0-3.14.4: young, old[0], old[1]
};

// Where gc.get_stats() takes its figures from.
enum class GcStatsKind {
  inline_array,  // 3.8-3.14: struct gc_generation_stats generation_stats[3] inside the state
  ring_pointer,  // 3.15: a pointer to struct gc_stats, ring buffers of per-collection records
  unknown,       // a geometry objspy does not know (the target's _Py_DebugOffsets disagree)
};

// 3.15's struct gc_stats (Include/internal/pycore_interp_structs.h): per generation a ring of
// cumulative records and the index of the newest; update_seq is a sequence lock (odd while a
// collection writes a record, two more after it).
struct GcStatsRing {
  std::uint64_t size = 1120;                     // sizeof(struct gc_stats)
  std::uint64_t record_size = 64;                // sizeof(struct gc_generation_stats)
  std::array<std::uint64_t, 3> items{};          // young.items, old[0].items, old[1].items
  std::array<std::uint32_t, 3> slots{};          // records per ring: 11, 3, 3
  std::array<std::uint64_t, 3> index{};          // int8_t index of the newest record
  std::uint64_t update_seq = 1112;               // uint32_t
  // Inside a record.
  std::uint64_t collections = 16, collected = 24, uncollectable = 32, candidates = 40, duration = 48;
};

struct GcLayout {
  GcKind kind = GcKind::generational;
  std::uint64_t size = 0;                    // sizeof(struct _gc_runtime_state)
  std::array<std::uint64_t, 3> heads{};      // list sentinels, in gc.get_objects() order
  std::uint64_t permanent = 0;               // permanent_generation (gc.freeze())
  std::optional<std::uint64_t> generation0;  // a pointer CPython keeps to heads[0]
  std::uint64_t collecting = 0;              // int, 1 while a collection runs
  std::uint64_t list_stride = 24;            // sizeof(struct gc_generation)

  // The collector's own figures (the gc module's functions). Offsets into the state, except
  // threshold and count, which are into each struct gc_generation, from its list head (so they
  // follow heads found through generation0, as on Debian's 3.13).
  std::uint64_t enabled = 0;                 // int: gc.isenabled()
  std::uint64_t debug = 0;                   // int: gc.get_debug() flags
  std::uint64_t threshold = 16;              // int, per generation: gc.get_threshold()
  std::uint64_t count = 20;                  // int, per generation: gc.get_count()
  std::uint64_t garbage = 0;                 // PyObject*: the gc.garbage list
  std::uint64_t callbacks = 0;               // PyObject*: the gc.callbacks list
  GcStatsKind stats_kind = GcStatsKind::inline_array;
  std::uint64_t stats = 0;                   // the inline array, or the pointer to struct gc_stats
  std::uint64_t stats_stride = 24;           // inline: {Py_ssize_t collections, collected, uncollectable}
  GcStatsRing ring;                          // ring_pointer only
  // 3.14.0-3.14.4: int visited_space, which of old[0] and old[1] gc.get_count() lists second.
  std::optional<std::uint64_t> visited_space;
  bool oldest_threshold_zero = false;        // 3.14.0-3.14.4: gc.get_threshold()[2] is always 0
  std::string stats_note;                    // why stats_kind is unknown
};

// PyListObject (gc.garbage, gc.callbacks): ob_size is Layout::ob_size.
struct ListLayout {
  std::uint64_t ob_item = 24;   // PyObject **
};

struct StrLayout {
  std::uint64_t length = 16;      // Py_ssize_t, code points
  std::uint64_t state = 32;       // bit field word
  std::uint64_t ascii_size = 0;   // sizeof(PyASCIIObject): compact ASCII data follows
  std::uint64_t compact_size = 0; // sizeof(PyCompactUnicodeObject): compact data follows;
                                  // also where PyUnicodeObject.data sits for non-compact strings
};

// PyDictKeysObject: only what a scan of the entries needs.
struct DictKeysLayout {
  bool log2_sizes = true;        // 3.11+: u8 dk_log2_size, dk_log2_index_bytes, dk_kind at `size`;
                                 // 3.8-3.10: Py_ssize_t dk_size at `size`, index width by dk_size
  std::uint64_t size = 8;
  std::uint64_t nentries = 24;
  std::uint64_t indices = 32;    // the index array; entries follow it
};

// pymalloc (Objects/obmalloc.c), the allocator of every object up to 512 bytes. Arenas are
// carved into POOL_SIZE-aligned pools of one size class; each pool starts with a 48-byte
// pool_header (same fields and offsets 3.8-3.15): ref.count u32 +0, freeblock +8, nextpool +16,
// prevpool +24, arenaindex u32 +32, szidx u32 +36, nextoffset u32 +40, maxnextoffset u32 +44.
struct PymallocLayout {
  std::uint64_t pool_size = 16384;       // 4 KiB in 3.8-3.9, 16 KiB from 3.10 (radix-tree builds)
  std::uint64_t pool_overhead = 48;      // POOL_OVERHEAD: blocks start here
  std::uint64_t alignment = 16;          // ALIGNMENT on 64-bit since 3.8: block size (szidx+1)*16
  std::uint32_t size_classes = 32;       // SMALL_REQUEST_THRESHOLD 512 / ALIGNMENT
};

// How a code object gives the slots frame.__sizeof__ and gen.__sizeof__ count.
enum class FrameSlots {
  cells_and_frees,        // 3.8-3.10: co_stacksize + co_nlocals + len(co_cellvars) + len(co_freevars)
  nlocalsplus_stacksize,  // 3.11: co_nlocalsplus + co_stacksize
  framesize,              // 3.12+: co_framesize - FRAME_SPECIALS_SIZE
};

// What sys.getsizeof(o) reads, by version (docs/getsizeof.md: every formula with its C source,
// offsets from DWARF, checked against sys.getsizeof on 3.8.18-3.13.0 and sid's 3.13-3.15).
// Offsets are from the object's start (after PyGC_Head).
struct SizeofLayout {
  std::uint64_t tp_basicsize = 32, tp_itemsize = 40, tp_mro = 344;  // PyTypeObject, 3.8-3.15
  std::uint64_t tuple_items = 24;  // PyTupleObject.ob_item: 32 from 3.14 (ob_hash cached before it)
  // Flags whose types get two words before PyGC_Head, which getsizeof adds: 3.11 managed
  // dict (1<<4); 3.12+ managed dict or managed weakref (1<<3 | 1<<4); none before 3.11.
  std::uint64_t preheader_flags = 0;
  std::uint64_t list_allocated = 32;                                // PyListObject
  std::uint64_t set_mask = 32, set_table = 40, set_smalltable = 64, set_entry = 16;
  std::uint64_t deque_leftindex = 40, deque_block = 528, deque_blocklen = 64;
  std::uint64_t odict_first = 48, odict_fast_nodes_size = 72, odict_node = 32;
  std::uint64_t dict_used = 16;                                     // ma_used
  // PyDictKeysObject: 3.8-3.10 sizeof 40, entries of 24, dk_size (Py_ssize_t) at 8, no
  // unicode kind; 3.11+ sizeof 32, entries 24 (general) or 16 (unicode), u8 log2 sizes at 8
  // and 9, u8 dk_kind at 10, dk_usable at 16, dk_nentries at 24.
  std::uint64_t keys_size = 32, keys_usable = 16;
  // type.__sizeof__: fixed sizeof(PyHeapTypeObject) (+ its cached keys) for heap types.
  std::uint64_t heap_type_size = 0, ht_cached_keys = 0;
  // frame.__sizeof__. 3.8-3.10: sizeof(PyFrameObject) + (stacksize + nlocals + cells + frees
  // - 1) words, from f_code. 3.11+: a fixed part + the code's slots, from f_frame's code.
  FrameSlots frame_slots = FrameSlots::framesize;
  std::uint64_t frame_code = 32;                 // 3.8-3.10 f_code; 3.11+ f_frame
  std::uint64_t frame_base = 0;                  // the fixed part (3.8-3.10: sizeof(PyFrameObject))
  std::uint64_t iframe_code = 0;                 // 3.11+: the code pointer in _PyInterpreterFrame
  std::uint64_t code_ptr_mask = ~std::uint64_t{7};  // 3.14+: a tagged _PyStackRef
  // PyCodeObject. 3.8-3.10: int co_nlocals 28, int co_stacksize 32, co_freevars 80,
  // co_cellvars 88. 3.11: int co_stacksize 68, int co_nlocalsplus 76. 3.12+: int co_framesize 76,
  // less FRAME_SPECIALS_SIZE slots.
  std::uint64_t co_nlocals = 28, co_stacksize = 32, co_freevars = 80, co_cellvars = 88;
  std::uint64_t co_nlocalsplus = 0, co_framesize = 0, frame_specials = 0;
  // generator/coroutine/async_generator.__sizeof__ (3.11+ only): fixed part + code's slots;
  // the code at gen_code (3.11 gi_code) or in gi_iframe (3.12+).
  bool gen_sizeof = false;
  std::uint64_t gen_base = 0, gen_code = 0;
  // str (for str subclasses): sizeof(PyUnicodeObject), utf8_length, utf8, data.any; <= 3.11
  // wstr and wstr_length too.
  std::uint64_t unicode_size = 0, utf8_length = 0, utf8 = 0, data_any = 0, wstr = 0, wstr_length = 0;
  bool int_min_one_digit = false;                // 3.11+: int.__sizeof__ counts at least one digit
  bool str_ready_bit = false;                    // <= 3.11: PyASCIIObject.state has `ready` (bit 7)
  std::uint64_t bytearray_alloc = 24;            // ob_alloc
  bool bytearray_backed = false;                 // 3.15: charged as its backing bytes object
  std::uint64_t bytes_header = 33;               // offsetof(PyBytesObject, ob_sval) + 1
  std::uint64_t bytesio_buf = 16;                // _io.BytesIO buf (a bytes object)
  std::uint64_t buffered_buffer = 56, buffered_buffer_size = 120;  // _io.Buffered*
  std::uint64_t array_allocated = 32, array_descr = 40, descr_itemsize = 4;  // array.array
  // _struct.Struct: bs + sizeof(formatcode) * (codes + 1); s_codes at 32, formatcode 32 bytes
  // whose fmtdef (+0) is NULL at the end (3.8-3.15).
  std::uint64_t struct_codes = 32, formatcode_size = 32;
};

// Where an instance keeps its attributes, 3.11+ (cpython-internals.md §5.4: the pre-header).
enum class ManagedDict {
  none,        // 3.8-3.10: the instance dict at tp_dictoffset
  split_3_11,  // 3.11: values pointer at obj - 32, dict pointer at obj - 24
  tagged_3_12, // 3.12: one word at obj - 24: a dict, or (low bit set) a values pointer - 1 (_PyDictOrValues_GetValues)
  inline_3_13, // 3.13+: dict pointer at obj - 24; Py_TPFLAGS_INLINE_VALUES: values after tp_basicsize
};

// What the referents of an object (gc.get_referents, and the words around it) are read from.
// PyTypeObject offsets are the same 3.8-3.15 (GIL builds; DWARF-checked by dwarf_layout_test).
struct ReferentLayout {
  std::uint64_t tp_weaklistoffset = 208, tp_base = 256, tp_dictoffset = 288, tp_bases = 336;
  std::uint64_t md_dict = 16;            // PyModuleObject.md_dict
  // collections.deque: its items in blocks of SizeofLayout::deque_blocklen, from leftblock at
  // leftindex; a block is { leftlink, data[blocklen], rightlink } (3.8-3.15).
  std::uint64_t deque_leftblock = 24;
  ManagedDict managed = ManagedDict::none;
  std::uint64_t managed_dict_flag = 1u << 4;  // Py_TPFLAGS_MANAGED_DICT (3.11+)
  std::uint64_t inline_values_flag = 0;       // Py_TPFLAGS_INLINE_VALUES: 1 << 2 (3.13+)
  // A split dict's values: 3.8-3.10 a PyObject *[]; 3.11-3.12 PyDictValues { values[] };
  // 3.13+ { u8 capacity, size, embedded, valid; values[] }: the array at +8.
  std::uint64_t values_array = 0;
  std::uint64_t values_valid = 0;        // 3.13+: the `valid` byte (3); 0: none
  // PyCodeObject's object fields (its other words are counts, ids and C pointers: read
  // conservatively they could name an object by chance; co_weakreflist is weak).
  struct Field {
    std::uint64_t offset;
    const char* name;
  };
  std::vector<Field> code_fields;
};

// pymalloc's bookkeeping (Objects/obmalloc.c; cpython-internals.md §7). 3.8-3.11: file-static
// globals (PythonImage::allocator); 3.12: struct _obmalloc_state inside PyInterpreterState;
// 3.13+: a pointer to it there. The state's fields (offsets below) and struct arena_object
// (48 bytes: address 0, pool_address 8, nfreepools u32 16) are the same 3.8-3.15.
struct ObmallocLayout {
  std::optional<std::uint64_t> interp_state;      // 3.12: the embedded state's offset
  std::optional<std::uint64_t> interp_state_ptr;  // 3.13+: the pointer's offset (release builds)
  std::uint64_t arenas = 512, maxarenas = 520, narenas_current = 1064, ntimes_allocated = 1072, highwater = 1080;
  std::uint64_t arena_size = 1 << 20;             // 256 KiB in 3.8-3.9
  std::uint64_t arena_object_size = 48, arena_pool_address = 8, arena_nfreepools = 16;
};

struct Layout {
  PyVersion version;
  std::string source;  // where the offsets came from, for --verbose
  bool from_debug_offsets = false;  // apply_debug_offsets overlaid the target's own offsets
  bool gc_stats_from_debug_offsets = false;  // 3.15+: the statistics pointer's offset too
  // How much of `sizes` the target published: 0 none; 1 tuple items (3.13+); 2 and the set's
  // table and mask (3.14+); 3 and tp_basicsize, the heap type's size and cached keys (3.15+).
  int sizes_from_debug_offsets = 0;

  // _PyRuntimeState
  std::uint64_t rt_interpreters_head = 0;
  std::uint64_t rt_interpreters_main = 0;
  std::optional<std::uint64_t> rt_gc;  // 3.8: one GC state in the runtime
  // PyInterpreterState
  std::uint64_t interp_next = 0;
  std::uint64_t interp_gc = 0;
  std::uint64_t interp_sysdict = 0;
  std::uint64_t interp_size_hint = 0;  // how far to scan when validating a table offset
  GcLayout gc;
  // Objects
  std::uint64_t gc_head_size = 16;     // PyGC_Head, before the PyObject
  std::uint64_t ob_type = 8;
  std::uint64_t ob_size = 16;          // PyVarObject
  std::uint64_t tp_name = 24;
  std::uint64_t tp_flags = 168;
  std::uint64_t tp_dict = 264;
  std::uint64_t ht_name = 0;           // PyHeapTypeObject.ht_name
  StrLayout str;
  std::uint64_t dict_keys = 32;
  std::uint64_t dict_values = 40;
  DictKeysLayout dict_keys_object;
  ListLayout list;
  bool long_has_lv_tag = false;        // 3.12+: digit count in lv_tag >> 3, not ob_size
  std::uint64_t long_digits = 24;
  // The bits of the first object word that hold the reference count: 3.14+ keep ob_overflow
  // and ob_flags in its upper 16 bits.
  std::uint64_t refcnt_mask = ~std::uint64_t{0};
  PymallocLayout pymalloc;
  SizeofLayout sizes;
  ObmallocLayout obmalloc;
  ReferentLayout refs;
};

// Type flag bits (same values 3.8-3.15).
inline constexpr std::uint64_t kTpFlagsHeapType = 1ULL << 9;
inline constexpr std::uint64_t kTpFlagsHaveGc = 1ULL << 14;
inline constexpr std::uint64_t kTpFlagsListSubclass = 1ULL << 25;
inline constexpr std::uint64_t kTpFlagsTypeSubclass = 1ULL << 31;

// The lowest and highest minor version objspy reads.
inline constexpr int kMinMinor = 8;
inline constexpr int kMaxMinor = 15;
bool minor_supported(const PyVersion& v);

// Whether _PyRuntime of this version starts with _Py_DebugOffsets.
bool has_debug_offsets(const PyVersion& v);

// The built-in table for a version (major.minor, and micro where a patch release changed the
// layout). Err: unsupported_version.
Result<Layout> builtin_layout(const PyVersion& v);

// Overlay what the target publishes about itself (3.13+) on the built-in table, and check the
// two agree where the table's knowledge (GC list heads) depends on them.
Result<Layout> apply_debug_offsets(Layout base, const DebugOffsets& d);

// One field of a layout as `objspy info` lists it: the C field (or size) as CPython names it,
// its offset (or size) in bytes, and where objspy took it from.
struct LayoutField {
  std::string name;
  std::uint64_t value = 0;
  std::string source;  // "_Py_DebugOffsets", "built-in table", ...
};
// The fields a census reads, with their provenance.
std::vector<LayoutField> describe_layout(const Layout& l);

}  // namespace objspy
