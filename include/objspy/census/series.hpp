// Censuses over time: snapshots read back from objspy's JSON/NDJSON, growth between two,
// and leak suspects from a series.
#pragma once
#include <algorithm>
#include <cstdint>
#include <limits>
#include <istream>
#include <functional>
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
  double pause_ms = -1;                          // how long --pause held the target (-1: not paused)
  std::string python_version;                    // "python": {"version": ...}, empty if absent
  std::uint64_t rss_bytes = 0;                   // "memory": {"rss_bytes": ...}, 0 if absent
  // sum(sys.getsizeof) by name, when every type entry has "bytes" (has_bytes).
  std::map<std::string, std::uint64_t> bytes;
  bool has_bytes = false;
  double coverage() const;
  bool trusted() const { return trusted_census(complete, uncertain, total); }
};

Snapshot snapshot_of(const Census& c, NameForm form);
// The snapshot with bytes in place of counts (`by` bytes), so that growth, diff and suspects
// rank bytes with the same code. Err: io, when it has no bytes (written with --no-bytes, or by
// an objspy before bytes).
Result<Snapshot> measured_by(Snapshot s, SortBy by);
// The same without the counts: what a census is, not what it found.
Snapshot snapshot_header(const Census& c);

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
  double line_at_start = 0;  // that line's value at the series' first sample (for charts)
  double r2 = 0;             // how well a straight line fits
  double rising = 0;         // fraction of sample-to-sample steps that went up
  double falling = 0;        // ... that went down
  double share = 0;          // of all growth between first and last sample
  double score = 0;
  std::string confidence;    // high, medium, low
};

// How many types a series keeps by default (`--max-types`): far more than an application's
// own types, small enough that a series over days stays a few MiB.
inline constexpr std::size_t kDefaultMaxTypes = 1000;

// A series by columns, bounded in types: at most `max_types` types get a column of counts (one
// per sample from the first its count is known for); every other type is summed into one
// `other` column, which is never ranked.
// A target that makes new type names forever (a class per request, hostile or not) would
// otherwise grow every reader of its series without bound: the names never seen again stay.
// Which types keep a column, when a sample brings more than fit: up to half of the places go to
// the types that grew most within the series (a leak is kept whatever its size), the rest to
// the largest by their count in that sample; at equal rank a type already kept stays. A type
// left out is folded: its column is added into `other` and forgotten.
// A type that gets a column after something was summed into `other` may have been counted
// there before: its column is known only from the sample after the last one where `other` was
// not empty (`known_from`), and it is ranked over those samples only. While nothing is folded
// (fewer types than the limit) every count is known and the ranking is that of all samples.
// With `max_samples` (0: no limit), a full series drops every other sample before the next
// one, so it keeps spanning the whole watch at a coarser resolution.
class BoundedSeries {
 public:
  struct Column {
    std::string name;
    std::size_t known_from = 0;         // the first sample its count is known for
    std::vector<std::uint64_t> counts;  // one per sample from known_from on
    // Its count at `sample` (0 before known_from, where it is summed in `other` or absent).
    std::uint64_t at(std::size_t sample) const { return sample < known_from ? 0 : counts[sample - known_from]; }
  };
  explicit BoundedSeries(std::size_t max_types = kDefaultMaxTypes, std::size_t max_samples = 0);
  void add(const Snapshot& s);
  std::size_t size() const { return timestamps_.size(); }
  std::size_t max_types() const { return max_types_; }
  const std::vector<double>& timestamps() const { return timestamps_; }
  const std::vector<Column>& columns() const { return columns_; }
  // Per sample: the sum of the counts of the types without a column, and how many they were.
  const std::vector<std::uint64_t>& other() const { return other_; }
  const std::vector<std::uint32_t>& other_types() const { return other_types_; }
  bool folded() const { return folded_; }  // anything was ever summed into `other`

 private:
  void thin();
  void admit(const std::string& name, std::uint64_t count);
  void select(std::vector<std::pair<const std::string*, std::uint64_t>>& fresh);
  std::size_t max_types_, max_samples_;
  std::vector<double> timestamps_;
  std::vector<Column> columns_;
  std::vector<std::uint64_t> other_;
  std::vector<std::uint32_t> other_types_;
  std::unordered_map<std::string, std::uint32_t> index_;  // name -> column
  std::size_t other_until_ = 0;  // 1 + the last sample where `other` is not empty (0: none)
  bool folded_ = false;
};

// What a ranking was made over, for its summary line and JSON.
struct RankedOver {
  std::size_t samples = 0;      // trusted samples ranked
  std::size_t skipped = 0;      // censuses left out as not trusted
  double hours = 0;             // between the first and the last ranked sample
  std::size_t max_types = kDefaultMaxTypes;
  bool folded = false;          // some types were summed as "other" (more than max_types)
  std::size_t other_types = 0;  // at the last sample: types summed as "other" ...
  std::uint64_t other_objects = 0;  // ... and their objects
};
RankedOver ranked_over(const BoundedSeries& s, std::size_t skipped);

// Rank types by sustained growth: slope × fit × (rising − falling). A type that goes up and
// down with load scores low even if it ends higher; one that only rises scores high.
// The bounded form ranks every sample it holds (LiveSeries adds only trusted ones) and never
// ranks `other`; the snapshot form skips the censuses that are not trusted.
std::vector<Suspect> leak_suspects(const BoundedSeries& series, std::size_t limit);
std::vector<Suspect> leak_suspects(const std::vector<Snapshot>& series, std::size_t limit, std::size_t max_types = kDefaultMaxTypes);

// A recording read line by line, as `suspects` reads it: memory for one line and for the
// bounded series, whatever the size of the file or the number of names in it.
struct ReadSeries {
  BoundedSeries series;
  std::size_t skipped = 0;  // censuses not trusted, left out
};
// A census line longer than this is refused: a census that objspy wrote is far shorter.
inline constexpr std::size_t kMaxSeriesLine = 64u << 20;
// Err: io (a line that is not JSON, not a census, or too long; a read error), naming the line.
// `observe`, if given, sees every line as it is read: its census (nullptr for an event line)
// and its text, so a reader can take more from the same pass (the report's timeline, events).
using SeriesObserver = std::function<void(const Snapshot* census, std::string_view line)>;
// `by` bytes: the series of bytes per type (every census line must have them).
Result<ReadSeries> read_series(std::istream& in, std::size_t max_types = kDefaultMaxTypes, const SeriesObserver& observe = {},
                               SortBy by = SortBy::count);

}  // namespace objspy
