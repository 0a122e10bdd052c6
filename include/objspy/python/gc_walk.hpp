// Walking one GC list: every node checked, bounded, loop-safe. A list that breaks
// mid-walk ends that list with a reason; it never crashes or loops.
#pragma once
#include <string>
#include <unordered_map>
#include <vector>

#include "objspy/core/remote_addr.hpp"
#include "objspy/process/maps.hpp"
#include "objspy/process/reader.hpp"
#include "objspy/python/layout.hpp"

namespace objspy {

// Counts by type object address. A flat open-addressing table: the walk increments it once
// per object, so it must be cheap.
class TypeCounter {
 public:
  TypeCounter();
  void add(std::uint64_t type, std::uint64_t n = 1);
  // Count one more for a type already present; false if the type is not in the table yet.
  bool bump(std::uint64_t type);
  template <class F>
  void for_each(F&& f) const {
    for (const auto& e : slots_)
      if (e.type) f(e.type, e.count);
  }
  std::uint64_t total() const { return total_; }

 private:
  struct Entry { std::uint64_t type = 0; std::uint64_t count = 0; };
  Entry* probe(std::uint64_t type);  // the type's slot, or the empty slot where it would go
  void grow();
  std::vector<Entry> slots_;
  std::size_t used_ = 0;
  std::uint64_t total_ = 0;
  Entry* last_ = nullptr;  // consecutive objects often share a type
};

// Decides, once per address, whether an ob_type value is a real GC-capable type: its own
// type must be a metatype (Py_TPFLAGS_TYPE_SUBCLASS) and it must have Py_TPFLAGS_HAVE_GC.
class TypeValidator {
 public:
  TypeValidator(MemoryReader& mem, const MemoryMap* map, const Layout& l) : mem_(mem), map_(map), l_(l) {}
  Result<bool> valid(RemoteAddr type);

 private:
  MemoryReader& mem_;
  const MemoryMap* map_;
  const Layout& l_;
  std::unordered_map<std::uint64_t, bool> cache_;
};

struct ListResult {
  std::uint64_t objects = 0;
  std::uint64_t broken_links = 0;  // a node whose back link does not point where we came from
  bool complete = true;
  std::string problem;             // why the walk stopped early
};

struct WalkContext {
  MemoryReader& mem;
  const MemoryMap* map;
  const Layout& layout;
  TypeValidator& types;
  std::vector<RemoteAddr> known_heads;  // every sentinel: reaching another one means a splice
  std::uint64_t max_steps;              // hard bound on nodes per list
};

// Walk the list at sentinel `head`, adding each object's type to `counts`.
// Errors only for conditions that end the whole census (target exited, permission).
Result<ListResult> walk_gc_list(WalkContext& ctx, RemoteAddr head, TypeCounter& counts);

}  // namespace objspy
