#include "objspy/census/live.hpp"

#include <algorithm>
#include <map>
#include <set>

namespace objspy {

const char* describe(LiveSort s) {
  switch (s) {
    case LiveSort::growth: return "growth since start";
    case LiveSort::recent: return "change since last sample";
    case LiveSort::count: return "count";
    case LiveSort::rate: return "growth rate";
    case LiveSort::name: return "name";
    case LiveSort::bytes: return "bytes";
  }
  return "";
}

void LiveSeries::add(const Census& c) {
  Snapshot s = snapshot_of(c, form_);
  const bool trusted = s.trusted();
  // Changes are counted from the last trusted sample: after a torn one, the next good one
  // shows its change since the last good one, not a jump back from the dip.
  previous_ = have_trusted_ ? last_trusted_ : (samples_ == 0 ? s : latest_);
  if (trusted && !have_trusted_) first_ = s;  // a torn first sample is replaced as the start
  else if (samples_ == 0) first_ = s;
  latest_ = s;
  ++samples_;
  if (!trusted) {
    ++skipped_;
    return;
  }
  have_trusted_ = true;
  last_trusted_ = s;
  window_.add(std::move(s));
}

double LiveSeries::window_hours() const {
  const auto& ts = window_.timestamps();
  return ts.size() < 2 ? 0.0 : (ts.back() - ts.front()) / 3600.0;
}

std::vector<LiveRow> LiveSeries::rows(LiveSort by, bool reverse) const {
  auto count_in = [](const Snapshot& s, const std::string& n) -> std::uint64_t {
    auto it = s.counts.find(n);
    return it == s.counts.end() ? 0 : it->second;
  };
  std::map<std::string, const Suspect*> suspect_of;
  const auto ranked = suspects(0);
  for (const auto& s : ranked) suspect_of[s.name] = &s;

  std::set<std::string> names;
  for (const auto& [n, c] : latest_.counts) names.insert(n);
  for (const auto& [n, c] : first_.counts) names.insert(n);  // types that died out still show
  std::vector<LiveRow> out;
  out.reserve(names.size());
  for (const auto& n : names) {
    LiveRow r;
    r.name = n;
    r.count = count_in(latest_, n);
    if (latest_.has_bytes) r.bytes = [&] { auto it = latest_.bytes.find(n); return it == latest_.bytes.end() ? std::uint64_t{0} : it->second; }();
    r.since_last = static_cast<std::int64_t>(r.count) - static_cast<std::int64_t>(count_in(previous_, n));
    r.since_start = static_cast<std::int64_t>(r.count) - static_cast<std::int64_t>(count_in(first_, n));
    if (auto it = suspect_of.find(n); it != suspect_of.end()) {
      r.per_hour = it->second->per_hour;
      r.confidence = it->second->confidence;
    }
    out.push_back(std::move(r));
  }
  auto key = [by](const LiveRow& r) -> double {
    switch (by) {
      case LiveSort::growth: return static_cast<double>(r.since_start);
      case LiveSort::recent: return static_cast<double>(r.since_last);
      case LiveSort::count: return static_cast<double>(r.count);
      case LiveSort::rate: return r.per_hour;
      case LiveSort::name: return 0;
      case LiveSort::bytes: return static_cast<double>(r.bytes.value_or(0));
    }
    return 0;
  };
  std::sort(out.begin(), out.end(), [&](const LiveRow& a, const LiveRow& b) {
    if (by != LiveSort::name) {
      double ka = key(a), kb = key(b);
      if (ka != kb) return reverse ? ka < kb : ka > kb;
      if (a.count != b.count) return a.count > b.count;  // ties: the bigger type first
      return a.name < b.name;
    }
    return reverse ? a.name > b.name : a.name < b.name;
  });
  return out;
}

}  // namespace objspy
