// sys.getsizeof from outside: for every object a census counts, the value getsizeof(o) would
// return inside the target (docs/getsizeof.md has each formula with its C source, per
// version). A type's __sizeof__ is found as CPython finds it, the first type of its MRO whose
// dict has one; the builtins' formulas are known, an unknown one (Python code, a third-party
// extension) is replaced by object.__sizeof__ and the type marked as estimated.
//
// Objects whose size is the same for the whole type (instances, functions, ...) are sized per
// type: count x size. The others (lists, dicts, sets, tuples, deques, frames, ...) are sized
// one by one from a few words of each object, which the scan reads with the object's header;
// what needs more (a dict's key table, a frame's code object) is read afterwards, grouped.
#pragma once
#include <cstdint>
#include <optional>
#include <vector>

#include "objspy/core/flat_map.hpp"
#include "objspy/core/result.hpp"
#include "objspy/process/reader.hpp"
#include "objspy/python/budget.hpp"
#include "objspy/python/gc_walk.hpp"
#include "objspy/python/layout.hpp"

namespace objspy {

enum class SizeKind : std::uint8_t {
  fixed,     // object.__sizeof__ of a type without items: tp_basicsize
  var,       // object.__sizeof__ with items: tp_basicsize + ob_size * tp_itemsize
  list, set, deque, int_sub, dict, odict, type, frame, gen, str_sub, bytearray_sub, bytesio, buffered, array, struct_format,
};

struct TypeSizing {
  std::uint64_t type = 0;
  SizeKind kind = SizeKind::fixed;
  std::uint64_t basicsize = 0, itemsize = 0;
  std::uint64_t pre = 0;     // what getsizeof adds to __sizeof__: PyGC_Head and the pre-header
  std::uint64_t flags = 0;   // tp_flags
  bool estimate = false;     // __sizeof__ not computable from outside: object.__sizeof__ used
  std::uint64_t base() const { return basicsize + pre; }
  bool per_object() const { return kind != SizeKind::fixed; }
};

// Words of an object at +16, +32 and +40 from its start, read with its header by a scan.
struct BodyWords {
  std::uint64_t w16 = 0, w32 = 0, w40 = 0;
};

struct SizeLimits {
  std::size_t max_direct = 1u << 16;     // of those, objects needing reads one at a time
  std::size_t max_types = 100000;        // types classified; past it, object.__sizeof__
};

class SizeMeter {
 public:
  // `mem` answers the reads of types and code objects (a cache); `bulk` (default `mem`) the
  // grouped reads of many objects' words and dict key tables (the target directly).
  // `budget` (optional): past its counting deadline no more types are classified (their
  // objects are sized as object.__sizeof__ would, marked estimated).
  SizeMeter(MemoryReader& mem, const Layout& l, SizeLimits lim = {}, MemoryReader* bulk = nullptr, CensusBudget* budget = nullptr)
      : mem_(mem), bulk_(bulk ? *bulk : mem), l_(l), lim_(lim), budget_(budget) {}

  // How objects of `type` (a validated type) are sized; cached. Err only for conditions that
  // end the census; a type that cannot be read is sized as object.__sizeof__, estimated.
  Result<const TypeSizing*> sizing(std::uint64_t type);
  // One object counted in `into`; `words` when read with its header, else read later if its
  // kind needs them. Adds to `into` what it can now, the rest in finish().
  // Objects of the GC lists only: frozen objects (gc.freeze()) are counted, not sized; no
  // output shows their bytes, and a preforking server freezes everything it imported.
  Status object(std::uint64_t obj, std::uint64_t type, const BodyWords* words, TypeCounter& into);
  // Size what object() deferred, and add count x size for the fixed-size types. `budget`
  // (optional): past its deadline what is left is counted at its fixed part.
  Status finish(TypeCounter& live, CensusBudget* budget);

  // Objects counted at their fixed part only: their memory did not read as a live object's
  // (freed under a busy census), or a bound was reached.
  std::uint64_t unmeasured() const { return unmeasured_; }
  // Whether objects of `type` were sized by object.__sizeof__ in place of their own.
  bool estimated(std::uint64_t type) const;

  // The formulas, exposed for unit tests: __sizeof__ + pre of one object from its words.
  // nullopt when the words are not a live object's.
  std::optional<std::uint64_t> from_words(const TypeSizing& s, std::uint64_t obj, const BodyWords& w) const;

 private:
  // An object sized after the count: 24 bytes (a heap can hold millions).
  struct Deferred {
    std::uint64_t obj;
    std::uint64_t keys;      // frames, generators, ...: the next address to read, once the body is
    std::uint32_t sizing;    // index in sizings_
    SizeKind kind;
  };
  Result<std::uint8_t> own_sizeof(std::uint64_t t);  // 0 none, 1 + kind, kEstimate, kObject
  Status classify(std::uint64_t type, TypeSizing& out);
  // A dict whose words were read: its key table still to read. 16 bytes: a heap holds
  // hundreds of thousands of dicts.
  struct DictRef {
    std::uint64_t keys;
    std::uint32_t sizing;  // index in sizings_
    bool has_values;
  };
  Status size_dicts(std::vector<DictRef>& dicts, bool expired);
  Status flush_bodies();
  Status flush_dicts();
  static constexpr std::size_t kBatch = 1u << 16;  // objects sized together (1.5 MiB of them)
  void count_unmeasured(const DictRef& d);
  Status size_direct(Deferred& d);
  Result<std::optional<std::uint64_t>> code_slots(std::uint64_t code);
  std::optional<std::uint64_t> keys_bytes(const std::byte* k) const;     // _PyDict_KeysSize
  std::optional<std::uint64_t> values_bytes(const std::byte* k) const;   // a split dict's values
  void count_unmeasured(const Deferred& d);
  TypeCounter* live_ = nullptr;     // the counter the objects being sized were counted in


  MemoryReader& mem_;
  MemoryReader& bulk_;
  const Layout& l_;
  SizeLimits lim_;
  CensusBudget* budget_;
  FlatMap index_;                    // type -> sizings_ index
  std::vector<TypeSizing> sizings_;
  FlatMap own_;                      // type -> own_sizeof() answer
  FlatMap code_slots_;               // code object -> slots + 1 (0: unreadable)
  std::vector<Deferred> deferred_;
  std::vector<DictRef> dicts_;
  std::uint64_t unmeasured_ = 0;
  bool unclassified_ = false;  // types were left unclassified (a bound or the deadline)
  std::size_t direct_ = 0;
  std::size_t direct_planned_ = 0;  // objects whose bodies were read for reads one at a time
};

}  // namespace objspy
