// A series of censuses watched live (top, record): change since the previous sample and
// since the start per type, and leak suspects over a bounded window.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "objspy/census/series.hpp"

namespace objspy {

enum class LiveSort { growth, recent, count, rate, name, bytes };
const char* describe(LiveSort s);

struct LiveRow {
  std::string name;
  std::uint64_t count = 0;
  std::optional<std::uint64_t> bytes;  // sum(sys.getsizeof) now, when the census measured it
  std::int64_t since_last = 0;   // change since the previous sample
  std::int64_t since_start = 0;  // change since the first sample
  double per_hour = 0;           // least-squares growth rate over the window (0 unless a suspect)
  std::string confidence;        // leak-suspect confidence, "" when not a suspect
};

// Censuses that are not trusted (series.hpp: the quality rule) are shown as the latest sample
// but never enter the suspects window, nor become the start or the previous sample that
// changes are counted from.
class LiveSeries {
 public:
  // The suspects window: at most `max_types` types (series.hpp: BoundedSeries) over at most
  // `window` samples (when full, every other one is dropped: the window keeps spanning the
  // whole watch at a coarser resolution), so memory stays flat over days.
  explicit LiveSeries(NameForm form, std::size_t max_types = kDefaultMaxTypes, std::size_t window = 256)
      : form_(form), window_(max_types, window) {}
  void add(const Census& c);
  std::size_t samples() const { return samples_; }      // every census added
  std::size_t skipped() const { return skipped_; }      // ... of which not trusted
  bool empty() const { return samples_ == 0; }
  // The first trusted sample (until there is one: the first sample).
  const Snapshot& first() const { return first_; }
  const Snapshot& latest() const { return latest_; }
  std::size_t window_size() const { return window_.size(); }
  const BoundedSeries& window() const { return window_; }
  // Hours between the first and the last sample of the suspects window.
  double window_hours() const;
  // Every type seen now or at the start, sorted by `by` (largest first; name: A to Z).
  std::vector<LiveRow> rows(LiveSort by, bool reverse) const;
  std::vector<Suspect> suspects(std::size_t limit) const { return leak_suspects(window_, limit); }
  RankedOver ranked() const { return ranked_over(window_, skipped_); }

 private:
  NameForm form_;
  BoundedSeries window_;
  std::size_t samples_ = 0, skipped_ = 0;
  bool have_trusted_ = false;
  Snapshot first_, previous_, latest_;
  Snapshot last_trusted_;  // what the next sample's change is counted from
};

}  // namespace objspy
