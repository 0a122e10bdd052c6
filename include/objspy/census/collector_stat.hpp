// The collector's figures as the census model holds them: garbage types named, and the
// warnings a census gives about the collector itself.
#pragma once
#include <string>
#include <vector>

#include "objspy/census/census.hpp"
#include "objspy/python/collector.hpp"
#include "objspy/python/type_names.hpp"

namespace objspy {

// How many distinct types of gc.garbage's items are named; the rest are counted together.
inline constexpr std::size_t kMaxGarbageTypes = 200;

// Err only for conditions that end the census (target exited, permission).
Result<CollectorStat> collector_stat(const CollectorFigures& f, TypeNamer& namer);

// One line per finding: a disabled collector, a gc.garbage that is not empty.
std::vector<std::string> collector_warnings(const InterpreterStat& is);

}  // namespace objspy
