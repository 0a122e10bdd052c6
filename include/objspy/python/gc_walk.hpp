// Walking one GC list: every node checked, bounded, loop-safe. A list that breaks
// mid-walk ends that list with a reason; it never crashes or loops.
#pragma once
#include <string>
#include <unordered_map>
#include <vector>

#include "objspy/core/flat_map.hpp"
#include "objspy/core/remote_addr.hpp"
#include "objspy/process/maps.hpp"
#include "objspy/process/reader.hpp"
#include "objspy/python/budget.hpp"
#include "objspy/python/layout.hpp"

namespace objspy {

// Counts by type object address. A flat open-addressing table: the walk increments it once
// per object, so it must be cheap. It holds at most `max_types` types: objects of any further
// type are counted in other() (a target with a million types costs a bounded table).
class TypeCounter {
 public:
  explicit TypeCounter(std::size_t max_types = static_cast<std::size_t>(-1));
  void add(std::uint64_t type, std::uint64_t n = 1);
  // Count one more for a type already present; false if the type is not in the table yet.
  bool bump(std::uint64_t type);
  // The tag of the type bump() or add() last counted (set_tag): what a census keeps per type
  // for its hot loop (whether its objects are sized one by one).
  std::uint8_t last_tag() const { return last_ ? last_->tag : 0; }
  void set_tag(std::uint64_t type, std::uint8_t tag);
  // Bytes (sys.getsizeof) of objects of a type: added per object or per type. A type not in
  // the table (past max_types) adds to other_bytes().
  void add_bytes(std::uint64_t type, std::uint64_t bytes);
  template <class F>
  void for_each(F&& f) const {
    for (const auto& e : slots_)
      if (e.type) f(e.type, e.count);
  }
  template <class F>
  void for_each_bytes(F&& f) const {
    for (const auto& e : slots_)
      if (e.type) f(e.type, e.count, e.bytes);
  }
  std::uint64_t bytes_of(std::uint64_t type) const;
  std::uint64_t total() const { return total_; }
  std::uint64_t other() const { return other_; }  // objects of types past max_types
  std::uint64_t other_bytes() const { return other_bytes_; }
  std::size_t size() const { return used_; }
  bool full() const { return used_ >= max_types_; }

 private:
  struct Entry {
    std::uint64_t type = 0;
    std::uint64_t count = 0;
    std::uint64_t bytes = 0;
    std::uint8_t tag = 0;
  };
  Entry* probe(std::uint64_t type);  // the type's slot, or the empty slot where it would go
  const Entry* find(std::uint64_t type) const;
  void grow();
  std::vector<Entry> slots_;
  std::size_t used_ = 0;
  std::size_t max_types_;
  std::uint64_t total_ = 0;
  std::uint64_t other_ = 0;
  std::uint64_t other_bytes_ = 0;
  Entry* last_ = nullptr;  // consecutive objects often share a type
};

// Decides, once per address, whether an ob_type value is a real GC-capable type: its own
// type must be a metatype (Py_TPFLAGS_TYPE_SUBCLASS) and it must have Py_TPFLAGS_HAVE_GC.
// Remembers at most `max_cached` answers (past that, a type is checked again each time).
class TypeValidator {
 public:
  // `gc_types_only`: a type of an object on a GC list has Py_TPFLAGS_HAVE_GC; objects found
  // otherwise (objspy heap: str, int, float) need only a type whose own type is a type.
  TypeValidator(MemoryReader& mem, const MemoryMap* map, const Layout& l, std::size_t max_cached = 1u << 20, bool gc_types_only = true)
      : mem_(mem), map_(map), l_(l), max_cached_(max_cached), gc_only_(gc_types_only) {}
  Result<bool> valid(RemoteAddr type);

 private:
  MemoryReader& mem_;
  const MemoryMap* map_;
  const Layout& l_;
  std::size_t max_cached_;
  bool gc_only_ = true;
  FlatMap cache_;  // type -> 1 valid, 0 not
};

struct ListResult {
  std::uint64_t objects = 0;
  std::uint64_t broken_links = 0;  // a node whose back link does not point where we came from
  bool complete = true;
  std::string problem;             // why the walk stopped early
};

// Every list sentinel of a census, for a constant-time test per step: a node that is another
// list's head means a splice (a collection moved objects, or a hostile target).
class HeadSet {
 public:
  void add(RemoteAddr h);
  bool contains(std::uint64_t a) const { return a >= lo_ && a <= hi_ && set_.find(a) != FlatMap::kNone; }

 private:
  FlatMap set_;
  std::uint64_t lo_ = ~std::uint64_t{0}, hi_ = 0;  // most nodes are outside the heads' range
};

struct WalkContext {
  MemoryReader& mem;
  const MemoryMap* map;
  const Layout& layout;
  TypeValidator& types;
  const HeadSet& known_heads;  // every sentinel: reaching another one means a splice
  CensusBudget& budget;        // steps over all lists (limits().max_steps, resolved), deadline
  std::uint64_t max_steps;     // hard bound on nodes over all lists of the census
  class SizeMeter* meter = nullptr;  // sizes the objects counted (sys.getsizeof), if set
  bool frozen_list = false;          // the list walked is the permanent generation
  // If set, every object counted (its address and type), for analyses of every object.
  std::vector<std::pair<std::uint64_t, std::uint64_t>>* objects = nullptr;
};

// Walk the list at sentinel `head`, adding each object's type to `counts`. A list cut short
// by the census's step budget or deadline ends incomplete, with the budget recorded.
// Errors only for conditions that end the whole census (target exited, permission).
Result<ListResult> walk_gc_list(WalkContext& ctx, RemoteAddr head, TypeCounter& counts);

}  // namespace objspy
