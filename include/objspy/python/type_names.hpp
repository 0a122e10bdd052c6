// Naming types the way objgraph does: type(o).__name__, and with --qualified
// type(o).__module__ + "." + type(o).__name__ (just the name when __module__ is missing or
// empty; it is __name__, not __qualname__).
#pragma once
#include <string>
#include <unordered_map>

#include "objspy/python/budget.hpp"
#include "objspy/python/objects.hpp"

namespace objspy {

struct TypeName {
  std::string name;       // raw UTF-8 from the target: escape before printing
  std::string qualified;
  bool truncated = false; // longer than the read limit
  bool readable = true;   // false: the name could not be read (shown as <unreadable type 0x...>)
};

class TypeNamer {
 public:
  // Names longer than this many code points are cut (a hostile target could make them huge).
  static constexpr std::size_t kMaxNameChars = 1024;

  // `budget` (optional) bounds the dict entries examined for __module__, per dict and in all.
  explicit TypeNamer(ObjectReader& objs, CensusBudget* budget = nullptr) : objs_(objs), budget_(budget) {}
  // Err only for conditions that end the census (target exited, permission).
  Result<TypeName> name(RemoteAddr type);
  // Heap types named without a module because their dict was larger than the per-dict bound
  // and __module__ was not among the entries examined.
  std::uint64_t modules_not_found() const { return modules_not_found_; }

 private:
  Result<TypeName> read_name(RemoteAddr type);
  ObjectReader& objs_;
  CensusBudget* budget_;
  std::uint64_t modules_not_found_ = 0;
};

}  // namespace objspy
