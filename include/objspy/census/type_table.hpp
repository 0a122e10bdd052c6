// Census::types from the type objects a census counted: every type named once, entries
// shared by types of the same name as they are named, bounded in entries, bytes of names and
// time (python/budget.hpp). What is past a bound is counted under "<other types>".
#pragma once
#include "objspy/census/census.hpp"
#include "objspy/core/result.hpp"
#include "objspy/python/budget.hpp"
#include "objspy/python/gc_walk.hpp"
#include "objspy/python/objects.hpp"
#include "objspy/python/sizes.hpp"

namespace objspy {

// Fill c.types (and name warnings) from the counts of objects in the lists (`live`) and in
// the permanent generation (`frozen`). Limits that run out are recorded in `budget`.
// Err only for conditions that end the census (target exited, permission).
// `meter` (optional): the sizes were measured; which types' sizes are estimates.
Status name_types(Census& c, const TypeCounter& live, const TypeCounter& frozen, ObjectReader& objs, CensusBudget& budget,
                  const SizeMeter* meter = nullptr);

}  // namespace objspy
