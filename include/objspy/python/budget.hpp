// What one census may spend on its target. objspy runs as root against processes that may
// be hostile: a few MB of crafted memory (thousands of interpreters, lists that share nodes,
// a million types with long names, dicts that claim 2^24 entries) must not cost unbounded
// time or memory. Every limit that runs out ends that part of the census early and is
// reported: the census is then incomplete (a partial count), with the reason in its warnings.
#pragma once
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace objspy {

struct CensusLimits {
  // Wall clock for one census, retries included (--census-timeout). A real heap of 8 million
  // objects takes 1.2-2.3 s on 2 busy cores by the scan (README: Budgets).
  double timeout_s = 10;
  // Interpreters read from _PyRuntime; the rest of the list is not counted.
  std::size_t max_interpreters = 256;
  // For a running collection to end before the lists are read, all interpreters together.
  int collection_wait_ms = 100;
  // Walk: nodes over all lists together. 0: the target's writable memory / 32 (every GC
  // object takes 32 bytes or more, and in a real process is on exactly one list).
  std::uint64_t max_steps = 0;
  // Distinct type objects counted and named; objects of further types are counted as
  // "<other types>".
  std::size_t max_types = 100000;
  // Bytes of type names kept for one census (name and qualified name together); types
  // named past it are counted as "<other types>".
  std::uint64_t max_name_bytes = 8u << 20;
  // Entries of one type's dict examined for __module__, and of all dicts of a census.
  std::size_t max_dict_entries = 4096;
  std::uint64_t max_dict_entries_total = 1u << 20;
};

// The name objects are lumped under when their type is past a limit (no Python type has
// '<' in its name).
inline constexpr const char* kOtherTypes = "<other types>";

// One census's spending against its limits. Not thread-safe: one census, one thread (the
// scan's helper threads only classify memory already read).
class CensusBudget {
 public:
  using Clock = std::chrono::steady_clock;
  explicit CensusBudget(const CensusLimits& l = {});
  // Limits with a deadline set by the caller (retries of one census share it).
  CensusBudget(const CensusLimits& l, Clock::time_point deadline);

  const CensusLimits& limits() const { return l_; }
  Clock::time_point deadline() const { return deadline_; }
  // The time for reading the target's lists and pools: the first 90% of the timeout, so that
  // naming what was found (bounded by the other limits) still ends by the deadline.
  Clock::time_point counting_deadline() const { return counting_deadline_; }
  // Whether the counting deadline has passed; the first time it has, that is recorded as a
  // reason.
  bool expired();
  bool deadline_passed() const { return expired_; }
  // Whether the census's own deadline has passed (naming types; recorded the same way).
  bool naming_expired();

  enum class Kind { deadline, interpreters, steps, types, name_bytes, dict_entries, count };
  // Record that a limit ran out, once per kind (the first reason is kept).
  void hit(Kind k, std::string why);
  bool was_hit(Kind k) const { return hit_[static_cast<int>(k)]; }
  bool any_hit() const { return !reasons_.empty(); }
  const std::vector<std::string>& reasons() const { return reasons_; }

  // What was spent so far.
  std::uint64_t steps = 0;          // walk nodes, all lists
  std::uint64_t dict_entries = 0;   // dict entries examined for __module__
  std::uint64_t name_bytes = 0;     // bytes of names kept

 private:
  CensusLimits l_;
  Clock::time_point deadline_, counting_deadline_;
  bool expired_ = false;
  bool hit_[static_cast<int>(Kind::count)] = {};
  std::vector<std::string> reasons_;
};

}  // namespace objspy
