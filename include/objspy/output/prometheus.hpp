// The Prometheus text exposition (format 0.0.4) of the exporter's state: the latest census
// plus the exporter's own counters. A renderer like the others: it never reads the target.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>

#include "objspy/census/census.hpp"

namespace objspy {

struct ExporterState {
  bool up = false;                 // the last census attempt produced a census
  std::uint64_t censuses = 0;      // censuses taken (complete or not)
  std::uint64_t incomplete = 0;    // ... of which incomplete (exact or not, trusted or not)
  std::uint64_t skipped = 0;       // ... of which not trusted (series.hpp): their counts not exported
  std::uint64_t failures = 0;      // attempts that gave no census
  std::uint64_t reattaches = 0;    // new images of the target attached (it exec'd in place)
  std::size_t top_types = 50;      // per-type series; the rest are summed into type="other"
  NameForm names = NameForm::short_name;
};

// `counted` is the newest trusted census (series.hpp), the source of every count (per type,
// GC objects, generations); `latest` is the newest census of any quality, the source of its
// quality (complete, coverage) and cost. Either may be nullptr (none yet); they are the same
// census when the newest one is trusted. A torn census thus never reaches the type series,
// which keep the last good counts with their own timestamp. When the target is down only the
// exporter's own series are written: stale counts must not look current.
std::string render_prometheus(const Census* counted, const Census* latest, const ExporterState& s);

// A label value as the exposition format wants it: valid UTF-8 (invalid bytes become
// U+FFFD), control characters and invisible or direction-changing ones (is_invisible) as
// U+FFFD, and \ " and newline escaped.
std::string prometheus_label_value(std::string_view raw);

}  // namespace objspy
