// record's census before the OOM kill: when the target's memory crosses a threshold, a census
// is taken at once and written to a file of its own. This is the decision; record polls the
// memory and takes the census.
#pragma once
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <utility>

#include <nlohmann/json.hpp>

#include "objspy/census/census.hpp"
#include "objspy/core/result.hpp"
#include "objspy/output/render.hpp"

namespace objspy::cli {

struct TriggerOptions {
  std::optional<std::uint64_t> rss_bytes;     // --trigger-rss: RSS above this
  std::optional<double> limit_share;          // --trigger-limit-share: RSS above this share (0-1] of the cgroup's memory limit
  std::optional<double> growth_bytes_per_s;   // --trigger-growth: RSS growing faster than this ...
  double growth_span_s = 60;                  // ... over this span
  double window_s = 600;                      // --trigger-window: at most one triggered census per window
  double poll_s = 1;                          // --trigger-poll: how often memory is read
  std::string dir;                            // --trigger-dir: where the triggered censuses go
  bool any() const { return rss_bytes || limit_share || growth_bytes_per_s; }
};

// One reading of the target's memory.
struct MemoryReading {
  double time_s = 0;                     // monotonic seconds
  std::uint64_t rss = 0;
  std::optional<std::uint64_t> limit;    // the cgroup's effective memory limit, if any
};

class MemoryTrigger {
 public:
  explicit MemoryTrigger(TriggerOptions o) : o_(std::move(o)) {}
  // The reason, in words, when `r` crosses a threshold and no census was triggered within the
  // window before it; nullopt otherwise. Readings must come in time order.
  std::optional<std::string> observe(const MemoryReading& r);
  // A triggered census was taken at `time_s`: the window starts.
  void fired(double time_s) { last_fired_ = time_s; }
  const TriggerOptions& options() const { return o_; }

 private:
  TriggerOptions o_;
  std::optional<double> last_fired_;
  std::deque<std::pair<double, std::uint64_t>> history_;  // (time, rss) over growth_span_s
};

// A triggered census in a file of its own in `dir` (objspy-census-PID-UTCTIME.json): the
// census document (every type) plus "trigger". Written as a careful daemon writes (never
// through a planted link) and synced, so it is on disk before the kill that may follow.
// Its path, or Err io.
Result<std::string> write_triggered(const std::string& dir, const Census& c, const RenderOptions& r, const nlohmann::json& trigger);

}  // namespace objspy::cli
