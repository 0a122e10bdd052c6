// What an HTML report (objspy report) shows of a recorded series, gathered in one pass over
// the file alongside the suspects ranking: the process, the time span, a timeline of total
// objects, the leak suspects with their counts over time and fitted lines, and the census's
// health (incomplete and failed censuses, pauses, re-attaches). Bounded whatever the file
// holds: the timeline and each suspect's points are thinned to kMaxReportPoints, and at most
// kMaxReportFailures distinct failure messages are kept.
#pragma once
#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "objspy/census/series.hpp"

namespace objspy {

inline constexpr std::size_t kMaxReportPoints = 2048;
inline constexpr std::size_t kMaxReportFailures = 8;

struct ReportPoint {
  double t = 0;               // Unix time of the census
  std::uint64_t total = 0;    // GC-tracked objects
  bool trusted = true;        // ranked (complete, or nearly so)
  double pause_ms = -1;       // how long --pause held the target (-1: not paused)
  std::uint64_t rss_bytes = 0;  // the target's RSS then (0: not recorded)
};

struct ReportSuspect {
  Suspect suspect;
  std::vector<double> t;                // Unix times of the samples its count is known for
  std::vector<std::uint64_t> counts;    // its count at each
};

struct ReportData {
  pid_t pid = 0;
  std::string python_version;
  double first_t = 0, last_t = 0;       // first and last census
  std::size_t censuses = 0;             // census lines read
  std::size_t untrusted = 0;            // of them, incomplete and not ranked
  std::size_t failed = 0;               // census_failed events
  std::size_t reattaches = 0;           // reattached events (the target exec'd)
  bool exited = false;                  // a target_exited event
  std::size_t paused = 0;               // censuses taken with --pause
  double pause_max_ms = 0, pause_mean_ms = 0;
  std::vector<ReportPoint> timeline;    // every census, thinned to kMaxReportPoints
  std::vector<std::pair<std::string, std::size_t>> failures;  // distinct messages, how often
  std::size_t failures_other = 0;       // failures whose message was not kept
  double series_start = 0;              // the ranked series' first sample (Suspect::line_at_start is there)
  std::vector<ReportSuspect> suspects;  // as `objspy suspects` ranks them
  RankedOver over;
};

// Feed every line of a recording (read_series's observer), then finish with the series it
// ranked. Event lines it does not know are ignored; a malformed event line counts nothing.
class ReportBuilder {
 public:
  void observe(const Snapshot* census, std::string_view line);
  ReportData finish(const BoundedSeries& ranked, std::size_t skipped, std::size_t suspects_limit) &&;

 private:
  void event(std::string_view line);
  ReportData data_;
  std::size_t stride_ = 1;  // the timeline keeps every stride_-th census
  std::size_t seen_ = 0;
  double pause_sum_ = 0;
  ReportPoint last_;  // the latest census, drawn even when thinning passed it over
};

}  // namespace objspy
