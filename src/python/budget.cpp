#include "objspy/python/budget.hpp"

#include <cmath>

#include <fmt/format.h>

namespace objspy {
namespace {

CensusBudget::Clock::time_point deadline_after(double seconds) {
  // A timeout too large for the clock's range (the option allows up to a day) is no deadline.
  if (!(seconds > 0) || !std::isfinite(seconds) || seconds > 1e7) return CensusBudget::Clock::time_point::max();
  return CensusBudget::Clock::now() + std::chrono::duration_cast<CensusBudget::Clock::duration>(std::chrono::duration<double>(seconds));
}

}  // namespace

CensusBudget::CensusBudget(const CensusLimits& l) : CensusBudget(l, deadline_after(l.timeout_s)) {}

CensusBudget::CensusBudget(const CensusLimits& l, Clock::time_point deadline) : l_(l), deadline_(deadline), counting_deadline_(deadline) {
  if (deadline != Clock::time_point::max())
    counting_deadline_ = deadline - std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(l.timeout_s / 10));
}

bool CensusBudget::expired() {
  if (expired_) return true;
  if (Clock::now() < counting_deadline_) return false;
  expired_ = true;
  hit(Kind::deadline, fmt::format("the census took longer than its deadline of {:g} s (--census-timeout)", l_.timeout_s));
  return true;
}

bool CensusBudget::naming_expired() {
  if (Clock::now() < deadline_) return false;
  expired_ = true;
  hit(Kind::deadline, fmt::format("the census took longer than its deadline of {:g} s (--census-timeout)", l_.timeout_s));
  return true;
}

void CensusBudget::hit(Kind k, std::string why) {
  bool& h = hit_[static_cast<int>(k)];
  if (h) return;
  h = true;
  reasons_.push_back(std::move(why));
}

}  // namespace objspy
