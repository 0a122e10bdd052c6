// Censuses over time: snapshots read back from objspy's JSON/NDJSON, growth between two,
// and leak suspects from a series.
#pragma once
#include <algorithm>
#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "objspy/census/census.hpp"
#include "objspy/core/result.hpp"

namespace objspy {

// The one rule for census quality over time, followed by every reader of a series (suspects,
// diff, record, top, serve, dump --growth). A census is *trusted* when it is complete, or when
// it is incomplete but carries an estimate of its error (walk.uncertain > 0) that keeps its
// coverage, total / (total + uncertain), at or above kMinCoverage. Any other census is skipped
// for trends and baselines: one below the threshold, and one that is incomplete with no
// estimate, which is a partial count (a list was abandoned; documents written before the
// estimate existed have no walk.uncertain and so fall back to walk.complete).
// Why skip rather than weight by coverage: a partial count is off by an unknown amount in an
// unknown direction per type, and a single torn sample turns a steady leak into a dip.
inline constexpr double kMinCoverage = 0.99;
bool trusted_census(bool complete, std::uint64_t uncertain, std::uint64_t total);
// A torn census (a list abandoned, a collection overlapping) is a partial count whatever its estimate.
inline bool trusted_census(const Census& c) { return !c.walk.torn && trusted_census(c.walk.complete, c.walk.uncertain, c.total); }

// The part of a census that comparisons need, from a live census or a saved document.
struct Snapshot {
  pid_t pid = 0;
  double timestamp = 0;
  std::uint64_t total = 0;
  bool complete = true;          // walk.complete
  std::uint64_t uncertain = 0;   // walk.uncertain (0 when the document has none)
  std::map<std::string, std::uint64_t> counts;  // by name, in the document's name form
  double coverage() const;
  bool trusted() const { return trusted_census(complete, uncertain, total); }
};

Snapshot snapshot_of(const Census& c, NameForm form);

// A count read from a file above this is corrupt: no heap holds 2^62 objects, and below it
// the difference of two counts is exact in a signed 64-bit integer (Change::delta).
inline constexpr std::uint64_t kMaxCount = std::uint64_t{1} << 62;
// One JSON document as objspy writes it: a census, or nullopt for an event line (`record`'s
// {"event": ...}). Read without building a DOM (memory: the snapshot's names and counts). A
// field of the wrong type, a count above kMaxCount or nesting deeper than 64 levels is an
// error that names the field. `not_json` (if given) says whether the text failed as JSON
// rather than as a census: NDJSON is not one document. Never throws. Err: io.
Result<std::optional<Snapshot>> parse_census_document(std::string_view text, bool* not_json = nullptr);
// One census document (as `dump --format json|ndjson` writes it); of an NDJSON stream, the
// last trusted census line (the last census line if none is trusted). Err: io (an NDJSON
// error names its line: "line N: ...").
Result<Snapshot> parse_snapshot(std::string_view json_text);
// Every census line of an NDJSON stream (`record`), trusted or not; event lines are skipped. Err: io.
Result<std::vector<Snapshot>> parse_series(std::string_view ndjson_text);

// The censuses of `series` that trends may be fitted to, and how many were left out.
struct TrustedSeries {
  std::vector<Snapshot> samples;
  std::size_t skipped = 0;
};
TrustedSeries trusted_only(std::vector<Snapshot> series);

struct Change {
  std::string name;
  std::uint64_t before = 0;
  std::uint64_t after = 0;
  // Exact for counts up to kMaxCount (files are checked against it); saturates beyond, never
  // wraps to the wrong sign.
  std::int64_t delta() const {
    constexpr auto kMax = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
    return after >= before ? static_cast<std::int64_t>(std::min(after - before, kMax)) : -static_cast<std::int64_t>(std::min(before - after, kMax));
  }
};

// Types that grew from `before` to `after`, largest growth first (then name), like
// objgraph.show_growth() but against the previous census, not a running peak.
std::vector<Change> growth(const Snapshot& before, const Snapshot& after, std::size_t limit);
// Every type whose count changed, largest absolute change first.
std::vector<Change> diff(const Snapshot& before, const Snapshot& after, std::size_t limit);

struct Suspect {
  std::string name;
  std::uint64_t first = 0, last = 0;
  double per_hour = 0;       // least-squares slope
  double r2 = 0;             // how well a straight line fits
  double rising = 0;         // fraction of sample-to-sample steps that went up
  double falling = 0;        // ... that went down
  double share = 0;          // of all growth between first and last sample
  double score = 0;
  std::string confidence;    // high, medium, low
};

// A series by columns: each name once, one row of counts per sample (a row shorter than
// `names` counts 0 for the rest). Live views keep this, not a map of names per sample: a
// service with thousands of types over hundreds of samples stays a few MiB.
struct DenseSeries {
  std::vector<std::string> names;
  std::vector<double> timestamps;
  std::vector<std::vector<std::uint64_t>> rows;
  void add(const Snapshot& s);
  std::size_t size() const { return rows.size(); }

 private:
  std::unordered_map<std::string, std::uint32_t> ids_;
};

// Rank types by sustained growth: slope × fit × (rising − falling). A type that goes up and
// down with load scores low even if it ends higher; one that only rises scores high.
// The dense form ranks every sample it holds (LiveSeries adds only trusted ones); the
// snapshot form skips the censuses that are not trusted.
std::vector<Suspect> leak_suspects(const DenseSeries& series, std::size_t limit);
std::vector<Suspect> leak_suspects(const std::vector<Snapshot>& series, std::size_t limit);

}  // namespace objspy
